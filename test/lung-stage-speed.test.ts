/**
 * The lung stage's speed-ups give exactly what the code before them gave (issue 10's speed goal, docs/speed3.md):
 * each rewritten step against the previous code, kept here verbatim as the reference, on random masks and
 * phantoms (never dataset images; bench/lung-stage-ab.ts checks those), and the new helpers on known values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ballRowLimits, chamferSweeps, dilate, distanceToSet, erode, rowDistances } from '../src/data/morphology.js';
import { edgeBlur, type EdgeBlur } from '../src/data/edge-blur.js';
import { borderThreshold, segmentLungs, type LungSegmentation } from '../src/data/lungs.js';
import { histogramQuantile } from '../src/data/histogram.js';
import { Rng } from '../src/util/prng.js';
import { lungPhantom } from './helpers.js';

// ---------- the previous code (a2a3c31), the reference ----------
function oldBorderThreshold(seg: LungSegmentation): number | null {
  if (!seg.found || !seg.box) return null;
  const { width: W, height: H, data } = seg.analysis;
  const m = 3 + 3, box = seg.box;
  const x0 = Math.max(0, box.x0 - m), y0 = Math.max(0, box.y0 - m), x1 = Math.min(W, box.x1 + m), y1 = Math.min(H, box.y1 + m);
  const ww = x1 - x0, hh = y1 - y0;
  const lung = new Uint8Array(ww * hh), notLung = new Uint8Array(ww * hh);
  for (let y = 0; y < hh; y++) {
    for (let x = 0, i = (y0 + y) * W + x0, k = y * ww; x < ww; x++, i++, k++) { if (seg.labels[i]) lung[k] = 1; else notLung[k] = 1; }
  }
  const outside = distanceToSet(lung, ww, hh), inside = distanceToSet(notLung, ww, hh);
  const parenchyma = new Uint32Array(256), ring = new Uint32Array(256);
  let nP = 0, nR = 0;
  for (let y = 0; y < hh; y++) {
    for (let x = 0, i = (y0 + y) * W + x0, k = y * ww; x < ww; x++, i++, k++) {
      if (inside[k] > 3) { parenchyma[data[i]]++; nP++; }
      else if (outside[k] > 1 && outside[k] <= 3) { ring[data[i]]++; nR++; }
    }
  }
  if (nP < 16 || nR < 16) return null;
  const p = histogramQuantile(parenchyma, nP, 0.5), r = histogramQuantile(ring, nR, 0.5);
  if (r - p < 16) return null;
  return Math.round((p + r) / 2);
}

function oldEdgeBlur(seg: LungSegmentation): EdgeBlur | null {
  if (!seg.found) return null;
  const { width: W, height: H, data } = seg.analysis;
  const lung = new Uint8Array(W * H), notLung = new Uint8Array(W * H);
  for (let i = 0; i < lung.length; i++) { if (seg.labels[i]) lung[i] = 1; else notLung[i] = 1; }
  const outside = distanceToSet(lung, W, H);
  const inside = distanceToSet(notLung, W, H);
  const parenchyma = new Uint32Array(256), ring = new Uint32Array(256), gradients: number[] = [];
  let nParenchyma = 0, nRing = 0;
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      const i = y * W + x;
      if (inside[i] > 3) { parenchyma[data[i]]++; nParenchyma++; }
      else if (outside[i] > 2 && outside[i] <= 4) { ring[data[i]]++; nRing++; }
      if (outside[i] <= 1.5 && inside[i] <= 1.5) {
        const gx = (data[i + 1] - data[i - 1]) / 2, gy = (data[i + W] - data[i - W]) / 2;
        gradients.push(Math.sqrt(gx * gx + gy * gy));
      }
    }
  }
  if (nParenchyma < 16 || nRing < 16 || gradients.length < 16) return null;
  const step = histogramQuantile(ring, nRing, 0.5) - histogramQuantile(parenchyma, nParenchyma, 0.5);
  const sorted = Float64Array.from(gradients).sort();
  const gradient = sorted[Math.min(sorted.length - 1, Math.floor(0.9 * (sorted.length - 1)))];
  if (step < 16 || !(gradient > 0)) return null;
  return { sigma: step / (gradient * Math.sqrt(2 * Math.PI)), step, gradient };
}

/** A segmentation-shaped object: random blobs as lungs (labels 1 and 2), random grey, the lungs' box. */
function randomSeg(rng: Rng, W: number, H: number): LungSegmentation {
  const labels = new Uint8Array(W * H);
  const data = Uint8Array.from({ length: W * H }, () => Math.floor(rng.next() * 256));
  for (let k = 0; k < 1 + Math.floor(rng.next() * 4); k++) {
    const cx = rng.next() * W, cy = rng.next() * H, rx = 2 + rng.next() * W / 3, ry = 2 + rng.next() * H / 3;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1) { labels[y * W + x] = 1 + (k & 1); data[y * W + x] >>= 2; }
  }
  // Some speckle: single pixels and holes, where the bands are most intricate.
  for (let i = 0; i < W * H; i++) if (rng.next() < 0.01) labels[i] = labels[i] ? 0 : 1;
  let x0 = W, y0 = H, x1 = 0, y1 = 0;
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (labels[y * W + x]) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + 1); y1 = Math.max(y1, y + 1); }
  return {
    analysis: { width: W, height: H, data }, scale: 1, labels, body: new Uint8Array(W * H).fill(1),
    box: x1 > x0 ? { x0, y0, x1, y1 } : null, quality: { areaFraction: 0, components: 1, balance: 0 }, found: x1 > x0,
  };
}

