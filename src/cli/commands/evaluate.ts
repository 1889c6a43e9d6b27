import path from 'node:path';
import type { Command } from '../command.js';
import { intOption, parseCommandArgs, resolveDataDir, resolveModelDir } from '../command.js';
import type { Split } from '../../types.js';
import { SPLITS, labelToBinary } from '../../types.js';
import { loadLabelledSet } from '../../data/labelled-set.js';
import { loadEngine } from '../../model/load-engine.js';
import type { Engine } from '../../model/engine.js';
import { modelThreadsFor, prepareOnFor, scoreFiles } from '../../predict/score-files.js';
import { evaluateScoresWithBootstrap, type EvalSplit, type EvaluationContext } from '../../eval/evaluation.js';
import { DEFAULT_TOP_K, evaluatePatients } from '../../eval/patients.js';
import { calibration } from '../../eval/calibration.js';
import { formatTable, writeFileAtomic, writeMarkdownReport } from '../../eval/report.js';
import { csvField } from '../../predict/format.js';
import { Progress } from '../../util/progress.js';
import { UserError } from '../../util/errors.js';

export const evaluateCommand: Command = {
  words: ['evaluate'],
  summary: 'score labelled images (a split, class folders or a CSV manifest) and report metrics with 95% bootstrap intervals',
  help: `
Usage: covid-ct evaluate [--data DIR|FILE] [--model DIR] [--split val|test|train] [--top-k N] [--no-patients] [--json] [--report FILE.md]

Scores every labelled image with the model at its own (val-chosen) threshold and reports accuracy,
sensitivity, specificity, precision, F1 and AUC with COVID as the positive class, each with a 95% percentile
bootstrap interval (2000 draws, seed 0, stratified by class: every draw resamples the COVID images from the
COVID images and the others from the others), the confusion matrix, the legacy F1 with NonCOVID as the positive
class (what the original COVID-CT code printed), and the expected calibration error as measured and
bias-corrected, with a basic bootstrap interval. If any image cannot be scored, no metric is given.

--data is told apart by what it is:
  a folder with splits/     the COVID-CT layout; --split chooses the split (val by default: score test
                            only to report, once, with --split test)
  a folder with covid/ and noncovid/ subfolders (any case; non-covid, non_covid too, each optionally after
                            CT_ or CT-, as COVID-CT's own CT_COVID/ and CT_NonCOVID/); every file found
                            recursively in a class folder is an image of that class; any other subfolder is
                            an error. When every image lies in a folder under its class folder
                            (covid/<patient>/..., as a PACS export), that folder is its patient
  a CSV file                a manifest whose header has path,label and optionally patient_id (other columns
                            ignored); paths relative to the CSV's folder; labels covid/noncovid (any case)
Other data than the official layout is reported as split "external". A file that holds a whole scan (a NIfTI
volume, a multi-frame DICOM) gives every one of its slices its label. Without patient ids, when every slice comes
from a scan (DICOM files, NIfTI volumes), each scan (DICOM series, volume) is one unit of the bootstrap and of the
patient-level AUC: a scan's slices are one patient's, not independent cases.

With patient ids (a CSV patient_id column, or patient folders), the bootstrap resamples patients (each drawn patient with all its
slices; the COVID patients from the COVID patients, the others from the others) instead of images, and a patient-level AUC is added: a patient's score is the mean of its top-k slice
scores (k = 5, --top-k), a patient is COVID if any of its slices is; its interval is a bootstrap over patients
(n/a when all patients are of one class). The official layout is bootstrapped over images.

Options:
  --data DIR|FILE data folder or CSV manifest (default: $COVID_CT_DATA or ../shared/data/covid-ct)
  --model DIR     model folder (default: the shipped model, models/default)
  --split NAME    val (default), test or train; official layout only
  --top-k N       slices averaged per patient for the patient-level score (default 5)
  --no-patients   draw the intervals over images even when the data gives patient ids or scans (narrower, and
                  too narrow when a patient's slices are alike: for comparing with a report that did so)
  --json          print exactly one JSON object instead of the table
  --report FILE   also write a Markdown report, with its ROC curve (FILE-roc.png), its reliability
                  diagram (FILE-reliability.png) and the exact JSON result (FILE.json) beside it
  --scores FILE   also write the per-image probabilities as CSV (file,label,probability[,patient_id])
  --engine NAME   onnx (default: onnxruntime) or tfjs (the training engine); same numbers
  --quiet         no progress output
`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      data: { type: 'string' }, model: { type: 'string' }, split: { type: 'string' }, json: { type: 'boolean' },
      report: { type: 'string' }, scores: { type: 'string' }, engine: { type: 'string' }, quiet: { type: 'boolean' },
      'top-k': { type: 'string' }, 'no-patients': { type: 'boolean' },
    });
    const requested = values.split as Split | undefined;
    if (requested !== undefined && !SPLITS.includes(requested)) throw new UserError(`--split must be val, test or train, got "${values.split}"`);
    const topK = intOption(values['top-k'], 'top-k', DEFAULT_TOP_K, 1);
    const dataPath = resolveDataDir(values.data);
    const modelDir = resolveModelDir(values.model);
    const set = await loadLabelledSet(dataPath, { split: requested });
    if (set.warning) console.error(`note: ${set.warning}`);
    const byImage = Boolean(values['no-patients']);
    if (set.hasPatients && byImage) console.error(`note: --no-patients: the patient ids (${set.patientsFrom}) are not used; the intervals are drawn over images`);
    const split: EvalSplit = set.kind === 'official' ? (set.split as Split) : 'external';
    const what = set.kind === 'official' ? `the ${split} split` : path.relative(process.cwd(), set.path) || set.path;
    const images = set.images;
    if (images.length === 0) throw new UserError(`${set.path}: no image to evaluate`);
    const classes = new Set(images.map((e) => e.label));
    if (classes.size < 2) {
      throw new UserError(`${set.path}: every image is ${images[0].label}; evaluation needs images of both classes (COVID and NonCOVID)`);
    }
    const prepareOn = prepareOnFor(images.length);
    const classifier = await loadEngine(modelDir, values.engine, modelThreadsFor(prepareOn));
    const progress = new Progress(images.length, `scoring ${set.kind === 'official' ? split : set.kind}`, { enabled: !values.quiet });
    const preds = await scoreFiles(classifier, images.map((e) => e.path), { prepareOn, onProgress: (d) => progress.tick(d - progress.completed) });
    progress.done();
    classifier.dispose();
    // A file that holds several slices (a NIfTI volume, a multi-frame DICOM) gives each of them its label; its
    // slices are one unit of the bootstrap (its patient's, or the file's own when there are no patient ids).
    const fileOf = sliceFiles(images.map((e) => e.path), preds.map((p) => p.file), what);
    const volumes = preds.length > images.length;
    // Only the probability counts (never the predicted label): an image without a finite one cannot be scored.
    const failed = preds.filter((p) => p.error !== undefined || typeof p.probability !== 'number' || !Number.isFinite(p.probability));
    if (failed.length) {
      throw new UserError(`${failed.length} image(s) of ${what} could not be scored, so no honest metrics can be given:\n` +
        failed.map((p) => `  ${p.file}: ${p.error ?? (p as { reason?: string }).reason ?? 'no probability'}`).join('\n'));
    }
    const yTrue = fileOf.map((f) => labelToBinary(images[f].label));
    const scores = preds.map((p) => p.probability as number);
    // The bootstrap's units: patients when the data names them; else scans when every slice came from one (a DICOM
    // series, a volume: its slices are one patient's, never independent cases); else files holding several slices.
    const byPatient = set.hasPatients && !byImage;
    const byScan = !byPatient && !byImage && preds.every((p) => p.dicom?.series !== undefined);
    const groups = byPatient ? fileOf.map((f) => images[f].patient as string)
      // (A volume is its file: two copies of one volume are two units, as listed.)
      : byScan ? preds.map((p, i) => (p.dicom!.volume ? images[fileOf[i]].path : p.dicom!.series))
        : volumes && !byImage ? fileOf.map((f) => images[f].path) : undefined;
    const { result, bootstrap } = evaluateScoresWithBootstrap({ split, yTrue, scores, threshold: classifier.threshold, groups });
    const context: EvaluationContext = {
      data: {
        kind: set.kind, path: path.relative(process.cwd(), set.path) || '.', n_patients: groups ? new Set(groups).size : null,
        patients_from: byPatient ? set.patientsFrom ?? null : byScan ? 'one per scan' : groups ? 'one per scan file' : null,
      },
      bootstrap: { unit: groups ? 'patient' : 'image', ...(bootstrap.tooFew ? { too_few: bootstrap.tooFew } : {}) },
    };
    if (groups) context.patients = evaluatePatients({ yTrue, scores, groups, topK }).result;
    if (values.scores) {
      const header = groups ? 'file,label,probability,patient_id' : 'file,label,probability';
      const rows = preds.map((p, i) => `${csvField(volumes ? p.file : images[fileOf[i]].name)},${images[fileOf[i]].label},${scores[i]}${groups ? `,${csvField(groups[i])}` : ''}`);
      await writeFileAtomic(path.resolve(values.scores), [header, ...rows].join('\n') + '\n');
    }
    // Which weights were scored, so that a model card can show these metrics only beside the model they belong to.
    const output = {
      ...result,
      model: { name: (classifier.json.card as { name?: string }).name, headSha256: classifier.json.head.sha256, backboneSha256: classifier.json.backbone.sha256, views: classifier.json.preprocessing.views },
      ...context,
      // P is not a calibrated probability: say by how much (ECE, its interval, the reliability bins).
      calibration: calibration(yTrue, scores, { groups }),
    };
    if (values.report) {
      // The exact result beside the report, so that anyone can check a re-run reproduces it to the last digit.
      await writeFileAtomic(path.resolve(values.report).replace(/\.md$/i, '') + '.json', JSON.stringify(output, null, 2) + '\n');
      const card = classifier.json.card as { name?: string };
      const dataArg = set.kind === 'official' ? `--split ${split}`
        : `--data ${context.data.path}${groups && topK !== DEFAULT_TOP_K ? ` --top-k ${topK}` : ''}${byImage ? ' --no-patients' : ''}`;
      await writeMarkdownReport({
        result, yTrue, scores, bootstrap, context, calibration: output.calibration,
        file: path.resolve(values.report),
        command: `covid-ct evaluate ${dataArg} --model ${path.relative(process.cwd(), modelDir) || '.'} --report ${values.report}`,
        model: { name: card.name ?? path.basename(modelDir), description: describeModel(classifier) },
      });
    }
    console.log(values.json ? JSON.stringify(output) : formatTable(result, context, output.calibration));
    // The metrics count every slice with its raw P, refused ones too (0 when no lungs were found): say how many.
    const refused = preds.filter((p) => p.label === 'NotCT');
    if (refused.length) {
      const kinds = new Map<string, number>();
      for (const p of refused) kinds.set(p.refusal ?? 'not-ct', (kinds.get(p.refusal ?? 'not-ct') ?? 0) + 1);
      console.error(`note: ${refused.length} of ${preds.length} slices were refused as NotCT (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}); ` +
        'the metrics count them with their raw P(COVID), as predict\'s probability column gives it (0 when no lungs were found). ' +
        '`covid-ct predict` on the same files lists them with their reasons.');
    }
    return 0;
  },
};

