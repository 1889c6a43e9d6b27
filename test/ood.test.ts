/** The not-CT feature distance (src/model/ood.ts) on synthetic Gaussian data: eigenvectors, threshold, determinism. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitOod, oodDistance, packOod, quantile, symmetricEigen, tapMask, topEigen, unpackOod, type OodDesign } from '../src/model/ood.js';

/** Deterministic normal draws (Box-Muller on an LCG). */
function normals(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** n rows in D dims: 4 strong latent directions + small isotropic noise, offset and scaled per feature. */
function sample(n: number, D: number, seed: number, basis: Float64Array): Float32Array[] {
  const g = normals(seed);
  return Array.from({ length: n }, () => {
    const z = [3 * g(), 2 * g(), 1.5 * g(), g()];
    const r = new Float32Array(D);
    for (let d = 0; d < D; d++) {
      let v = 0.2 * g();
      for (let j = 0; j < 4; j++) v += z[j] * basis[j * D + d];
      r[d] = 5 + d * 0.1 + (1 + (d % 3)) * v; // raw features: offset and scale like real ones
    }
    return r;
  });
}

const D = 60;
const basis = (() => { const g = normals(7); return Float64Array.from({ length: 4 * D }, () => g() / Math.sqrt(D)); })();
const head = { mean: Float32Array.from({ length: D }, (_, d) => 5 + d * 0.1), std: Float32Array.from({ length: D }, (_, d) => 1 + (d % 3)) };

test('topEigen finds the leading eigenpairs of a symmetric matrix (as full Jacobi does)', () => {
  const m = 30;
  const g = normals(3);
  const A = Float64Array.from({ length: m * 8 }, () => g());
  const G = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) { let s = 0; for (let k = 0; k < 8; k++) s += A[i * 8 + k] * A[j * 8 + k]; G[i * m + j] = s; }
  const full = symmetricEigen(G, m);
  const top = topEigen(G, m, 5, 60);
  for (let j = 0; j < 5; j++) {
    assert.ok(Math.abs(top.values[j] - full.values[j]) < 1e-6 * full.values[0], `eigenvalue ${j}`);
    let dot = 0;
    for (let r = 0; r < m; r++) dot += top.vectors[j * m + r] * full.vectors[r * m + j];
    assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-5, `eigenvector ${j}: |dot| ${dot}`);
  }
});

test('fitOod: a far point is flagged, fresh points from the same distribution are not (about the quantile), deterministic', () => {
  const rows = sample(200, D, 11, basis);
  const m = fitOod(rows, { ...head, k: 4, quantile: 0.99 });
  assert.equal(m.design.k, 4);
  assert.equal(m.design.n, 200);
  // The components' variances come out in order, near the latent variances (9, 4, 2.25, 1 over the standardised space).
  for (let j = 1; j < 4; j++) assert.ok(m.design.eigenvalues[j] <= m.design.eigenvalues[j - 1]);
  const fresh = sample(400, D, 99, basis);
  const flaggedFresh = fresh.filter((r) => oodDistance(m, r) > m.design.threshold).length;
  assert.ok(flaggedFresh <= 16, `fresh points flagged: ${flaggedFresh}/400`);
  // Far: the same latent structure plus a push off the subspace; and a point far along a component.
  const off = Float32Array.from(fresh[0], (v, d) => v + (d % 2 ? 3 : -3) * head.std[d]);
  assert.ok(oodDistance(m, off) > 10 * m.design.threshold, `off-subspace distance ${oodDistance(m, off)} vs ${m.design.threshold}`);
  const along = Float32Array.from(head.mean, (v, d) => v + 40 * basis[d] * head.std[d]);
  assert.ok(oodDistance(m, along) > m.design.threshold, 'far along the first component');
  // Determinism: the same rows give the same bytes.
  const again = fitOod(rows, { ...head, k: 4, quantile: 0.99 });
  assert.deepEqual(packOod(again), packOod(m));
  assert.equal(again.design.threshold, m.design.threshold);
});

test('ood.bin round trip and a tap mask that leaves features out', () => {
  const rows = sample(60, D, 5, basis);
  const m = fitOod(rows, { ...head, k: 3, quantile: 0.99, use: tapMask(['a', 'b'], { a: 20, b: 40 }, ['b']), taps: ['b'] });
  assert.ok(m.scale.subarray(0, 20).every((v) => v === 0));
  // Changing a left-out feature does not move the distance.
  const r = Float32Array.from(rows[0]);
  const d0 = oodDistance(m, r);
  r[3] += 1000;
  assert.equal(oodDistance(m, r), d0);
  const design: OodDesign = { file: 'ood.bin', sha256: '', ...m.design };
  const back = unpackOod(packOod(m), design);
  assert.equal(oodDistance(back, rows[1]), oodDistance(m, rows[1]));
  assert.throws(() => unpackOod(new Uint8Array(8), design));
  assert.equal(quantile([3, 1, 2, 4], 0.5), 2.5);
});
