/**
 * "Is this an axial slice?", asked after the lungs are found: a coronal or sagittal reformat of a chest CT (a common
 * PNG/JPEG export from PACS viewers) shows lungs too, and would be read as an axial slice, with a confident and
 * meaningless verdict. The model and the involvement scale know axial slices only (docs/reformats.md).
 *
 * Physics, not anatomy: an axial slice is reconstructed on a square in-plane grid with the same resolution across and
 * down, so the fine detail inside its lungs (vessels, grain) is the same in both directions. A reformat's vertical
 * axis is the table's axis, sampled at the slice spacing (3-5 mm, against pixels of 0.6-0.8 mm) and interpolated
 * between slices (linearly, by the nearest slice, or smoothed): its detail down the picture is coarser than across.
 *
 * The figure: inside the lungs, the mean |step| between pixels 1 apart over that between pixels 3 apart, down the
 * picture, divided by the same across it; and the same in the body's tissue outside them. Grain and vessels a pixel
 * wide give a ratio near 1 in each direction; interpolation in z shrinks the 1-pixel steps down the picture (linear:
 * a ramp over several rows; nearest slice: equal rows), and so the figure. The lag ratio rather than the raw step
 * makes it independent of the contrast and of how much disease there is; taking it along both directions makes it
 * independent of the picture's own blur, downscaling or JPEG, which act alike across and down. The slice spacing
 * coarsens the whole picture, so both the lungs and the tissue must show it: a thin band of air that passed as a lung
 * (beside the table of an abdomen slice turned by 90 degrees) can show it alone. Pure arithmetic on the 256-px
 * analysis image, the same in Node and in the browser; nothing fitted, no label used. Thin-slice series reformatted
 * at their own spacing (isotropic voxels) are not told apart this way (docs/reformats.md).
 */
import type { LungSegmentation } from './lungs.js';

/** The check's limits (docs/reformats.md says where each comes from). */
export const REFORMAT_LIMITS = Object.freeze({
  /** The longer lag, in analysis pixels. */
  lag: 3,
  /**
   * Refuse when the down/across ratio is below this in the lungs and in the tissue: the detail down the picture is
   * less than 4/5 of that across it in both. No real axial slice, degraded copy or viewer photo we have comes closer
   * than 0.89 in both (docs/reformats.md).
   */
  maxRatio: 0.8,
  /**
   * Measured pixels (analysis pixels whose lag neighbours across and down are of their kind too), in the lungs and in
   * the tissue, below which the figure is not read: a small lung (an apex, a base, a thin crescent) has too few pixels, and its edges and the diaphragm's
   * partial volume make steps of one direction dominate.
   */
  minPixels: 2000,
});

/** The figure of one segmentation, on its analysis image. */
export interface PlaneFigures {
  /** (mean |step 1| / mean |step lag|) down the picture over the same across it; NaN when not measurable. */
  ratio: number;
  /** Lung pixels it was measured on. */
  pixels: number;
  /** The same figure in the body's tissue outside the lungs (not clipped white), and its pixels. */
  tissueRatio: number;
  tissuePixels: number;
}

/** (mean |step 1| / mean |step lag|) down over the same across, from the four sums (NaN when a sum is 0). */
const ratioOf = (d1: number, dL: number, a1: number, aL: number): number => (dL > 0 && a1 > 0 && aL > 0 ? (d1 / dL) / (a1 / aL) : NaN);

/**
 * The figure over the pixels of one kind within [x0, x1) x [y0, y1): `kind(i)` is true for them. A pixel counts when
 * its lag neighbours across and down are of the kind too.
 */
function detail(seg: LungSegmentation, kind: (i: number) => boolean, x0: number, y0: number, x1: number, y1: number): { ratio: number; pixels: number } {
  const { width: w, height: h, data } = seg.analysis;
  const L = REFORMAT_LIMITS.lag;
  let d1 = 0, dL = 0, a1 = 0, aL = 0, pixels = 0;
  for (let y = y0; y < Math.min(y1, h - L); y++) {
    for (let x = x0, i = y * w + x0; x < Math.min(x1, w - L); x++, i++) {
      if (!kind(i) || !kind(i + L) || !kind(i + L * w)) continue;
      const v = data[i];
      d1 += Math.abs(data[i + w] - v); dL += Math.abs(data[i + L * w] - v);
      a1 += Math.abs(data[i + 1] - v); aL += Math.abs(data[i + L] - v);
      pixels++;
    }
  }
  return { ratio: ratioOf(d1, dL, a1, aL), pixels };
}

/** The lungs' figure (over the lungs' box). */
function lungDetail(seg: LungSegmentation): { ratio: number; pixels: number } {
  const b = seg.box;
  if (!b) return { ratio: NaN, pixels: 0 };
  const labels = seg.labels;
  return detail(seg, (i) => labels[i] !== 0, b.x0, b.y0, b.x1, b.y1);
}

/** The tissue's figure: body pixels outside the lungs at or above the threshold, below clipped white (flat). */
function tissueDetail(seg: LungSegmentation): { ratio: number; pixels: number } {
  const { width: w, height: h, data } = seg.analysis;
  const labels = seg.labels, body = seg.body, t = seg.threshold ?? 256;
  return detail(seg, (i) => labels[i] === 0 && body[i] !== 0 && data[i] >= t && data[i] < 250, 0, 0, w, h);
}

/** Both figures of a segmentation (found or not; an empty mask gives NaN). */
export function planeFigures(seg: LungSegmentation): PlaneFigures {
  const lung = lungDetail(seg), tissue = tissueDetail(seg);
  return { ratio: lung.ratio, pixels: lung.pixels, tissueRatio: tissue.ratio, tissuePixels: tissue.pixels };
}

/**
 * The check on a segmentation, as findLungs asks it: the tissue is measured only when the lungs already look like a
 * reformat's (an axial slice's lungs almost never do), which keeps the cost to one pass over the lungs' box.
 */
export function checkPlane(seg: LungSegmentation): string | undefined {
  const lung = lungDetail(seg);
  if (!(lung.pixels >= REFORMAT_LIMITS.minPixels && lung.ratio < REFORMAT_LIMITS.maxRatio)) return undefined;
  const tissue = tissueDetail(seg);
  return reformatRefusal({ ratio: lung.ratio, pixels: lung.pixels, tissueRatio: tissue.ratio, tissuePixels: tissue.pixels });
}

/** Why the picture is a reformat rather than an axial slice, in words; undefined when it may be axial. */
export function reformatRefusal(f: PlaneFigures): string | undefined {
  const { minPixels, maxRatio } = REFORMAT_LIMITS;
  // Both the lungs and the tissue: the slice spacing coarsens the whole picture, not one region of it.
  if (!(f.pixels >= minPixels && f.ratio < maxRatio && f.tissuePixels >= minPixels && f.tissueRatio < maxRatio)) return undefined;
  const pct = (r: number): number => Math.round(100 * r);
  return `a coronal or sagittal reformat (the detail down the picture is ${pct(f.ratio)}% of that across it in the lungs and ${pct(f.tissueRatio)}% in the tissue, as a reformat's slice spacing makes it): the model reads axial slices; send the series' axial slices`;
}
