/**
 * Binary classification metrics, in the style of scikit-learn's metric functions: pure functions of the
 * true labels and the scores (or predictions), no state, no I/O.
 *
 * Conventions (the same everywhere in covid-ct):
 * - COVID is the positive class: y = 1. `scores` are P(COVID).
 * - A score is predicted COVID when `score >= threshold` (sklearn's roc_curve uses the same `>=`).
 * - zero_division = 0 (sklearn's `zero_division=0`): a ratio whose denominator is 0 — precision with no
 *   predicted COVID, sensitivity with no COVID image, specificity with no NonCOVID image, F1 when
 *   tp + fp + fn = 0 — is reported as 0 rather than NaN. `metricValues` exposes which ones were undefined
 *   (null) for callers that must not pretend a 0/0 is a 0, such as the bootstrap.
 * - ROC AUC is undefined with a single class; it throws `UndefinedMetricError` instead of returning NaN.
 * - Mismatched lengths, empty input, labels other than 0/1 and non-finite scores throw: they are bugs or
 *   corrupt inputs, never something to average over.
 */
import type { Binary } from '../types.js';
import { UserError } from '../util/errors.js';

export interface Confusion {
  /** COVID predicted COVID. */
  tp: number;
  /** NonCOVID predicted COVID. */
  fp: number;
  /** NonCOVID predicted NonCOVID. */
  tn: number;
  /** COVID predicted NonCOVID. */
  fn: number;
}

/** The metrics reported for every evaluation, in report order. */
export const METRIC_NAMES = ['accuracy', 'sensitivity', 'specificity', 'precision', 'f1', 'auc', 'legacy_f1_noncovid'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export interface BinaryMetrics {
  accuracy: number;
  /** Recall of COVID: tp / (tp + fn). */
  sensitivity: number;
  /** Recall of NonCOVID: tn / (tn + fp). */
  specificity: number;
  /** Positive predictive value: tp / (tp + fp). */
  precision: number;
  /** F1 with COVID as the positive class. */
  f1: number;
  /** Area under the ROC curve (threshold-free). */
  auc: number;
  /** F1 with NonCOVID as the positive class: what the original COVID-CT code printed as "F1". */
  legacy_f1_noncovid: number;
  confusion: Confusion;
}

/**
 * A metric that has no value for this input (e.g. AUC with one class). Extends UserError because in
 * practice it comes from the data given (a split with one class), and the CLI should print it plainly.
 */
export class UndefinedMetricError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'UndefinedMetricError';
  }
}

// ---------------------------------------------------------------------------------------------------
// Input checks

function checkLabels(yTrue: readonly Binary[], what = 'yTrue'): void {
  for (let i = 0; i < yTrue.length; i++) {
    const y = yTrue[i];
    if (y !== 0 && y !== 1) throw new Error(`${what}[${i}] must be 0 (NonCOVID) or 1 (COVID), got ${String(y)}`);
  }
}

function checkPair(n: number, m: number, other: string): void {
  if (n !== m) throw new Error(`yTrue and ${other} must have the same length, got ${n} and ${m}`);
  if (n === 0) throw new Error('metrics need at least one sample, got empty input');
}

/** Throws unless yTrue holds only 0/1 and scores are finite numbers of the same, non-zero length. */
export function checkScores(yTrue: readonly Binary[], scores: readonly number[]): void {
  checkPair(yTrue.length, scores.length, 'scores');
  checkLabels(yTrue);
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (typeof s !== 'number' || !Number.isFinite(s)) throw new Error(`scores[${i}] must be a finite number, got ${String(s)}`);
  }
}

function checkThreshold(threshold: number): void {
  // An infinite threshold is a legitimate "predict nothing / everything"; NaN never is.
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) throw new Error(`threshold must be a number, got ${String(threshold)}`);
}

// ---------------------------------------------------------------------------------------------------
// Thresholded metrics

/** Predicted labels: 1 (COVID) where score >= threshold. */
export function predict(scores: readonly number[], threshold: number): Binary[] {
  checkThreshold(threshold);
  return scores.map((s) => (s >= threshold ? 1 : 0));
}

