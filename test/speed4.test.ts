/**
 * The fourth pass over the lung stage's speed (docs/speed4.md) gives exactly what the code before it gave: each
 * rewritten step against the previous code, kept here verbatim as the reference, on random images, masks and
 * phantoms (never dataset images; bench/lung-stage-ab.ts checks those), and the new helpers on known values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resample } from '../src/data/working-image.js';
import type { GreyImage } from '../src/types.js';
import { Rng } from '../src/util/prng.js';

// ---------- the previous code (3e26b1d), the reference ----------
const LANCZOS_A = 3;
function lanczos(x: number): number {
  if (x === 0) return 1;
  if (x <= -LANCZOS_A || x >= LANCZOS_A) return 0;
  const px = Math.PI * x;
  return (LANCZOS_A * Math.sin(px) * Math.sin(px / LANCZOS_A)) / (px * px);
}
function oldTaps(inSize: number, from: number, span: number, outSize: number) {
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
function oldResample(src: GreyImage, region: { x0: number; y0: number; w: number; h: number }, outW: number, outH: number): GreyImage {
  const tx = oldTaps(src.width, region.x0, region.w, outW);
  const ty = oldTaps(src.height, region.y0, region.h, outH);
  let rowLo = src.height, rowHi = 0;
  for (let j = 0; j < outH; j++) {
    rowLo = Math.min(rowLo, ty.start[j]);
    rowHi = Math.max(rowHi, ty.start[j] + ty.count[j]);
  }
  rowHi = Math.max(rowHi, rowLo);
  const rows = rowHi - rowLo;
  const mid = new Float32Array(rows * outW);
  const s = src.data, sw = src.width;
  const xs = tx.start, xc = tx.count, xw = tx.weights, xWidth = tx.width;
  for (let r = 0; r < rows; r++) {
    const rowAt = (rowLo + r) * sw, midAt = r * outW;
    for (let i = 0; i < outW; i++) {
      let acc = 0;
      const base = xs[i] + rowAt, wAt = i * xWidth;
      for (let k = 0, n = xc[i]; k < n; k++) acc += s[base + k] * xw[wAt + k];
      mid[midAt + i] = acc;
    }
  }
  const out = new Uint8Array(outW * outH);
  const acc = new Float64Array(outW);
  const ys = ty.start, yc = ty.count, yw = ty.weights, yWidth = ty.width;
  for (let j = 0; j < outH; j++) {
    const wAt = j * yWidth;
    const first = ys[j] - rowLo;
    acc.fill(0);
    for (let k = 0, n = yc[j]; k < n; k++) {
      const w = yw[wAt + k];
      const rowAt = (first + k) * outW;
      for (let i = 0; i < outW; i++) acc[i] += mid[rowAt + i] * w;
    }
    const outAt = j * outW;
    for (let i = 0; i < outW; i++) {
      const a = acc[i];
      out[outAt + i] = a <= 0 ? 0 : a >= 255 ? 255 : Math.round(a);
    }
  }
  return { width: outW, height: outH, data: out };
}

// ---------- the tests ----------
/** A random picture: smooth shapes, hard edges, clipped extremes and noise (what resampling rounds differently). */
function randomImage(rng: Rng, w: number, h: number): GreyImage {
  const data = new Uint8Array(w * h);
  const fx = rng.uniform(2, 30), fy = rng.uniform(2, 30), noise = rng.uniform(0, 80);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = 128 + 140 * Math.sin(x / fx) * Math.cos(y / fy) + noise * (rng.next() - 0.5) + ((x * 7) % 23 < 3 ? 90 : 0);
      data[y * w + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return { width: w, height: h, data };
}

test('resample: exactly the previous code, shrinking, enlarging and cropping (fractional regions), every output size mod 8', () => {
  const rng = new Rng(4);
  let compared = 0;
  for (const [w, h, outW, outH] of [
    [796, 483, 256, 155], [512, 512, 256, 256], [146, 144, 256, 252], [407, 305, 256, 192], [211, 159, 256, 193],
    [1000, 37, 256, 9], [9, 700, 3, 256], [64, 48, 64, 48], [30, 30, 1, 1], [257, 255, 255, 257],
  ]) {
    const img = randomImage(rng, w, h);
    assert.deepEqual(resample(img, { x0: 0, y0: 0, w, h }, outW, outH).data, oldResample(img, { x0: 0, y0: 0, w, h }, outW, outH).data, `${w}x${h} -> ${outW}x${outH}`);
    compared++;
    // A fractional region (as 'cover' and the lungs-only view cut), to sizes of every remainder mod 8.
    for (let k = 0; k < 3; k++) {
      const region = { x0: rng.uniform(-3, w / 4), y0: rng.uniform(-3, h / 4), w: rng.uniform(w / 3, w * 0.8), h: rng.uniform(h / 3, h * 0.8) };
      const ow = 1 + rng.int(300), oh = 1 + rng.int(300);
      assert.deepEqual(resample(img, region, ow, oh).data, oldResample(img, region, ow, oh).data, `${w}x${h} ${JSON.stringify(region)} -> ${ow}x${oh}`);
      compared++;
    }
  }
  assert.equal(compared, 40);
});
