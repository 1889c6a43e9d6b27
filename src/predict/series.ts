/**
 * Slices of one DICOM series put in scan order, and one probability for the whole scan. Pure: no I/O.
 *
 * Aggregate: the mean of the top-k slice probabilities, k = max(1, ceil(n / 10)). COVID findings (ground-glass
 * opacities, consolidation) are focal: often a minority of slices show them, so the mean over all slices
 * dilutes a clear signal with normal-looking slices, while the max rests on a single slice and so on a single
 * noisy score (and grows with n by chance alone). The top 10% keeps the focal signal and averages away some noise.
 * That score ranks scans; it is not a scan-level probability, and at the slice threshold it calls nearly every
 * scan COVID (any scan has a few slices that score high: on CT-MD's 6 patients all six scored above it).
 *
 * The label of a scan, for a model with the lungs design (reading.ts), is the slice reading lifted to the scan with
 * the same cuts and no new parameter: the scan is COVID when its lungs are involved (P(involvement present) of the
 * scan's involvement, lung-weighted over its slices, at least OPERATING_GATE, i.e. >= 3.5% of the lung) AND the
 * slices its score rests on (its top k by P) read as COVID-typical (their mean pattern at least the pattern
 * threshold); its category follows the slice's rules (negative for pneumonia / typical / indeterminate / atypical).
 * For a model without that design (the whole-slice `official`), the label is the score at the slice threshold.
 */
import type { Label } from '../types.js';
import type { SliceOrder } from '../data/inputs.js';
import { scanInvolvement } from '../data/involvement.js';
import { gateOf, OPERATING_GATE, type Category, type ReadingDesign } from '../model/reading.js';

/** What ordering needs of a slice, scored or not: its name and where it sits in its series. */
export interface OrderedSlice {
  name: string;
  dicom?: SliceOrder;
}

/** What series.ts needs of a scored slice. */
export interface ScoredSlice extends OrderedSlice {
  probability: number | null;
  /** NotCT slices (no lungs in them, e.g. above or below the chest) are left out of the scan's score. */
  label?: string | null;
  involvement?: number | null;
  /** The lung area the involvement was measured on (its weight in the scan's involvement). */
  lungPixels?: number | null;
  /** P(COVID-typical pattern) of the slice (lungs design). */
  pattern?: number | null;
}

/** What a scan row stands for: the slices of one DICOM series, or of one NIfTI volume. */
export type ScanKind = 'DICOM series' | 'NIfTI volume';

export interface ScanScore {
  /** The opaque key of the series or volume (the `series` of its slices' rows). */
  series: string;
  kind: ScanKind;
  /** Slices with a probability (slices that failed are not counted). */
  slices: number;
  probability: number;
  method: 'mean of top k';
  k: number;
  /** Lungs design: involvement and pattern (see above); otherwise the score at the slice threshold. */
  label: Label;
  /** How the label was reached. */
  labelRule: 'involvement and pattern' | 'score at the slice threshold';
  /** Lungs design: P(involvement present) of the scan's involvement; null otherwise. */
  involvementPresent: number | null;
  /** Lungs design: mean pattern of the top k slices by P; null otherwise. */
  pattern: number | null;
  /** Lungs design: the scan's RSNA-style category; null otherwise. */
  category: Category | null;
  /** The scan's lung involvement: its slices' involvement averaged with weights by lung area (see involvement.ts); null when none was measured. */
  involvement: number | null;
  /** Slices left out as NotCT. */
  notCt: number;
}

/** How a scan's score and label were made, in one line (tables, the page, the structured report). */
export function scanHow(s: ScanScore): string {
  const score = `score = mean of the top ${s.k} of ${s.slices} slice probabilities`;
  const left = s.notCt ? `; ${s.notCt} slice(s) not a chest CT left out` : '';
  if (s.labelRule === 'score at the slice threshold') return `${score}, labelled at the slice threshold (not calibrated for whole scans)${left}`;
  const inv = s.involvement === null ? 'no involvement measured' : `involvement ${(100 * s.involvement).toFixed(1)}% of the lung (P(involvement present) ${s.involvementPresent!.toFixed(2)})`;
  const pat = s.pattern === null ? 'no pattern' : `pattern of those slices ${s.pattern.toFixed(2)}`;
  return `${score}; label: COVID when the lungs are involved (P(involvement present) >= ${OPERATING_GATE}) and those slices read as COVID-typical (pattern >= the model's pattern threshold): ${inv}, ${pat}; ${s.category}${left}`;
}

