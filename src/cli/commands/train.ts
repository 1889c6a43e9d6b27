import path from 'node:path';
import { existsSync } from 'node:fs';
import type { Command } from '../command.js';
import { intOption, parseCommandArgs, resolveDataDir } from '../command.js';
import { RECIPES } from '../../train/recipe.js';
import { trainModel } from '../../train/train.js';
import { loadNsfwjsPretrained, loadPretrained } from '../../model/pretrained.js';
import { UserError } from '../../util/errors.js';

export const trainCommand: Command = {
  words: ['train'],
  summary: 'train a model (epoch, weight decay and threshold chosen on val)',
  help: `
Usage: covid-ct train --out DIR [--pretrained FILE] [--data DIR] [options]

Trains a classifier on the official train split: frozen MobileNetV2 features of augmented views (cached on
disk, so an interrupted run resumes), a logistic head whose weight decay and epoch are chosen by val AUC, and
a decision threshold chosen on val. The test split is never read. Same seed and data give the same model.

Options:
  --pretrained FILE  MobileNetV2 weights: the ImageNet mobilenetv2-12-int8.onnx of the ONNX Model Zoo
                     (see README: where it comes from, its Apache-2.0 licence). Without it, the
                     MobileNetV2 bundled in the nsfwjs package is used (weaker on CT)
  --out DIR          model folder to write (written atomically when training succeeds); an existing model
                     folder is refused unless --force is given, so a shipped model is never replaced by mistake
  --force            replace the model already in --out
  --data DIR         COVID-CT data folder (default: $COVID_CT_DATA or ../shared/data/covid-ct)
  --recipe NAME      ${Object.keys(RECIPES).join(' | ')} (default: default)
  --seed N           seed of augmentation and head training (default 0)
  --epochs N         head training epochs (default: the recipe's)
  --views N          augmented views per training image (default: the recipe's)
  --finetune JSON    override the fine-tuning settings of a fine-tuning recipe, e.g. '{"epochs":8,"learningRate":3e-5}'
                     (firstBlock, epochs, batchSize, patience, learningRate, headLearningRate, weightDecay,
                     warmupEpochs, labelSmoothing, mixup, averageFrom); checkpoints go to <cache>/checkpoints, so a rerun resumes
  --limit N          use only the first N images of each split and class (smoke tests)
  --cache DIR        feature cache (default .cache/covid-ct/features); --no-cache disables it
  --quiet            no progress output
`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      pretrained: { type: 'string' }, out: { type: 'string' }, data: { type: 'string' }, recipe: { type: 'string' },
      seed: { type: 'string' }, epochs: { type: 'string' }, views: { type: 'string' }, limit: { type: 'string' },
      cache: { type: 'string' }, finetune: { type: 'string' }, 'no-cache': { type: 'boolean' }, quiet: { type: 'boolean' },
      force: { type: 'boolean' },
    });
    if (!values.out) throw new UserError('--out DIR is required (where to write the model)');
    // Refused before any work: an hour of training must not end by silently replacing a model (the shipped one).
    const existing = existingModelProblem(path.resolve(values.out));
    if (existing && !values.force) throw new UserError(`${existing}; pass --force to replace it, or choose another --out`);
    const base = RECIPES[values.recipe ?? 'default'];
    if (!base) throw new UserError(`unknown recipe "${values.recipe}" (known: ${Object.keys(RECIPES).join(', ')})`);
    let finetune = base.finetune;
    if (values.finetune !== undefined) {
      if (!finetune) throw new UserError(`--finetune needs a fine-tuning recipe (e.g. --recipe finetune), not "${base.name}"`);
      let extra: unknown;
      try { extra = JSON.parse(values.finetune); } catch { throw new UserError('--finetune must be a JSON object'); }
      if (typeof extra !== 'object' || extra === null) throw new UserError('--finetune must be a JSON object');
      for (const [k, v] of Object.entries(extra)) {
        if (!(k in finetune) || typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`--finetune: unknown setting or not a number: ${k}`);
      }
      finetune = { ...finetune, ...(extra as Partial<typeof finetune>) };
    }
    const recipe = {
      ...base,
      finetune,
      trainViews: intOption(values.views, 'views', base.trainViews, 1),
      head: { ...base.head, epochs: intOption(values.epochs, 'epochs', base.head.epochs, 1) },
    };
    const dataDir = resolveDataDir(values.data);
    if (!values.pretrained && !values.quiet) {
      process.stderr.write('no --pretrained FILE: using the MobileNetV2 bundled in nsfwjs (ImageNet then NSFW-tuned; clearly weaker on CT than\n' +
        'the ImageNet mobilenetv2-12-int8.onnx, see README "Pretrained weights")\n');
    }
    const pretrained = values.pretrained ? await loadPretrained(path.resolve(values.pretrained)) : await loadNsfwjsPretrained();
    const cacheDir = values['no-cache'] ? undefined : path.resolve(values.cache ?? '.cache/covid-ct/features');
    // Ctrl-C: every cache entry is written whole (atomically), so a run stopped anywhere resumes from what it kept.
    const onInterrupt = () => {
      process.stderr.write(`\ntrain: interrupted${cacheDir ? `; the features computed so far are kept in ${path.relative(process.cwd(), cacheDir) || '.'}: run the same command again to resume` : ''}\n`);
      process.exit(130);
    };
    process.once('SIGINT', onInterrupt);
    const summary = await trainModel({
      dataDir, outDir: path.resolve(values.out), recipe, pretrained,
      seed: intOption(values.seed, 'seed', 0, 0),
      limit: values.limit === undefined ? undefined : intOption(values.limit, 'limit', 0, 1),
      cacheDir,
      quiet: values.quiet,
    }).finally(() => process.off('SIGINT', onInterrupt));
    // The model's own P (gate x pattern for a lungs design) and its threshold; the pattern model's AUC beside it.
    const pattern = summary.model.reading ? `, pattern model alone ${summary.patternValAuc.toFixed(4)}` : '';
    console.log(`model written to ${summary.outDir} (val AUC ${summary.valAuc.toFixed(4)}${pattern}, threshold ${summary.model.threshold.toFixed(4)}, ${Math.round(summary.seconds)} s)`);
    if (summary.skipped.length) console.log(`${summary.skipped.length} image(s) could not be decoded and were skipped (listed in model.json)`);
    return 0;
  },
};

/** Why writing a model to `outDir` would replace one, or null: a model.json is there (a shipped model has one). */
export function existingModelProblem(outDir: string): string | null {
  if (existsSync(path.join(outDir, 'model.json'))) return `${outDir} already holds a model (model.json)`;
  return null;
}
