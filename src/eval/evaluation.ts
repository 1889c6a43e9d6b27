/**
 * One evaluation of scores against labels: point estimates of every metric with their bootstrap interval,
 * in the JSON form that covid-ct writes and reads back:
 *
 *   {"split", "n", "threshold",
 *    "metrics": {"accuracy": {"value", "ci": [lo, hi]}, "sensitivity", "specificity", "precision", "f1",
 *                "auc", "legacy_f1_noncovid"},
 *    "confusion": {"tp", "fp", "tn", "fn"}}
 *
 * Objects are built key by key in that order so JSON.stringify is stable. `split` is the split's name for the
 * official COVID-CT layout and "external" for any other labelled data. `covid-ct evaluate` appends its own keys
 * after these (model, data, bootstrap, patients: see EvaluationContext).
 */
import type { Binary, Split } from '../types.js';
import { METRIC_NAMES, type Confusion, type MetricName, binaryMetrics } from './metrics.js';
import { type BootstrapResult, type UnitCounts, bootstrapIntervals } from './bootstrap.js';
import type { PatientResult } from './patients.js';
import type { DataKind, PatientSource } from '../data/labelled-set.js';

/** What was scored: the `split` of a result is a split of the official layout, or "external" for any other data. */
export type EvalSplit = Split | 'external';

/** Where the scored images came from and how the intervals were drawn (the extra keys of `evaluate --json`). */
export interface EvaluationContext {
  /** patients_from: where the patient ids (the bootstrap's units) came from; null when there are none. */
  data: { kind: DataKind; path: string; n_patients: number | null; patients_from?: PatientSource | 'one per scan' | 'one per scan file' | null };
  /** too_few: the units of each class when a class had too few for an interval (bootstrap.ts; then every ci is null). */
  bootstrap: { unit: 'image' | 'patient'; too_few?: UnitCounts };
  /** Patient-level AUC; present only when the data gives patient ids. */
  patients?: PatientResult;
}

/** Confidence level of every interval in an EvaluationResult. */
export const CI_LEVEL = 0.95;
export const DEFAULT_DRAWS = 2000;
export const DEFAULT_SEED = 0;

export interface MetricEstimate {
  /** Point estimate on all images (zero_division = 0 where undefined). */
  value: number;
  /** 95% percentile bootstrap interval; null only if the metric was undefined in every draw. */
  ci: [number, number] | null;
}

export interface EvaluationResult {
  split: EvalSplit;
  n: number;
  /** COVID is predicted when P(COVID) >= threshold. */
  threshold: number;
  metrics: Record<MetricName, MetricEstimate>;
  confusion: Confusion;
}

export interface EvaluateInput {
  split: EvalSplit;
  yTrue: readonly Binary[];
  /** P(COVID) per image, aligned with yTrue. */
  scores: readonly number[];
  threshold: number;
  /** Bootstrap draws; default 2000. */
  draws?: number;
  /** Bootstrap seed; default 0. */
  seed?: number;
  /** One group id (patient) per image: the bootstrap then resamples groups (src/eval/bootstrap.ts). */
  groups?: readonly string[];
}

/** The result and the bootstrap details behind its intervals (draws, seed, per-metric skipped draws). */
export function evaluateScoresWithBootstrap(input: EvaluateInput): { result: EvaluationResult; bootstrap: BootstrapResult } {
  const { split, yTrue, scores, threshold, draws = DEFAULT_DRAWS, seed = DEFAULT_SEED, groups } = input;
  // JSON has no Infinity: a result must be writable and readable back.
  if (!Number.isFinite(threshold)) throw new Error(`threshold must be a finite number, got ${threshold}`);
  const point = binaryMetrics(yTrue, scores, threshold);
  const bootstrap = bootstrapIntervals(yTrue, scores, threshold, { draws, seed, level: CI_LEVEL, groups });
  const metrics = {} as Record<MetricName, MetricEstimate>;
  for (const m of METRIC_NAMES) {
    const ci = bootstrap.intervals[m].ci;
    metrics[m] = { value: point[m], ci: ci === null ? null : [ci[0], ci[1]] };
  }
  const { tp, fp, tn, fn } = point.confusion;
  return { result: { split, n: yTrue.length, threshold, metrics, confusion: { tp, fp, tn, fn } }, bootstrap };
}

/** Evaluates scores at a threshold: every metric with its 95% bootstrap interval. Deterministic for a seed. */
export function evaluateScores(input: EvaluateInput): EvaluationResult {
  return evaluateScoresWithBootstrap(input).result;
}
