/**
 * Calibration: does P(COVID) = 0.7 mean that 70% of such images are COVID? The reliability diagram bins the
 * scores into equal-width bins over [0, 1] and compares, in each bin, the mean score (confidence) with the
 * fraction of COVID images (observed frequency). The expected calibration error (ECE) is their gap averaged
 * over the images:
 *
 *   ECE = sum over bins b of (n_b / n) * |fraction COVID in b - mean P in b|
 *
 * (Naeini et al. 2015; Guo et al. 2017 use the same binning for the top-label confidence; here it is P(COVID)
 * itself, the binary case). A score of exactly 1 goes in the last bin. Empty bins weigh 0.
 *
 * The interval: ECE is recomputed on bootstrap draws resampled as the metrics' are (bootstrap.ts: images, or
 * patients with groups, stratified by class). The plug-in ECE is biased upwards (a bin with few images has a gap
 * by chance even under perfect calibration, and |.| turns that noise into a positive amount), and a resample is
 * noisier still, so the draws sit above the measured value: on the official model's test split the percentile
 * interval was [0.0553, 0.1328] around a measured 0.0542. A percentile interval is only valid when the statistic
 * is unbiased (up to a monotone transform), which ECE is not. We therefore give the basic (reverse percentile)
 * bootstrap interval [2 ECE - q_hi, 2 ECE - q_lo] (Davison & Hinkley, Bootstrap Methods and their Application,
 * 1997, section 5.2, "basic bootstrap confidence limits"), which assumes only that ECE* - ECE behaves as
 * ECE - ECE_true, so it shifts the interval back by the bias the bootstrap measures, and beside it the bootstrap
 * bias-corrected estimate 2 ECE - mean(ECE*) (Efron & Tibshirani, An Introduction to the Bootstrap, 1993,
 * chapter 10) that the interval is centred on. Both are clipped to [0, 1], the range of ECE. The measured (plug-in) ECE is still
 * reported: it is what the reliability diagram shows. A debiased estimator with a percentile interval (e.g.
 * Kumar et al., NeurIPS 2019, for the squared error) would change the statistic itself; the basic interval
 * keeps the usual ECE and corrects only how its uncertainty is read. Pure functions; deterministic for a seed.
 */
import type { Binary } from '../types.js';
import { Rng } from '../util/prng.js';
import { checkScores } from './metrics.js';
import { drawStratified, quantileSorted, strataOf, tooFewUnits } from './bootstrap.js';

export const DEFAULT_CALIBRATION_BINS = 10;

export interface ReliabilityBin {
  /** The bin's score range [lo, hi) (the last bin includes 1). */
  lo: number;
  hi: number;
  /** Images whose P falls in the bin. */
  n: number;
  /** Mean P of those images (null when the bin is empty). */
  meanScore: number | null;
  /** Fraction of them that are COVID (null when the bin is empty). */
  fractionCovid: number | null;
}

/** Index of P's bin among `bins` equal-width bins over [0, 1]. */
const binOf = (p: number, bins: number): number => Math.min(bins - 1, Math.floor(p * bins));

/** The reliability diagram's bins: count, mean P and fraction COVID per equal-width bin. */
export function reliabilityBins(yTrue: readonly Binary[], scores: readonly number[], bins = DEFAULT_CALIBRATION_BINS): ReliabilityBin[] {
  checkScores(yTrue, scores);
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`bins must be an integer >= 1, got ${bins}`);
  const n = new Array<number>(bins).fill(0), sum = new Array<number>(bins).fill(0), pos = new Array<number>(bins).fill(0);
  for (let i = 0; i < scores.length; i++) {
    const b = binOf(scores[i], bins);
    n[b]++;
    sum[b] += scores[i];
    pos[b] += yTrue[i];
  }
  return n.map((count, b) => ({
    lo: b / bins, hi: (b + 1) / bins, n: count,
    meanScore: count ? sum[b] / count : null,
    fractionCovid: count ? pos[b] / count : null,
  }));
}

