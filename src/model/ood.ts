/**
 * "Is this a chest CT slice like the ones the model was trained on?" as a distance in backbone-feature space
 * (pure; the browser runs it too). The features are the mean-pooled tap features the head sees (the ONNX
 * export's "features" output), of the identity view, standardised with the head's mean and std.
 *
 * Fit (on the train + val slices): centre, then PCA to k components (top eigenvectors of the n x n Gram matrix,
 * by block subspace iteration from a fixed start, so deterministic), and
 *
 *   d(z) = sum_i (z.u_i)^2 / lambda_i  +  ||z - sum_i (z.u_i) u_i||^2 / sigma_res^2
 *
 * i.e. Hotelling's T^2 in the k principal components plus the squared residual norm (the Q statistic), with
 * sigma_res^2 = mean residual of the fitting slices / (k w) so that, with the residual weight w = 1, both parts
 * average k on them. The threshold is
 * the `quantile` (0.99) of OUT-OF-FOLD distances (each fold scored by a fit on the other folds): in-sample
 * distances of 540 points in ~3800 dimensions are optimistic, and a threshold on them flags far more than 1% of
 * new CT slices. The stored fit is then the one on all slices.
 */

/** What model.json keeps of a fit (reading.ood); the vectors are in `file` (float32: centre, scale, components). */
export interface OodDesign {
  file: string;
  sha256: string;
  /** Feature dimension D (the head's input). */
  dim: number;
  k: number;
  /** Variance of each principal component (lambda_i). */
  eigenvalues: number[];
  /** sigma_res^2 of the residual term. */
  residualScale: number;
  /** A slice whose distance exceeds this is NotCT. */
  threshold: number;
  quantile: number;
  folds: number;
  /** Fitting slices (identity views of train + val). */
  n: number;
  /** The backbone taps used (the others get scale 0). */
  taps: string[];
}

/** A fit: the design plus its vectors. */
export interface OodModel {
  design: Omit<OodDesign, 'file' | 'sha256'>;
  /** Raw-feature centre (D). */
  center: Float32Array;
  /** 1 / std per feature (D), 0 for features left out. */
  scale: Float32Array;
  /** k x D unit components, row-major. */
  components: Float32Array;
}

export interface OodFitOptions {
  /** The head's standardisation (its mean and std of each feature). */
  mean: Float32Array;
  std: Float32Array;
  k: number;
  /** Keep this share of the (out-of-fold) fitting slices: 0.99. */
  quantile: number;
  folds?: number;
  /** Which features to use (true = used); default all. */
  use?: boolean[];
  taps?: string[];
  /** Weight of the residual term (default 1: it averages k on the fitting slices, as T^2 does). */
  residualWeight?: number;
  /** Rows of one slice (e.g. its augmented views) share a group and so a fold; default: each row its own. */
  groups?: number[];
  /** Subspace iterations (default 30). */
  iterations?: number;
}

/** Deterministic pseudo-random numbers in [-0.5, 0.5) (the start of the subspace iteration). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
}

/** Eigen-decomposition of a small symmetric matrix (cyclic Jacobi); values descending with their vectors (columns). */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(a);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) {
      const apq = A[p * n + q];
      if (Math.abs(apq) < 1e-300) continue;
      const theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1), s = t * c;
      for (let k = 0; k < n; k++) {
        const akp = A[k * n + p], akq = A[k * n + q];
        A[k * n + p] = c * akp - s * akq;
        A[k * n + q] = s * akp + c * akq;
      }
      for (let k = 0; k < n; k++) {
        const apk = A[p * n + k], aqk = A[q * n + k];
        A[p * n + k] = c * apk - s * aqk;
        A[q * n + k] = s * apk + c * aqk;
      }
      for (let k = 0; k < n; k++) {
        const vkp = V[k * n + p], vkq = V[k * n + q];
        V[k * n + p] = c * vkp - s * vkq;
        V[k * n + q] = s * vkp + c * vkq;
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => A[y * n + y] - A[x * n + x]);
  const values = Float64Array.from(order, (i) => A[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => { for (let k = 0; k < n; k++) vectors[k * n + dst] = V[k * n + src]; });
  return { values, vectors };
}

