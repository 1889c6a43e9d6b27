/**
 * How blurred a slice is, measured on its own lungs' edge (pure arithmetic: the same in Node and the browser).
 *
 * A step of height h blurred by a Gaussian of standard deviation s has its steepest gradient h / (s sqrt(2 pi)),
 * so s = h / (g sqrt(2 pi)). The lung's border against chest wall and mediastinum is such a step in every chest
 * CT: h is the grey 2-4 analysis px outside the lungs minus the lungs' parenchyma (median of the lung eroded by
 * 3 px), g a high quantile (the sharpest stretches) of the central-difference gradient within 1.5 px of the
 * border. Everything read lies inside the lung mask dilated by 4 px (the margin the outside-the-lungs audits and
 * the lungs-only view keep).
 *
 * A perfectly sharp step on the pixel grid reads SHARP_EDGE_BLUR (its central difference is h / 2); CT-MD's raw
 * scanner slices at 256 px read 0.77 (p10-p90 0.74-0.83), and the same slices blurred by 1.2 px read 1.27, halved
 * and enlarged again 0.98, JPEG'd at quality 30 0.84 (docs/robust-involvement.md). Because real borders are not
 * ideal steps, the reading grows more slowly than the blur added: on real slices reading^2 grows by about
 * BLUR_GAIN x (added sigma)^2, which addedBlur inverts.
 */
import { LUNG_BAND_MARGIN, LUNG_BAND_ROWS, LUNG_BANDS, type LungSegmentation } from './lungs.js';
import { ballRowLimits, grownBox, rowBands } from './morphology.js';
import { histogramQuantile, keyQuantile } from './histogram.js';

/** The reading of an ideal step sampled on the pixel grid: 1 / (0.5 sqrt(2 pi)) px. Sharper is not measurable. */
export const SHARP_EDGE_BLUR = 1 / (0.5 * Math.sqrt(2 * Math.PI));
/**
 * reading^2 - reading0^2 = BLUR_GAIN x sigma^2 when a Gaussian of sigma (analysis px) is added to a real slice
 * (measured on CT-MD slices blurred by 0.8 and 1.2 px: 0.70 and 0.71; 0.52 at 2 px, where addedBlur then
 * underestimates).
 */
export const BLUR_GAIN = 0.7;
/** Quantile of the border's gradients taken as its steepest (the sharpest stretches, not single noisy pixels). */
const GRADIENT_QUANTILE = 0.9;

export interface EdgeBlur {
  /** The blur reading (analysis px; see the module comment). */
  sigma: number;
  /** Step height (grey levels) and steepest gradient (grey levels per px) it was computed from. */
  step: number;
  gradient: number;
}


/** Rows either side of a pixel that the bands below read (the ring's outer radius, 4 px; LUNG_BAND_ROWS holds them). */
const BALL_ROWS = 4;
const DEEP = ballRowLimits(3, BALL_ROWS), RING_OUT = ballRowLimits(4, BALL_ROWS), RING_IN = ballRowLimits(2, BALL_ROWS), NEAR = ballRowLimits(1.5, BALL_ROWS);
/** The gradients' keys, grown on demand. */
let keyBuf = new Int32Array(0);

