/**
 * Human-readable output of an evaluation: a fixed-width text table for the terminal, the ROC curve as a
 * PNG (drawn as SVG, rendered by sharp), and a Markdown report that references that PNG. Files are
 * written atomically (temp file in the same folder, then rename) so an interrupted run never leaves a
 * half-written report behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { Binary } from '../types.js';
import { type MetricName, binaryMetrics, rocAuc, rocCurve } from './metrics.js';
import { MIN_UNITS_PER_CLASS, type BootstrapResult } from './bootstrap.js';
import type { EvaluationContext, EvaluationResult } from './evaluation.js';
import type { CalibrationResult } from './calibration.js';
import { reliabilitySvg } from './reliability-plot.js';

/** The exact label of the legacy metric wherever it is shown, so nobody mistakes it for the COVID F1. */
export const LEGACY_F1_LABEL = 'legacy F1 (NonCOVID as positive, as printed by the original COVID-CT code)';

/** Display names of the COVID-positive metrics, in report order (the legacy F1 is shown apart). */
const MAIN_METRICS: readonly [Exclude<MetricName, 'legacy_f1_noncovid'>, string][] = [
  ['accuracy', 'accuracy'],
  ['sensitivity', 'sensitivity (recall)'],
  ['specificity', 'specificity'],
  ['precision', 'precision (PPV)'],
  ['f1', 'F1'],
  ['auc', 'ROC AUC'],
];

const num = (v: number, digits = 4): string => v.toFixed(digits);
/** An interval in words; `why`: why there is none, when the data gave too few units (else: undefined in every draw). */
const ciText = (ci: [number, number] | null, why?: string): string => (ci === null ? `n/a (${why ?? 'undefined in every draw'})` : `[${num(ci[0])}, ${num(ci[1])}]`);

/** Why no interval was drawn, when a class had too few units for a bootstrap (bootstrap.ts), else undefined. */
export const tooFewText = (context?: EvaluationContext): string | undefined => {
  const why = tooFewReason(context);
  return why && `no 95% intervals: ${why}`;
};
function tooFewReason(context?: EvaluationContext): string | undefined {
  const few = context?.bootstrap.too_few;
  if (!few) return undefined;
  const unit = context!.bootstrap.unit;
  const n = (k: number, what: string) => `${k} ${what} ${unit}${k === 1 ? '' : 's'}`;
  return `the data holds ${n(few.covid, 'COVID')} and ${n(few.noncovid, 'other')}, and a bootstrap ` +
    `interval needs ${MIN_UNITS_PER_CLASS} or more of each class (with one, every draw takes it again and the interval ` +
    'would claim a certainty the data cannot give)' +
    (unit === 'patient' ? '; --no-patients draws them over images, as if every slice were an independent case' : '');
}

function classCounts(result: EvaluationResult): { covid: number; noncovid: number } {
  const c = result.confusion;
  return { covid: c.tp + c.fn, noncovid: c.fp + c.tn };
}

const PATIENTS_FROM: Record<NonNullable<EvaluationContext['data']['patients_from']>, string> = {
  'patient_id column': 'from its patient_id column',
  'folder under the class folder': 'one per folder under a class folder',
  'one per scan': 'one per scan, DICOM series or volume: no patient ids, each scan taken as one patient',
  'one per scan file': 'one per scan file: no patient ids, each volume taken as one patient',
};

/** The interval cell when there is none because of too few units (the reason is given once, under the table). */
const shortWhy = (context?: EvaluationContext): string | undefined =>
  (context?.bootstrap.too_few ? `too few ${context.bootstrap.unit}s for an interval` : undefined);

/** One line saying which data was scored, e.g. "CSV manifest data/manifest.csv, 6 patients". */
export function describeData(result: EvaluationResult, context: EvaluationContext): string {
  const d = context.data;
  const what = d.kind === 'official' ? `COVID-CT official layout ${d.path}, ${result.split} split`
    : d.kind === 'csv' ? `CSV manifest ${d.path}` : `folder of class subfolders ${d.path}`;
  if (d.n_patients === null) return `${what}, no patient ids`;
  return d.patients_from ? `${what}, ${d.n_patients} patients (${PATIENTS_FROM[d.patients_from]})` : `${what}, ${d.n_patients} patients`;
}