/** Counts of the 2x2 table; like sklearn's `confusion_matrix(y_true, y_pred).ravel()` → (tn, fp, fn, tp). */
export function confusionMatrix(yTrue: readonly Binary[], yPred: readonly Binary[]): Confusion {
  checkPair(yTrue.length, yPred.length, 'yPred');
  checkLabels(yTrue);
  checkLabels(yPred, 'yPred');
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < yTrue.length; i++) {
    if (yTrue[i] === 1) {
      if (yPred[i] === 1) c.tp++;
      else c.fn++;
    } else if (yPred[i] === 1) c.fp++;
    else c.tn++;
  }
  return c;
}

/** num / den, or null when den = 0 (the metric is undefined for this input). */
const ratio = (num: number, den: number): number | null => (den === 0 ? null : num / den);

/** The zero_division = 0 convention. */
const orZero = (v: number | null): number => v ?? 0;

/**
 * Every thresholded metric from the confusion counts, null where its denominator is 0.
 * F1 is 2tp / (2tp + fp + fn), which is sklearn's formula (>= 1.3): it is defined (and 0) when tp = 0
 * but fp + fn > 0, and undefined only when there is no COVID image and no COVID prediction.
 */
export function confusionRates(c: Confusion): Record<Exclude<MetricName, 'auc'>, number | null> {
  return {
    accuracy: ratio(c.tp + c.tn, c.tp + c.fp + c.tn + c.fn),
    sensitivity: ratio(c.tp, c.tp + c.fn),
    specificity: ratio(c.tn, c.tn + c.fp),
    precision: ratio(c.tp, c.tp + c.fp),
    f1: ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
    // NonCOVID as positive: its tp is our tn, its fp our fn, its fn our fp.
    legacy_f1_noncovid: ratio(2 * c.tn, 2 * c.tn + c.fn + c.fp),
  };
}

/** Fraction of correct predictions. */
export const accuracy = (yTrue: readonly Binary[], yPred: readonly Binary[]): number =>
  orZero(confusionRates(confusionMatrix(yTrue, yPred)).accuracy);

/** Recall of COVID, tp / (tp + fn); 0 when there is no COVID image (zero_division = 0). */
export const sensitivity = (yTrue: readonly Binary[], yPred: readonly Binary[]): number =>
  orZero(confusionRates(confusionMatrix(yTrue, yPred)).sensitivity);

/** Recall of NonCOVID, tn / (tn + fp); 0 when there is no NonCOVID image (zero_division = 0). */
export const specificity = (yTrue: readonly Binary[], yPred: readonly Binary[]): number =>
  orZero(confusionRates(confusionMatrix(yTrue, yPred)).specificity);

/** tp / (tp + fp); 0 when nothing is predicted COVID (zero_division = 0). */
export const precision = (yTrue: readonly Binary[], yPred: readonly Binary[]): number =>
  orZero(confusionRates(confusionMatrix(yTrue, yPred)).precision);

/** F1 of COVID, 2tp / (2tp + fp + fn); 0 when tp + fp + fn = 0 (zero_division = 0). */
export const f1 = (yTrue: readonly Binary[], yPred: readonly Binary[]): number =>
  orZero(confusionRates(confusionMatrix(yTrue, yPred)).f1);

// ---------------------------------------------------------------------------------------------------
// Ranking metrics

function classCounts(yTrue: readonly Binary[]): { pos: number; neg: number } {
  let pos = 0;
  for (const y of yTrue) pos += y;
  return { pos, neg: yTrue.length - pos };
}

function oneClassMessage(metric: string, pos: number): string {
  return pos === 0
    ? `${metric} is undefined: yTrue contains only NonCOVID (0) samples`
    : `${metric} is undefined: yTrue contains only COVID (1) samples`;
}

/** Indices of `scores` sorted by ascending score (stable, so equal scores keep input order). */
function ascendingOrder(scores: readonly number[]): number[] {
  return scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b] || a - b);
}

/**
 * ROC AUC, or null when yTrue has a single class. Mann-Whitney U / (n_pos * n_neg): the fraction of
 * (COVID, NonCOVID) pairs ranked correctly, a tied pair counting 1/2. This equals the trapezoidal area
 * under sklearn's roc_curve, i.e. sklearn's roc_auc_score. Inputs are assumed checked.
 */
