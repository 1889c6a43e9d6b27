/**
 * From per-file slice predictions to what `covid-ct predict` prints: slices in display order (each DICOM series
 * gathered in scan order), one scan row per series, a row for each path that does not exist. Shared by `predict`
 * and `batch` so that both write the same bytes for the same inputs.
 */
import type { ReadingDesign } from '../model/reading.js';
import type { Prediction } from '../types.js';
import { formatPredictions, type PredictFormat } from './format.js';
import { orderForDisplay, scoreScans } from './series.js';

export interface PredictionReport {
  text: string;
  /** Some slice or path has an error (the command's exit code is then 2). */
  anyError: boolean;
}

/** `scored`: the slices of every file in the order the files were given (scoreFiles' order); `missing`: paths not found. */
export function reportPredictions(scored: Prediction[], missing: string[], format: PredictFormat, threshold: number, design?: ReadingDesign): PredictionReport {
  const preds = orderForDisplay(scored.map((p) => ({ ...p, name: p.file })));
  const scans = scoreScans(preds, threshold, 2, design);
  for (const m of missing) preds.push({ file: m, name: m, probability: null, label: null, error: 'no such file or folder' });
  return { text: formatPredictions(preds, format, threshold, scans), anyError: preds.some((p) => p.error) };
}