/** Top-`k` eigenpairs of a symmetric m x m matrix G (block subspace iteration with oversampling + Rayleigh-Ritz). */
export function topEigen(G: Float64Array, m: number, k: number, iterations = 30): { values: Float64Array; vectors: Float64Array } {
  const b = Math.min(m, k + 10);
  const rand = lcg(12345);
  let Q: Float64Array = new Float64Array(m * b); // column-major: column j at [j*m, (j+1)*m)
  for (let i = 0; i < Q.length; i++) Q[i] = rand();
  const orthonormalise = (X: Float64Array) => {
    for (let j = 0; j < b; j++) {
      const cj = X.subarray(j * m, (j + 1) * m);
      for (let pass = 0; pass < 2; pass++) for (let i = 0; i < j; i++) {
        const ci = X.subarray(i * m, (i + 1) * m);
        let dot = 0;
        for (let r = 0; r < m; r++) dot += ci[r] * cj[r];
        for (let r = 0; r < m; r++) cj[r] -= dot * ci[r];
      }
      let norm = 0;
      for (let r = 0; r < m; r++) norm += cj[r] * cj[r];
      norm = Math.sqrt(norm);
      if (norm < 1e-300) { for (let r = 0; r < m; r++) cj[r] = 0; continue; }
      for (let r = 0; r < m; r++) cj[r] /= norm;
    }
  };
  const mul = (X: Float64Array): Float64Array => {
    // Row-major copy of X (m x b) so that one pass over G's row r serves every column.
    const Xr = new Float64Array(m * b);
    for (let j = 0; j < b; j++) for (let r = 0; r < m; r++) Xr[r * b + j] = X[j * m + r];
    const Y = new Float64Array(m * b);
    const acc = new Float64Array(b);
    for (let r = 0; r < m; r++) {
      acc.fill(0);
      const row = r * m;
      for (let c = 0; c < m; c++) {
        const g = G[row + c];
        const xo = c * b;
        for (let j = 0; j < b; j++) acc[j] += g * Xr[xo + j];
      }
      for (let j = 0; j < b; j++) Y[j * m + r] = acc[j];
    }
    return Y;
  };
  orthonormalise(Q);
  for (let it = 0; it < iterations; it++) { Q = mul(Q); orthonormalise(Q); }
  const GQ = mul(Q);
  const B = new Float64Array(b * b);
  for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) {
    let s = 0;
    for (let r = 0; r < m; r++) s += Q[i * m + r] * GQ[j * m + r];
    B[i * b + j] = s;
  }
  for (let i = 0; i < b; i++) for (let j = i + 1; j < b; j++) B[i * b + j] = B[j * b + i] = (B[i * b + j] + B[j * b + i]) / 2;
  const small = symmetricEigen(B, b);
  const kk = Math.min(k, b);
  const values = small.values.slice(0, kk);
  const vectors = new Float64Array(m * kk); // column-major
  for (let j = 0; j < kk; j++) for (let r = 0; r < m; r++) {
    let s = 0;
    for (let i = 0; i < b; i++) s += Q[i * m + r] * small.vectors[i * b + j];
    vectors[j * m + r] = s;
  }
  return { values, vectors };
}

/** The q-quantile (linear interpolation) of values. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) return NaN;
  const pos = Math.min(Math.max(q, 0), 1) * (s.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Fit on the rows of a subset of Z (standardised, n x D row-major) whose Gram matrix GZ (n x n) is given. */
function fitSubset(Z: Float64Array, D: number, GZ: Float64Array, n: number, idx: number[], k: number, iterations: number, residualWeight: number) {
  const m = idx.length;
  // Centred Gram of the subset by double centring.
  const G = new Float64Array(m * m);
  for (let a = 0; a < m; a++) for (let c = 0; c < m; c++) G[a * m + c] = GZ[idx[a] * n + idx[c]];
  const rowMean = new Float64Array(m);
  let total = 0;
  for (let a = 0; a < m; a++) { let s = 0; for (let c = 0; c < m; c++) s += G[a * m + c]; rowMean[a] = s / m; total += s; }
  total /= m * m;
  for (let a = 0; a < m; a++) for (let c = 0; c < m; c++) G[a * m + c] += total - rowMean[a] - rowMean[c];
  const mu = new Float64Array(D);
  for (const i of idx) for (let d = 0; d < D; d++) mu[d] += Z[i * D + d] / m;
  const kk = Math.min(k, m - 1);
  const eig = topEigen(G, m, kk, iterations);
  const comps = new Float64Array(kk * D);
  const lambdas: number[] = [];
  for (let j = 0; j < kk; j++) {
    const mu_j = Math.max(eig.values[j], 1e-12);
    lambdas.push(mu_j / (m - 1));
    const u = comps.subarray(j * D, (j + 1) * D);
    for (let a = 0; a < m; a++) {
      const w = eig.vectors[j * m + a] / Math.sqrt(mu_j);
      if (w === 0) continue;
      const off = idx[a] * D;
      for (let d = 0; d < D; d++) u[d] += w * (Z[off + d] - mu[d]);
    }
  }
  // In-sample residuals: ||z - mu||^2 (the centred Gram's diagonal) minus the explained part.
  let resSum = 0;
  for (let a = 0; a < m; a++) {
    let explained = 0;
    for (let j = 0; j < kk; j++) explained += eig.values[j] * eig.vectors[j * m + a] ** 2;
    resSum += Math.max(G[a * m + a] - explained, 0);
  }
  const residualScale = Math.max(resSum / m / Math.max(kk, 1) / residualWeight, 1e-12);
  return { mu, comps, lambdas, residualScale, k: kk };
}

/** d of a standardised, not yet centred row. */
function distanceZ(z: ArrayLike<number>, mu: Float64Array, comps: Float64Array, lambdas: number[], residualScale: number, D: number): number {
  let norm = 0;
  const c = new Float64Array(D);
  for (let d = 0; d < D; d++) { c[d] = z[d] - mu[d]; norm += c[d] * c[d]; }
  let t2 = 0, explained = 0;
  for (let j = 0; j < lambdas.length; j++) {
    let p = 0;
    const off = j * D;
    for (let d = 0; d < D; d++) p += comps[off + d] * c[d];
    t2 += (p * p) / lambdas[j];
    explained += p * p;
  }
  return t2 + Math.max(norm - explained, 0) / residualScale;
}