export function aucOrNull(yTrue: readonly Binary[], scores: readonly number[]): number | null {
  const { pos, neg } = classCounts(yTrue);
  if (pos === 0 || neg === 0) return null;
  const order = ascendingOrder(scores);
  let negBelow = 0; // NonCOVID with a strictly lower score than the current tie group
  let u = 0; // counted in half-pairs so the sum stays an exact integer
  for (let i = 0; i < order.length; ) {
    let j = i;
    let p = 0;
    let q = 0;
    while (j < order.length && scores[order[j]] === scores[order[i]]) {
      if (yTrue[order[j]] === 1) p++;
      else q++;
      j++;
    }
    u += p * (2 * negBelow + q);
    negBelow += q;
    i = j;
  }
  return u / 2 / (pos * neg);
}

/** ROC AUC as sklearn's roc_auc_score. Throws UndefinedMetricError when yTrue has a single class. */
export function rocAuc(yTrue: readonly Binary[], scores: readonly number[]): number {
  checkScores(yTrue, scores);
  const auc = aucOrNull(yTrue, scores);
  if (auc === null) throw new UndefinedMetricError(oneClassMessage('AUC', classCounts(yTrue).pos));
  return auc;
}

export interface RocCurve {
  /** Increasing false positive rates; fpr[i] is the rate of NonCOVID with score >= thresholds[i]. */
  fpr: number[];
  /** Increasing true positive rates, same indexing. */
  tpr: number[];
  /** Decreasing thresholds; thresholds[0] = Infinity gives the (0, 0) start point, as in sklearn >= 1.3. */
  thresholds: number[];
}

/**
 * ROC curve as sklearn's `roc_curve(y_true, y_score, drop_intermediate=True)`: one point per distinct score
 * (descending), preceded by (0, 0) at threshold +Infinity. With `dropIntermediate` (the default, as in
 * sklearn) points collinear with both neighbours are dropped: the plotted curve and its area are unchanged.
 * Throws UndefinedMetricError when yTrue has a single class (sklearn would return NaN rates).
 */
export function rocCurve(yTrue: readonly Binary[], scores: readonly number[], opts: { dropIntermediate?: boolean } = {}): RocCurve {
  checkScores(yTrue, scores);
  const { pos, neg } = classCounts(yTrue);
  if (pos === 0 || neg === 0) throw new UndefinedMetricError(oneClassMessage('the ROC curve', pos));
  const order = ascendingOrder(scores).reverse();
  // Cumulative counts at the last index of each distinct score, walking down from the highest score.
  const tps: number[] = [];
  const fps: number[] = [];
  const thr: number[] = [];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; i++) {
    if (yTrue[order[i]] === 1) tp++;
    else fp++;
    const s = scores[order[i]];
    if (i === order.length - 1 || scores[order[i + 1]] !== s) {
      tps.push(tp);
      fps.push(fp);
      thr.push(s);
    }
  }
  let keep = tps.map((_, i) => i);
  if (opts.dropIntermediate ?? true) {
    // sklearn: keep the ends and every point where the second difference of fps or tps is non-zero.
    keep = keep.filter(
      (i) => i === 0 || i === tps.length - 1 || fps[i + 1] - 2 * fps[i] + fps[i - 1] !== 0 || tps[i + 1] - 2 * tps[i] + tps[i - 1] !== 0,
    );
  }
  return {
    fpr: [0, ...keep.map((i) => fps[i] / neg)],
    tpr: [0, ...keep.map((i) => tps[i] / pos)],
    thresholds: [Infinity, ...keep.map((i) => thr[i])],
  };
}

// ---------------------------------------------------------------------------------------------------
// Everything at once

/** Every reported metric, null where undefined for this input (0/0, or AUC with one class). */
export function metricValues(yTrue: readonly Binary[], scores: readonly number[], threshold: number): Record<MetricName, number | null> & { confusion: Confusion } {
  checkScores(yTrue, scores);
  const confusion = confusionMatrix(yTrue, predict(scores, threshold));
  return { ...confusionRates(confusion), auc: aucOrNull(yTrue, scores), confusion };
}

