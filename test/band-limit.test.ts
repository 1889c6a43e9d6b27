/**
 * Band-limiting of the working image (src/data/band-limit.ts), on synthetic images: the Gaussian kernel, the
 * blur's invariants (constant images, mass, symmetry, determinism), that it removes fine texture and keeps
 * coarse structure, and that the views and the model card carry it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gaussianBlur, gaussianKernel } from '../src/data/band-limit.js';
import { renderViews, TTA_PLAN } from '../src/data/views.js';
import type { GreyImage } from '../src/types.js';

const image = (w: number, h: number, f: (x: number, y: number) => number): GreyImage => {
  const data = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = f(x, y);
  return { width: w, height: h, data };
};

test('Gaussian kernel: normalised, symmetric, radius ceil(3 sigma), rejects sigma <= 0', () => {
  for (const s of [0.5, 1, 1.5, 2.3]) {
    const k = gaussianKernel(s);
    assert.equal(k.length, 2 * Math.ceil(3 * s) + 1);
    assert.ok(Math.abs(k.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    for (let i = 0; i < k.length; i++) assert.equal(k[i], k[k.length - 1 - i]);
    const r = (k.length - 1) / 2;
    assert.ok(k[r] > k[r + 1] && k[r + 1] > k[r + 2]);
  }
  assert.throws(() => gaussianKernel(0));
  assert.throws(() => gaussianKernel(Number.NaN));
});

test('Gaussian blur: sigma 0 is the identity, constants stay, output is 8-bit and deterministic', () => {
  const noise = image(37, 23, (x, y) => (x * 7919 + y * 104729) % 256);
  assert.equal(gaussianBlur(noise, 0), noise);
  const flat = gaussianBlur(image(20, 20, () => 137), 1.7);
  assert.ok(flat.data.every((v) => v === 137));
  const a = gaussianBlur(noise, 1.3), b = gaussianBlur(noise, 1.3);
  assert.deepEqual(a.data, b.data);
  assert.equal(a.width, 37);
  assert.equal(a.height, 23);
  assert.ok(a.data instanceof Uint8Array);
  assert.notDeepEqual(noise.data, a.data); // the input is not modified in place
  assert.equal(noise.data[1], 7919 % 256);
});

test('Gaussian blur removes a fine checkerboard and keeps a coarse edge; mirror-symmetric', () => {
  const fine = gaussianBlur(image(64, 64, (x, y) => ((x + y) % 2 ? 200 : 40)), 1.5);
  // Away from the clamped border (which replicates one colour of the board), the board becomes its mean.
  for (let y = 5; y < 59; y++) for (let x = 5; x < 59; x++) assert.ok(Math.abs(fine.data[y * 64 + x] - 120) <= 1, `(${x},${y}) = ${fine.data[y * 64 + x]}`);
  const edge = gaussianBlur(image(64, 64, (x) => (x < 32 ? 0 : 255)), 1.5);
  assert.equal(edge.data[10 * 64 + 5], 0);
  assert.equal(edge.data[10 * 64 + 58], 255);
  assert.ok(edge.data[10 * 64 + 31] > 30 && edge.data[10 * 64 + 31] < 128 && edge.data[10 * 64 + 32] > 128);
  // Mirror: the blur commutes with a horizontal flip (the kernel and the edge clamp are symmetric).
  const img = image(31, 17, (x, y) => (x * 13 + y * y * 5) % 256);
  const flip = (g: GreyImage) => image(g.width, g.height, (x, y) => g.data[y * g.width + (g.width - 1 - x)]);
  assert.deepEqual(gaussianBlur(flip(img), 1.2).data, flip(gaussianBlur(img, 1.2)).data);
});

test('Gaussian blur makes a 2x-downscaled-and-enlarged copy look like the original', () => {
  // A texture with detail at all scales; its 2x-degraded copy averages 2x2 blocks (box down, nearest up).
  const img = image(96, 96, (x, y) => Math.round(127 + 60 * Math.sin(x * 0.3) * Math.cos(y * 0.2) + 60 * (((x * 31 + y * 17) % 7) / 7 - 0.5)));
  const degraded = image(96, 96, (x, y) => {
    const bx = x & ~1, by = y & ~1;
    return Math.round((img.data[by * 96 + bx] + img.data[by * 96 + bx + 1] + img.data[(by + 1) * 96 + bx] + img.data[(by + 1) * 96 + bx + 1]) / 4);
  });
  const diff = (a: GreyImage, b: GreyImage) => a.data.reduce((s, v, i) => s + Math.abs(v - b.data[i]), 0) / a.data.length;
  const before = diff(img, degraded);
  const after = diff(gaussianBlur(img, 2), gaussianBlur(degraded, 2));
  assert.ok(after < before / 4, `mean |difference| ${before.toFixed(2)} -> ${after.toFixed(2)}`);
});

test('views apply the blur of the framing to the working image (and nothing changes without it)', async () => {
  const img = image(80, 80, (x, y) => ((x >> 1) + (y >> 1)) % 2 ? 220 : 30);
  const framing = { workingSize: 64, fit: 'cover' as const, inputSize: 64 };
  const [sharp0] = await renderViews(img, '', { ...TTA_PLAN, views: 1 }, framing);
  const [same] = await renderViews(img, '', { ...TTA_PLAN, views: 1 }, { ...framing, blurSigma: 0 });
  assert.deepEqual(same, sharp0);
  const [blurred] = await renderViews(img, '', { ...TTA_PLAN, views: 1 }, { ...framing, blurSigma: 2 });
  const spread = (v: Float32Array) => Math.max(...v.slice(640, 1400)) - Math.min(...v.slice(640, 1400));
  assert.ok(spread(blurred) < spread(sharp0) / 4, `${spread(blurred)} vs ${spread(sharp0)}`);
});

test('both engines render through modelViews, which applies the blur recorded in model.json', async () => {
  const { modelViews } = await import('../src/model/engine.js');
  const img = image(90, 70, (x, y) => ((x * 37) ^ (y * 11)) & 255);
  const preprocessing = { colour: 'grey', workingSize: 48, fit: 'cover', inputSize: 32, normalisation: 'imagenet', views: 2 } as const;
  const json = (extra: object) => ({ preprocessing: { ...preprocessing, ...extra } }) as unknown as Parameters<typeof modelViews>[0];
  const plain = await modelViews(json({}), img);
  const blurred = await modelViews(json({ blurSigma: 0.7 }), img);
  const framing = { workingSize: 48, fit: 'cover' as const, inputSize: 32 };
  assert.deepEqual(plain, await renderViews(img, '', TTA_PLAN, framing));
  assert.deepEqual(blurred, await renderViews(img, '', TTA_PLAN, { ...framing, blurSigma: 0.7 }));
  assert.notDeepEqual(blurred[0], plain[0]);
  assert.equal(blurred.length, 2);
});
