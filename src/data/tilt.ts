/**
 * Tilt of an upright CT slice in its picture, and the turn that takes it back (docs/field-and-resolution.md section
 * 4). Pure TypeScript, no I/O: the same module runs on the server and in the page.
 *
 * A patient lying rolled on the table, or a phone held askew over a screen, tilts the body in the picture by a few
 * to some tens of degrees. The orientation stage (orientation.ts) only undoes quarter turns and flips; the pattern
 * model, trained with rotations up to 5 degrees, loses much of its reading beyond that (CT-MD slice AUC 0.931 as
 * scanned, 0.895 tilted by 10 degrees, 0.876 by 20).
 *
 * The tilt is the angle of the body's long axis (the second moments of the body mask: a chest is wider than deep).
 * On slices as scanned it already spreads from about -5 to +7 degrees (the arms, the table, the heart pull it), so a
 * slice is turned back only when its axis is at least MIN_TILT_DEGREES off: then no slice as scanned is turned
 * (none of COVID-CT's 746 or CT-MD's 768 and 152 DICOM), while tilted ones are (CT-MD tilted by 10 / 20 / 30
 * degrees: 0.906 / 0.907 / 0.899, against 0.895 / 0.876 / 0.847 read as sent). Turning back every slice 5 degrees
 * off lost on the originals (0.931 -> 0.920): the axis is not that precise.
 *
 * A picture that cuts the body (a paper figure's crop) gives an axis that is partly the frame's: three level COVID-CT
 * slices read 14 to 21 degrees, their bodies along 21% to 53% of the picture's edge. So a body along more than
 * MAX_FRAME_CONTACT of the edge is not turned (CT-MD slices tilted by 10 to 30 degrees: 95% at 19% or less), and the
 * turn must make the body more mirror-symmetric, as a level chest is (MIN_SYMMETRY_GAIN): those crops gained 0.021
 * and 0.027, CT-MD slices tilted by 10 degrees 0.030 or more (5th percentile), by 20 degrees 0.061 or more (measured
 * with a bilinear turn).
 *
 * The outline must also be smooth (MAX_RAGGEDNESS): with noise outside the lungs (the outside-noise audit) the "body"
 * is a ragged blob whose axis is random, and 5 of 118 val slices were turned by 11 to 44 degrees (the audit's mean
 * |dP| rose from 0.0072 to 0.0120). Their outlines measured 1.26 to 3.68; CT-MD slices tilted by 10 to 30 degrees,
 * 0.81 median, 1.05 at the 95th percentile.
 */
import type { GreyImage } from '../types.js';
import { segmentLungs, type LungSegmentation } from './lungs.js';
import { histogramQuantile } from './histogram.js';
import { LANCZOS_A, lanczos } from './working-image.js';

/** Below this many degrees off the horizontal, the body's axis is read as a slice as scanned: no turn. */
export const MIN_TILT_DEGREES = 10;
/** Beyond this, the axis is no longer a tilt (a body turned by about 90 degrees is the orientation stage's, or a round body). */
export const MAX_TILT_DEGREES = 45;
/**
 * The body must be this elongated for its axis to mean anything: (l1 - l2) / (l1 + l2) of the second moments' two
 * eigenvalues (0 for a disc). CT-MD's bodies: 0.18-0.55 (5th-95th percentile), median 0.32.
 */
export const MIN_ELONGATION = 0.15;
/** The largest share of the picture's edge (its outermost pixels) that the body may cover for its axis to be read. */
export const MAX_FRAME_CONTACT = 0.15;
/**
 * The most ragged body outline (outlineRaggedness) whose axis is read: a disc's is about 0.8 (its boundary pixels
 * are counted on a grid), a chest's 0.8-1.1 (less when the frame cuts it: the frame is no outline).
 */
export const MAX_RAGGEDNESS = 1.2;
/** The least gain in the body's mirror symmetry (mirrorSymmetry) that a turn must bring to be kept. */
export const MIN_SYMMETRY_GAIN = 0.025;
/** A body mask covering this share of the picture or more is a tight crop (no air seen): its axis is the frame's. */
const MAX_BODY_SHARE = 0.95;

/** The long axis of a mask: its angle in degrees in (-90, 90] (positive = turned clockwise on screen), and its elongation. */
export interface MaskAxis {
  degrees: number;
  elongation: number;
  /** The mask's share of the picture. */
  share: number;
}

/** The long axis of the pixels of `mask` that are non-zero (w x h), from their second moments; null when empty. */
export function maskAxis(mask: ArrayLike<number>, w: number, h: number): MaskAxis | null {
  // One pass over raw moments (exact in doubles at these sizes): the central ones follow.
  let n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (!mask[row + x]) continue;
      n++; sx += x; sy += y; sxx += x * x; sxy += x * y; syy += y * y;
    }
  }
  if (n === 0) return null;
  const a = sxx - (sx * sx) / n, b = sxy - (sx * sy) / n, c = syy - (sy * sy) / n;
  const spread = a + c;
  return {
    // y points down, so a positive angle is a clockwise turn on screen.
    degrees: (0.5 * Math.atan2(2 * b, a - c) * 180) / Math.PI,
    elongation: spread > 0 ? Math.sqrt((a - c) ** 2 + 4 * b * b) / spread : 0,
    share: n / (w * h),
  };
}

