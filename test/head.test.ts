/** averageHeads (src/model/head.ts): one head whose logit is the mean of several heads' logits. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { averageHeads, headLogit, type LinearHead } from '../src/model/head.js';
import { Rng } from '../src/util/prng.js';

function randomHead(rng: Rng, dim: number): LinearHead {
  const f = (lo: number, hi: number) => Float32Array.from({ length: dim }, () => rng.uniform(lo, hi));
  return { mean: f(-2, 2), std: f(0.1, 3), weight: f(-1, 1), bias: rng.uniform(-1, 1) };
}

test('averageHeads gives the mean logit of heads standardised on different statistics', () => {
  const rng = new Rng(7);
  const dim = 64;
  const heads = [randomHead(rng, dim), randomHead(rng, dim), randomHead(rng, dim)];
  const avg = averageHeads(heads);
  assert.equal(avg.mean, heads[0].mean, 'written on the first head\'s standardisation');
  for (let k = 0; k < 20; k++) {
    const x = Float32Array.from({ length: dim }, () => rng.uniform(-4, 4));
    const want = heads.reduce((s, h) => s + headLogit(h, x), 0) / heads.length;
    assert.ok(Math.abs(headLogit(avg, x) - want) < 1e-4 * (1 + Math.abs(want)), `${headLogit(avg, x)} vs ${want}`);
  }
});

test('averageHeads of one head reads as that head, and refuses nothing or mixed sizes', () => {
  const rng = new Rng(3);
  const h = randomHead(rng, 16);
  const x = Float32Array.from({ length: 16 }, () => rng.uniform(-4, 4));
  assert.ok(Math.abs(headLogit(averageHeads([h]), x) - headLogit(h, x)) < 1e-5);
  assert.throws(() => averageHeads([]), /no head/);
  assert.throws(() => averageHeads([h, randomHead(rng, 8)]), /different sizes/);
});
