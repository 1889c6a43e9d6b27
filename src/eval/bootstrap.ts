/**
 * Percentile bootstrap confidence intervals for every metric of `binaryMetrics`.
 *
 * Each draw resamples the evaluated images with replacement (n out of n, not stratified: the class mix
 * varies between draws as it would between test sets drawn from the same population), recomputes every
 * metric at the fixed threshold, and the interval is the (1 - level)/2 and (1 + level)/2 percentiles of
 * the draws (linear interpolation between order statistics, numpy's default).
 *
 * Skipping rule: a draw in which a metric is undefined — AUC when the draw holds one class only, a ratio
 * whose denominator is 0 (e.g. precision when the draw has no predicted COVID) — is left out of that
 * metric's interval only, and counted in its `skipped`. It is not counted as 0: the zero_division = 0
 * convention of the point estimate is a reporting convention, and folding those zeros into an interval
 * would drag it towards 0 for no reason in the data. A metric undefined in every draw has `ci: null`.
 *
 * Cluster (patient) bootstrap: with `groups` (one id per image, e.g. its patient), each draw resamples the G
 * groups instead of the images: G groups drawn with replacement (a group drawn twice counts twice), and every
 * image of each drawn group goes into the draw, so the number of images varies between draws. Slices of one
 * patient are not independent (neighbouring slices look alike and share the patient's disease), and resampling
 * them one by one would pretend there were as many independent cases as slices, giving intervals that are too
 * narrow; resampling patients keeps each patient's slices together. Groups are numbered in order of first
 * appearance, so the result depends on the data's order only through that numbering. With one image per group
 * the draws have the same distribution as the image bootstrap (not the same random stream).
 *
 * Deterministic: all randomness comes from one `Rng(seed)` stream, consumed in a fixed order.
 */
import type { Binary } from '../types.js';
import { Rng } from '../util/prng.js';
import { METRIC_NAMES, type MetricName, aucOrNull, checkScores, confusionRates, predict } from './metrics.js';

export interface BootstrapOptions {
  /** Number of resamples; default 2000. */
  draws?: number;
  /** Seed of the resampling stream; default 0. */
  seed?: number;
  /** Coverage of the intervals, in (0, 1); default 0.95. */
  level?: number;
}

export interface ClusterOptions extends BootstrapOptions {
  /** One group id per image (e.g. patient id): resample groups, not images (see the module comment). */
  groups?: readonly string[];
}

/** Image indices of each group, groups in order of first appearance. */
export function groupIndices(groups: readonly string[]): number[][] {
  const byId = new Map<string, number[]>();
  groups.forEach((g, i) => {
    const list = byId.get(g);
    if (list) list.push(i);
    else byId.set(g, [i]);
  });
  return [...byId.values()];
}

export interface MetricInterval {
  /** [lower, upper] percentile bounds, or null if the metric was undefined in every draw. */
  ci: [number, number] | null;
  /** Draws in which the metric was defined (and so used). */
  defined: number;
  /** Draws left out because the metric was undefined in them. */
  skipped: number;
}

export interface BootstrapResult {
  draws: number;
  seed: number;
  level: number;
  intervals: Record<MetricName, MetricInterval>;
}

/** The p-quantile (0 <= p <= 1) of ascending `sorted`, interpolating linearly (numpy 'linear'). */
export function quantileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new Error('quantile of an empty sample');
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

function checkOptions(draws: number, seed: number, level: number): void {
  if (!Number.isInteger(draws) || draws < 1) throw new Error(`draws must be an integer >= 1, got ${draws}`);
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  if (!(level > 0 && level < 1)) throw new Error(`level must be in (0, 1), got ${level}`);
}

/** Percentile bootstrap intervals of every metric at `threshold`; see the module comment for the rules. */
export function bootstrapIntervals(
  yTrue: readonly Binary[],
  scores: readonly number[],
  threshold: number,
  { draws = 2000, seed = 0, level = 0.95, groups }: ClusterOptions = {},
): BootstrapResult {
  checkScores(yTrue, scores);
  checkOptions(draws, seed, level);
  const n = yTrue.length;
  if (groups !== undefined && groups.length !== n) throw new Error(`groups has ${groups.length} ids for ${n} images`);
  const clusters = groups === undefined ? undefined : groupIndices(groups);
  // Predictions do not depend on the draw, only which images are in it.
  const yPred = predict(scores, threshold);
  const samples = Object.fromEntries(METRIC_NAMES.map((m) => [m, [] as number[]])) as Record<MetricName, number[]>;
  const rng = new Rng(seed);
  let yb: Binary[] = new Array<Binary>(n);
  let sb: number[] = new Array<number>(n);
  for (let d = 0; d < draws; d++) {
    const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
    const take = (i: number, k: number) => {
      yb[k] = yTrue[i];
      sb[k] = scores[i];
      if (yTrue[i] === 1) {
        if (yPred[i] === 1) c.tp++;
        else c.fn++;
      } else if (yPred[i] === 1) c.fp++;
      else c.tn++;
    };
    if (clusters === undefined) {
      for (let k = 0; k < n; k++) take(rng.int(n), k);
    } else {
      yb = [];
      sb = [];
      for (let g = 0; g < clusters.length; g++) {
        for (const i of clusters[rng.int(clusters.length)]) take(i, yb.length);
      }
    }
    const values: Record<MetricName, number | null> = { ...confusionRates(c), auc: aucOrNull(yb, sb) };
    for (const m of METRIC_NAMES) {
      const v = values[m];
      if (v !== null) samples[m].push(v);
    }
  }
  const alpha = (1 - level) / 2;
  const intervals = {} as Record<MetricName, MetricInterval>;
  for (const m of METRIC_NAMES) {
    const s = samples[m].sort((a, b) => a - b);
    intervals[m] = {
      ci: s.length === 0 ? null : [quantileSorted(s, alpha), quantileSorted(s, 1 - alpha)],
      defined: s.length,
      skipped: draws - s.length,
    };
  }
  return { draws, seed, level, intervals };
}

/**
 * Percentile bootstrap interval of AUC(scoresB) - AUC(scoresA) on the same images (paired: each draw resamples
 * images and scores both sets of the drawn images). Draws with one class only are skipped, as above. Used by the
 * shortcut audit to say whether a variant's AUC change is larger than the resampling noise of the split.
 */
export function pairedAucDifferenceInterval(
  yTrue: readonly Binary[],
  scoresA: readonly number[],
  scoresB: readonly number[],
  { draws = 2000, seed = 0, level = 0.95 }: BootstrapOptions = {},
): MetricInterval {
  checkScores(yTrue, scoresA);
  checkScores(yTrue, scoresB);
  checkOptions(draws, seed, level);
  const n = yTrue.length;
  const rng = new Rng(seed);
  const yb: Binary[] = new Array<Binary>(n);
  const ab: number[] = new Array<number>(n);
  const bb: number[] = new Array<number>(n);
  const diffs: number[] = [];
  for (let d = 0; d < draws; d++) {
    for (let k = 0; k < n; k++) {
      const i = rng.int(n);
      yb[k] = yTrue[i];
      ab[k] = scoresA[i];
      bb[k] = scoresB[i];
    }
    const a = aucOrNull(yb, ab);
    const b = aucOrNull(yb, bb);
    if (a !== null && b !== null) diffs.push(b - a);
  }
  diffs.sort((x, y) => x - y);
  const alpha = (1 - level) / 2;
  return {
    ci: diffs.length === 0 ? null : [quantileSorted(diffs, alpha), quantileSorted(diffs, 1 - alpha)],
    defined: diffs.length,
    skipped: draws - diffs.length,
  };
}
