/**
 * `covid-ct train --recipe finetune`: fine-tunes the upper MobileNetV2 blocks and the head.
 *
 *  1. The frozen lower blocks (stem .. block firstBlock-1) run once per augmented training view and per val
 *     view (onnxruntime-node), their whole feature maps cached on disk (features.ts: content-addressed, atomic).
 *  2. The head is initialised as the frozen recipe trains it: logistic regression on the mean-pooled taps of the
 *     pretrained upper blocks, weight decay and epoch chosen by val AUC.
 *  3. The upper blocks + head are fine-tuned with tfjs-wasm autograd (engine/loop.ts), checkpointed after every
 *     epoch; the epoch (0 = the frozen model) is chosen by val AUC. Then the threshold on val, the model folder
 *     (fine-tuned layers stored as float32) and its ONNX export. The test split is never read.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { labelToBinary, type Binary, type DatasetEntry } from '../types.js';
import { loadDataset, entriesOf, splitFileHashes } from '../data/dataset.js';
import { headProbability, type LinearHead } from '../model/head.js';
import { saveModel } from '../model/model-files.js';
import { exportOnnx } from '../model/onnx-export.js';
import { writeFileAtomic } from '../eval/report.js';
import { binaryMetrics, chooseThreshold, rocAuc } from '../eval/metrics.js';
import { bandLimitOf, evalPlanOf, lowerCacheDir, recipeFeatures, trainPlanOf, type RecipeFeatureRun, type SkippedFile } from './recipe-features.js';
import { chooseWeightDecay } from './logreg.js';
import { Progress } from '../util/progress.js';
import { initTf } from '../model/tf-backend.js';
import { registerWasmConvGradients } from './engine/conv-grads.js';
import { LowerBackbone } from './engine/lower.js';
import { FineTuner, pooledFeatures, type UpperSpec } from './engine/finetune.js';
import { fineTuneLoop, valScores, type CachedImage } from './engine/loop.js';
import { limitEntries, weightsFingerprint, type TrainOptions, type TrainSummary } from './train.js';

export async function trainFineTuned(opts: TrainOptions): Promise<TrainSummary> {
  const started = Date.now();
  const log = opts.log ?? ((s: string) => { if (!opts.quiet) process.stderr.write(s + '\n'); });
  const { recipe, seed } = opts;
  const ft = recipe.finetune!;
  await initTf();
  registerWasmConvGradients();
  const all = limitEntries(await loadDataset(opts.dataDir), opts.limit);
  const train = entriesOf(all, 'train');
  const val = entriesOf(all, 'val');
  log(`fine-tuning recipe "${recipe.name}" seed ${seed} (blocks ${ft.firstBlock}-17 + head) on ${train.length} train images, choosing on ${val.length} val images`);

  const normalisation = opts.pretrained.source.normalisation;
  const layers = opts.pretrained.layers;
  const lower = await LowerBackbone.create(layers, normalisation, recipe.inputSize, ft.firstBlock);
  const wfp = weightsFingerprint(layers);
  const skipped: SkippedFile[] = [];
  const run: RecipeFeatureRun = {
    recipe, backbone: lower, cacheDir: lowerCacheDir(opts.cacheDir), key: { kind: 'lower-maps', firstBlock: ft.firstBlock, wfp, normalisation },
    quiet: opts.quiet, log, skipped,
  };
  const trainMaps = await recipeFeatures(run, train, trainPlanOf(recipe, seed), `train block-${ft.firstBlock - 1} maps (${recipe.trainViews} views/image, onnxruntime)`);
  const valMaps = await recipeFeatures(run, val, evalPlanOf(recipe), `val block-${ft.firstBlock - 1} maps (${recipe.evalViews} views/image)`);
  lower.dispose();
  const cacheSeconds = (Date.now() - started) / 1000;
  const shape = lower.shape;
  const per = lower.dim;
  const cached = (entries: DatasetEntry[], maps: (Float32Array | null)[], views: number): CachedImage[] =>
    entries.flatMap((e, i) => (maps[i] ? [{ x: maps[i]!, views, y: labelToBinary(e.label) as Binary }] : []));
  const data = { shape, train: cached(train, trainMaps, recipe.trainViews), val: cached(val, valMaps, recipe.evalViews) };

  // The starting head: the frozen recipe's logistic regression on the pretrained upper blocks' pooled taps.
  const spec: UpperSpec = { firstBlock: ft.firstBlock, taps: recipe.taps };
  const concat = (imgs: CachedImage[]) => {
    const n = imgs.reduce((s, im) => s + im.views, 0);
    const x = new Float32Array(n * per);
    let o = 0;
    for (const im of imgs) { x.set(im.x, o); o += im.x.length; }
    return { x, n };
  };
  const tr = concat(data.train);
  const rows = pooledFeatures(layers, spec, tr.x, shape, tr.n);
  const y: Binary[] = data.train.flatMap((im) => Array<Binary>(im.views).fill(im.y));
  const va = concat(data.val);
  const valRows = pooledFeatures(layers, spec, va.x, shape, va.n);
  const dim = rows[0].length;
  const valFeat = data.val.map((im, i) => {
    const f = new Float32Array(im.views * dim);
    for (let v = 0; v < im.views; v++) f.set(valRows[i * recipe.evalViews + v], v * dim);
    return f;
  });
  const yVal = data.val.map((im) => im.y);
  const headScores = (h: LinearHead) => valFeat.map((f) => headProbability(h, f, recipe.evalViews));
  const choice = chooseWeightDecay(rows, y, { ...recipe.head, seed }, recipe.weightDecays, (h) => rocAuc(yVal, headScores(h)), {
    end: (weightDecay, b) => log(`  head init, weight decay ${weightDecay}: best val AUC ${b.score.toFixed(4)} at epoch ${b.epoch}`),
  });
  const init = { head: choice.head, auc: choice.best.score, weightDecay: choice.weightDecay, epoch: choice.best.epoch };
  const initSeconds = (Date.now() - started) / 1000 - cacheSeconds;

  const fingerprint = createHash('sha256').update(JSON.stringify({ v: 1, wfp, recipe, seed, train: train.map((e) => e.name), val: val.map((e) => e.name) })).digest('hex');
  const ckDir = opts.checkpointDir ?? (opts.cacheDir ? path.join(opts.cacheDir, 'checkpoints') : undefined);
  const ckFile = ckDir ? path.join(ckDir, `${fingerprint.slice(0, 32)}.ckpt`) : undefined;
  const stepsPerEpoch = Math.ceil(data.train.length / ft.batchSize);
  const progress = new Progress(stepsPerEpoch * ft.epochs, 'fine-tuning steps', { enabled: !opts.quiet });
  const r = await fineTuneLoop(layers, spec, init.head, data, {
    ...ft, seed,
    checkpoint: ckFile ? { file: ckFile, fingerprint } : undefined,
    elapsedBefore: (Date.now() - started) / 1000,
    onStep: (step) => { if (step > progress.completed) progress.tick(step - progress.completed); },
    onEpoch: (e) => log(`epoch ${e.epoch}/${ft.epochs}: ${e.loss === null ? 'start (frozen model)' : `loss ${e.loss.toFixed(4)}`}, val AUC ${e.valAuc.toFixed(4)}, ${e.wallSeconds.toFixed(0)} s since start`),
  });
  progress.done();
  if (r.resumedFrom !== null) log(`resumed from the checkpoint of epoch ${r.resumedFrom} (${ckFile})`);
  if (r.average) log(`weights averaged over epochs ${r.average.fromEpoch}-${r.average.toEpoch}: val AUC ${r.average.valAuc.toFixed(4)} (${r.average.chosen ? 'chosen' : 'below the starting model: not chosen'})`);
  log(`chosen: ${r.average?.chosen ? `the average of epochs ${r.average.fromEpoch}-${r.average.toEpoch}` : `epoch ${r.bestEpoch}`}, val AUC ${r.bestAuc.toFixed(4)}${r.stoppedEarly ? ' (stopped early)' : ''}`);

  // The chosen model's val scores (same cached views) give the threshold.
  const scorer = new FineTuner(r.layers, spec, r.head, { learningRate: 0, headLearningRate: 0, weightDecay: 0, warmupSteps: 1, totalSteps: 1, labelSmoothing: 0 });
  const scores = valScores(scorer, data);
  scorer.dispose();
  const threshold = chooseThreshold(yVal, scores, recipe.thresholdRule);
  const valMetrics = binaryMetrics(yVal, scores, threshold);
  const json = await saveModel(opts.outDir, {
    layers: r.layers,
    head: r.head,
    attribution: `# Attribution\n\n${opts.pretrained.source.attribution}\n\nBlocks ${ft.firstBlock}-17, features.18 and the head were fine-tuned by covid-ct on the COVID-CT dataset (Zhao J, Zhang Y, He X, Xie P. COVID-CT-Dataset: a CT scan dataset about COVID-19. arXiv:2003.13865, 2020).\n`,
    json: {
      backbone: { architecture: 'mobilenetv2-1.0', taps: recipe.taps, inputSize: recipe.inputSize, pooling: 'mean' },
      preprocessing: { colour: 'grey', workingSize: recipe.workingSize, fit: recipe.fit, inputSize: recipe.inputSize, normalisation, views: recipe.evalViews, ...bandLimitOf(recipe) },
      threshold,
      card: {
        name: `covid-ct ${recipe.name}`,
        task: 'P(COVID-19 findings) of one axial chest CT slice; COVID is the positive class',
        intendedUse: 'research and education; not a diagnosis and not a medical device',
        pretrained: opts.pretrained.source,
        recipe,
        seed,
        headInit: { weightDecay: init.weightDecay, epoch: init.epoch, valAuc: init.auc },
        chosen: { epoch: r.bestEpoch, thresholdRule: recipe.thresholdRule, ...(r.average ? { average: r.average } : {}) },
        finetune: { history: r.history, stoppedEarly: r.stoppedEarly, resumedFrom: r.resumedFrom, cacheSeconds, initSeconds },
        storage: `convolutions of blocks ${ft.firstBlock}-18 fine-tuned, stored as float32; the others are the pretrained int8 + scales`,
        val: { n: yVal.length, ...valMetrics },
        data: { folder: path.basename(path.resolve(opts.dataDir)), splitFiles: await splitFileHashes(opts.dataDir), train: train.length, val: val.length, limit: opts.limit ?? null },
        skipped,
        trainedAt: new Date().toISOString(),
        trainSeconds: Math.round((Date.now() - started) / 1000),
        software: { node: process.version, covidCt: '0.1.0' },
      },
    },
  });
  await writeFileAtomic(path.join(opts.outDir, 'model.onnx'), Buffer.from(exportOnnx({ dir: opts.outDir, json, layers: r.layers, head: r.head })));
  return { outDir: opts.outDir, model: json, valAuc: r.bestAuc, patternValAuc: r.bestAuc, seconds: (Date.now() - started) / 1000, skipped };
}
