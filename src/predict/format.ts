/** Renders predictions as a table, JSON or CSV, with the scan scores of DICOM series and NIfTI volumes. */
import type { Prediction } from '../types.js';
import type { ScanKind, ScanScore } from './series.js';
import { REFUSAL_HEADINGS } from '../model/reading.js';
import { sliceNote } from '../data/polarity.js';

export type PredictFormat = 'table' | 'json' | 'csv';

/** One CSV field, quoted when it holds a comma, quote or line break. */
export function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const SCAN_NOTE = 'scan P(COVID) = mean of the top k slice probabilities, k = 10% of the slices (at least 1): it ranks scans. ' +
  'Lungs models label a scan COVID when its lungs are involved (lung-weighted involvement >= 3.5%) and its top k slices read as ' +
  'COVID-typical, with a category as for slices; other models label it at the slice threshold (not calibrated for whole scans)';

/** `scan 3f2a9c1e4b5d (mean of top 3 of 24 slices)`: how a scan row is named in tables and CSV. */
export const scanName = (s: ScanScore): string => `scan ${s.series} (mean of top ${s.k} of ${s.slices} slices)`;

/** What the scans listed are, for a heading: `DICOM series`, `NIfTI volume`, or both joined by "or". */
export const scanKinds = (scans: readonly { kind: ScanKind }[]): string => [...new Set(scans.map((s) => s.kind))].sort().join(' or ');

/**
 * The CSV's columns, the command line's and the page's alike. `series` (added last, so that the older columns keep
 * their places) is the short hash of a slice's DICOM series or NIfTI volume, the one its scan row shows: it joins
 * slices to their scan in a spreadsheet. Fields that do not apply to a row are empty.
 */
export const CSV_COLUMNS = ['file', 'probability', 'label', 'involvement', 'pattern', 'category', 'refusal', 'reason', 'orientation', 'polarity', 'tilt', 'error', 'series'] as const;

/** What a slice row of the CSV needs (a Prediction, or one of the page's rows). */
export interface CsvSlice {
  file: string; probability: number | null; label: string | null; involvement?: number | null; pattern?: number | null; category?: string | null;
  refusal?: string; reason?: string; orientation?: string; polarity?: string; tilt?: number; error?: string; series?: string;
}

const num = (v: number | null | undefined): string => (typeof v === 'number' ? String(v) : '');

/** A slice's fields, in CSV_COLUMNS' order. */
export function sliceCsvFields(p: CsvSlice): string[] {
  return [p.file, num(p.probability), p.label ?? '', num(p.involvement), num(p.pattern), p.category ?? '', p.refusal ?? '', p.reason ?? '',
    p.orientation ?? '', p.polarity ?? '', num(p.tilt), p.error ?? '', p.series ?? ''];
}

/** A scan's fields, in CSV_COLUMNS' order: its name in `file`, the slice-only fields empty. */
export function scanCsvFields(s: ScanScore): string[] {
  return [scanName(s), num(s.probability), s.label, num(s.involvement), num(s.pattern), s.category ?? '', '', '', '', '', '', '', s.series];
}

/** One CSV line of fields, each quoted where needed. */
export const csvLine = (fields: readonly string[]): string => fields.map(csvField).join(',');

export function formatPredictions(preds: Prediction[], format: PredictFormat, threshold: number, scans: ScanScore[] = []): string {
  if (format === 'json') {
    return JSON.stringify({
      threshold,
      predictions: preds.map((p) => ({
        file: p.file, probability: p.probability, label: p.label, involvement: p.involvement ?? null, pattern: p.pattern ?? null,
        category: p.category ?? null, refusal: p.refusal ?? null, reason: p.reason ?? null, orientation: p.orientation ?? null, polarity: p.polarity ?? null, tilt: p.tilt ?? null, error: p.error ?? null, ...(p.dicom ? { series: p.dicom.series } : {}),
      })),
      scans: scans.map((s) => ({
        series: s.series, kind: s.kind, slices: s.slices, probability: s.probability, label: s.label, labelRule: s.labelRule, category: s.category,
        involvement: s.involvement, involvementPresent: s.involvementPresent, pattern: s.pattern, method: s.method, k: s.k, notCt: s.notCt,
      })),
      ...(scans.length ? { scanNote: SCAN_NOTE } : {}),
    }, null, 2) + '\n';
  }
  if (format === 'csv') {
    const rows = preds.map((p) => csvLine(sliceCsvFields({ ...p, series: p.dicom?.series })));
    for (const s of scans) rows.push(csvLine(scanCsvFields(s)));
    return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
  }
  const width = Math.min(80, Math.max(4, ...preds.map((p) => p.file.length), ...scans.map((s) => scanName(s).length)));
  const cut = (name: string) => (name.length > width ? '...' + name.slice(-(width - 3)) : name.padEnd(width));
  const pct = (v: number | null | undefined) => (typeof v === 'number' ? `${(100 * v).toFixed(1)}%` : '-').padStart(11);
  const lines = [`${'file'.padEnd(width)}  P(COVID)  involvement  label     category`, `${'-'.repeat(width)}  --------  -----------  --------  --------`];
  for (const p of preds) {
    if (p.error) { lines.push(`${cut(p.file)}  error: ${p.error}`); continue; }
    const note = sliceNote(p.orientation, p.polarity, p.tilt);
    const turned = note ? ` (${note})` : '';
    const why = (p.label === 'NotCT' ? `${REFUSAL_HEADINGS[p.refusal ?? 'not-ct']}: ${p.reason ?? ''}` : p.category ?? '') + turned;
    lines.push(`${cut(p.file)}  ${p.probability!.toFixed(4).padStart(8)}  ${pct(p.involvement)}  ${String(p.label).padEnd(8)}  ${why}`);
  }
  if (scans.length) {
    lines.push('', `${`scan (${scanKinds(scans)})`.padEnd(width)}  P(COVID)  involvement  label     category`, `${'-'.repeat(width)}  --------  -----------  --------  --------`);
    for (const s of scans) lines.push(`${cut(scanName(s))}  ${s.probability.toFixed(4).padStart(8)}  ${pct(s.involvement)}  ${s.label.padEnd(8)}  ${s.category ?? ''}`);
  }
  lines.push('', `threshold ${threshold.toFixed(4)} (from val; see the model card); P(COVID) >= threshold is labelled COVID, below it NonCOVID (not a clinical negative); P is a score, not a calibrated probability; involvement = share of the lung with ground glass or consolidation`);
  if (scans.length) lines.push(SCAN_NOTE);
  return lines.join('\n') + '\n';
}
