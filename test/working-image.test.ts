/**
 * The working image in plain TypeScript (the same bytes in Node and the browser): a flat image stays flat,
 * shrinking is antialiased, 'cover' keeps the centre, 'contain' letterboxes, and it stays close to libvips'
 * Lanczos-3 (the resampler it replaced) on a smooth synthetic slice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { blockAverage, resample, shrinkImage, workingImage } from '../src/data/working-image.js';
import { Rng } from '../src/util/prng.js';
import type { GreyImage } from '../src/types.js';

const image = (width: number, height: number, f: (x: number, y: number) => number): GreyImage => {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = Math.max(0, Math.min(255, Math.round(f(x, y))));
  return { width, height, data };
};
const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;

test('a flat image stays flat at any size and fit', () => {
  for (const [w, h] of [[300, 200], [61, 90], [1225, 1225], [256, 256]]) {
    for (const fit of ['cover', 'fill'] as const) {
      const out = workingImage(image(w, h, () => 137), 256, fit);
      assert.equal(out.width, 256);
      assert.ok(out.data.every((v) => v === 137), `${w}x${h} ${fit}`);
    }
  }
});

test('the same size and region is the identity', () => {
  const img = image(64, 48, (x, y) => (x * 7 + y * 13) % 256);
  const out = resample(img, { x0: 0, y0: 0, w: 64, h: 48 }, 64, 48);
  assert.deepEqual(out.data, img.data);
});

test('shrinking is antialiased: a 1-pixel checkerboard becomes mid-grey, not aliasing stripes', () => {
  const out = workingImage(image(1024, 1024, (x, y) => ((x + y) % 2 ? 255 : 0)), 256, 'cover');
  for (let y = 8; y < 248; y++) for (let x = 8; x < 248; x++) {
    const v = out.data[y * 256 + x];
    assert.ok(Math.abs(v - 127.5) <= 2, `(${x},${y}) = ${v}`);
  }
});

test("'cover' keeps the centre square; 'contain' letterboxes with black", () => {
  // A wide image: left third black, middle white, right third black. Cover shows the middle square only.
  const wide = image(300, 100, (x) => (x >= 100 && x < 200 ? 255 : 0));
  const cover = workingImage(wide, 64, 'cover');
  assert.ok(mean(cover.data) > 240, `cover mean ${mean(cover.data)}`);
  const contain = workingImage(image(200, 100, () => 200), 64, 'contain');
  assert.equal(contain.data[0], 0, 'top bar is black');
  assert.equal(contain.data[32 * 64 + 32], 200, 'centre is the image');
  assert.ok(Math.abs(mean(contain.data) - 100) < 4, 'half of the square is image');
});

test('shrinking matches libvips Lanczos-3 on a smooth slice-like image (mean difference under 0.6 grey levels)', async () => {
  // Square inputs, so that both crop the same region ('cover' in libvips crops after resizing, whole pixels).
  for (const side of [380, 512, 1024]) {
    const img = image(side, side, (x, y) => 128 + 90 * Math.sin(x / 17) * Math.cos(y / 23) + 20 * Math.sin((x + y) / 5));
    const ours = workingImage(img, 256, 'cover');
    const vips = await sharp(img.data, { raw: { width: side, height: side, channels: 1 } })
      .resize(256, 256, { fit: 'fill', kernel: 'lanczos3' }).extractChannel(0).raw().toBuffer();
    let diff = 0;
    for (let i = 0; i < ours.data.length; i++) diff += Math.abs(ours.data[i] - vips[i]) / ours.data.length;
    assert.ok(diff < 0.6, `${side}: mean absolute difference ${diff.toFixed(3)}`);
  }
});

// ---------- shrinkImage (the lung stage's analysis image): checked against straightforward reference code ----------

/** Block means the obvious way: every block's pixels summed and divided by their count. */
function refBlockAverage(img: GreyImage, k: number): { width: number; height: number; data: number[] } {
  const bw = Math.ceil(img.width / k), bh = Math.ceil(img.height / k);
  const data: number[] = [];
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      let sum = 0, n = 0;
      for (let y = by * k; y < Math.min(img.height, by * k + k); y++) for (let x = bx * k; x < Math.min(img.width, bx * k + k); x++) { sum += img.data[y * img.width + x]; n++; }
      data.push(sum / n);
    }
  }
  return { width: bw, height: bh, data };
}

/**
 * Antialiased Lanczos-3 written out plainly (kernel widened by the shrink factor, taps outside the input left out
 * and the rest renormalised, horizontal then vertical in doubles, rounded and clamped at the end).
 */
