/** Grey-level quantiles from a histogram (src/data/histogram.ts) against sorting, the definition. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { greyQuantile, histogramQuantile } from '../src/data/histogram.js';

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
