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
import { dilate, maskToSize } from './morphology.js';
import { resample } from './working-image.js';

/** Names what the view shows in cache keys (with the segmentation's LUNGS_VERSION): bump when its pixels change. */
export const LUNG_VIEW_VERSION = 'view-v2-body';

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
 * The kept region at the slice's own size (1 = keep): the lung mask dilated by `radius` analysis pixels, each
 * slice pixel taking the value of the analysis pixel its centre falls in (the analysis image's footprints).
 * The lungs-only view reads the slice only here; the outside-the-lungs audits (src/eval/audit.ts) change
 * everything else.
 */
export function keptRegion(seg: LungSegmentation, width: number, height: number, radius: number): Uint8Array {
  const { width: W, height: H } = seg.analysis;
  return maskToSize(dilate(seg.labels, W, H, radius), W, H, width, height);
}

/**
 * What the view shows of the slice: the kept region (keptRegion), less a picture's own background. A set that ships
 * its lungs already cut out puts them on flat black, which would reach the view as a dark ring round the lungs that
 * no scan has. So a kept pixel outside the lungs is hidden when it is darker than the lungs' darkest tenth
 * (`lungLow`) and flat (its kept 3 x 3 neighbours all hold its exact grey), or touches such a pixel with that grey.
 * A scanner's pixels carry noise, so in a scan this leaves the rim (chest wall, mediastinum, airways) as it was; and
 * it reads nothing beyond the kept region, so the outside audits see no new dependence (docs/lung-view-body.md).
 */
export function shownRegion(seg: LungSegmentation, source: GreyImage, radius: number): Uint8Array {
  const { width: w, height: h, data } = source;
  // Lungs cut out onto black (lungs.ts's cutOut): beyond them is only the black the picture's maker painted (and the
  // rings JPEG left in it), nothing of the scan: the lungs alone are shown.
  if (seg.found && seg.cutOut) return keptRegion(seg, w, h, 0);
  const keep = keptRegion(seg, w, h, radius);
  const ref = seg.found ? intensityReference(seg) : null;
  if (!ref) return keep;
  const lung = maskToSize(seg.labels, seg.analysis.width, seg.analysis.height, w, h);
  const hide: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x, v = data[i];
      if (!keep[i] || lung[i] || v >= ref.lungLow) continue;
      let flat = true;
      for (let dy = -1; dy <= 1 && flat; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx, j = yy * w + xx;
          if (xx >= 0 && xx < w && keep[j] && data[j] !== v) { flat = false; break; }
        }
      }
      if (flat) hide.push(i);
    }
  }
  // The background's edge pixels (next to the lungs' rim) are not flat themselves: the flat area takes in the kept
  // pixels of its exact grey that touch it.
  for (const i of hide) keep[i] = 2;
  for (let k = 0; k < hide.length; k++) {
    const i = hide[k], x = i % w, y = (i - x) / w;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const xx = x + dx, yy = y + dy, j = yy * w + xx;
      if (xx < 0 || xx >= w || yy < 0 || yy >= h || keep[j] !== 1 || lung[j] || data[j] !== data[i]) continue;
      keep[j] = 2;
      hide.push(j);
    }
  }
  for (const i of hide) keep[i] = 0;
  return keep;
}

/**
 * The picture the view is cut from: the slice, except for lungs cut out onto black in a picture coarser than the
 * analysis grid, which are cut from the analysis image (the slice resampled to the grid with Lanczos-3, on which
 * they were found). A cut-out's kept region ends on the lungs' own edge, with no tissue beyond it to hide the step
 * to the view's tissue grey, and on a coarse picture's grid that edge is a staircase of its pixels, which the view
 * enlarges. CT-MD cut out and halved to 128 px: the pattern's AUC 0.566 -> 0.688 (docs/lungs-on-black.md).
 */
function viewSource(seg: LungSegmentation, slice: GreyImage): GreyImage {
  const { width: W, height: H } = seg.analysis;
  return seg.cutOut && slice.width * slice.height < W * H ? seg.analysis : slice;
}

/**
 * The lungs-only square (see lungViewRegion), cut from `slice`, the slice that `seg` segmented (a coarse cut-out:
 * from its analysis image, viewSource). Its pixels inside the kept region (keptRegion: the lung mask dilated by
 * framing.dilate) are put on the calibrated scale, every other pixel set to the soft-tissue grey, and only then is
 * the square resampled to analysis pixels: so the resampling kernel (Lanczos-3, 3 analysis px wide) cannot carry
 * anything from outside the kept region into the view. (Cut from the analysis image instead, the view's outer ring
 * mixed in up to 3 px of the surroundings: mean |dP| 0.011 per slice under the outside-noise audit even with the
 * segmentation held fixed; docs/outside-audits.md. A cut-out has no surroundings but the painted black.)
 * When no lungs were found, or they show no contrast to calibrate on, the analysis image itself (the model's P is
 * then for research only: such a slice is labelled NotCT or has no calibrated view).
 */
export function lungView(seg: LungSegmentation, slice: GreyImage, framing: LungFraming = DEFAULT_LUNG_FRAMING): GreyImage {
  const ref = seg.found && seg.box ? intensityReference(seg) : null;
  if (!ref || !seg.box) return seg.analysis;
  const { width: W, height: H } = seg.analysis;
  const source = viewSource(seg, slice);
  const { width: w, height: h, data } = source;
  const { x0: ox, y0: oy, side } = squareOf(seg.box, framing);
  // The square in slice pixels (the analysis grid maps x by w / W and y by h / H), on a canvas that holds it
  // whole: parts beyond the slice's edges are soft tissue too.
  const sx = w / W, sy = h / H;
  const X0 = ox * sx, Y0 = oy * sy, SW = side * sx, SH = side * sy;
  const cx0 = Math.floor(X0), cy0 = Math.floor(Y0);
  const cw = Math.ceil(X0 + SW) - cx0, ch = Math.ceil(Y0 + SH) - cy0;
  const keep = shownRegion(seg, source, framing.dilate);
  const gain = (framing.tissueGrey - framing.lungGrey) / (ref.softTissue - ref.lungLow);
  const canvas = new Uint8Array(cw * ch).fill(framing.tissueGrey);
  for (let y = Math.max(0, cy0); y < Math.min(h, cy0 + ch); y++) {
    for (let x = Math.max(0, cx0); x < Math.min(w, cx0 + cw); x++) {
      const i = y * w + x;
      if (!keep[i]) continue;
      const v = Math.round(framing.lungGrey + (data[i] - ref.lungLow) * gain);
      canvas[(y - cy0) * cw + (x - cx0)] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return resample({ width: cw, height: ch, data: canvas }, { x0: X0 - cx0, y0: Y0 - cy0, w: SW, h: SH }, side, side);
}