test('rowDistances: distance along the row, within the window, to the nearest set (or unset) pixel', () => {
  const W = 6;
  const mask = Uint8Array.from([
    0, 1, 0, 0, 0, 2,
    0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1,
  ]);
  const none = (v: number) => (v >= 1 << 29 ? 'none' : v);
  assert.deepEqual([...rowDistances(mask, W, 0, 0, 6, 3, true, new Int32Array(18))].map(none), [
    1, 0, 1, 2, 1, 0,
    'none', 'none', 'none', 'none', 'none', 'none',
    0, 0, 0, 0, 0, 0,
  ]);
  assert.deepEqual([...rowDistances(mask, W, 0, 0, 6, 3, false, new Int32Array(18))].map(none), [
    0, 1, 0, 0, 0, 1,
    0, 0, 0, 0, 0, 0,
    'none', 'none', 'none', 'none', 'none', 'none',
  ]);
  // A window: columns 2-4 of rows 0-1 only; the set pixels at x = 1 and x = 5 lie outside it.
  assert.deepEqual([...rowDistances(mask, W, 2, 0, 5, 2, true, new Int32Array(6))].map(none), ['none', 'none', 'none', 'none', 'none', 'none']);
  assert.deepEqual([...rowDistances(mask, W, 1, 0, 4, 1, true, new Int32Array(3))], [0, 1, 2]);
});

/**
 * `now` gives exactly what `old` (the previous distance-transform code) gave: on random masks (`perSize` of each
 * size, from `seed`) and on phantoms; and not only nulls (a reading on more than a quarter of the random masks).
 */
function agreesWithOld<T>(seed: number, perSize: number, now: (seg: LungSegmentation) => T, old: (seg: LungSegmentation) => T): void {
  const rng = new Rng(seed);
  let compared = 0, nonNull = 0;
  for (const [W, H] of [[16, 16], [40, 23], [64, 64], [97, 130], [256, 181]]) {
    for (let k = 0; k < perSize; k++) {
      const seg = randomSeg(rng, W, H);
      const v = now(seg);
      assert.deepEqual(v, old(seg), `${W}x${H} #${k}`);
      compared++;
      if (v !== null) nonNull++;
    }
  }
  for (const [size, opacity] of [[384, true], [300, false], [512, true]] as const) {
    const seg = segmentLungs(lungPhantom(size, opacity));
    assert.ok(seg.found);
    assert.deepEqual(now(seg), old(seg), `phantom ${size}`);
  }
  assert.ok(nonNull > compared / 4, `readings on ${nonNull} of ${compared} random masks (the comparison is not only of nulls)`);
}

test('borderThreshold: exactly the previous distance-transform code, on random masks and phantoms', () => {
  agreesWithOld(31, 25, borderThreshold, oldBorderThreshold);
});

