/**
 * Logistic regression on standardised features, trained with mini-batch Adam and decoupled weight decay
 * (pure TypeScript: deterministic, no backend). Each epoch the caller scores the head on val; the best epoch
 * is kept, so the epoch is chosen on val only.
 */
import type { Binary } from '../types.js';
import { Rng } from '../util/prng.js';
import { sigmoid, type LinearHead } from '../model/head.js';

export interface LogRegOptions {
  epochs: number;
  learningRate: number;
  /** Decoupled weight decay (AdamW), per step, relative to the learning rate. */
  weightDecay: number;
  batchSize: number;
  /** Targets become 1 - s/2 and s/2. */
  labelSmoothing: number;
  seed: number;
}

export const DEFAULT_LOGREG: LogRegOptions = { epochs: 40, learningRate: 1e-3, weightDecay: 1e-2, batchSize: 32, labelSmoothing: 0.1, seed: 0 };

/** Mean and standard deviation per column of row vectors (std floored to avoid dividing by ~0). */
export function columnStats(rows: Float32Array[], dim: number): { mean: Float32Array; std: Float32Array } {
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (const r of rows) for (let j = 0; j < dim; j++) { mean[j] += r[j]; sq[j] += r[j] * r[j]; }
  const m = new Float32Array(dim);
  const s = new Float32Array(dim);
  for (let j = 0; j < dim; j++) {
    m[j] = mean[j] / rows.length;
    const v = sq[j] / rows.length - m[j] * m[j];
    s[j] = Math.sqrt(Math.max(v, 0)) + 1e-6;
  }
  return { mean: m, std: s };
}

export interface EpochReport { epoch: number; loss: number; score: number }

/**
 * Trains on `rows` (one feature vector per training view) with labels `y`. `score(head)` is called after every
 * epoch (higher is better, e.g. val AUC); the head of the best epoch is returned (earliest on ties).
 */
export function trainLogReg(
  rows: Float32Array[], y: Binary[], opts: LogRegOptions,
  score: (head: LinearHead) => number, onEpoch?: (r: EpochReport) => void,
): { head: LinearHead; best: EpochReport; history: EpochReport[] } {
  if (rows.length !== y.length || rows.length === 0) throw new Error('trainLogReg: rows and labels must be non-empty and of equal length');
  const dim = rows[0].length;
  const { mean, std } = columnStats(rows, dim);
  const z = rows.map((r) => {
    const out = new Float32Array(dim);
    for (let j = 0; j < dim; j++) out[j] = (r[j] - mean[j]) / std[j];
    return out;
  });
  const w = new Float64Array(dim);
  let b = 0;
  const mW = new Float64Array(dim), vW = new Float64Array(dim);
  let mB = 0, vB = 0, t = 0;
  const beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  const rng = new Rng(opts.seed);
  const order = Array.from(rows.keys());
  const target = y.map((v) => (v === 1 ? 1 - opts.labelSmoothing / 2 : opts.labelSmoothing / 2));
  const gW = new Float64Array(dim);
  const snapshot = (): LinearHead => ({ mean, std, weight: Float32Array.from(w), bias: b });
  let best: { head: LinearHead; report: EpochReport } | undefined;
  const history: EpochReport[] = [];
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    rng.shuffle(order);
    let lossSum = 0;
    for (let s = 0; s < order.length; s += opts.batchSize) {
      const batch = order.slice(s, s + opts.batchSize);
      gW.fill(0);
      let gB = 0;
      for (const i of batch) {
        const zi = z[i];
        let logit = b;
        for (let j = 0; j < dim; j++) logit += w[j] * zi[j];
        const p = sigmoid(logit);
        const q = target[i];
        lossSum -= q * Math.log(Math.max(p, 1e-12)) + (1 - q) * Math.log(Math.max(1 - p, 1e-12));
        const g = (p - q) / batch.length;
        for (let j = 0; j < dim; j++) gW[j] += g * zi[j];
        gB += g;
      }
      t++;
      const c1 = 1 - Math.pow(beta1, t), c2 = 1 - Math.pow(beta2, t);
      const lr = opts.learningRate;
      for (let j = 0; j < dim; j++) {
        mW[j] = beta1 * mW[j] + (1 - beta1) * gW[j];
        vW[j] = beta2 * vW[j] + (1 - beta2) * gW[j] * gW[j];
        w[j] -= lr * ((mW[j] / c1) / (Math.sqrt(vW[j] / c2) + eps) + opts.weightDecay * w[j]);
      }
      mB = beta1 * mB + (1 - beta1) * gB;
      vB = beta2 * vB + (1 - beta2) * gB * gB;
      b -= lr * (mB / c1) / (Math.sqrt(vB / c2) + eps);
    }
    const head = snapshot();
    const report: EpochReport = { epoch, loss: lossSum / order.length, score: score(head) };
    history.push(report);
    onEpoch?.(report);
    if (!best || report.score > best.report.score) best = { head, report };
  }
  return { head: best!.head, best: best!.report, history };
}

export interface WeightDecayChoice {
  head: LinearHead;
  weightDecay: number;
  best: EpochReport;
  /** Every weight decay tried, with its best epoch and score. */
  search: { weightDecay: number; bestEpoch: number; score: number }[];
}

/**
 * trainLogReg once per weight decay, keeping the head with the best score (the first weight decay on ties).
 * `hooks.start(wd)` may return the onEpoch callback for that run; `hooks.end(wd, best)` is told its result.
 */
export function chooseWeightDecay(
  rows: Float32Array[], y: Binary[], opts: Omit<LogRegOptions, 'weightDecay'>, weightDecays: readonly number[],
  score: (head: LinearHead) => number,
  hooks: { start?: (weightDecay: number) => ((r: EpochReport) => void) | undefined; end?: (weightDecay: number, best: EpochReport) => void } = {},
): WeightDecayChoice {
  if (weightDecays.length === 0) throw new Error('chooseWeightDecay: no weight decay to try');
  let chosen: WeightDecayChoice | undefined;
  const search: WeightDecayChoice['search'] = [];
  for (const weightDecay of weightDecays) {
    const r = trainLogReg(rows, y, { ...opts, weightDecay }, score, hooks.start?.(weightDecay));
    hooks.end?.(weightDecay, r.best);
    search.push({ weightDecay, bestEpoch: r.best.epoch, score: r.best.score });
    if (!chosen || r.best.score > chosen.best.score) chosen = { head: r.head, weightDecay, best: r.best, search };
  }
  return chosen!;
}
