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

/** Scratch: per analysis pixel, 1 = lung, 2 = tissue, 0 = neither (reused from call to call, written first). */
let kinds = new Uint8Array(0);

/** (mean |step 1| / mean |step lag|) down over the same across, from the four sums (NaN when a sum is 0). */
const ratioOf = (d1: number, dL: number, a1: number, aL: number): number => (dL > 0 && a1 > 0 && aL > 0 ? (d1 / dL) / (a1 / aL) : NaN);

/** The detail figures of a segmentation (found or not; an empty mask gives NaN). */
export function planeFigures(seg: LungSegmentation): PlaneFigures {
  const { width: w, height: h, data } = seg.analysis;
  const n = w * h, L = REFORMAT_LIMITS.lag, labels = seg.labels, body = seg.body, t = seg.threshold ?? 256;
  if (kinds.length < n) kinds = new Uint8Array(n);
  // Tissue: body pixels outside the lungs at or above the threshold and below clipped white (flat, no detail).
  for (let i = 0; i < n; i++) kinds[i] = labels[i] !== 0 ? 1 : body[i] !== 0 && data[i] >= t && data[i] < 250 ? 2 : 0;
  // Sums per kind (lung, tissue): down 1, down L, across 1, across L; a pixel counts when its lag neighbours across
  // and down are of its kind.
  let ld1 = 0, ldL = 0, la1 = 0, laL = 0, lp = 0, td1 = 0, tdL = 0, ta1 = 0, taL = 0, tp = 0;
  for (let y = 0; y < h - L; y++) {
    for (let x = 0, i = y * w; x < w - L; x++, i++) {
      const k = kinds[i];
      if (k === 0 || kinds[i + L] !== k || kinds[i + L * w] !== k) continue;
      const v = data[i], d1 = Math.abs(data[i + w] - v), dL = Math.abs(data[i + L * w] - v), a1 = Math.abs(data[i + 1] - v), aL = Math.abs(data[i + L] - v);
      if (k === 1) { ld1 += d1; ldL += dL; la1 += a1; laL += aL; lp++; } else { td1 += d1; tdL += dL; ta1 += a1; taL += aL; tp++; }
    }
  }
  return { ratio: ratioOf(ld1, ldL, la1, laL), pixels: lp, tissueRatio: ratioOf(td1, tdL, ta1, taL), tissuePixels: tp };
}

/** Why the picture is a reformat rather than an axial slice, in words; undefined when it may be axial. */
export function reformatRefusal(f: PlaneFigures): string | undefined {
  const { minPixels, maxRatio } = REFORMAT_LIMITS;
  // Both the lungs and the tissue: the slice spacing coarsens the whole picture, not one region of it.
  if (!(f.pixels >= minPixels && f.ratio < maxRatio && f.tissuePixels >= minPixels && f.tissueRatio < maxRatio)) return undefined;
  const pct = (r: number): number => Math.round(100 * r);
  return `a coronal or sagittal reformat, not an axial slice (the detail down the picture is ${pct(f.ratio)}% of that across it in the lungs and ${pct(f.tissueRatio)}% in the tissue, as a reformat's slice spacing makes it): the model reads axial slices; send the axial slices`;
}
