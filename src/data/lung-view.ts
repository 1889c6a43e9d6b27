/**
 * The lungs-only picture the pattern model sees: the slice cropped to a square around both lungs, its grey levels
 * put on the calibrated scale of involvement.ts (healthy lung and soft tissue at fixed greys, whatever the window
 * of the source), and everything outside the slightly dilated lung mask replaced by the soft-tissue grey. So
 * arrows, letters, scale bars, the table, the body outline and the image corners, which differ by source in
 * COVID-CT, are not shown to the model. Pure arithmetic: the same pixels in Node and in the browser.
 */
import type { GreyImage } from '../types.js';
import type { LungSegmentation } from './lungs.js';
import { intensityReference } from './involvement.js';
import { dilate } from './morphology.js';

export interface LungFraming {
  /** Margin around the lungs' box, as a fraction of its longer side. */
  margin: number;
  /** The lung mask is grown by this many analysis pixels before the outside is blanked (keeps the pleura). */
  dilate: number;
  /** Grey of healthy lung (calibrated 0) and of soft tissue (calibrated 1) in the view. */
  lungGrey: number;
  tissueGrey: number;
}

export const DEFAULT_LUNG_FRAMING: Readonly<LungFraming> = Object.freeze({ margin: 0.06, dilate: 4, lungGrey: 40, tissueGrey: 200 });

/** The square the lungs-only view shows, in analysis pixels (may reach past the analysis image's edges). */
export interface LungViewRegion { x0: number; y0: number; side: number }

/**
 * Where the lungs-only square lies on the analysis image (side = the box's longer side plus margins, centred on
 * the box), or null when lungView shows the analysis image itself (no lungs, or no contrast to calibrate on).
 * Divided by `seg.scale`, the region of the original slice that the view (and so the model's map) covers.
 */
export function lungViewRegion(seg: LungSegmentation, framing: LungFraming = DEFAULT_LUNG_FRAMING): LungViewRegion | null {
  if (!seg.found || !seg.box || !intensityReference(seg)) return null;
  return squareOf(seg.box, framing);
}

function squareOf(box: NonNullable<LungSegmentation['box']>, framing: LungFraming): LungViewRegion {
  const { x0, y0, x1, y1 } = box;
  const side = Math.max(8, Math.round(Math.max(x1 - x0, y1 - y0) * (1 + 2 * framing.margin)));
  return { x0: Math.round((x0 + x1) / 2 - side / 2), y0: Math.round((y0 + y1) / 2 - side / 2), side };
}

/**
 * The lungs-only square (see lungViewRegion). When no lungs were found, or they show no contrast to calibrate
 * on, the analysis image itself (the model's P is then for research only: such a slice is labelled NotCT or has
 * no calibrated view).
 */
export function lungView(seg: LungSegmentation, framing: LungFraming = DEFAULT_LUNG_FRAMING): GreyImage {
  const ref = seg.found && seg.box ? intensityReference(seg) : null;
  if (!ref || !seg.box) return seg.analysis;
  const { width: W, height: H, data } = seg.analysis;
  const { x0: ox, y0: oy, side } = squareOf(seg.box, framing);
  // dilate reads any non-zero label as lung.
  const keep = dilate(seg.labels, W, H, framing.dilate);
  const gain = (framing.tissueGrey - framing.lungGrey) / (ref.softTissue - ref.lungLow);
  const fill = framing.tissueGrey;
  const out = new Uint8Array(side * side).fill(fill);
  for (let y = 0; y < side; y++) {
    const sy = oy + y;
    if (sy < 0 || sy >= H) continue;
    for (let x = 0; x < side; x++) {
      const sx = ox + x;
      if (sx < 0 || sx >= W) continue;
      const i = sy * W + sx;
      if (!keep[i]) continue;
      const v = Math.round(framing.lungGrey + (data[i] - ref.lungLow) * gain);
      out[y * side + x] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width: side, height: side, data: out };
}