/** How the intervals were drawn, in words. */
export function describeBootstrapUnit(context: EvaluationContext): string {
  return context.bootstrap.unit === 'patient'
    ? 'over patients, stratified by class (each draw resamples the COVID patients from the COVID patients and the others from the others, with replacement, and takes all their slices)'
    : 'over images, stratified by class (each draw resamples the COVID images from the COVID images and the others from the others)';
}

/**
 * The ECE in words: the measured value, then the bias-corrected one with its basic bootstrap interval
 * (calibration.ts says why). A result from before the correction (no bias_corrected) keeps its old reading.
 */
export function eceText(ece: { value: number; bias_corrected?: number; ci: [number, number] | null }, digits = 4, why?: string): string {
  if (ece.ci === null) return `${num(ece.value, digits)} measured; 95% CI n/a (${why ?? 'too few units for a bootstrap'})`;
  if (ece.bias_corrected === undefined) return `${num(ece.value, digits)}, 95% CI [${num(ece.ci[0], digits)}, ${num(ece.ci[1], digits)}] (percentile)`;
  return `${num(ece.value, digits)} measured; bias-corrected ${num(ece.bias_corrected, digits)}, 95% CI [${num(ece.ci[0], digits)}, ${num(ece.ci[1], digits)}]`;
}

/** The patient-level AUC line, saying why when it is undefined. */
export function patientAucText(context: EvaluationContext): string | undefined {
  const p = context.patients;
  if (!p) return undefined;
  const head = `patient-level ROC AUC (${p.n} patients; patient score = mean of its top ${p.top_k} slice scores)`;
  if (p.auc.value === null) return `${head}: n/a (all patients are of one class, so AUC is undefined)`;
  return `${head}: ${num(p.auc.value)}  95% CI ${ciText(p.auc.ci, shortWhy(context))} (bootstrap over patients)`;
}

// ---------------------------------------------------------------------------------------------------
// Text table

/**
 * A fixed-width text table of one evaluation: metric, value, 95% CI; the legacy F1 apart; the confusion matrix.
 * With a context: which data was scored, the bootstrap unit, and the patient-level AUC when there is one.
 */