/** The share of the picture's outermost pixels (its edge) that are set in `mask`. */
export function frameContact(mask: ArrayLike<number>, w: number, h: number): number {
  if (w < 2 || h < 2) return 1;
  let set = 0;
  for (let x = 0; x < w; x++) set += (mask[x] ? 1 : 0) + (mask[(h - 1) * w + x] ? 1 : 0);
  for (let y = 1; y < h - 1; y++) set += (mask[y * w] ? 1 : 0) + (mask[y * w + w - 1] ? 1 : 0);
  return set / (2 * w + 2 * (h - 2));
}

/**
 * How ragged a mask's outline is: (boundary pixels)^2 / (4 pi area), counting the set pixels with an unset
 * 4-neighbour inside the picture (the picture's frame is no outline). About 0.8 for a disc, far more for a blob
 * frayed by noise.
 */
export function outlineRaggedness(mask: ArrayLike<number>, w: number, h: number): number {
  let area = 0, boundary = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!mask[i]) continue;
      area++;
      if (x > 0 && x < w - 1 && y > 0 && y < h - 1 && (!mask[i - 1] || !mask[i + 1] || !mask[i - w] || !mask[i + w])) boundary++;
    }
  }
  return area > 0 ? (boundary * boundary) / (4 * Math.PI * area) : 0;
}

/**
 * The turn (degrees, clockwise positive) that brings an upright slice's body level, or 0 when it should be read as
 * it is: no lungs found, a body too round, cut by the picture's frame or too ragged for its axis to mean anything,
 * or an axis within MIN_TILT_DEGREES of level (slices as scanned) or beyond MAX_TILT_DEGREES (not a tilt).
 */
export function tiltCorrection(seg: LungSegmentation): number {
  if (!seg.found || seg.cutOut) return 0;
  const { width: w, height: h } = seg.analysis;
  const axis = maskAxis(seg.body, w, h);
  if (!axis || axis.share >= MAX_BODY_SHARE || axis.elongation < MIN_ELONGATION) return 0;
  const off = Math.abs(axis.degrees);
  if (off < MIN_TILT_DEGREES || off > MAX_TILT_DEGREES) return 0;
  // Only for the few slices whose axis is off: the outline's checks are a pass over the mask each.
  if (frameContact(seg.body, w, h) > MAX_FRAME_CONTACT || outlineRaggedness(seg.body, w, h) > MAX_RAGGEDNESS) return 0;
  return -axis.degrees;
}

/** The grey of air around the body: the grey of -1000 HU when the slice is in HU, else the median grey outside the body mask. */
export function airGrey(img: GreyImage, seg: LungSegmentation): number {
  if (img.hu) return Math.max(0, Math.min(255, Math.round((-1000 - img.hu.intercept) / img.hu.slope)));
  const { width: w, height: h, data } = seg.analysis;
  const hist = new Uint32Array(256);
  let n = 0;
  for (let i = 0; i < w * h; i++) if (!seg.body[i]) { hist[data[i]]++; n++; }
  return n > 0 ? histogramQuantile(hist, n, 0.5) : 0;
}

/**
 * The picture turned by `degrees` (clockwise on screen) about its centre, in a picture of its own size (the corners
 * turned out of it are lost, the corners turned into it filled with `fill`). Its own size keeps the lungs' scale
 * against the picture, which the lungs-only view's resolution follows (lung-view.ts): on a canvas grown to hold the
 * whole turned picture, CT-MD tilted by 10 degrees read 0.883 turned back against 0.895 not turned.
 *
 * Interpolated with Lanczos-3, not bilinear: the pattern model reads a slight blur as a loss (a slice turned by 5
 * degrees and back with bilinear interpolation, the same slice, reads 0.907 against 0.931), and CT-MD tilted by
 * 10 / 20 / 30 degrees read 0.906 / 0.907 / 0.899 turned back this way against 0.907 / 0.901 / 0.889 with bilinear.
 * Other fields (the HU mapping) are kept.
 */
