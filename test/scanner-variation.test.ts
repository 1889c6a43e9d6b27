/**
 * Another hospital's acquisition (docs/scanner-variation.md, bench/scanner-ops.ts): the operators' maths, and the
 * product's reading of a synthetic chest (helpers.ts huPhantom) acquired with a sharp lung kernel, at low dose or as
 * a thick soft slab: its lungs are still found and the chest check (grain, noise, contrast rules) still passes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addNoise, contrast, correlatedNoise, gaussian, rescale, shallowBreath, sharpen, slab, soften, type HuImage } from '../bench/scanner-ops.js';
import { findLungs } from '../src/data/involvement.js';
import { DEFAULT_LUNG_WINDOW, huOfWindow, windowValue } from '../src/data/window.js';
import type { GreyImage } from '../src/types.js';
import { huPhantom } from './helpers.js';

const SIZE = 256;
const flat = (v: number, w = 16, h = 16): HuImage => ({ width: w, height: h, hu: new Float32Array(w * h).fill(v) });
const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, x) => s + x, 0) / a.length;
const sd = (a: ArrayLike<number>) => { const m = mean(a); return Math.sqrt(Array.from(a).reduce((s, x) => s + (x - m) ** 2, 0) / a.length); };

test('gaussian and sharpen leave a uniform region as it is; sharpen overshoots at an edge, gaussian smooths it', () => {
  assert.ok(gaussian(flat(40), 1.2).every((v) => Math.abs(v - 40) < 1e-3));
  assert.ok(sharpen(flat(-850), 2, 1).hu.every((v) => Math.abs(v + 850) < 1e-2));
  const step: HuImage = { width: 16, height: 1, hu: Float32Array.from({ length: 16 }, (_, x) => (x < 8 ? -850 : 40)) };
  const sharp = sharpen(step, 2, 1).hu, soft = soften(step, 1).hu;
  assert.ok(sharp[8] > 40 + 100 && sharp[7] < -850 - 100, `overshoot both sides: ${sharp[7]} ${sharp[8]}`);
  assert.ok(soft[8] < 40 && soft[7] > -850);
});

test('correlated noise: the asked standard deviation, the same for the same key, spatially correlated by its grain', () => {
  const a = correlatedNoise(64, 64, 60, 0.8, 'slice-1'), b = correlatedNoise(64, 64, 60, 0.8, 'slice-1'), c = correlatedNoise(64, 64, 60, 0.8, 'slice-2');
  assert.ok(Math.abs(sd(a) - 60) < 0.5);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  // Neighbours share the blurred white noise: their correlation is clearly positive (white noise: about 0).
  let num = 0;
  for (let i = 0; i < a.length - 1; i++) if ((i + 1) % 64) num += a[i] * a[i + 1];
  assert.ok(num / (63 * 64) / 3600 > 0.4);
  // Air stays at the scanner's floor: -1024 HU is never undershot.
  assert.ok(addNoise(flat(-1024), correlatedNoise(16, 16, 120, 0.8, 'air')).hu.every((v) => v >= -1024));
});

test('slab weights, inspiration only in aerated lung, contrast only in soft tissue, rescale at zoom 1 is the picture', () => {
  assert.ok(slab([flat(-850), flat(40), flat(-850)], [1, 2, 1]).hu.every((v) => Math.abs(v - (-850 + 890 / 2)) < 1e-3));
  const img: HuImage = { width: 4, height: 1, hu: Float32Array.from([-900, -450, 40, 700]) }, lungs = Uint8Array.from([1, 1, 1, 0]);
  assert.deepEqual(Array.from(shallowBreath(img, lungs, 100).hu), [-800, -400, 40, 700]);
  assert.deepEqual(Array.from(contrast(img, lungs, 175, 40).hu), [-900, -450, 215, 700]);
  const p: HuImage = { width: SIZE, height: SIZE, hu: Float32Array.from(huPhantom(SIZE)) };
  assert.ok(rescale(p, 1, SIZE, SIZE).hu.every((v, i) => Math.abs(v - p.hu[i]) < 1e-3));
});

/** The phantom as the scanner's DICOM would be read: lung-window greys with their HU mapping. */
const asRead = (img: HuImage): GreyImage => ({
  width: img.width, height: img.height, data: Uint8Array.from(img.hu, (v) => windowValue(v, DEFAULT_LUNG_WINDOW)), hu: huOfWindow(DEFAULT_LUNG_WINDOW),
});

test('a chest acquired with a sharp lung kernel, at low dose or as a thick soft slab is read, not refused', () => {
  const phantom: HuImage = { width: SIZE, height: SIZE, hu: Float32Array.from(huPhantom(SIZE)) };
  const pxScale = SIZE / 512;
  const acquired: Record<string, HuImage> = {
    'as scanned': phantom,
    'lung kernel': sharpen(addNoise(phantom, correlatedNoise(SIZE, SIZE, 20, 0.5 * pxScale, 'k')), 2, 1.2 * pxScale),
    'noise 60 HU': addNoise(phantom, correlatedNoise(SIZE, SIZE, 60, 0.8 * pxScale, 'd')),
    'noise 120 HU': addNoise(phantom, correlatedNoise(SIZE, SIZE, 120, 0.8 * pxScale, 'd')),
    'soft slab': soften(slab([phantom, phantom, phantom], [1, 2, 1]), 1.5 * pxScale),
  };
  for (const [name, img] of Object.entries(acquired)) {
    const { findings, chest } = findLungs(asRead(img));
    assert.equal(findings.found, true, `${name}: ${findings.reason}`);
    assert.equal(chest?.refusal, undefined, name);
    // The ground-glass patch (about 3% of the lung area) is still measured as involvement.
    assert.ok((findings.involvement ?? 0) > 0.01, `${name}: involvement ${findings.involvement}`);
  }
});
