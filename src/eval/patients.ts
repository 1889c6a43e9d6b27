/**
 * Patient-level evaluation: one score per patient from its slices' scores, and the AUC over patients with a
 * percentile bootstrap interval over patients.
 *
 * - A patient's score is the mean of its top-k slice scores (P(COVID)), k = 5 by default; a patient with fewer
 *   than k slices uses all of them. A scan with a few infected slices among many clear ones is then scored by
 *   its most suspicious slices, not drowned by the clear ones, while one outlier slice does not decide alone.
 * - A patient's label is the label of its slices; a patient whose slices carry both labels is COVID (any COVID
 *   slice makes the patient COVID: the slice-level NonCOVID of a COVID patient means "no lesion on this slice").
 * - AUC is undefined when all patients are of one class: the value is then null, and so is the interval. With few
 *   patients, many draws hold one class only; they are skipped (as in src/eval/bootstrap.ts) and the interval
 *   can be very wide. Pure and deterministic for a seed.
 */
import type { Binary } from '../types.js';
import { aucOrNull, checkScores } from './metrics.js';
import { bootstrapIntervals, groupIndices, type MetricInterval } from './bootstrap.js';

export const DEFAULT_TOP_K = 5;

/** Mean of the k largest values (all of them when there are fewer than k). */
export function topKMean(values: readonly number[], k: number): number {
  if (values.length === 0) throw new Error('top-k mean of no value');
  const top = [...values].sort((a, b) => b - a).slice(0, k);
  return top.reduce((a, b) => a + b, 0) / top.length;
}

export interface PatientScores {
  /** Patient ids in order of first appearance. */
  ids: string[];
  yTrue: Binary[];
  scores: number[];
  /** Slices per patient. */
  sizes: number[];
}

/** One label and one score per patient (see the module comment). */
export function patientScores(yTrue: readonly Binary[], scores: readonly number[], groups: readonly string[], topK = DEFAULT_TOP_K): PatientScores {
  checkScores(yTrue, scores);
  if (groups.length !== yTrue.length) throw new Error(`groups has ${groups.length} ids for ${yTrue.length} images`);
  if (!Number.isInteger(topK) || topK < 1) throw new Error(`top-k must be an integer >= 1, got ${topK}`);
  const out: PatientScores = { ids: [], yTrue: [], scores: [], sizes: [] };
  for (const idx of groupIndices(groups)) {
    out.ids.push(groups[idx[0]]);
    out.yTrue.push(idx.some((i) => yTrue[i] === 1) ? 1 : 0);
    out.scores.push(topKMean(idx.map((i) => scores[i]), topK));
    out.sizes.push(idx.length);
  }
  return out;
}

/** The patient-level result in the JSON form of `covid-ct evaluate`: {"n", "top_k", "auc": {"value", "ci"}}. */
export interface PatientResult {
  n: number;
  top_k: number;
  auc: { value: number | null; ci: [number, number] | null };
}

/** Patient AUC and its bootstrap interval over patients; also the per-patient scores and the interval's details. */
export function evaluatePatients(input: {
  yTrue: readonly Binary[];
  scores: readonly number[];
  groups: readonly string[];
  topK?: number;
  draws?: number;
  seed?: number;
  level?: number;
}): { result: PatientResult; patients: PatientScores; interval: MetricInterval } {
  const { topK = DEFAULT_TOP_K, draws = 2000, seed = 0, level = 0.95 } = input;
  const patients = patientScores(input.yTrue, input.scores, input.groups, topK);
  const value = aucOrNull(patients.yTrue, patients.scores);
  // One score per patient, so the image bootstrap of the patient scores is the bootstrap over patients.
  // The threshold is irrelevant to the AUC.
  const interval = value === null
    ? { ci: null, defined: 0, skipped: draws }
    : bootstrapIntervals(patients.yTrue, patients.scores, 0.5, { draws, seed, level }).intervals.auc;
  const ci = interval.ci === null ? null : ([interval.ci[0], interval.ci[1]] as [number, number]);
  return { result: { n: patients.ids.length, top_k: topK, auc: { value, ci } }, patients, interval };
}
