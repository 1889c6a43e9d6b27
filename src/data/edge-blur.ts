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
import type { LungSegmentation } from './lungs.js';
import { distanceToSet } from './morphology.js';
import { histogramQuantile } from './histogram.js';

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

function quantile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))];
}

/** The blur reading of a segmentation's analysis image, or null when its lungs show no usable border. */
export function edgeBlur(seg: LungSegmentation): EdgeBlur | null {
  if (!seg.found) return null;
  const { width: W, height: H, data } = seg.analysis;
  const lung = new Uint8Array(W * H), notLung = new Uint8Array(W * H);
  for (let i = 0; i < lung.length; i++) { if (seg.labels[i]) lung[i] = 1; else notLung[i] = 1; }
  const outside = distanceToSet(lung, W, H); // 0 on the lung, px to the lung elsewhere
  const inside = distanceToSet(notLung, W, H); // 0 off the lung, px to its border on it
  const parenchyma = new Uint32Array(256), ring = new Uint32Array(256), gradients: number[] = [];
  let nParenchyma = 0, nRing = 0;
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      const i = y * W + x;
      if (inside[i] > 3) { parenchyma[data[i]]++; nParenchyma++; }
      else if (outside[i] > 2 && outside[i] <= 4) { ring[data[i]]++; nRing++; }
      if (outside[i] <= 1.5 && inside[i] <= 1.5) {
        const gx = (data[i + 1] - data[i - 1]) / 2, gy = (data[i + W] - data[i - W]) / 2;
        gradients.push(Math.sqrt(gx * gx + gy * gy));
      }
    }
  }
  if (nParenchyma < 16 || nRing < 16 || gradients.length < 16) return null;
  const step = histogramQuantile(ring, nRing, 0.5) - histogramQuantile(parenchyma, nParenchyma, 0.5);
  const gradient = quantile(Float64Array.from(gradients).sort(), GRADIENT_QUANTILE);
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