export function rotateImage(img: GreyImage, degrees: number, fill: number): GreyImage {
  const { width: w, height: h, data } = img;
  const t = (degrees * Math.PI) / 180;
  const cos = Math.cos(t), sin = Math.sin(t);
  const out = new Uint8Array(w * h);
  const cx = w / 2, cy = h / 2;
  const R = KERNEL_RADIUS, taps = 2 * R;
  const wx = new Float64Array(taps), wy = new Float64Array(taps);
  for (let Y = 0; Y < h; Y++) {
    const dy = Y + 0.5 - cy;
    for (let X = 0; X < w; X++) {
      const dx = X + 0.5 - cx;
      // Where this output pixel's centre came from: the inverse turn, in pixel-centre coordinates.
      const sx = dx * cos + dy * sin + cx - 0.5;
      const sy = -dx * sin + dy * cos + cy - 0.5;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const left = x0 - R + 1, top = y0 - R + 1;
      if (left + taps <= 0 || top + taps <= 0 || left >= w || top >= h) { out[Y * w + X] = fill; continue; }
      kernelWeights(sx - x0, wx);
      kernelWeights(sy - y0, wy);
      const inside = left >= 0 && top >= 0 && left + taps <= w && top + taps <= h;
      let v = 0;
      for (let j = 0; j < taps; j++) {
        const y = top + j;
        let row = 0;
        if (inside) {
          const base = y * w + left;
          for (let k = 0; k < taps; k++) row += wx[k] * data[base + k];
        } else {
          for (let k = 0; k < taps; k++) {
            const x = left + k;
            row += wx[k] * (x >= 0 && y >= 0 && x < w && y < h ? data[y * w + x] : fill);
          }
        }
        v += wy[j] * row;
      }
      out[Y * w + X] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
    }
  }
  return { ...img, data: out };
}

/** Lanczos-3, the kernel working-image.ts resamples with: 6 x 6 taps a pixel. */
const KERNEL_RADIUS = LANCZOS_A;
/** The kernel sampled every 1/KERNEL_STEPS of a pixel: the turn reads it 12 times a pixel, and sines are slow. */
const KERNEL_STEPS = 1024;
const KERNEL_TABLE = Float64Array.from({ length: KERNEL_RADIUS * KERNEL_STEPS + 1 }, (_, i) => lanczos(i / KERNEL_STEPS));

/** The weights of the 2R taps at -R+1..R pixels from a point `frac` (in [0, 1)) past a pixel, normalised to sum 1. */
function kernelWeights(frac: number, out: Float64Array): void {
  const R = KERNEL_RADIUS;
  let sum = 0;
  for (let k = 0; k < 2 * R; k++) {
    out[k] = KERNEL_TABLE[Math.min(R * KERNEL_STEPS, Math.round(Math.abs(frac - (k - R + 1)) * KERNEL_STEPS))];
    sum += out[k];
  }
  for (let k = 0; k < 2 * R; k++) out[k] /= sum;
}

/**
 * How mirror-symmetric a mask is about the vertical line through its centroid: the share of its pixels whose mirror
 * image is in the mask too (1 for a symmetric shape, 0 for an empty mask).
 */
export function mirrorSymmetry(mask: ArrayLike<number>, w: number, h: number): number {
  let n = 0, sx = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (mask[y * w + x]) { n++; sx += x; }
  if (n === 0) return 0;
  const axis2 = Math.round((2 * sx) / n);
  let both = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const m = axis2 - x;
      if (mask[y * w + x] && m >= 0 && m < w && mask[y * w + m]) both++;
    }
  }
  return both / n;
}

/** What the user is told when a tilted slice was turned level before it was read (the page, predict's table, explain). */
export const tiltNote = (degrees: number): string =>
  `it came tilted by ${Math.abs(Math.round(degrees))} degrees ${degrees > 0 ? 'clockwise' : 'anticlockwise'} and was read level`;

/** `{ tilt }` when a tilt was undone, else nothing: spread into a row so that a level slice's row has no such field. */
export const tiltField = (tilt: number | undefined): { tilt?: number } => (tilt !== undefined ? { tilt } : {});

/** An upright slice made level: the picture the lung stage reads, its segmentation, and the tilt undone (if any). */
export interface LevelSlice {
  image: GreyImage;
  seg: LungSegmentation;
  /** The tilt found and undone, degrees clockwise positive (0.1 degree steps); absent when read as it was. */
  tilt?: number;
}

/**
 * The tilt stage on an upright slice and its segmentation: the slice turned level when tiltCorrection asks for a
 * turn, the lungs are still found on the turned slice and its body became more mirror-symmetric by at least
 * MIN_SYMMETRY_GAIN; else the slice as it was (the same objects).
 */
export function levelSlice(img: GreyImage, seg: LungSegmentation): LevelSlice {
  const turn = tiltCorrection(seg);
  if (turn === 0) return { image: img, seg };
  const level = rotateImage(img, turn, airGrey(img, seg));
  const levelSeg = segmentLungs(level, level.hu ? { hu: level.hu } : {});
  if (!levelSeg.found) return { image: img, seg };
  const gain = mirrorSymmetry(levelSeg.body, levelSeg.analysis.width, levelSeg.analysis.height) - mirrorSymmetry(seg.body, seg.analysis.width, seg.analysis.height);
  return gain >= MIN_SYMMETRY_GAIN ? { image: level, seg: levelSeg, tilt: Math.round(-turn * 10) / 10 } : { image: img, seg };
}
