/**
 * The working image in plain TypeScript (the same bytes in Node and the browser): a flat image stays flat,
 * shrinking is antialiased, 'cover' keeps the centre, 'contain' letterboxes, and it stays close to libvips'
 * Lanczos-3 (the resampler it replaced) on a smooth synthetic slice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { resample, workingImage } from '../src/data/working-image.js';
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