/** k of the top-k mean for n slices: the top 10%, at least one. */
export const topK = (n: number): number => Math.max(1, Math.ceil(n / 10));

/**
 * Scan order: by position along the slice normal when every slice has one, else by instance number when every
 * slice has one (then frame), else by frame, else by name. Ties keep a stable order by name.
 */
export function sortSeries<T extends OrderedSlice>(slices: T[]): T[] {
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
export function groupSeries<T extends OrderedSlice>(slices: T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const s of slices) {
    if (!s.dicom) continue;
    const g = groups.get(s.dicom.series);
    if (g) g.push(s); else groups.set(s.dicom.series, [s]);
  }
  return groups;
}

/**
 * One ScanScore per DICOM series with at least `minSlices` scored slices, in first-seen order. `design`: the
 * model's reading design (lungs models), which gives the scan its label and category (see above).
 */
export function scoreScans(slices: ScoredSlice[], threshold: number, minSlices = 2, design?: ReadingDesign): ScanScore[] {
  const out: ScanScore[] = [];
  for (const [series, group] of groupSeries(slices)) {
    const ct = group.filter((s) => s.label !== 'NotCT');
    const scored = ct.filter((s): s is ScoredSlice & { probability: number } => s.probability !== null);
    if (scored.length < minSlices) continue;
    const { probability, k } = aggregateScan(scored.map((s) => s.probability));
    // Weighted by each slice's lung area (involvement.ts); a caller that gives no areas gets the plain mean.
    const involvement = scanInvolvement(ct.flatMap((s) => (typeof s.involvement === 'number' ? [{ fraction: s.involvement, lungPixels: s.lungPixels ?? 1 }] : [])));
    const kind: ScanKind = group.some((s) => s.dicom?.volume) ? 'NIfTI volume' : 'DICOM series';
    const base = { series, kind, slices: scored.length, probability, method: 'mean of top k' as const, k, involvement, notCt: group.length - ct.length };
    out.push(design ? { ...base, ...readScan(scored, k, involvement, design) } : {
      ...base, label: probability >= threshold ? 'COVID' : 'NonCOVID', labelRule: 'score at the slice threshold', involvementPresent: null, pattern: null, category: null,
    });
  }
  return out;
}

/** The lungs design's scan label and category (see above) from its scored slices, its k and its involvement. */
export function readScan(scored: readonly { probability: number; pattern?: number | null }[], k: number, involvement: number | null, design: ReadingDesign): Pick<ScanScore, 'label' | 'labelRule' | 'involvementPresent' | 'pattern' | 'category'> {
  const present = involvement === null ? 0 : gateOf(involvement, design.gate);
  // The slices the score rests on: the top k by P, in a stable order (ties by position in the list).
  const top = scored.map((s, i) => ({ s, i })).sort((a, b) => b.s.probability - a.s.probability || a.i - b.i).slice(0, k);
  const patterns = top.flatMap(({ s }) => (typeof s.pattern === 'number' ? [s.pattern] : []));
  const pattern = patterns.length ? patterns.reduce((a, b) => a + b, 0) / patterns.length : null;
  const { threshold, band } = design.pattern;
  let category: Category;
  if (present < OPERATING_GATE) category = 'negative for pneumonia';
  else if (pattern === null) category = 'indeterminate';
  else if (pattern >= threshold + band) category = 'typical';
  else if (pattern < threshold - band) category = 'atypical';
  else category = 'indeterminate';
  const label: Label = present >= OPERATING_GATE && pattern !== null && pattern >= threshold ? 'COVID' : 'NonCOVID';
  return { label, labelRule: 'involvement and pattern', involvementPresent: present, pattern, category };
}

/**
 * The slices in display order: non-DICOM rows stay where they are; the slices of each series are gathered at the
 * place of the series' first slice, in scan order.
 */
export function orderForDisplay<T extends OrderedSlice>(slices: T[]): T[] {
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
