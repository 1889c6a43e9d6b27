/**
 * The working image (the square every view is sampled from), computed in plain TypeScript with no native
 * code, so that Node and the browser ("analyse on this device") produce the same bytes from the same decoded
 * slice and so the same P(COVID). Resampling is separable Lanczos-3, widened by the scale factor when
 * shrinking (antialiased, as Pillow and libvips do), with weights renormalised at the borders.
 */
import type { GreyImage } from '../types.js';

/**
 * Names this resampler in feature-cache keys: cached features made by another working-image implementation
 * must not be reused. Change it whenever the bytes this module produces change.
 */
export const WORKING_IMAGE_VERSION = 'ts-lanczos3-v1';

/** Side of the working image every view is sampled from. */
export const WORKING_SIZE = 256;

/**
 * How a non-square slice becomes the square working image. 'cover' scales the shorter side to the size and
 * keeps the centre (aspect ratio kept, no bars: the model cannot see the file's shape); 'fill' squashes;
 * 'contain' letterboxes with black bars (which would show the aspect ratio). Measured on val (frozen features,
 * AUC): fill 0.75, contain 0.82, cover 0.86; ImageNet features dislike distorted anatomy.
 */
export type WorkingFit = 'cover' | 'fill' | 'contain';

/** Lanczos-a's a: its kernel reaches 3 pixels either side (the tilt stage's turn uses it too, tilt.ts). */
export const LANCZOS_A = 3;

export function lanczos(x: number): number {
  if (x === 0) return 1;
  if (x <= -LANCZOS_A || x >= LANCZOS_A) return 0;
  const px = Math.PI * x;
  return (LANCZOS_A * Math.sin(px) * Math.sin(px / LANCZOS_A)) / (px * px);
}

/** Sparse weights of a 1-D resampling: output i reads input[start[i] .. start[i]+count[i]) with weights. */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  /** Float32 weights (as they have always been rounded) held as doubles: the same products, no conversion per read. */
  weights: Float64Array;
  width: number;
}

/**
 * Output pixel i (of outSize) covers input coordinates [from + i*step, from + (i+1)*step), step = span/outSize.
 * Input pixels outside [0, inSize) are left out and the rest renormalised (edge pixels are not repeated).
 */
function taps(inSize: number, from: number, span: number, outSize: number): Taps {
  const step = span / outSize;
  const stretch = Math.max(step, 1);
  const support = LANCZOS_A * stretch;
  const width = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * width);
  for (let i = 0; i < outSize; i++) {
    const centre = from + (i + 0.5) * step;
    const lo = Math.max(0, Math.floor(centre - support + 0.5));
    const hi = Math.min(inSize, Math.floor(centre + support + 0.5));
    let sum = 0;
    const n = Math.min(width, Math.max(0, hi - lo));
    for (let k = 0; k < n; k++) {
      const w = lanczos((lo + k + 0.5 - centre) / stretch);
      weights[i * width + k] = w;
      sum += w;
    }
    if (sum !== 0) for (let k = 0; k < n; k++) weights[i * width + k] /= sum;
    start[i] = lo;
    count[i] = n;
  }
  return { start, count, weights: Float64Array.from(weights), width };
}

/**
 * The last few weight tables, by their arguments: slices of one series, or of one size, reuse them (computing
 * one costs hundreds of sines). Never modified once made.
 */
const tapsCache = new Map<string, Taps>();
function cachedTaps(inSize: number, from: number, span: number, outSize: number): Taps {
  const key = `${inSize} ${from} ${span} ${outSize}`;
  let t = tapsCache.get(key);
  if (!t) {
    t = taps(inSize, from, span, outSize);
    if (tapsCache.size >= 16) tapsCache.delete(tapsCache.keys().next().value!);
    tapsCache.set(key, t);
  }
  return t;
}

/**
 * The horizontal pass's buffer, reused from call to call (it is fully written before it is read): a fresh one
 * per call was the largest allocation of the lung stage (hundreds of KB per slice, zeroed, then garbage).
 */
let midBuffer = new Float32Array(0);
function scratch(n: number): Float32Array {
  if (midBuffer.length < n) midBuffer = new Float32Array(Math.max(n, 2 * midBuffer.length));
  return midBuffer.subarray(0, n);
}

/** Independent sums each pass computes side by side (the unrolled loops below are written for 8). */
const LANES = 8;