test('ballRowLimits: the chamfer ball\'s rows as limits on row distances (known balls)', () => {
  // 1 px: the 4-neighbourhood (half-widths 1, 0); 1.5 px: the 3x3 square; 3 px: half-widths 3, 2, 2, 0.
  assert.deepEqual(ballRowLimits(1, 3), [2, 1, 0, 0]);
  assert.deepEqual(ballRowLimits(1.5, 2), [2, 2, 0]);
  assert.deepEqual(ballRowLimits(3, 3), [4, 3, 3, 1]);
  assert.deepEqual(ballRowLimits(4, 4), [5, 4, 4, 4, 1]);
  assert.throws(() => ballRowLimits(4, 3), /more than 3 rows/);
});

test('edgeBlur: exactly the previous distance-transform code, on random masks and phantoms', () => {
  agreesWithOld(47, 20, edgeBlur, oldEdgeBlur);
});

test('chamferSweeps over a window: the distance transform of the window cut out, the rest untouched', () => {
  const rng = new Rng(5);
  // Known values: one seed in a 5 x 3 window, steps 3 and diagonals 4.
  const d = new Int32Array(15).fill(1 << 30);
  d[7] = 0; // (2, 1)
  chamferSweeps(d, 5, 0, 0, 5, 3);
  assert.deepEqual([...d], [7, 4, 3, 4, 7, 6, 3, 0, 3, 6, 7, 4, 3, 4, 7]);
  for (const [W, H] of [[1, 1], [1, 7], [9, 1], [23, 17], [64, 48]]) {
    for (let k = 0; k < 6; k++) {
      const mask = Uint8Array.from({ length: W * H }, () => (rng.next() < [0.01, 0.2, 0.6][k % 3] ? 1 : 0));
      const x0 = Math.floor(rng.next() * W), y0 = Math.floor(rng.next() * H);
      const x1 = x0 + 1 + Math.floor(rng.next() * (W - x0)), y1 = y0 + 1 + Math.floor(rng.next() * (H - y0));
      const ww = x1 - x0, hh = y1 - y0;
      const cut = new Uint8Array(ww * hh);
      for (let y = 0; y < hh; y++) for (let x = 0; x < ww; x++) cut[y * ww + x] = mask[(y0 + y) * W + x0 + x];
      const expected = distanceToSet(cut, ww, hh);
      const units = Int32Array.from({ length: W * H }, (_, i) => (mask[i] ? 0 : 1e9));
      const before = units.slice();
      chamferSweeps(units, W, x0, y0, x1, y1);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const i = y * W + x;
          if (x >= x0 && x < x1 && y >= y0 && y < y1) assert.equal(Math.fround(units[i] / 3), expected[(y - y0) * ww + x - x0], `${W}x${H} (${x},${y})`);
          else assert.equal(units[i], before[i], 'outside the window');
        }
      }
    }
  }
});

test('erode and dilate with a box holding every set pixel (a hint): the same masks as without it', () => {
  const rng = new Rng(9);
  for (const [W, H] of [[1, 1], [20, 13], [64, 64], [130, 97]]) {
    for (let k = 0; k < 8; k++) {
      // Set pixels only inside a random box; the hint is that box or a larger one.
      const bx0 = Math.floor(rng.next() * W), by0 = Math.floor(rng.next() * H);
      const bx1 = bx0 + 1 + Math.floor(rng.next() * (W - bx0)), by1 = by0 + 1 + Math.floor(rng.next() * (H - by0));
      const mask = new Uint8Array(W * H);
      for (let y = by0; y < by1; y++) for (let x = bx0; x < bx1; x++) if (rng.next() < [0.05, 0.5, 0.95][k % 3]) mask[y * W + x] = 1 + (k & 1);
      const hints = [{ x0: bx0, y0: by0, x1: bx1, y1: by1 }, { x0: bx0 - 3, y0: by0 - 2, x1: bx1 + 5, y1: by1 + 1 }];
      for (const within of hints) {
        for (const r of [1, 1.5, 2, 3.1, 4.5, 6]) {
          assert.deepEqual(erode(mask, W, H, r, within), erode(mask, W, H, r), `erode ${W}x${H} #${k} r ${r}`);
          assert.deepEqual(dilate(mask, W, H, r, within), dilate(mask, W, H, r), `dilate ${W}x${H} #${k} r ${r}`);
        }
      }
    }
  }
});
