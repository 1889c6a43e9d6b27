/** Renders predictions as a table, JSON or CSV (file,probability,label,error). */
import type { Prediction } from '../types.js';

export type PredictFormat = 'table' | 'json' | 'csv';

/** One CSV field, quoted when it holds a comma, quote or line break. */
export function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function formatPredictions(preds: Prediction[], format: PredictFormat, threshold: number): string {
  if (format === 'json') {
    return JSON.stringify({ threshold, predictions: preds.map((p) => ({ file: p.file, probability: p.probability, label: p.label, error: p.error ?? null })) }, null, 2) + '\n';
  }
  if (format === 'csv') {
    const rows = preds.map((p) => [csvField(p.file), p.probability === null ? '' : String(p.probability), p.label ?? '', csvField(p.error ?? '')].join(','));
    return ['file,probability,label,error', ...rows].join('\n') + '\n';
  }
  const width = Math.min(80, Math.max(4, ...preds.map((p) => p.file.length)));
  const lines = [`${'file'.padEnd(width)}  P(COVID)  label`, `${'-'.repeat(width)}  --------  --------`];
  for (const p of preds) {
    const name = p.file.length > width ? '...' + p.file.slice(-(width - 3)) : p.file.padEnd(width);
    lines.push(p.error ? `${name}  error: ${p.error}` : `${name}  ${p.probability!.toFixed(4).padStart(8)}  ${p.label}`);
  }
  lines.push('', `threshold ${threshold.toFixed(4)} (chosen on val); P(COVID) >= threshold is labelled COVID`);
  return lines.join('\n') + '\n';
}