/** Fits the distance on feature rows (raw pooled features, one row per slice: its identity view). */
export function fitOod(rows: ArrayLike<number>[], opts: OodFitOptions): OodModel {
  const n = rows.length;
  const D = opts.mean.length;
  if (n < 4) throw new Error(`fitOod: need at least 4 rows, got ${n}`);
  const folds = Math.max(2, Math.min(opts.folds ?? 5, n));
  const iterations = opts.iterations ?? 30;
  const w = opts.residualWeight ?? 1;
  if (!(w > 0)) throw new Error('fitOod: residualWeight must be > 0');
  const scale = new Float32Array(D);
  for (let d = 0; d < D; d++) scale[d] = (opts.use ? opts.use[d] : true) && opts.std[d] > 0 ? 1 / opts.std[d] : 0;
  const Z = new Float64Array(n * D);
  rows.forEach((r, i) => { for (let d = 0; d < D; d++) Z[i * D + d] = (r[d] - opts.mean[d]) * scale[d]; });
  const GZ = new Float64Array(n * n);
  for (let a = 0; a < n; a++) for (let c = a; c < n; c++) {
    let s = 0;
    const oa = a * D, oc = c * D;
    for (let d = 0; d < D; d++) s += Z[oa + d] * Z[oc + d];
    GZ[a * n + c] = GZ[c * n + a] = s;
  }
  // Out-of-fold distances (fold = index mod folds: deterministic, and the rows come in dataset order).
  const oof = new Float64Array(n);
  for (let f = 0; f < folds; f++) {
    const inFold: number[] = [], out: number[] = [];
    for (let i = 0; i < n; i++) ((opts.groups ? opts.groups[i] : i) % folds === f ? out : inFold).push(i);
    const fit = fitSubset(Z, D, GZ, n, inFold, opts.k, iterations, w);
    for (const i of out) oof[i] = distanceZ(Z.subarray(i * D, (i + 1) * D), fit.mu, fit.comps, fit.lambdas, fit.residualScale, D);
  }
  const all = fitSubset(Z, D, GZ, n, Array.from({ length: n }, (_, i) => i), opts.k, iterations, w);
  const center = new Float32Array(D);
  for (let d = 0; d < D; d++) center[d] = scale[d] > 0 ? opts.mean[d] + all.mu[d] / scale[d] : opts.mean[d];
  return {
    design: {
      dim: D, k: all.k, eigenvalues: all.lambdas, residualScale: all.residualScale,
      threshold: quantile(oof, opts.quantile), quantile: opts.quantile, folds, n, taps: opts.taps ?? [],
    },
    center, scale, components: Float32Array.from(all.comps),
  };
}

/** The distance of one slice's raw features (its identity view). */
export function oodDistance(m: Pick<OodModel, 'center' | 'scale' | 'components'> & { design: Pick<OodDesign, 'dim' | 'k' | 'eigenvalues' | 'residualScale'> }, features: ArrayLike<number>): number {
  const { dim: D, k, eigenvalues, residualScale } = m.design;
  if (features.length < D) throw new Error(`oodDistance: ${features.length} features, expected ${D}`);
  const c = new Float64Array(D);
  let norm = 0;
  for (let d = 0; d < D; d++) { c[d] = (features[d] - m.center[d]) * m.scale[d]; norm += c[d] * c[d]; }
  let t2 = 0, explained = 0;
  for (let j = 0; j < k; j++) {
    let p = 0;
    const off = j * D;
    for (let d = 0; d < D; d++) p += m.components[off + d] * c[d];
    t2 += (p * p) / eigenvalues[j];
    explained += p * p;
  }
  return t2 + Math.max(norm - explained, 0) / residualScale;
}

/** ood.bin: centre | scale | components, float32. */
export function packOod(m: OodModel): Uint8Array {
  const D = m.design.dim;
  const all = new Float32Array(2 * D + m.design.k * D);
  all.set(m.center, 0);
  all.set(m.scale, D);
  all.set(m.components, 2 * D);
  return new Uint8Array(all.buffer);
}

export function unpackOod(bytes: Uint8Array, design: OodDesign): OodModel {
  const D = design.dim;
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (all.length !== (2 + design.k) * D) throw new Error(`${design.file} has ${all.length} values, expected ${(2 + design.k) * D}`);
  const { file: _f, sha256: _s, ...rest } = design;
  return { design: rest, center: all.slice(0, D), scale: all.slice(D, 2 * D), components: all.slice(2 * D) };
}

/** The share of features of each tap: a `use` mask for fitOod from the backbone's taps and their channels. */
export function tapMask(taps: string[], channels: Record<string, number>, used: string[]): boolean[] {
  const mask: boolean[] = [];
  for (const t of taps) for (let c = 0; c < channels[t]; c++) mask.push(used.includes(t));
  return mask;
}
