/**
 * The invariance penalty of the logistic head (src/train/logreg.ts), on synthetic features: a feature that
 * predicts the label but moves when the image is degraded loses its weight to one that predicts it and does not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainLogReg } from '../src/train/logreg.js';
import { Rng } from '../src/util/prng.js';
import type { Binary } from '../src/types.js';

function data() {
  const rng = new Rng(5);
  const rows: Float32Array[] = [];
  const y: Binary[] = [];
  const pairs: { clean: Float32Array; degraded: Float32Array }[] = [];
  for (let i = 0; i < 400; i++) {
    const label = (i % 2) as Binary;
    const s = label ? 1 : -1;
    // Feature 0: "sharpness", strongly predictive here but shifted by a degradation; feature 1: "anatomy",
    // less predictive, untouched by it.
    const x = Float32Array.from([s * 1.5 + rng.uniform(-1, 1), s * 0.8 + rng.uniform(-1.5, 1.5)]);
    rows.push(x);
    y.push(label);
    pairs.push({ clean: x, degraded: Float32Array.from([x[0] - 1 - rng.uniform(0, 1), x[1]]) });
  }
  return { rows, y, pairs };
}

test('invariance penalty: the head stops using the feature that a degradation moves', () => {
  const { rows, y, pairs } = data();
  const opts = { epochs: 20, learningRate: 1e-2, weightDecay: 0, batchSize: 32, labelSmoothing: 0, seed: 1 };
  // A score that grows every epoch keeps the last epoch's head.
  const last = () => { let e = 0; return () => ++e; };
  const plain = trainLogReg(rows, y, opts, last(), undefined, pairs);
  const inv = trainLogReg(rows, y, { ...opts, invariance: 10 }, last(), undefined, pairs);
  const ratio = (w: Float32Array) => Math.abs(w[0]) / Math.abs(w[1]);
  assert.ok(ratio(plain.head.weight) > 1, `without the penalty feature 0 dominates: ${plain.head.weight}`);
  assert.ok(ratio(inv.head.weight) < 0.2, `with it feature 0 is nearly unused: ${inv.head.weight}`);
  assert.ok(inv.head.weight[1] > 0);
});

test('invariance penalty: weight 0 (or no pairs) gives exactly the plain head; training is deterministic', () => {
  const { rows, y, pairs } = data();
  const opts = { epochs: 3, learningRate: 1e-2, weightDecay: 1e-2, batchSize: 32, labelSmoothing: 0.1, seed: 2 };
  const score = (h: { weight: Float32Array }) => h.weight[0];
  const a = trainLogReg(rows, y, opts, score);
  const b = trainLogReg(rows, y, { ...opts, invariance: 0 }, score, undefined, pairs);
  const c = trainLogReg(rows, y, { ...opts, invariance: 5 }, score);
  assert.deepEqual(a.head.weight, b.head.weight);
  assert.deepEqual(a.head.weight, c.head.weight);
  const d1 = trainLogReg(rows, y, { ...opts, invariance: 5 }, score, undefined, pairs);
  const d2 = trainLogReg(rows, y, { ...opts, invariance: 5 }, score, undefined, pairs);
  assert.deepEqual(d1.head.weight, d2.head.weight);
  assert.notDeepEqual(d1.head.weight, a.head.weight);
});
