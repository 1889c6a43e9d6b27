/** Renders predictions as a table, JSON or CSV (file,probability,label,error), with the scan scores of DICOM series. */
import type { Prediction } from '../types.js';
import type { ScanScore } from './series.js';

export type PredictFormat = 'table' | 'json' | 'csv';

/** One CSV field, quoted when it holds a comma, quote or line break. */
export function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const SCAN_NOTE = 'scan P(COVID) = mean of the top k slice probabilities, k = 10% of the slices (at least 1); ' +
  'labelled at the slice threshold, not calibrated for whole scans';

/** `scan 3f2a9c1e4b5d (mean of top 3 of 24 slices)`: how a scan row is named in tables and CSV. */
export const scanName = (s: ScanScore): string => `scan ${s.series} (mean of top ${s.k} of ${s.slices} slices)`;

export function formatPredictions(preds: Prediction[], format: PredictFormat, threshold: number, scans: ScanScore[] = []): string {
  if (format === 'json') {
    return JSON.stringify({
      threshold,
      predictions: preds.map((p) => ({ file: p.file, probability: p.probability, label: p.label, error: p.error ?? null, ...(p.dicom ? { series: p.dicom.series } : {}) })),
      scans: scans.map((s) => ({ series: s.series, slices: s.slices, probability: s.probability, label: s.label, method: s.method, k: s.k })),
      ...(scans.length ? { scanNote: SCAN_NOTE } : {}),
    }, null, 2) + '\n';
  }
  if (format === 'csv') {
    const rows = preds.map((p) => [csvField(p.file), p.probability === null ? '' : String(p.probability), p.label ?? '', csvField(p.error ?? '')].join(','));
    for (const s of scans) rows.push([csvField(scanName(s)), String(s.probability), s.label, ''].join(','));
    return ['file,probability,label,error', ...rows].join('\n') + '\n';
  }
  const width = Math.min(80, Math.max(4, ...preds.map((p) => p.file.length), ...scans.map((s) => scanName(s).length)));
  const cut = (name: string) => (name.length > width ? '...' + name.slice(-(width - 3)) : name.padEnd(width));
  const lines = [`${'file'.padEnd(width)}  P(COVID)  label`, `${'-'.repeat(width)}  --------  --------`];
  for (const p of preds) {
    lines.push(p.error ? `${cut(p.file)}  error: ${p.error}` : `${cut(p.file)}  ${p.probability!.toFixed(4).padStart(8)}  ${p.label}`);
  }
  if (scans.length) {
    lines.push('', `${'scan (DICOM series)'.padEnd(width)}  P(COVID)  label`, `${'-'.repeat(width)}  --------  --------`);
    for (const s of scans) lines.push(`${cut(scanName(s))}  ${s.probability.toFixed(4).padStart(8)}  ${s.label}`);
  }
  lines.push('', `threshold ${threshold.toFixed(4)} (chosen on val); P(COVID) >= threshold is labelled COVID`);
  if (scans.length) lines.push(SCAN_NOTE);
  return lines.join('\n') + '\n';
}
