/**
 * Slices of one DICOM series put in scan order, and one probability for the whole scan. Pure: no I/O.
 *
 * Aggregate: the mean of the top-k slice probabilities, k = max(1, ceil(n / 10)). COVID findings (ground-glass
 * opacities, consolidation) are focal: often a minority of slices show them, so the mean over all slices
 * dilutes a clear signal with normal-looking slices, while the max rests on a single slice and so on a single
 * noisy score (and grows with n by chance alone). The top 10% keeps the focal signal and averages away some noise.
 * The model was trained and thresholded on single slices: the scan label uses the slice threshold and is not
 * calibrated at scan level.
 */
import type { Label } from '../types.js';
import type { SliceOrder } from '../data/inputs.js';
import { scanInvolvement } from '../data/involvement.js';

/** What series.ts needs of a scored slice. */
export interface ScoredSlice {
  name: string;
  probability: number | null;
  /** NotCT slices (no lungs in them, e.g. above or below the chest) are left out of the scan's score. */
  label?: string | null;
  involvement?: number | null;
  /** The lung area the involvement was measured on (its weight in the scan's involvement). */
  lungPixels?: number | null;
  dicom?: SliceOrder;
}

export interface ScanScore {
  series: string;
  /** Slices with a probability (slices that failed are not counted). */
  slices: number;
  probability: number;
  method: 'mean of top k';
  k: number;
  /** At the model's slice threshold; not calibrated for scans. */
  label: Label;
  /** The scan's lung involvement: its slices' involvement averaged with weights by lung area (see involvement.ts); null when none was measured. */
  involvement: number | null;
  /** Slices left out as NotCT. */
  notCt: number;
}

/** k of the top-k mean for n slices: the top 10%, at least one. */
export const topK = (n: number): number => Math.max(1, Math.ceil(n / 10));

/**
 * Scan order: by position along the slice normal when every slice has one, else by instance number when every
 * slice has one (then frame), else by frame, else by name. Ties keep a stable order by name.
 */
export function sortSeries<T extends ScoredSlice>(slices: T[]): T[] {
  const all = (f: (s: T) => number | undefined) => slices.every((s) => f(s) !== undefined);
  const byName = (a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const num = (f: (s: T) => number | undefined) => (a: T, b: T) => f(a)! - f(b)!;
  const keys: ((a: T, b: T) => number)[] = [];
  if (all((s) => s.dicom?.position)) keys.push(num((s) => s.dicom?.position));
  else if (all((s) => s.dicom?.instance)) {
    keys.push(num((s) => s.dicom?.instance));
    if (all((s) => s.dicom?.frame)) keys.push(num((s) => s.dicom?.frame));
  } else if (all((s) => s.dicom?.frame)) keys.push(num((s) => s.dicom?.frame));
  keys.push(byName);
  return [...slices].sort((a, b) => {
    for (const k of keys) {
      const d = k(a, b);
      if (d !== 0) return d;
    }
    return 0;
  });
}

/** Mean of the k highest probabilities, k = topK(n). Throws on an empty list (a scan needs a slice). */
export function aggregateScan(probabilities: number[]): { probability: number; k: number } {
  if (probabilities.length === 0) throw new RangeError('aggregateScan: no slice probabilities');
  const k = topK(probabilities.length);
  const top = [...probabilities].sort((a, b) => b - a).slice(0, k);
  return { probability: top.reduce((s, p) => s + p, 0) / k, k };
}

/** Groups DICOM slices by series key, in first-seen order; non-DICOM slices are left out. */
export function groupSeries<T extends ScoredSlice>(slices: T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const s of slices) {
    if (!s.dicom) continue;
    const g = groups.get(s.dicom.series);
    if (g) g.push(s); else groups.set(s.dicom.series, [s]);
  }
  return groups;
}

/** One ScanScore per DICOM series with at least `minSlices` scored slices, in first-seen order. */
export function scoreScans(slices: ScoredSlice[], threshold: number, minSlices = 2): ScanScore[] {
  const out: ScanScore[] = [];
  for (const [series, group] of groupSeries(slices)) {
    const ct = group.filter((s) => s.label !== 'NotCT');
    const probs = ct.flatMap((s) => (s.probability === null ? [] : [s.probability]));
    if (probs.length < minSlices) continue;
    const { probability, k } = aggregateScan(probs);
    // Weighted by each slice's lung area (involvement.ts); a caller that gives no areas gets the plain mean.
    const involvement = scanInvolvement(ct.flatMap((s) => (typeof s.involvement === 'number' ? [{ fraction: s.involvement, lungPixels: s.lungPixels ?? 1 }] : [])));
    out.push({
      series, slices: probs.length, probability, method: 'mean of top k', k, label: probability >= threshold ? 'COVID' : 'NonCOVID',
      involvement, notCt: group.length - ct.length,
    });
  }
  return out;
}

/**
 * The slices in display order: non-DICOM rows stay where they are; the slices of each series are gathered at the
 * place of the series' first slice, in scan order.
 */
export function orderForDisplay<T extends ScoredSlice>(slices: T[]): T[] {
  const groups = groupSeries(slices);
  const sorted = new Map([...groups].map(([k, g]) => [k, sortSeries(g)]));
  const out: T[] = [];
  for (const s of slices) {
    if (!s.dicom) { out.push(s); continue; }
    const g = sorted.get(s.dicom.series);
    if (g) { out.push(...g); sorted.delete(s.dicom.series); }
  }
  return out;
}
