/** Grey-level quantiles from a histogram (src/data/histogram.ts) against sorting, the definition. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { greyQuantile, histogramQuantile, keyQuantile } from '../src/data/histogram.js';

/** The reference: sort, then the value at index floor(p x (n - 1)) (what "cumulative count exceeds p(n-1)" picks). */
function bySorting(values: Uint8Array, p: number): number {
  const sorted = Array.from(values).sort((a, b) => a - b);
  return sorted[Math.floor(p * (sorted.length - 1))];
}

test('greyQuantile equals the sorted values at floor(p (n - 1)) for random and skewed data', () => {
  let s = 7;
  const rand = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
  for (const n of [1, 2, 17, 1000]) {
    const uniform = Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
    const skewed = Uint8Array.from({ length: n }, () => Math.floor(rand() ** 4 * 256));
    for (const values of [uniform, skewed]) {
      for (const p of [0, 0.005, 0.1, 0.5, 0.9, 0.99, 1]) assert.equal(greyQuantile(values, n, p), bySorting(values, p), `n ${n} p ${p}`);
    }
  }
});

test('histogramQuantile: NaN when empty; a known small case', () => {
  assert.ok(Number.isNaN(histogramQuantile(new Float64Array(256), 0, 0.5)));
  const hist = new Float64Array(256);
  hist[10] = 3; hist[200] = 1; // values 10, 10, 10, 200
  assert.equal(histogramQuantile(hist, 4, 0.5), 10);
  assert.equal(histogramQuantile(hist, 4, 1), 200);
});

test('keyQuantile equals the sorted keys at floor(p (n - 1)): known values, random keys across the range, ties', () => {
  assert.ok(Number.isNaN(keyQuantile(new Int32Array(4), 0, 0.5)));
  const keys = Int32Array.from([300, 5, 70000, 256, 255, 5]); // sorted: 5, 5, 255, 256, 300, 70000
  assert.equal(keyQuantile(keys, 6, 0), 5);
  assert.equal(keyQuantile(keys, 6, 0.5), 255); // index floor(2.5) = 2
  assert.equal(keyQuantile(keys, 6, 0.9), 300); // index 4
  assert.equal(keyQuantile(keys, 6, 1), 70000);
  assert.equal(keyQuantile(keys, 3, 1), 70000, 'only the first n keys count');
  assert.equal(keyQuantile(keys, 2, 1), 300);
  let s = 11;
  const rand = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
  for (const n of [1, 2, 17, 1000, 5000]) {
    const wide = Int32Array.from({ length: n }, () => Math.floor(rand() * 130051));
    const narrow = Int32Array.from({ length: n }, () => Math.floor(rand() ** 3 * 600));
    for (const k of [wide, narrow]) {
      const sorted = Array.from(k).sort((a, b) => a - b);
      for (const p of [0, 0.1, 0.5, 0.9, 0.99, 1]) assert.equal(keyQuantile(k, n, p), sorted[Math.floor(p * (n - 1))], `n ${n} p ${p}`);
    }
  }
  assert.throws(() => keyQuantile(Int32Array.from([1 << 17]), 1, 0.5), /integer keys/);
  assert.throws(() => keyQuantile(Int32Array.from([-1]), 1, 0.5), /integer keys/);
});
