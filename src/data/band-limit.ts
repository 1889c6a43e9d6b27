/**
 * Band-limiting of the working image: pure arithmetic (no I/O, no native code) so that Node and the browser
 * compute the same pixels. Used to remove the fine texture that a lower-resolution source (an image halved and
 * enlarged again, a smaller export, a figure in a paper) would not have, so that the model cannot tell how
 * sharp the file was: only detail that survives such a degradation is left for it to see.
 */
import type { GreyImage } from '../types.js';

/** Normalised 1-D Gaussian kernel of standard deviation sigma (pixels), radius ceil(3 sigma). */
export function gaussianKernel(sigma: number): Float64Array {
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new Error(`Gaussian sigma must be > 0, got ${sigma}`);
  const r = Math.ceil(3 * sigma);
  const k = new Float64Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/**
 * Separable Gaussian blur with edges clamped (replicated), rounded back to 8 bits. sigma <= 0 returns the
 * image unchanged. Deterministic double arithmetic: the browser gets the same bytes.
 */
export function gaussianBlur(img: GreyImage, sigma: number): GreyImage {
  if (!(sigma > 0)) return img;
  const { width: W, height: H, data } = img;
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const tmp = new Float64Array(W * H);
  for (let y = 0; y < H; y++) {
    const row = y * W;
    for (let x = 0; x < W; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) {
        const xx = x + i < 0 ? 0 : x + i >= W ? W - 1 : x + i;
        s += k[i + r] * data[row + xx];
      }
      tmp[row + x] = s;
    }
  }
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) {
        const yy = y + i < 0 ? 0 : y + i >= H ? H - 1 : y + i;
        s += k[i + r] * tmp[yy * W + x];
      }
      const v = Math.round(s);
      out[y * W + x] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width: W, height: H, data: out };
}