/** Region (x0, y0, w, h in source pixels, may be fractional) resampled to outW x outH. */
export function resample(src: GreyImage, region: { x0: number; y0: number; w: number; h: number }, outW: number, outH: number): GreyImage {
  const tx = cachedTaps(src.width, region.x0, region.w, outW);
  const ty = cachedTaps(src.height, region.y0, region.h, outH);
  // Rows of the source that any output row reads.
  let rowLo = src.height, rowHi = 0;
  for (let j = 0; j < outH; j++) {
    rowLo = Math.min(rowLo, ty.start[j]);
    rowHi = Math.max(rowHi, ty.start[j] + ty.count[j]);
  }
  rowHi = Math.max(rowHi, rowLo);
  // Horizontal pass into floats (no rounding between passes), then vertical. Each output sums its taps in order
  // k = 0, 1, ... in doubles, as a plain double loop would; the passes only interleave LANES independent sums (8
  // source rows through one output's taps, 8 output columns through one output row's taps), so that they do not
  // wait on one another's additions (one sum alone is a chain of dependent adds): the same bytes, about 1.8x less
  // CPU (docs/speed4.md).
  const rows = rowHi - rowLo;
  const mid = scratch(rows * outW);
  const s = src.data, sw = src.width;
  const xs = tx.start, xc = tx.count, xw = tx.weights, xWidth = tx.width;
  let r = 0;
  for (; r + LANES <= rows; r += LANES) {
    const rowAt = (rowLo + r) * sw, midAt = r * outW;
    for (let i = 0; i < outW; i++) {
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
      const wAt = i * xWidth;
      for (let k = 0, n = xc[i], b = rowAt + xs[i]; k < n; k++, b++) {
        const w = xw[wAt + k];
        a0 += s[b] * w; a1 += s[b + sw] * w; a2 += s[b + 2 * sw] * w; a3 += s[b + 3 * sw] * w;
        a4 += s[b + 4 * sw] * w; a5 += s[b + 5 * sw] * w; a6 += s[b + 6 * sw] * w; a7 += s[b + 7 * sw] * w;
      }
      const m = midAt + i;
      mid[m] = a0; mid[m + outW] = a1; mid[m + 2 * outW] = a2; mid[m + 3 * outW] = a3;
      mid[m + 4 * outW] = a4; mid[m + 5 * outW] = a5; mid[m + 6 * outW] = a6; mid[m + 7 * outW] = a7;
    }
  }
  for (; r < rows; r++) {
    const rowAt = (rowLo + r) * sw, midAt = r * outW;
    for (let i = 0; i < outW; i++) {
      let acc = 0;
      const base = xs[i] + rowAt, wAt = i * xWidth;
      for (let k = 0, n = xc[i]; k < n; k++) acc += s[base + k] * xw[wAt + k];
      mid[midAt + i] = acc;
    }
  }
  const out = new Uint8Array(outW * outH);
  const ys = ty.start, yc = ty.count, yw = ty.weights, yWidth = ty.width;
  const round = (a: number) => (a <= 0 ? 0 : a >= 255 ? 255 : Math.round(a));
  for (let j = 0; j < outH; j++) {
    const wAt = j * yWidth, first = (ys[j] - rowLo) * outW, n = yc[j], outAt = j * outW;
    let i = 0;
    for (; i + LANES <= outW; i += LANES) {
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
      for (let k = 0, m = first + i; k < n; k++, m += outW) {
        const w = yw[wAt + k];
        a0 += mid[m] * w; a1 += mid[m + 1] * w; a2 += mid[m + 2] * w; a3 += mid[m + 3] * w;
        a4 += mid[m + 4] * w; a5 += mid[m + 5] * w; a6 += mid[m + 6] * w; a7 += mid[m + 7] * w;
      }
      const o = outAt + i;
      out[o] = round(a0); out[o + 1] = round(a1); out[o + 2] = round(a2); out[o + 3] = round(a3);
      out[o + 4] = round(a4); out[o + 5] = round(a5); out[o + 6] = round(a6); out[o + 7] = round(a7);
    }
    for (; i < outW; i++) {
      let acc = 0;
      for (let k = 0, m = first + i; k < n; k++, m += outW) acc += mid[m] * yw[wAt + k];
      out[outAt + i] = round(acc);
    }
  }
  return { width: outW, height: outH, data: out };
}

/** The slice fitted into a size x size square (see WorkingFit). */
export function workingImage(img: GreyImage, size = WORKING_SIZE, fit: WorkingFit = 'cover'): GreyImage {
  const { width: w, height: h } = img;
  if (fit === 'fill') return resample(img, { x0: 0, y0: 0, w, h }, size, size);
  if (fit === 'cover') {
    const m = Math.min(w, h);
    return resample(img, { x0: (w - m) / 2, y0: (h - m) / 2, w: m, h: m }, size, size);
  }
  // contain: the whole slice scaled to fit, centred on black.
  const scale = size / Math.max(w, h);
  const cw = Math.max(1, Math.round(w * scale));
  const ch = Math.max(1, Math.round(h * scale));
  const inner = resample(img, { x0: 0, y0: 0, w, h }, cw, ch);
  const out = new Uint8Array(size * size);
  const ox = Math.floor((size - cw) / 2), oy = Math.floor((size - ch) / 2);
  for (let y = 0; y < ch; y++) out.set(inner.data.subarray(y * cw, (y + 1) * cw), (oy + y) * size + ox);
  return { width: size, height: size, data: out };
}