/** ECE with `bins` equal-width bins (see the module comment). */
export function expectedCalibrationError(yTrue: readonly Binary[], scores: readonly number[], bins = DEFAULT_CALIBRATION_BINS): number {
  const total = scores.length;
  let ece = 0;
  for (const b of reliabilityBins(yTrue, scores, bins)) {
    if (b.n) ece += (b.n / total) * Math.abs((b.fractionCovid as number) - (b.meanScore as number));
  }
  return ece;
}

/**
 * The basic (reverse percentile) bootstrap interval [2 point - q_hi, 2 point - q_lo] of a statistic with range
 * [min, max], from its ascending bootstrap values; q_lo and q_hi are their (1 - level)/2 and (1 + level)/2
 * quantiles. Clipped to the range. See the module comment for why ECE needs it.
 */
export function basicInterval(point: number, sorted: readonly number[], level: number, [min, max]: [number, number] = [0, 1]): [number, number] {
  if (!(level > 0 && level < 1)) throw new Error(`level must be in (0, 1), got ${level}`);
  const alpha = (1 - level) / 2;
  const clip = (v: number): number => Math.min(max, Math.max(min, v));
  return [clip(2 * point - quantileSorted(sorted, 1 - alpha)), clip(2 * point - quantileSorted(sorted, alpha))];
}

/** The bootstrap bias-corrected estimate 2 point - mean(draws), clipped to the statistic's range. */
export function biasCorrected(point: number, draws: readonly number[], [min, max]: [number, number] = [0, 1]): number {
  if (draws.length === 0) throw new Error('bias correction of no draw');
  const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
  return Math.min(max, Math.max(min, 2 * point - mean));
}

export interface CalibrationResult {
  /** Binning of the diagram and of the ECE. */
  bins: number;
  binning: 'equal-width';
  /**
   * value: the ECE measured on all images (what the diagram shows); bias_corrected: 2 value - mean of the draws;
   * ci: the basic bootstrap interval (centred on bias_corrected, so it need not hold value: module comment); null,
   * and bias_corrected = value, when a class has too few units for a bootstrap (bootstrap.ts).
   */
  ece: { value: number; bias_corrected: number; ci: [number, number] | null; interval: 'basic' };
  /** Bootstrap draws and seed behind the interval, and what was resampled. */
  draws: number;
  seed: number;
  unit: 'image' | 'patient';
  reliability: ReliabilityBin[];
}

/** ECE as measured, its bias-corrected value with a 95% basic bootstrap interval, and the reliability bins. */
export function calibration(
  yTrue: readonly Binary[],
  scores: readonly number[],
  { bins = DEFAULT_CALIBRATION_BINS, draws = 2000, seed = 0, level = 0.95, groups }: { bins?: number; draws?: number; seed?: number; level?: number; groups?: readonly string[] } = {},
): CalibrationResult {
  const value = expectedCalibrationError(yTrue, scores, bins);
  const strata = strataOf(yTrue, groups);
  // Too few units of a class for a bootstrap (bootstrap.ts): no draw, no interval, nothing to correct.
  const tooFew = tooFewUnits(strata) !== undefined;
  const rng = new Rng(seed);
  const samples: number[] = [];
  for (let d = 0; d < (tooFew ? 0 : draws); d++) {
    const drawn = drawStratified(rng, strata);
    samples.push(expectedCalibrationError(drawn.map((i) => yTrue[i]), drawn.map((i) => scores[i]), bins));
  }
  samples.sort((a, b) => a - b);
  return {
    bins, binning: 'equal-width',
    ece: tooFew
      ? { value, bias_corrected: value, ci: null, interval: 'basic' }
      : { value, bias_corrected: biasCorrected(value, samples), ci: basicInterval(value, samples, level), interval: 'basic' },
    draws, seed, unit: groups ? 'patient' : 'image',
    reliability: reliabilityBins(yTrue, scores, bins),
  };
}
