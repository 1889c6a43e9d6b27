/**
 * Morphology and lung involvement after the speed-up of issue 10 (integer chamfer passes, one distance transform
 * for both bands of intensityReference, its anchors computed once per segmentation): the same outputs as before.
 * The previous morphology is kept here verbatim as the reference; the involvement of synthetic phantoms (never
 * dataset images) is pinned to the values the previous code gave (commit 3abd37d).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ballHalfWidths, dilate, dilateMany, distanceToSet, erode, maskDice, maskToSize } from '../src/data/morphology.js';
import { findLungs, intensityReference } from '../src/data/involvement.js';
import { Rng } from '../src/util/prng.js';
import { lungPhantom } from './helpers.js';

// ---------- the previous implementation (3abd37d), the reference ----------
function oldDistanceToSet(mask: Uint8Array, W: number, H: number): Float32Array {
  const INF = 1e9;
  const d = new Float32Array(W * H);
  for (let i = 0; i < d.length; i++) d[i] = mask[i] ? 0 : INF;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      let v = d[i];
      if (v === 0) continue;
      if (x > 0) v = Math.min(v, d[i - 1] + 3);
      if (y > 0) {
        v = Math.min(v, d[i - W] + 3);
        if (x > 0) v = Math.min(v, d[i - W - 1] + 4);
        if (x < W - 1) v = Math.min(v, d[i - W + 1] + 4);
      }
      d[i] = v;
    }
  }
  for (let y = H - 1; y >= 0; y--) {
    for (let x = W - 1; x >= 0; x--) {
      const i = y * W + x;
      let v = d[i];
      if (v === 0) continue;
      if (x < W - 1) v = Math.min(v, d[i + 1] + 3);
      if (y < H - 1) {
        v = Math.min(v, d[i + W] + 3);
        if (x < W - 1) v = Math.min(v, d[i + W + 1] + 4);
        if (x > 0) v = Math.min(v, d[i + W - 1] + 4);
      }
      d[i] = v;
    }
  }
  for (let i = 0; i < d.length; i++) d[i] /= 3;
  return d;
}
function oldDilate(mask: Uint8Array, W: number, H: number, radius: number): Uint8Array {
  if (radius <= 0) return mask.slice();
  const d = oldDistanceToSet(mask, W, H);
  const out = new Uint8Array(W * H);
  for (let i = 0; i < out.length; i++) out[i] = d[i] <= radius ? 1 : 0;
  return out;
}
function oldErode(mask: Uint8Array, W: number, H: number, radius: number): Uint8Array {
  if (radius <= 0) return mask.slice();
  const inv = new Uint8Array(W * H);
  for (let i = 0; i < inv.length; i++) inv[i] = mask[i] ? 0 : 1;
  const d = oldDistanceToSet(inv, W, H);
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const edge = Math.min(x + 1, y + 1, W - x, H - y);
      out[i] = mask[i] && d[i] > radius && edge > radius ? 1 : 0;
    }
  }
  return out;
}

/** Masks: sparse dots, dense noise, blobs (discs of random radii), empty, full, and label values 2 (truthy). */
function masks(): { name: string; W: number; H: number; m: Uint8Array }[] {
  const rng = new Rng(10);
  const out: { name: string; W: number; H: number; m: Uint8Array }[] = [];
  for (const [W, H] of [[1, 1], [1, 9], [37, 23], [64, 64], [130, 97]]) {
    const n = W * H;
    out.push({ name: `empty ${W}x${H}`, W, H, m: new Uint8Array(n) });
    out.push({ name: `full ${W}x${H}`, W, H, m: new Uint8Array(n).fill(1) });
    out.push({ name: `dots ${W}x${H}`, W, H, m: Uint8Array.from({ length: n }, () => (rng.next() < 0.02 ? 1 : 0)) });
    out.push({ name: `noise ${W}x${H}`, W, H, m: Uint8Array.from({ length: n }, () => (rng.next() < 0.5 ? 2 : 0)) });
    const blobs = new Uint8Array(n);
    for (let k = 0; k < 6; k++) {
      const cx = rng.next() * W, cy = rng.next() * H, r = 1 + rng.next() * Math.min(W, H) / 3;
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) blobs[y * W + x] = 1;
    }
    out.push({ name: `blobs ${W}x${H}`, W, H, m: blobs });
  }
  return out;
}
// Every radius below 5 px takes the row-run path (ball of at most 4 rows either side), 5 and above the transform.
const RADII = [0, -1, 0.3, 1 / 3, 0.5, 2 / 3, 1, 4 / 3, 1.5, 5 / 3, 2, 7 / 3, 2.7, 3, 3.5, 4, 4.5, 14 / 3, 4.9, 5, 12, 40, 1e12];

