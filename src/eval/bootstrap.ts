/**
 * Percentile bootstrap confidence intervals for every metric of `binaryMetrics`.
 *
 * Each draw resamples the evaluated units with replacement, stratified by class: the COVID units are drawn from
 * the COVID units (as many as there are) and the NonCOVID units from the NonCOVID units, so every draw holds both
 * classes in the data's own balance. Every metric is recomputed at the fixed threshold, and the interval is the
 * (1 - level)/2 and (1 + level)/2 percentiles of the draws (linear interpolation between order statistics,
 * numpy's default). Why stratified: the class counts of an evaluation set are fixed by how it was assembled
 * (CT-MD: 2 COVID patients of 6; COVID-CT: chosen per class), not sampled from a population, so a draw with no
 * COVID patient describes no data set anyone could have evaluated; unstratified, such draws dragged precision
 * and F1 intervals to 0 on CT-MD (about (4/6)^6 = 9% of the draws hold no COVID patient). Stratification is the
 * usual choice for ROC statistics (pROC's ci.auc bootstraps stratified by default, "same number of cases and
 * controls in each replicate": Robin et al., BMC Bioinformatics 2011) and the standard resampling of several
 * samples whose sizes the design fixed (Davison & Hinkley, Bootstrap Methods and their Application, 1997, 3.2).
 *
 * Skipping rule: a draw in which a metric is undefined — a ratio whose denominator is 0 (e.g. precision when the
 * draw has no predicted COVID; AUC with data of one class only) — is left out of that metric's interval only, and
 * counted in its `skipped`. It is not counted as 0: the zero_division = 0 convention of the point estimate is a
 * reporting convention, and folding those zeros into an interval would drag it towards 0 for no reason in the
 * data. A metric undefined in every draw has `ci: null`.
 *
 * Cluster (patient) bootstrap: with `groups` (one id per image, e.g. its patient), the units are the groups: each
 * draw resamples groups (within their class, as above; a group drawn twice counts twice) and every image of each
 * drawn group goes into the draw, so the number of images varies between draws. A group is COVID when any of its
 * images is (as for the patient-level label, patients.ts). Slices of one patient are not independent (neighbouring
 * slices look alike and share the patient's disease), and resampling them one by one would pretend there were as
 * many independent cases as slices, giving intervals that are too narrow; resampling patients keeps each
 * patient's slices together. Groups are numbered in order of first appearance, so the result depends on the
 * data's order only through that numbering. With one image per group the draws have the same distribution as
 * the image bootstrap (not the same random stream).
 *
 * Too few units: with fewer than MIN_UNITS_PER_CLASS units in a class, every draw takes that class's one unit again,
 * so the draws vary only with the other class and the interval would claim a certainty the data cannot give (one
 * COVID patient against one normal patient gave intervals of zero width). Then no interval is given (`ci: null`,
 * `tooFew` says why); the point estimates stand.
 *
 * Deterministic: all randomness comes from one `Rng(seed)` stream, consumed in a fixed order (the COVID stratum,
 * then the NonCOVID one, in each draw).
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

/** The resampling units (image indices of each unit) of each class: a unit is COVID when any of its images is. */
export interface Strata {
  covid: number[][];
  noncovid: number[][];
}

/** The units of `yTrue` by class: one unit per image, or one per group with `groups` (see the module comment). */
export function strataOf(yTrue: readonly Binary[], groups?: readonly string[]): Strata {
  if (groups !== undefined && groups.length !== yTrue.length) throw new Error(`groups has ${groups.length} ids for ${yTrue.length} images`);
  const units = groups === undefined ? yTrue.map((_, i) => [i]) : groupIndices(groups);
  const out: Strata = { covid: [], noncovid: [] };
  for (const u of units) (u.some((i) => yTrue[i] === 1) ? out.covid : out.noncovid).push(u);
  return out;
}

/**
 * One stratified draw: as many COVID units as there are, drawn with replacement from the COVID units, then the
 * same for the NonCOVID units; returns the image indices of the drawn units, in draw order.
 */
export function drawStratified(rng: Rng, strata: Strata): number[] {
  const out: number[] = [];
  for (const units of [strata.covid, strata.noncovid]) {
    for (let k = 0; k < units.length; k++) for (const i of units[rng.int(units.length)]) out.push(i);
  }
  return out;
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
  /** The units of each class, when a class has fewer than MIN_UNITS_PER_CLASS (then no interval; module comment). */
  tooFew?: UnitCounts;
}

/** Resampling units (images, or patients) of each class. */
export interface UnitCounts { covid: number; noncovid: number }

/** A class needs at least this many units for a bootstrap interval (module comment). */
export const MIN_UNITS_PER_CLASS = 2;

/** The unit counts when a class has too few units for an interval, else undefined. */
export function tooFewUnits(strata: Strata): UnitCounts | undefined {
  const counts = { covid: strata.covid.length, noncovid: strata.noncovid.length };
  return Math.min(counts.covid, counts.noncovid) < MIN_UNITS_PER_CLASS ? counts : undefined;
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
  const strata = strataOf(yTrue, groups);
  const tooFew = tooFewUnits(strata);
  if (tooFew) {
    const none: MetricInterval = { ci: null, defined: 0, skipped: draws };
    return { draws, seed, level, intervals: Object.fromEntries(METRIC_NAMES.map((m) => [m, { ...none }])) as Record<MetricName, MetricInterval>, tooFew };
  }
  // Predictions do not depend on the draw, only which images are in it.
  const yPred = predict(scores, threshold);
  const samples = Object.fromEntries(METRIC_NAMES.map((m) => [m, [] as number[]])) as Record<MetricName, number[]>;
  const rng = new Rng(seed);
  for (let d = 0; d < draws; d++) {
    const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
    const drawn = drawStratified(rng, strata);
    const yb = drawn.map((i) => yTrue[i]);
    const sb = drawn.map((i) => scores[i]);
    for (const i of drawn) {
      if (yTrue[i] === 1) {
        if (yPred[i] === 1) c.tp++;
        else c.fn++;
      } else if (yPred[i] === 1) c.fp++;
      else c.tn++;
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
 * images, stratified by class as above, and scores both sets of the drawn images). Used by the
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
  const strata = strataOf(yTrue);
  const rng = new Rng(seed);
  const diffs: number[] = [];
  for (let d = 0; d < draws; d++) {
    const drawn = drawStratified(rng, strata);
    const yb = drawn.map((i) => yTrue[i]);
    const a = aucOrNull(yb, drawn.map((i) => scoresA[i]));
    const b = aucOrNull(yb, drawn.map((i) => scoresB[i]));
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
