/**
 * The model card the page and GET /api/model show: what the model is, what it was trained on, its threshold,
 * its val metrics and (when the evaluation report of these very weights is given) its test metrics with 95%
 * intervals, and a plain statement of intended use. Nothing about the machine it was trained on.
 */
import { readFile } from 'node:fs/promises';
import type { ModelJson } from '../model/model-files.js';
import { UserError } from '../util/errors.js';

export const INTENDED_USE =
  'Research and education only. This is not a diagnosis and not a medical device: a screening aid whose output ' +
  'must be read by a clinician together with the full scan, the patient and other tests.';

interface Estimate { value: number; ci: [number, number] }
/** The JSON that `covid-ct evaluate --report FILE` writes beside FILE.md. */
export interface EvaluationReport {
  split: string;
  n: number;
  threshold: number;
  metrics: Record<string, Estimate>;
  confusion: { tp: number; fp: number; tn: number; fn: number };
  model?: { name?: string; headSha256: string; backboneSha256: string; views?: number };
  /** Expected calibration error of P on the evaluated images (reports since issue 12). */
  calibration?: { bins: number; ece: Estimate & { bias_corrected?: number } };
}

/** What P is and is not, said wherever P is shown: it is ranked against a threshold, it is not a probability of disease. */
export const CALIBRATION_NOTE =
  'P(COVID) is the model\'s score, not a calibrated probability: compare it with the threshold; no calibration was fitted ' +
  '(a P of 0.7 does not mean 70% of such slices are COVID).';

export interface ModelCard {
  name: string;
  task: string;
  intendedUse: string;
  threshold: number;
  backbone: { architecture: string; taps: string[]; inputSize: number; pretrained?: string; licence?: string };
  preprocessing: ModelJson['preprocessing'];
  /** How P combines involvement and pattern (reading.ts), when the model has a reading design; the page's on-device mode applies it. */
  reading?: ModelJson['reading'];
  trainingData: string;
  val?: Record<string, unknown>;
  /** Test-split metrics of these weights (from their evaluation report), with 95% bootstrap intervals. */
  test?: { n: number; metrics: Record<string, Estimate>; confusion: EvaluationReport['confusion']; calibration?: EvaluationReport['calibration'] };
  /** CALIBRATION_NOTE. */
  calibration: string;
  attribution?: string;
}

/**
 * The backbone's attribution, completed: the model files' text says "(what covid-ct trained on top is said
 * below)", which the card must then say instead of leaving it dangling.
 */
export function attributionText(model: ModelJson): string | undefined {
  const card = model.card as Record<string, any>;
  const text = card.pretrained?.attribution as string | undefined;
  if (!text) return undefined;
  const onTop = 'The backbone is used frozen; covid-ct trained on top of it, on the COVID-CT train split: a logistic head on its pooled ' +
    `features${model.reading ? ', and the reading of the lungs (involvement and pattern) described above' : ''}; the threshold was chosen on val.`;
  return `${text.replace(/\s*\(what covid-ct trained on top is said below\)/, '').replace(/\s+/g, ' ').trim()} ${onTop}`;
}

/** Reads an evaluation report and checks it belongs to the model (same weights, threshold and test-time views). */
export async function readReportFor(file: string, model: ModelJson): Promise<EvaluationReport> {
  let report: EvaluationReport;
  try {
    report = JSON.parse(await readFile(file, 'utf8')) as EvaluationReport;
  } catch (e) {
    throw new UserError(`${file}: not a readable evaluation report (${(e as Error).message})`);
  }
  if (report.model?.headSha256 !== model.head.sha256 || report.model?.backboneSha256 !== model.backbone.sha256 || report.threshold !== model.threshold
    || (report.model.views ?? 2) !== model.preprocessing.views) {
    throw new UserError(`${file} is the evaluation of other weights than this model's: re-run covid-ct evaluate --report`);
  }
  return report;
}

export function modelCard(model: ModelJson, report?: EvaluationReport): ModelCard {
  const card = model.card as Record<string, any>;
  const data = card.data as { folder?: string } | undefined;
  return {
    name: String(card.name ?? 'covid-ct model'),
    task: String(card.task ?? 'P(COVID-19) of one chest CT slice'),
    intendedUse: INTENDED_USE,
    threshold: model.threshold,
    backbone: {
      architecture: model.backbone.architecture, taps: model.backbone.taps, inputSize: model.backbone.inputSize,
      pretrained: card.pretrained?.description, licence: card.pretrained?.licence,
    },
    preprocessing: model.preprocessing,
    ...(model.reading ? { reading: model.reading } : {}),
    trainingData: `COVID-CT (Zhao et al., arXiv:2003.13865), official patient-level split${data?.folder ? ` (folder ${data.folder})` : ''}: ` +
      'train 425 slices, val 118 (model selection and threshold), test 203 (reported once).',
    val: card.val,
    ...(report?.split === 'test' ? {
      test: { n: report.n, metrics: report.metrics, confusion: report.confusion, ...(report.calibration ? { calibration: { bins: report.calibration.bins, ece: report.calibration.ece } } : {}) },
    } : {}),
    calibration: CALIBRATION_NOTE,
    attribution: attributionText(model),
  };
}