export function formatTable(result: EvaluationResult, context?: EvaluationContext, cal?: CalibrationResult): string {
  const { covid, noncovid } = classCounts(result);
  const rows: [string, string, string][] = [['metric (COVID = positive)', 'value', '95% CI']];
  for (const [key, label] of MAIN_METRICS) rows.push([label, num(result.metrics[key].value), ciText(result.metrics[key].ci, shortWhy(context))]);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const line = (r: [string, string, string]): string => `${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`.trimEnd();
  const rule = `${'-'.repeat(w0)}  ${'-'.repeat(w1)}  ${'-'.repeat(16)}`;
  const legacy = result.metrics.legacy_f1_noncovid;

  const c = result.confusion;
  const cm: string[][] = [
    ['', 'predicted COVID', 'predicted NonCOVID'],
    ['true COVID', String(c.tp), String(c.fn)],
    ['true NonCOVID', String(c.fp), String(c.tn)],
  ];
  const cw = [0, 1, 2].map((j) => Math.max(...cm.map((r) => r[j].length)));
  const cmLine = (r: string[]): string => `${r[0].padEnd(cw[0])}  ${r[1].padStart(cw[1])}  ${r[2].padStart(cw[2])}`;

  return [
    `split: ${result.split}   n = ${result.n} (${covid} COVID, ${noncovid} NonCOVID)   threshold = ${num(result.threshold)} (COVID when P(COVID) >= threshold)`,
    ...(context ? [`data: ${describeData(result, context)}`, `bootstrap: ${describeBootstrapUnit(context)}`] : []),
    '',
    line(rows[0]),
    rule,
    ...rows.slice(1).map(line),
    ...(tooFewText(context) ? ['', tooFewText(context) as string] : []),
    '',
    `${LEGACY_F1_LABEL}: ${num(legacy.value)}  95% CI ${ciText(legacy.ci, shortWhy(context))}`,
    ...(context?.patients ? ['', patientAucText(context) as string] : []),
    ...(cal ? ['', `expected calibration error (${cal.bins} bins): ${eceText(cal.ece, 4, shortWhy(context))} (basic bootstrap; P(COVID) is a score, not a calibrated probability)`] : []),
    '',
    'confusion matrix (rows: true class, columns: predicted class)',
    ...cm.map(cmLine),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Atomic files

/** Writes `data` to a temp file beside `file` and renames it over `file`: readers see the old or the new file, never half of one. */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  // Same folder, so the rename stays on one file system and is atomic.
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------
// ROC figure

export interface RocPlotOptions {
  /** Image size in pixels; default 640 x 640. */
  width?: number;
  height?: number;
  /** When given, the operating point (FPR, TPR) at this threshold is marked. */
  threshold?: number;
  title?: string;
}

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The ROC figure as an SVG document: axes with ticks, grid, chance diagonal, curve, AUC legend, operating point. */
export function rocSvg(yTrue: readonly Binary[], scores: readonly number[], opts: RocPlotOptions = {}): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 640;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 200 || height < 200) {
    throw new Error(`ROC image size must be integers >= 200, got ${width} x ${height}`);
  }
  const curve = rocCurve(yTrue, scores);
  const auc = rocAuc(yTrue, scores);
  const left = 72;
  const right = 24;
  const top = 48;
  const bottom = 64;
  const pw = width - left - right;
  const ph = height - top - bottom;
  const X = (fpr: number): string => (left + fpr * pw).toFixed(2);
  const Y = (tpr: number): string => (top + (1 - tpr) * ph).toFixed(2);
  const font = 'font-family="DejaVu Sans, Arial, Helvetica, sans-serif"';
  const parts: string[] = [];
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(`<text x="${width / 2}" y="${top - 18}" ${font} font-size="17" text-anchor="middle" fill="#111">${escapeXml(opts.title ?? 'ROC curve (COVID = positive)')}</text>`);
  // Grid and ticks every 0.2.
  for (let k = 0; k <= 5; k++) {
    const t = k / 5;
    parts.push(`<line x1="${X(t)}" y1="${Y(0)}" x2="${X(t)}" y2="${Y(1)}" stroke="#e5e5e5" stroke-width="1"/>`);
    parts.push(`<line x1="${X(0)}" y1="${Y(t)}" x2="${X(1)}" y2="${Y(t)}" stroke="#e5e5e5" stroke-width="1"/>`);
    parts.push(`<line x1="${X(t)}" y1="${Y(0)}" x2="${X(t)}" y2="${(top + ph + 6).toFixed(2)}" stroke="#333" stroke-width="1"/>`);
    parts.push(`<line x1="${(left - 6).toFixed(2)}" y1="${Y(t)}" x2="${X(0)}" y2="${Y(t)}" stroke="#333" stroke-width="1"/>`);
    parts.push(`<text x="${X(t)}" y="${(top + ph + 22).toFixed(2)}" ${font} font-size="13" text-anchor="middle" fill="#333">${t.toFixed(1)}</text>`);
    parts.push(`<text x="${(left - 10).toFixed(2)}" y="${(Number(Y(t)) + 4).toFixed(2)}" ${font} font-size="13" text-anchor="end" fill="#333">${t.toFixed(1)}</text>`);
  }
  // Axes.
  parts.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#333" stroke-width="1.2"/>`);
  parts.push(`<text x="${left + pw / 2}" y="${height - 18}" ${font} font-size="14" text-anchor="middle" fill="#111">False positive rate (1 - specificity)</text>`);
  parts.push(`<text x="0" y="0" transform="translate(${20} ${top + ph / 2}) rotate(-90)" ${font} font-size="14" text-anchor="middle" fill="#111">True positive rate (sensitivity)</text>`);
  // Chance diagonal, then the curve on top of it.
  parts.push(`<line x1="${X(0)}" y1="${Y(0)}" x2="${X(1)}" y2="${Y(1)}" stroke="#888" stroke-width="1.5" stroke-dasharray="6 5"/>`);
  const points = curve.fpr.map((f, i) => `${X(f)},${Y(curve.tpr[i])}`).join(' ');
  parts.push(`<polyline points="${points}" fill="none" stroke="#1f5fbf" stroke-width="2.5" stroke-linejoin="round"/>`);
  // Operating point.
  const legend: { mark: string; text: string }[] = [
    { mark: `<line x1="0" y1="0" x2="24" y2="0" stroke="#1f5fbf" stroke-width="2.5"/>`, text: `ROC (AUC = ${num(auc, 3)})` },
    { mark: `<line x1="0" y1="0" x2="24" y2="0" stroke="#888" stroke-width="1.5" stroke-dasharray="6 5"/>`, text: 'chance (AUC = 0.5)' },
  ];
  if (opts.threshold !== undefined) {
    const m = binaryMetrics(yTrue, scores, opts.threshold);
    const c = m.confusion;
    const fpr = c.fp / (c.fp + c.tn);
    const tpr = c.tp / (c.tp + c.fn);
    const dot = (cx: string | number, cy: string | number): string => `<circle cx="${cx}" cy="${cy}" r="6" fill="#d62728" stroke="#ffffff" stroke-width="1.5"/>`;
    parts.push(dot(X(fpr), Y(tpr)));
    legend.push({ mark: dot(12, 0), text: `threshold ${num(opts.threshold, 3)}: sens ${num(m.sensitivity, 3)}, spec ${num(m.specificity, 3)}` });
  }
  // Legend in the lower right, where a useful ROC curve never goes.
  const lh = 22;
  const lw = Math.min(pw - 20, 330);
  const lx = left + pw - lw - 10;
  const ly = top + ph - legend.length * lh - 16;
  parts.push(`<rect x="${lx}" y="${ly}" width="${lw}" height="${legend.length * lh + 8}" fill="#ffffff" fill-opacity="0.92" stroke="#999" stroke-width="1"/>`);
  legend.forEach((e, i) => {
    const y = ly + 15 + i * lh;
    parts.push(`<g transform="translate(${lx + 10} ${y})">${e.mark}</g>`);
    parts.push(`<text x="${lx + 42}" y="${y + 4}" ${font} font-size="13" fill="#111">${escapeXml(e.text)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n${parts.join('\n')}\n</svg>\n`;
}

/** Draws the ROC curve and writes it as a PNG at `outPath` (atomically). Resolves to the image size and AUC. */
export async function renderRocPng(
  yTrue: readonly Binary[],
  scores: readonly number[],
  outPath: string,
  opts: RocPlotOptions = {},
): Promise<{ path: string; width: number; height: number; auc: number }> {
  const svg = rocSvg(yTrue, scores, opts);
  // density 72 keeps 1 SVG user unit = 1 pixel, so the PNG has exactly the requested size.
  const png = await sharp(Buffer.from(svg), { density: 72 }).png().toBuffer();
  await writeFileAtomic(outPath, png);
  return { path: outPath, width: opts.width ?? 640, height: opts.height ?? 640, auc: rocAuc(yTrue, scores) };
}

// ---------------------------------------------------------------------------------------------------
// Markdown report

export interface ReportModel {
  name: string;
  /** Free lines describing the model (recipe, weights, training data, how the threshold was chosen...). */
  description?: readonly string[];
}

export interface MarkdownReportInput {
  result: EvaluationResult;
  /** The labels and scores the result was computed from (for the ROC figure). */
  yTrue: readonly Binary[];
  scores: readonly number[];
  /** Path of the .md file; the figure goes beside it as <basename>-roc.png. */
  file: string;
  model?: ReportModel;
  /** The command line that produced the report, shown verbatim. */
  command?: string;
  /** The bootstrap behind result's intervals, for its draws, seed and skipped-draw counts. */
  bootstrap?: BootstrapResult;
  /** Which data was scored, the bootstrap unit, the patient-level AUC. */
  context?: EvaluationContext;
  /** ECE and reliability bins; when given, the report has a Calibration section and a `-reliability.png`. */
  calibration?: CalibrationResult;
}

/** The report's Calibration section; `figure` is the reliability diagram's path relative to the .md file. */
export function calibrationSection(cal: CalibrationResult, figure: string): string[] {
  const unit = cal.unit === 'patient' ? 'patients' : 'images';
  const rows = cal.reliability.map((b) => `| ${num(b.lo, 1)}-${num(b.hi, 1)} | ${b.n} | ${b.meanScore === null ? '' : num(b.meanScore)} | ${b.fractionCovid === null ? '' : num(b.fractionCovid)} |`);
  return [
    '## Calibration',
    '',
    `**Expected calibration error (ECE)**: ${eceText(cal.ece, 4, cal.ece.ci === null ? `too few ${unit} of one class for a bootstrap` : undefined)} (${cal.bins} equal-width bins of P(COVID); basic bootstrap interval over ${unit}, stratified by class, ${cal.draws} draws, seed ${cal.seed}).`,
    '',
    'ECE is the gap between the mean P(COVID) and the fraction of COVID images in each bin, averaged over the',
    'images. **P(COVID) is not a calibrated probability**: the model was trained to rank slices and its threshold',
    'was chosen on val; no calibration was fitted, so read P against the threshold, not as a chance of disease.',
    'The measured ECE is biased upwards (a bin with few images shows a gap by chance even when P is calibrated),',
    'and more so on a bootstrap resample, so a percentile interval would lie above the measured value. The',
    'interval given is therefore the basic (reverse percentile) bootstrap interval, [2 ECE - q97.5, 2 ECE - q2.5]',
    'of the resampled ECEs, clipped to [0, 1]: it corrects for the bias the bootstrap measures and is centred on',
    'the bias-corrected ECE (2 ECE - mean of the resampled ECEs), not on the measured one, which it need not hold.',
    '',
    `![Reliability diagram, ECE ${num(cal.ece.value, 3)}](${encodeURI(figure)})`,
    '',
    '| P(COVID) bin | images | mean P(COVID) | fraction COVID |',
    '|---|---:|---:|---:|',
    ...rows,
    '',
  ];
}

/** A fenced code block whose fence is longer than any backtick run inside the text. */
function fenced(text: string, lang = ''): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((s) => s.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${lang}\n${text}\n${fence}`;
}

function bootstrapNote(result: EvaluationResult, bootstrap: BootstrapResult | undefined, context?: EvaluationContext): string[] {
  const byPatient = context?.bootstrap.unit === 'patient';
  const lines = byPatient ? [
    'The 95% confidence intervals are percentile cluster-bootstrap intervals, stratified by class: in each draw the',
    'COVID patients are resampled with replacement from the COVID patients and the other patients from the others',
    '(as many of each as were evaluated, each drawn patient with all its slices; a patient is COVID when any of its',
    'slices is), every metric is recomputed over the drawn slices at the same threshold, and the interval is the',
    '2.5th to 97.5th percentile of the draws. Every draw thus holds both classes in the balance of the data, as any',
    'evaluation set assembled like this one would. A draw in which a metric is undefined (a zero denominator, e.g.',
    'no predicted COVID for precision) is skipped for that metric only, never counted as 0.',
  ] : [
    'The 95% confidence intervals are percentile bootstrap intervals, stratified by class: in each draw the COVID',
    'images are resampled with replacement from the COVID images and the others from the others (as many of each',
    'as were evaluated), every metric is recomputed at the same threshold, and the interval is the 2.5th to 97.5th',
    'percentile of the draws. Every draw thus holds both classes in the balance of the data. A draw in which a',
    'metric is undefined (a zero denominator, e.g. no predicted COVID for precision) is skipped for that metric',
    'only, never counted as 0.',
  ];
  if (bootstrap?.tooFew) {
    lines.push('', `No draw was made for this report: ${tooFewReason(context) ?? 'a class has too few units for a bootstrap'}.`);
  } else if (bootstrap) {
    const skipped = Object.entries(bootstrap.intervals)
      .filter(([, iv]) => iv.skipped > 0)
      .map(([k, iv]) => `${k}: ${iv.skipped}`);
    lines.push(
      '',
      `This report used ${bootstrap.draws} draws with seed ${bootstrap.seed}; ` +
        (skipped.length === 0 ? 'no draw was skipped for any metric.' : `draws skipped: ${skipped.join(', ')}.`),
    );
  }
  lines.push(
    '',
    byPatient
      ? `The intervals describe the uncertainty from the choice of the ${context?.data.n_patients} evaluated patients only; they do not`
      : `The intervals describe the uncertainty from the choice of the ${result.n} evaluated images only; they do not`,
    'include the variation between training runs, nor the uncertainty of the threshold, which is held fixed',
    'and should have been chosen on the validation split, not on the split evaluated here.',
  );
  return lines;
}

/**
 * The Markdown text of the report; `rocFile` is the figure's path relative to the .md file, `reliabilityFile`
 * the reliability diagram's (when the input has a calibration).
 */
export function markdownReport(input: Omit<MarkdownReportInput, 'file'>, rocFile: string, reliabilityFile?: string): string {
  const { result, model, command, bootstrap, context } = input;
  const { covid, noncovid } = classCounts(result);
  const c = result.confusion;
  const title = result.split === 'external' ? 'external data' : `${result.split} split`;
  const out: string[] = [`# COVID-CT evaluation: ${title}`, ''];
  // The command first: what was scored (which split, or other data) is the first thing a reader must check.
  if (command) out.push('## Command', '', fenced(command, 'sh'), '');
  out.push('## What was evaluated', '');
  if (model) {
    out.push(`- Model: **${model.name}**`);
    for (const d of model.description ?? []) out.push(`  - ${d}`);
  }
  out.push(
    `- Split: \`${result.split}\`, ${result.n} images (${covid} COVID, ${noncovid} NonCOVID)`,
    ...(context ? [`- Data: ${describeData(result, context)}`, `- Bootstrap: ${describeBootstrapUnit(context)}`] : []),
    '- Positive class: COVID (sensitivity, precision and F1 are about finding COVID)',
    `- Decision threshold: ${num(result.threshold)} (an image is predicted COVID when P(COVID) >= threshold)`,
    '',
  );
  out.push('## Results', '', '| metric (COVID = positive) | value | 95% CI |', '|---|---:|---|');
  for (const [key, label] of MAIN_METRICS) out.push(`| ${label} | ${num(result.metrics[key].value)} | ${ciText(result.metrics[key].ci, shortWhy(context))} |`);
  const legacy = result.metrics.legacy_f1_noncovid;
  const few = tooFewText(context);
  out.push(
    ...(few ? ['', `**${few[0].toUpperCase()}${few.slice(1)}.**`] : []),
    '',
    '### Confusion matrix',
    '',
    '| | predicted COVID | predicted NonCOVID |',
    '|---|---:|---:|',
    `| **true COVID** | ${c.tp} (TP) | ${c.fn} (FN) |`,
    `| **true NonCOVID** | ${c.fp} (FP) | ${c.tn} (TN) |`,
    '',
    '### Legacy F1',
    '',
    `**${LEGACY_F1_LABEL}**: ${num(legacy.value)}, 95% CI ${ciText(legacy.ci, shortWhy(context))}.`,
    '',
    'Shown only for comparison with numbers published with the original COVID-CT code, which printed the F1',
    'of the NonCOVID class. It is not the F1 of the table above.',
    '',
    ...(context?.patients ? [
      '### Patient level',
      '',
      `${patientAucText(context)}.`,
      '',
      'A patient is COVID when any of its slices is labelled COVID. With few patients the interval is wide, and',
      'AUC is undefined (n/a) when all patients are of one class.',
      '',
    ] : []),
    '## ROC curve',
    '',
    `![ROC curve, AUC ${num(result.metrics.auc.value, 3)}; the red dot is the operating point at threshold ${num(result.threshold, 3)}](${encodeURI(rocFile)})`,
    '',
    ...(input.calibration && reliabilityFile ? calibrationSection(input.calibration, reliabilityFile) : []),
    '## About the intervals',
    '',
    ...bootstrapNote(result, bootstrap, context),
    '',
  );
  return out.join('\n');
}

/**
 * Writes the Markdown report at `file` and its ROC figure beside it as `<basename>-roc.png`, referenced by
 * a relative link so the pair can be moved together. The figure is written first, so a report never
 * points at a missing image. Resolves to the two paths.
 */
export async function writeMarkdownReport(input: MarkdownReportInput): Promise<{ markdown: string; roc: string }> {
  const { result, yTrue, scores, file, model } = input;
  if (yTrue.length !== result.n || scores.length !== result.n) {
    throw new Error(`report inputs disagree: result.n = ${result.n}, yTrue has ${yTrue.length}, scores has ${scores.length}`);
  }
  const base = path.basename(file).replace(/\.(md|markdown)$/i, '');
  const rocName = `${base}-roc.png`;
  const rocPath = path.join(path.dirname(file), rocName);
  const what = result.split === 'external' ? 'external data' : `${result.split} split`;
  const title = model ? `ROC curve: ${model.name}, ${what}` : `ROC curve: ${what}`;
  await renderRocPng(yTrue, scores, rocPath, { threshold: result.threshold, title });
  let reliabilityName: string | undefined;
  if (input.calibration) {
    reliabilityName = `${base}-reliability.png`;
    const svg = reliabilitySvg(input.calibration, { threshold: result.threshold, title: title.replace(/^ROC curve/, 'Reliability diagram') });
    await writeFileAtomic(path.join(path.dirname(file), reliabilityName), await sharp(Buffer.from(svg), { density: 72 }).png().toBuffer());
  }
  await writeFileAtomic(file, markdownReport(input, rocName, reliabilityName));
  return { markdown: file, roc: rocPath };
}
