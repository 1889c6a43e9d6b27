/**
 * How blurred a slice is, measured inside its lungs (pure arithmetic: the same in Node and the browser). For lungs
 * whose border cannot be read (edge-blur.ts): lungs cut out onto black (cut-out.ts), where the picture's maker
 * painted everything beyond the lungs, so the border is a sharp step to black whatever the slice's own blur.
 *
 * It blurs the lungs again by a known Gaussian (REBLUR px) and compares gradients. A step of any height blurred by
 * s has its steepest gradient in proportion to 1 / s; blurred again by b, to 1 / sqrt(s^2 + b^2). So at an edge
 * the ratio r of the two gradients gives s = b / sqrt(r^2 - 1) without knowing the step's height. The edges read
 * are the lungs' own: vessels and fissures against parenchyma, at the steepest share of the pixels deep inside the
 * lungs (away from the cut), and the ratio is their median.
 *
 * Vessels are not ideal steps and a sharp slice is near the sampling limit, so the reading is calibrated on CT-MD's
 * slices with a body, whose blur the border reading (edge-blur.ts) gives (no labels used): the slices as scanned
 * read SHARP_INTERIOR_BLUR (median; p10-p90 0.34-0.69), blurred by 0.6 / 0.8 / 1.2 / 2 px 0.73 / 0.81 / 1.07 / 1.51; and
 * reading^2 grows by about INTERIOR_BLUR_GAIN x (added sigma)^2, which addedInteriorBlur inverts
 * (docs/lungs-on-black.md, "Blur of lungs on black").
 */
import type { LungSegmentation } from './lungs.js';
import { gaussianKernel } from './band-limit.js';
import { erode, grownBox } from './morphology.js';

/** The second blur (analysis px). */
export const REBLUR = 1;
/** The median reading of CT-MD's slices as scanned (256 px, raw scanner slices). */
export const SHARP_INTERIOR_BLUR = 0.56;
/** reading^2 - SHARP_INTERIOR_BLUR^2 = INTERIOR_BLUR_GAIN x sigma^2 for a Gaussian of sigma added (CT-MD: 0.49-0.61 at 0.6-2 px). */
export const INTERIOR_BLUR_GAIN = 0.55;
/** Share of the deep lung pixels, by gradient, read as edges (the steepest). */
const EDGE_SHARE = 0.1;
/** Fewest deep lung pixels, and edge pixels, for a reading. */
const MIN_DEEP = 50, MIN_EDGES = 20;
/**
 * How far inside the lungs a pixel must lie (px): far enough that the cut's black reaches its second blur only in
 * the kernel's tail, near enough that the small lungs of the apex and base still have deep pixels.
 */
const DEPTH = 4;

/** The interior blur reading (analysis px). */
export interface InteriorBlur { sigma: number }

/** The lungs' interior blur reading (see the module comment), or null without enough deep lung. */
export function interiorBlur(seg: LungSegmentation): InteriorBlur | null {
  if (!seg.found || !seg.box) return null;
  const { width: W, height: H, data } = seg.analysis;
  // erode reads any non-zero label as lung.
  const deep = erode(seg.labels, W, H, DEPTH, seg.box);
  // The second blur, in floating point, over the lungs' box only (a deep pixel's kernel stays inside it).
  const win = grownBox(seg.box, 1, W, H);
  const ww = win.x1 - win.x0, hh = win.y1 - win.y0;
  const k = gaussianKernel(REBLUR);
  const r = (k.length - 1) / 2;
  const tmp = new Float64Array(ww * hh), blurred = new Float64Array(ww * hh);
  // Edges clamped to the window: a deep pixel's kernel never reaches them.
  const clamp = (v: number, n: number) => (v < 0 ? 0 : v >= n ? n - 1 : v);
  for (let y = 0; y < hh; y++) {
    const row = (win.y0 + y) * W + win.x0;
    for (let x = 0; x < ww; x++) {
      let s = 0;
      for (let j = -r; j <= r; j++) s += k[j + r] * data[row + clamp(x + j, ww)];
      tmp[y * ww + x] = s;
    }
  }
  for (let y = 0; y < hh; y++) {
    for (let x = 0; x < ww; x++) {
      let s = 0;
      for (let j = -r; j <= r; j++) s += k[j + r] * tmp[clamp(y + j, hh) * ww + x];
      blurred[y * ww + x] = s;
    }
  }
  const sharpG: number[] = [], ratio: number[] = [];
  for (let y = Math.max(1, win.y0); y < Math.min(H - 1, win.y1); y++) {
    for (let x = Math.max(1, win.x0); x < Math.min(W - 1, win.x1); x++) {
      const i = y * W + x;
      if (!deep[i]) continue;
      const c = (y - win.y0) * ww + x - win.x0;
      const g = Math.hypot(data[i + 1] - data[i - 1], data[i + W] - data[i - W]);
      const gb = Math.hypot(blurred[c + 1] - blurred[c - 1], blurred[c + ww] - blurred[c - ww]);
      sharpG.push(g);
      ratio.push(gb > 0 ? g / gb : Infinity);
    }
  }
  if (sharpG.length < MIN_DEEP) return null;
  // The steepest EDGE_SHARE of the deep pixels (at least MIN_EDGES), in a stable order (ties by position).
  const order = sharpG.map((_, i) => i).sort((a, b) => sharpG[b] - sharpG[a] || a - b);
  const take = Math.max(MIN_EDGES, Math.floor(EDGE_SHARE * order.length));
  const rs = order.slice(0, take).map((i) => ratio[i]).sort((a, b) => a - b);
  const med = rs[Math.floor(rs.length / 2)];
  if (!(med > 1) || !Number.isFinite(med) || sharpG[order[take - 1]] === 0) return null;
  return { sigma: REBLUR / Math.sqrt(med * med - 1) };
}

/** The Gaussian blur (analysis px) a slice carries beyond a sharp one, from the interior reading; 0 when none. */
export function addedInteriorBlur(blur: InteriorBlur | null): number {
  if (!blur) return 0;
  return Math.sqrt(Math.max(0, (blur.sigma * blur.sigma - SHARP_INTERIOR_BLUR * SHARP_INTERIOR_BLUR) / INTERIOR_BLUR_GAIN));
}