/** The blur reading of a segmentation's analysis image, or null when its lungs show no usable border. */
export function edgeBlur(seg: LungSegmentation): EdgeBlur | null {
  if (!seg.found) return null;
  const { width: W, height: H, data } = seg.analysis;
  const labels = seg.labels;
  // Bands by their chamfer distance to the lung ("outside") and to the rest ("inside"): per pixel, whether a row of
  // the chamfer ball holds a lung (or non-lung) pixel, from the distance along that row (the same pixels as
  // thresholding the two distance transforms). Nothing farther than 4 px from the lungs is read, so only their box
  // grown by a margin is visited (the nearest pixel of either kind to a pixel of it lies within it).
  // The window and rows are those of the border refinement (lungs.ts), whose last step read the same bands of the
  // same lungs: rowBands returns them without recomputing.
  const win = grownBox(seg.box ?? { x0: 0, y0: 0, x1: W, y1: H }, LUNG_BAND_MARGIN, W, H);
  const { x0, y0 } = win;
  const { toSet: L, toUnset: T, ww, hh, pad } = rowBands(labels, W, win, LUNG_BAND_ROWS, LUNG_BANDS);
  const [d0, d1, d2, d3] = DEEP, [o0, o1, o2, o3, o4] = RING_OUT, [i0, i1, i2] = RING_IN, [n0, n1] = NEAR;
  const w2 = 2 * ww, w3 = 3 * ww, w4 = 4 * ww;
  const parenchyma = new Uint32Array(256), ring = new Uint32Array(256);
  // Gradients as integer keys (2 gx)^2 + (2 gy)^2: their order is the gradients' order (sqrt(key / 4) is the gradient).
  if (keyBuf.length < ww * hh) keyBuf = new Int32Array(ww * hh);
  const keys = keyBuf;
  let nParenchyma = 0, nRing = 0, nGradients = 0;
  // Only the lungs' box grown by 4 px can hold a pixel of the three bands (a pixel farther out has no lung within
  // 4 px): the loop visits it, the bands around it are read.
  const near = grownBox(seg.box ?? { x0: 0, y0: 0, x1: W, y1: H }, BALL_ROWS, W, H);
  for (let y = Math.max(1, near.y0); y < Math.min(H - 1, near.y1); y++) {
    for (let x = Math.max(1, near.x0), c = pad + (y - y0) * ww + x - x0; x < Math.min(W - 1, near.x1); x++, c++) {
      const i = y * W + x;
      // inside > 3: no non-lung pixel within 3 px. Else 2 < outside <= 4: a lung pixel within 4 px, none within 2.
      if (((T[c] - d0) | (T[c - ww] - d1) | (T[c + ww] - d1) | (T[c - w2] - d2) | (T[c + w2] - d2) | (T[c - w3] - d3) | (T[c + w3] - d3)) >= 0) {
        parenchyma[data[i]]++; nParenchyma++;
      } else if (((L[c] - i0) | (L[c - ww] - i1) | (L[c + ww] - i1) | (L[c - w2] - i2) | (L[c + w2] - i2)) >= 0
        && ((L[c] - o0) | (L[c - ww] - o1) | (L[c + ww] - o1) | (L[c - w2] - o2) | (L[c + w2] - o2) | (L[c - w3] - o3) | (L[c + w3] - o3) | (L[c - w4] - o4) | (L[c + w4] - o4)) < 0) {
        ring[data[i]]++; nRing++;
      }
      // outside <= 1.5 and inside <= 1.5: both a lung and a non-lung pixel within 1.5 px.
      if (((L[c] - n0) | (L[c - ww] - n1) | (L[c + ww] - n1)) < 0 && ((T[c] - n0) | (T[c - ww] - n1) | (T[c + ww] - n1)) < 0) {
        const dx = data[i + 1] - data[i - 1], dy = data[i + W] - data[i - W];
        keys[nGradients++] = dx * dx + dy * dy;
      }
    }
  }
  if (nParenchyma < 16 || nRing < 16 || nGradients < 16) return null;
  const step = histogramQuantile(ring, nRing, 0.5) - histogramQuantile(parenchyma, nParenchyma, 0.5);
  // The same number as the quantile of the gradients sqrt(gx^2 + gy^2) with gx = dx / 2: gx^2 + gy^2 = key / 4 exactly.
  const gradient = Math.sqrt(keyQuantile(keys, nGradients, GRADIENT_QUANTILE) / 4);
  // A border with little contrast (a soft-tissue window, tissue as dark as lung) says nothing about blur.
  if (step < 16 || !(gradient > 0)) return null;
  return { sigma: step / (gradient * Math.sqrt(2 * Math.PI)), step, gradient };
}

/**
 * The Gaussian blur (analysis px) a slice carries beyond a sharp one: sqrt((reading^2 - SHARP^2) / BLUR_GAIN),
 * 0 for a sharp slice or an unreadable border.
 */
export function addedBlur(blur: EdgeBlur | null): number {
  if (!blur) return 0;
  return Math.sqrt(Math.max(0, (blur.sigma * blur.sigma - SHARP_EDGE_BLUR * SHARP_EDGE_BLUR) / BLUR_GAIN));
}