test('distanceToSet, dilate, erode and dilateMany give exactly the previous masks and distances', () => {
  for (const { name, W, H, m } of masks()) {
    assert.deepEqual(distanceToSet(m, W, H), oldDistanceToSet(m, W, H), `distance ${name}`);
    for (const r of RADII) {
      assert.deepEqual(dilate(m, W, H, r), oldDilate(m, W, H, r), `dilate ${name} r=${r}`);
      assert.deepEqual(erode(m, W, H, r), oldErode(m, W, H, r), `erode ${name} r=${r}`);
    }
    assert.deepEqual(dilateMany(m, W, H, RADII), RADII.map((r) => oldDilate(m, W, H, r)), `dilateMany ${name}`);
  }
});

test('ballHalfWidths: the rows of the chamfer ball, as the transform measures it from one pixel', () => {
  const W = 41, c = 20;
  const dot = new Uint8Array(W * W);
  dot[c * W + c] = 1;
  const d = oldDistanceToSet(dot, W, W);
  for (let units = 0; units <= 40; units++) {
    const a = ballHalfWidths(units);
    for (let dy = -c; dy <= c; dy++) {
      for (let dx = -c; dx <= c; dx++) {
        const inBall = Math.abs(dy) < a.length && Math.abs(dx) <= a[Math.abs(dy)];
        assert.equal(inBall, d[(c + dy) * W + c + dx] * 3 <= units + 1e-6, `units ${units} (${dx},${dy})`);
      }
    }
  }
});

test('intensityReference: computed once per segmentation, and a caller cannot change what the next one gets', () => {
  const { seg } = findLungs(lungPhantom(256, true));
  const a = intensityReference(seg)!;
  assert.ok(a);
  const first = { ...a };
  a.lungLow = -1;
  assert.deepEqual(intensityReference(seg), first);
  // The phantom's lungs are grey 22-32 with vessels at 140: the anchors are the dark parenchyma and the vessels.
  assert.ok(first.lungLow >= 22 && first.lungLow <= 32, `lungLow ${first.lungLow}`);
  assert.ok(first.softTissue >= 95 && first.softTissue <= 140, `softTissue ${first.softTissue}`);
  assert.equal(intensityReference({ ...seg, labels: new Uint8Array(seg.labels.length) }), null);
});

test('maskDice: known overlaps (labels count as set), and 1 for two empty masks', () => {
  assert.equal(maskDice([1, 1, 0, 0], [1, 1, 0, 0]), 1);
  assert.equal(maskDice([1, 1, 0, 0], [0, 0, 1, 1]), 0);
  assert.equal(maskDice([2, 1, 0, 0], [1, 0, 0, 1]), 0.5); // |A and B| 1, |A| 2, |B| 2
  assert.equal(maskDice([0, 0], [0, 0]), 1);
});

test('maskToSize: each pixel takes the grid cell its centre falls in', () => {
  // 2 x 2 grid with one set cell (top-right) brought to 4 x 2 and to 3 x 3.
  assert.deepEqual(Array.from(maskToSize(Uint8Array.from([0, 1, 0, 0]), 2, 2, 4, 2)), [0, 0, 1, 1, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(maskToSize(Uint8Array.from([0, 7, 0, 0]), 2, 2, 3, 3)), [0, 1, 1, 0, 0, 0, 0, 0, 0]); // centres 0.5, 1.5, 2.5 fall in cells 0, 1, 1
});
