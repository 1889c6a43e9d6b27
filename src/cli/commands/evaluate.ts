import path from 'node:path';
import type { Command } from '../command.js';
import { parseCommandArgs, resolveDataDir, resolveModelDir } from '../command.js';
import type { Split } from '../../types.js';
import { SPLITS, labelToBinary } from '../../types.js';
import { loadDataset, entriesOf } from '../../data/dataset.js';
import { loadEngine } from '../../model/load-engine.js';
import type { Engine } from '../../model/engine.js';
import { scoreFiles } from '../../predict/score-files.js';
import { evaluateScoresWithBootstrap } from '../../eval/evaluation.js';
import { formatTable, writeFileAtomic, writeMarkdownReport } from '../../eval/report.js';
import { csvField } from '../../predict/format.js';
import { Progress } from '../../util/progress.js';
import { UserError } from '../../util/errors.js';

export const evaluateCommand: Command = {
  words: ['evaluate'],
  summary: 'score a split and report metrics with 95% bootstrap intervals',
  help: `
Usage: covid-ct evaluate [--data DIR] [--model DIR] [--split test|val] [--json] [--report FILE.md]

Scores every image of a split with the model at its own (val-chosen) threshold and reports accuracy,
sensitivity, specificity, precision, F1 and AUC with COVID as the positive class, each with a 95% percentile
bootstrap interval (2000 draws over images, seed 0), the confusion matrix, and the legacy F1 with NonCOVID as
the positive class (what the original COVID-CT code printed).

Options:
  --data DIR      COVID-CT data folder (default: $COVID_CT_DATA or ../shared/data/covid-ct)
  --model DIR     model folder (default: the shipped model, models/default)
  --split NAME    test (default) or val
  --json          print exactly one JSON object instead of the table
  --report FILE   also write a Markdown report, with its ROC curve (FILE-roc.png) and the exact
                  JSON result (FILE.json) beside it
  --scores FILE   also write the per-image probabilities as CSV (file,label,probability)
  --engine NAME   onnx (default: onnxruntime) or tfjs (the training engine); same numbers
  --quiet         no progress output
`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      data: { type: 'string' }, model: { type: 'string' }, split: { type: 'string' }, json: { type: 'boolean' },
      report: { type: 'string' }, scores: { type: 'string' }, engine: { type: 'string' }, quiet: { type: 'boolean' },
    });
    const split = (values.split ?? 'test') as Split;
    if (!SPLITS.includes(split)) throw new UserError(`--split must be one of ${SPLITS.join(', ')}, got "${values.split}"`);
    const dataDir = resolveDataDir(values.data);
    const modelDir = resolveModelDir(values.model);
    const entries = entriesOf(await loadDataset(dataDir), split);
    const classifier = await loadEngine(modelDir, values.engine);
    const progress = new Progress(entries.length, `scoring ${split}`, { enabled: !values.quiet });
    const preds = await scoreFiles(classifier, entries.map((e) => e.path), { onProgress: (d) => progress.tick(d - progress.completed) });
    progress.done();
    classifier.dispose();
    // evaluate scores one image per file; a multi-frame DICOM or a zip in a split would break the pairing.
    if (preds.length !== entries.length) {
      throw new UserError(`the ${split} split must hold single images: its ${entries.length} files gave ${preds.length} slices (a multi-frame DICOM or a zip?)`);
    }
    const failed = preds.filter((p) => p.error);
    if (failed.length) {
      throw new UserError(`${failed.length} image(s) of the ${split} split could not be scored, so no honest metrics can be given:\n` +
        failed.map((p) => `  ${p.file}: ${p.error}`).join('\n'));
    }
    const yTrue = entries.map((e) => labelToBinary(e.label));
    const scores = preds.map((p) => p.probability as number);
    const { result, bootstrap } = evaluateScoresWithBootstrap({ split, yTrue, scores, threshold: classifier.threshold });
    if (values.scores) {
      const csv = ['file,label,probability', ...entries.map((e, i) => `${csvField(e.name)},${e.label},${scores[i]}`)].join('\n') + '\n';
      await writeFileAtomic(path.resolve(values.scores), csv);
    }
    // Which weights were scored, so that a model card can show these metrics only beside the model they belong to.
    const output = { ...result, model: { name: (classifier.json.card as { name?: string }).name, headSha256: classifier.json.head.sha256, backboneSha256: classifier.json.backbone.sha256, views: classifier.json.preprocessing.views } };
    if (values.report) {
      // The exact result beside the report, so that anyone can check a re-run reproduces it to the last digit.
      await writeFileAtomic(path.resolve(values.report).replace(/\.md$/i, '') + '.json', JSON.stringify(output, null, 2) + '\n');
      const card = classifier.json.card as { name?: string };
      await writeMarkdownReport({
        result, yTrue, scores, bootstrap,
        file: path.resolve(values.report),
        command: `covid-ct evaluate --split ${split} --model ${path.relative(process.cwd(), modelDir) || '.'} --report ${values.report}`,
        model: { name: card.name ?? path.basename(modelDir), description: describeModel(classifier) },
      });
    }
    console.log(values.json ? JSON.stringify(output) : formatTable(result));
    return 0;
  },
};

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