function refLanczos(data: ArrayLike<number>, W: number, H: number, spanW: number, spanH: number, outW: number, outH: number): Uint8Array {
  const kernel = (x: number) => (x === 0 ? 1 : Math.abs(x) >= 3 ? 0 : (3 * Math.sin(Math.PI * x) * Math.sin((Math.PI * x) / 3)) / (Math.PI * Math.PI * x * x));
  const weights = (inSize: number, span: number, outSize: number, i: number): [number, number][] => {
    const step = span / outSize, stretch = Math.max(1, step), centre = (i + 0.5) * step;
    const taps: [number, number][] = [];
    for (let j = 0; j < inSize; j++) {
      const w = kernel((j + 0.5 - centre) / stretch);
      if (Math.abs(j + 0.5 - centre) < 3 * stretch + 0.5) taps.push([j, w]);
    }
    const sum = taps.reduce((a, [, w]) => a + w, 0);
    return taps.map(([j, w]) => [j, w / sum]);
  };
  const mid: number[] = [];
  for (let y = 0; y < H; y++) for (let i = 0; i < outW; i++) mid[y * outW + i] = weights(W, spanW, outW, i).reduce((a, [x, w]) => a + data[y * W + x] * w, 0);
  const out = new Uint8Array(outW * outH);
  for (let j = 0; j < outH; j++) {
    const wy = weights(H, spanH, outH, j);
    for (let i = 0; i < outW; i++) out[j * outW + i] = Math.max(0, Math.min(255, Math.round(wy.reduce((a, [y, w]) => a + mid[y * outW + i] * w, 0))));
  }
  return out;
}

const noisy = (w: number, h: number, seed: number) => {
  const rng = new Rng(seed);
  return image(w, h, (x, y) => 128 + 80 * Math.sin(x / 9) * Math.cos(y / 13) + 40 * (rng.next() - 0.5));
};

test('blockAverage: the mean of every k x k block, short blocks at the right and bottom edges included', () => {
  for (const [w, h, k] of [[12, 8, 2], [13, 11, 3], [7, 5, 1], [5, 4, 8], [50, 37, 4]] as const) {
    const img = noisy(w, h, w * 100 + h);
    const ours = blockAverage(img, k), ref = refBlockAverage(img, k);
    assert.equal(ours.width, ref.width);
    assert.equal(ours.height, ref.height);
    ref.data.forEach((v, i) => assert.equal(ours.data[i], Math.fround(v), `${w}x${h} k=${k} block ${i}`));
  }
  assert.throws(() => blockAverage(noisy(4, 4, 1), 1.5), /whole number/);
});

test('shrinkImage: block means then Lanczos-3 for the rest of the factor; resample() itself below 2x', () => {
  // Factors 2 (whole), 2.5 and 3.2 (blocks of 2 and 3, then Lanczos for the rest), sizes not divisible by k.
  for (const [w, h, ow, oh] of [[128, 96, 64, 48], [161, 100, 64, 40], [205, 130, 64, 41]] as const) {
    const img = noisy(w, h, w);
    const k = Math.floor(Math.min(w / ow, h / oh));
    const blocks = refBlockAverage(img, k);
    const ref = refLanczos(blocks.data, blocks.width, blocks.height, w / k, h / k, ow, oh);
    const ours = shrinkImage(img, ow, oh);
    assert.equal(ours.width, ow);
    assert.equal(ours.height, oh);
    // The reference sums in doubles throughout (ours stores the horizontal pass and the weights as Float32), so a
    // value exactly at a rounding boundary may land one grey level apart; nothing more.
    let off = 0;
    for (let i = 0; i < ref.length; i++) {
      assert.ok(Math.abs(ours.data[i] - ref[i]) <= 1, `${w}x${h} -> ${ow}x${oh}: pixel ${i} ${ours.data[i]} vs ${ref[i]}`);
      if (ours.data[i] !== ref[i]) off++;
    }
    assert.ok(off <= ref.length * 0.01, `${off} pixels one level off`);
  }
  // Under 2x (and when enlarging) it is exactly resample().
  for (const [w, h, ow, oh] of [[100, 80, 64, 51], [40, 30, 64, 48]] as const) {
    const img = noisy(w, h, 7);
    assert.deepEqual(shrinkImage(img, ow, oh), resample(img, { x0: 0, y0: 0, w, h }, ow, oh));
  }
  // A flat image stays flat; a 1-pixel checkerboard becomes mid-grey (antialiased) at 2x, 4x and 4.5x (blocks of 2
  // and 4). With odd blocks (3x) 1/9 of its contrast is left (a 3 x 3 block holds 5 of one colour and 4 of the
  // other): the price of the block means, far below the grey-level structure the segmentation thresholds.
  for (const [f, tolerance] of [[2, 2], [4, 2], [4.5, 2], [3, 255 / 18 + 1]]) {
    const side = Math.round(64 * f);
    assert.ok(shrinkImage(image(side, side, () => 77), 64, 64).data.every((v) => v === 77));
    const out = shrinkImage(image(side, side, (x, y) => ((x + y) % 2 ? 255 : 0)), 64, 64);
    for (let y = 4; y < 60; y++) for (let x = 4; x < 60; x++) assert.ok(Math.abs(out.data[y * 64 + x] - 127.5) <= tolerance, `x${f} (${x},${y}) = ${out.data[y * 64 + x]}`);
  }
});
