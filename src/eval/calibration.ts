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
 * The interval is a percentile bootstrap like the metrics' (bootstrap.ts): images (or patients, with groups)
 * resampled with replacement, ECE recomputed per draw. ECE is biased upwards on small samples (an empty-ish bin
 * with 3 images has a large gap by chance), so the interval says how much the number moves, not where the
 * "true" calibration error lies. Pure functions; deterministic for a seed.
 */
import type { Binary } from '../types.js';
import { Rng } from '../util/prng.js';
import { checkScores } from './metrics.js';
import { groupIndices, quantileSorted } from './bootstrap.js';

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

export interface CalibrationResult {
  /** Binning of the diagram and of the ECE. */
  bins: number;
  binning: 'equal-width';
  ece: { value: number; ci: [number, number] };
  /** Bootstrap draws and seed behind the interval, and what was resampled. */
  draws: number;
  seed: number;
  unit: 'image' | 'patient';
  reliability: ReliabilityBin[];
}

/** ECE, its 95% percentile bootstrap interval and the reliability bins. */
export function calibration(
  yTrue: readonly Binary[],
  scores: readonly number[],
  { bins = DEFAULT_CALIBRATION_BINS, draws = 2000, seed = 0, level = 0.95, groups }: { bins?: number; draws?: number; seed?: number; level?: number; groups?: readonly string[] } = {},
): CalibrationResult {
  const value = expectedCalibrationError(yTrue, scores, bins);
  const n = yTrue.length;
  const clusters = groups === undefined ? undefined : groupIndices(groups);
  const rng = new Rng(seed);
  const samples: number[] = [];
  for (let d = 0; d < draws; d++) {
    const yb: Binary[] = [];
    const sb: number[] = [];
    if (clusters === undefined) {
      for (let k = 0; k < n; k++) { const i = rng.int(n); yb.push(yTrue[i]); sb.push(scores[i]); }
    } else {
      for (let g = 0; g < clusters.length; g++) for (const i of clusters[rng.int(clusters.length)]) { yb.push(yTrue[i]); sb.push(scores[i]); }
    }
    samples.push(expectedCalibrationError(yb, sb, bins));
  }
  samples.sort((a, b) => a - b);
  const alpha = (1 - level) / 2;
  return {
    bins, binning: 'equal-width',
    ece: { value, ci: [quantileSorted(samples, alpha), quantileSorted(samples, 1 - alpha)] },
    draws, seed, unit: groups ? 'patient' : 'image',
    reliability: reliabilityBins(yTrue, scores, bins),
  };
}