/**
 * For each scored slice, the index of the file it came from: a file's slices are named as the file, or as the file
 * with " [slice k]" / " [frame k]" after it (inputs.ts). Zips are refused: their entries carry no label of their own.
 */
export function sliceFiles(files: readonly string[], sliceNames: readonly string[], what: string): number[] {
  const index = new Map(files.map((f, i) => [f, i]));
  return sliceNames.map((name) => {
    const i = index.get(name) ?? index.get(name.replace(/ \[(slice|frame) \d+\]$/, ''));
    if (i === undefined) throw new UserError(`${what}: ${name} is not one of its files (a zip? list the slices themselves)`);
    return i;
  });
}

function describeModel(c: Engine): string[] {
  const j = c.json;
  const card = j.card as Record<string, any>;
  return [
    `Backbone: MobileNetV2 1.0 (${card.pretrained?.description ?? 'pretrained'}), frozen; features: mean-pooled ${j.backbone.taps.join(', ')} (${j.head.dim} values) at ${j.backbone.inputSize}x${j.backbone.inputSize}, grey.`,
    `Head: logistic regression, weight decay ${card.chosen?.weightDecay}, epoch ${card.chosen?.epoch} chosen by val AUC; test-time views: ${j.preprocessing.views}.`,
    `Threshold ${j.threshold.toFixed(4)} chosen on val (${card.chosen?.thresholdRule}); val AUC ${typeof card.val?.auc === 'number' ? card.val.auc.toFixed(4) : '?'} on ${card.val?.n} images.`,
    `Seed ${card.seed}; recipe "${card.recipe?.name}".`,
  ];
}