/**
 * All metrics of one evaluation at a decision threshold (COVID when score >= threshold). Ratios follow
 * zero_division = 0; AUC throws UndefinedMetricError when yTrue has a single class, since a one-class
 * evaluation set cannot say anything about discrimination.
 */
export function binaryMetrics(yTrue: readonly Binary[], scores: readonly number[], threshold: number): BinaryMetrics {
  const v = metricValues(yTrue, scores, threshold);
  if (v.auc === null) throw new UndefinedMetricError(oneClassMessage('AUC', classCounts(yTrue).pos));
  return {
    accuracy: orZero(v.accuracy),
    sensitivity: orZero(v.sensitivity),
    specificity: orZero(v.specificity),
    precision: orZero(v.precision),
    f1: orZero(v.f1),
    auc: v.auc,
    legacy_f1_noncovid: orZero(v.legacy_f1_noncovid),
    confusion: v.confusion,
  };
}

// ---------------------------------------------------------------------------------------------------
// Threshold choice

export type ThresholdRule = 'youden' | 'accuracy';
export const THRESHOLD_RULES: readonly ThresholdRule[] = ['youden', 'accuracy'];

/**
 * Picks the decision threshold on a validation split.
 *
 * Candidates are the cuts between adjacent distinct scores s_1 < s_2 < ... < s_k: the cut between s_j and
 * s_(j+1) predicts COVID for every score >= s_(j+1), and is returned as the midpoint (s_j + s_(j+1)) / 2 so
 * the threshold sits in the gap rather than on a validation score (a test score equal to a validation
 * score is then not decided by which side of ">=" it falls). The two trivial cuts (everything COVID,
 * everything NonCOVID) are not candidates: they are not a decision rule.
 *
 * Rules: 'youden' maximises sensitivity + specificity - 1; 'accuracy' maximises accuracy. Both are
 * compared in exact integer arithmetic (Youden × n_pos × n_neg, number correct), so ties are real ties.
 *
 * Ties: among equally good cuts, ordered by threshold, the median one is taken — the middle of a plateau
 * of equally good thresholds, the one least sensitive to a small shift of the scores. With an even number
 * of tied cuts the lower of the two middle ones is taken: it flags more images as COVID, the safer error
 * for a screening tool.
 *
 * Throws when the scores do not have two distinct values or yTrue does not have both classes.
 */
export function chooseThreshold(yTrue: readonly Binary[], scores: readonly number[], rule: ThresholdRule): number {
  checkScores(yTrue, scores);
  if (rule !== 'youden' && rule !== 'accuracy') throw new Error(`unknown threshold rule "${String(rule)}" (use 'youden' or 'accuracy')`);
  const { pos, neg } = classCounts(yTrue);
  if (pos === 0 || neg === 0) throw new UndefinedMetricError(oneClassMessage('a threshold choice', pos));
  const order = ascendingOrder(scores);
  // Walk the distinct scores upwards; after a tie group ends, the cut above it predicts NonCOVID for
  // everything seen so far (fn = COVID seen, tn = NonCOVID seen).
  const cuts: { lo: number; hi: number; value: number }[] = [];
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < order.length; i++) {
    if (yTrue[order[i]] === 1) fn++;
    else tn++;
    const s = scores[order[i]];
    if (i < order.length - 1 && scores[order[i + 1]] !== s) {
      const tp = pos - fn;
      // youden × pos × neg = tp·neg + tn·pos − pos·neg; accuracy × n = tp + tn.
      const value = rule === 'youden' ? tp * neg + tn * pos - pos * neg : tp + tn;
      cuts.push({ lo: s, hi: scores[order[i + 1]], value });
    }
  }
  if (cuts.length === 0) throw new UndefinedMetricError('a threshold choice is undefined: all scores are equal');
  let best = -Infinity;
  for (const c of cuts) best = Math.max(best, c.value);
  const tied = cuts.filter((c) => c.value === best);
  const pick = tied[Math.floor((tied.length - 1) / 2)];
  const mid = pick.lo + (pick.hi - pick.lo) / 2;
  // Adjacent doubles have no number strictly between them; s_(j+1) itself then still separates the cut.
  return mid > pick.lo ? mid : pick.hi;
}
