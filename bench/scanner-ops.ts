/**
 * How another hospital's acquisition changes a CT slice, modelled in Hounsfield units (bench/scanner-variation.ts,
 * docs/scanner-variation.md). Each operator is a simple physical model, not a simulation of a scanner:
 * - reconstruction kernel: a sharp (lung) kernel boosts high spatial frequencies (unsharp mask), a soft one cuts them;
 * - dose: quantum noise, spatially correlated by the reconstruction filter (white noise blurred, scaled to sigma HU);
 * - slice thickness: a thick slab is the mean of the thin slices it covers;
 * - iodine contrast: blood and well-perfused tissue gain HU; fat, air and bone hardly change;
 * - inspiration: less air in the same lung raises parenchymal density;
 * - reconstruction field and matrix: the same anatomy on more or fewer pixels.
 * Sizes are given in pixels of a 512-px slice and scaled by `pxScale` (width / 512) for smaller matrices.
 */
import { Rng, deriveSeed } from '../src/util/prng.js';

/** A slice in HU (float), row-major. */
export interface HuImage { width: number; height: number; hu: Float32Array }

/** Air and the top of a 12-bit scanner's range. */
export const HU_MIN = -1024, HU_MAX = 3071;
const clampHu = (v: number) => (v < HU_MIN ? HU_MIN : v > HU_MAX ? HU_MAX : v);

function kernel1d(sigma: number): Float32Array {
  const r = Math.max(1, Math.ceil(3 * sigma)), k = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  return k.map((v) => v / sum);
}

/** Separable gaussian blur (edges clamped). */
export function gaussian(img: HuImage, sigma: number): Float32Array {
  const { width: w, height: h, hu } = img, k = kernel1d(sigma), r = (k.length - 1) / 2;
  const tmp = new Float32Array(w * h), out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let s = 0;
    for (let j = -r; j <= r; j++) s += k[j + r] * hu[y * w + Math.min(w - 1, Math.max(0, x + j))];
    tmp[y * w + x] = s;
  }
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let s = 0;
    for (let j = -r; j <= r; j++) s += k[j + r] * tmp[Math.min(h - 1, Math.max(0, y + j)) * w + x];
    out[y * w + x] = s;
  }
  return out;
}

const withHu = (img: HuImage, hu: Float32Array): HuImage => ({ width: img.width, height: img.height, hu: hu.map(clampHu) });

/** Sharp kernel: HU + g (HU - gaussian(HU, sigma)). */
export function sharpen(img: HuImage, g: number, sigma: number): HuImage {
  const b = gaussian(img, sigma);
  return withHu(img, img.hu.map((v, i) => v + g * (v - b[i])));
}

/** Soft kernel: gaussian in HU. */
export const soften = (img: HuImage, sigma: number): HuImage => withHu(img, gaussian(img, sigma));

/**
 * Correlated noise of standard deviation `sd` HU: white gaussian noise blurred by `grain` px (the reconstruction
 * filter's blur), rescaled to `sd`. Seeded by `key`: the same slice always gets the same noise.
 */
export function correlatedNoise(width: number, height: number, sd: number, grain: number, key: string): Float32Array {
  const rng = new Rng(deriveSeed(11, key)), white = new Float32Array(width * height);
  for (let i = 0; i < white.length; i += 2) {
    // Box-Muller: two normals per two uniforms.
    const u = Math.max(1e-12, rng.next()), v = rng.next(), r = Math.sqrt(-2 * Math.log(u));
    white[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < white.length) white[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  const n = grain > 0 ? gaussian({ width, height, hu: white }, grain) : white;
  let ss = 0;
  for (const v of n) ss += v * v;
  const scale = sd / Math.sqrt(ss / n.length);
  return n.map((v) => v * scale);
}

export const addNoise = (img: HuImage, noise: Float32Array): HuImage => withHu(img, img.hu.map((v, i) => v + noise[i]));

/** Weighted mean of slices (a thick slab from the thin slices it covers); all the same size. */
export function slab(parts: HuImage[], weights: number[]): HuImage {
  const out = new Float32Array(parts[0].hu.length), total = weights.reduce((a, b) => a + b, 0);
  parts.forEach((p, k) => { for (let i = 0; i < out.length; i++) out[i] += (weights[k] / total) * p.hu[i]; });
  return withHu(parts[0], out);
}

/**
 * Iodine contrast (venous phase): blood and soft tissue (-50..150 HU, neither fat nor bone) inside the rows'
 * span of the lungs (heart, great vessels, hila, the lungs' own vessels) gain `blood` HU; soft tissue elsewhere
 * (chest wall muscle, liver) gains `tissue` HU. Fat, air and bone are left alone.
 */
export function contrast(img: HuImage, lungs: Uint8Array, blood: number, tissue: number): HuImage {
  const { width: w, height: h, hu } = img, out = hu.slice();
  for (let y = 0; y < h; y++) {
    let x0 = w, x1 = -1;
    for (let x = 0; x < w; x++) if (lungs[y * w + x]) { if (x < x0) x0 = x; x1 = x; }
    for (let x = 0; x < w; x++) {
      const i = y * w + x, v = hu[i];
      if (v >= -50 && v <= 150) out[i] = v + (x >= x0 && x <= x1 ? blood : tissue);
    }
  }
  return withHu(img, out);
}

/**
 * Shallower inspiration: the same lung tissue in less air, so aerated parenchyma (below -500 HU inside the lungs)
 * is `delta` HU denser; a ramp from -500 to -400 HU leaves vessels and walls unchanged without an edge.
 */
export function shallowBreath(img: HuImage, lungs: Uint8Array, delta: number): HuImage {
  return withHu(img, img.hu.map((v, i) => (lungs[i] ? v + delta * Math.min(1, Math.max(0, (-400 - v) / 100)) : v)));
}

/**
 * The same anatomy seen through another reconstruction field or matrix: the picture scaled by `zoom` about its
 * centre onto outW x outH pixels (bilinear), what falls outside the original filled with `fill` HU.
 */
export function rescale(img: HuImage, zoom: number, outW: number, outH: number, fill = HU_MIN): HuImage {
  const { width: w, height: h, hu } = img, out = new Float32Array(outW * outH);
  const sx = (w / outW) / zoom, sy = (h / outH) / zoom;
  for (let y = 0; y < outH; y++) for (let x = 0; x < outW; x++) {
    const fx = (x + 0.5 - outW / 2) * sx + w / 2 - 0.5, fy = (y + 0.5 - outH / 2) * sy + h / 2 - 0.5;
    if (fx < -0.5 || fy < -0.5 || fx > w - 0.5 || fy > h - 0.5) { out[y * outW + x] = fill; continue; }
    const x0 = Math.max(0, Math.min(w - 1, Math.floor(fx))), y0 = Math.max(0, Math.min(h - 1, Math.floor(fy)));
    const x1 = Math.min(w - 1, x0 + 1), y1 = Math.min(h - 1, y0 + 1), ax = Math.min(1, Math.max(0, fx - x0)), ay = Math.min(1, Math.max(0, fy - y0));
    out[y * outW + x] = (1 - ay) * ((1 - ax) * hu[y0 * w + x0] + ax * hu[y0 * w + x1]) + ay * ((1 - ax) * hu[y1 * w + x0] + ax * hu[y1 * w + x1]);
  }
  return { width: outW, height: outH, hu: out.map(clampHu) };
}
