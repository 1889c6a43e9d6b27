/**
 * Trains a covid-ct model: frozen MobileNetV2 features of augmented views (cached), a logistic head trained
 * per weight decay with its epoch chosen by val AUC, the decision threshold chosen on val. The test split is
 * never read here.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Binary, DatasetEntry } from '../types.js';
import { labelToBinary } from '../types.js';
import { loadDataset, entriesOf, splitFileHashes } from '../data/dataset.js';
import { mobileNetV2Backbone, type Backbone } from '../model/backbone.js';
import { headProbability, type LinearHead } from '../model/head.js';
import { saveModel, type ModelJson } from '../model/model-files.js';
import { exportOnnx } from '../model/onnx-export.js';
import { writeFileAtomic } from '../eval/report.js';
import type { ConvLayer } from '../model/mobilenetv2.js';
import type { PretrainedSource } from '../model/pretrained.js';
import { binaryMetrics, chooseThreshold, rocAuc } from '../eval/metrics.js';
import { bandLimitOf, lungFramingOf, evalPlanOf, recipeFeatures, trainPlanOf, type RecipeFeatureRun, type SkippedFile } from './recipe-features.js';
import { chooseWeightDecay } from './logreg.js';
import type { Recipe } from './recipe.js';
import { Progress } from '../util/progress.js';
import { trainFineTuned } from './finetune-run.js';
import { readAndDecodeGrey } from '../data/decode.js';
import { findLungs } from '../data/involvement.js';
import { OPERATING_GATE, readSlice, type ReadingDesign } from '../model/reading.js';
import { fitOod, tapMask, type OodModel } from '../model/ood.js';
import { TAP_CHANNELS } from '../model/backbone.js';

export interface TrainOptions {
  dataDir: string;
  outDir: string;
  recipe: Recipe;
  pretrained: { layers: ConvLayer[]; source: PretrainedSource };
  seed: number;
  /** Folder of the feature cache; undefined disables it. */
  cacheDir?: string;
  /** Folder of fine-tuning checkpoints (default: <cacheDir>/checkpoints; none without either). */
  checkpointDir?: string;
  /** Use at most this many images per split and class (smoke tests); undefined = all. */
  limit?: number;
  quiet?: boolean;
  log?: (line: string) => void;
}

export interface TrainSummary {
  outDir: string;
  model: ModelJson;
  /** Val AUC of the model's P: gate x pattern for a lungs design, else the pattern model's. */
  valAuc: number;
  /** Val AUC of the pattern model alone (equal to valAuc without a reading design). */
  patternValAuc: number;
  seconds: number;
  skipped: SkippedFile[];
}

export function limitEntries(entries: DatasetEntry[], limit: number | undefined): DatasetEntry[] {
  if (limit === undefined) return entries;
  const seen = new Map<string, number>();
  return entries.filter((e) => {
    const k = `${e.split}/${e.label}`;
    const n = seen.get(k) ?? 0;
    seen.set(k, n + 1);
    return n < limit;
  });
}

/** What identifies the frozen backbone's features in the cache besides the framing and the plan. */
export function frozenFeatureKey(layers: ConvLayer[], normalisation: string, taps: readonly string[]): Record<string, unknown> {
  return { wfp: weightsFingerprint(layers), normalisation, taps };
}

/**
 * The model's decision threshold from its pattern model's. The lungs design (a reading) fixes it by design, not on
 * val (whose slices all show diseased lungs): the P of a slice at both cuts, gate 0.5 x the pattern's threshold.
 */
export function modelThreshold(patternThreshold: number, reading: boolean): number {
  return reading ? OPERATING_GATE * patternThreshold : patternThreshold;
}

export function weightsFingerprint(layers: ConvLayer[]): string {
  const h = createHash('sha256');
  for (const l of layers) { h.update(new Uint8Array(l.weight.buffer, l.weight.byteOffset, l.weight.byteLength)); h.update(new Uint8Array(l.bias.buffer, l.bias.byteOffset, l.bias.byteLength)); }
  return h.digest('hex');
}

/**
 * Features of the training views. With `marksOnNonCovid`, the NonCOVID slices' views get figure marks pasted
 * (their own plan, so their own cache entries); the COVID slices keep the plain plan.
 */
async function trainFeatures(run: RecipeFeatureRun, train: DatasetEntry[], recipe: Recipe, seed: number): Promise<(Float32Array | null)[]> {
  const plan = trainPlanOf(recipe, seed);
  const what = `train features (${recipe.trainViews} views/image)`;
  if (!recipe.marksOnNonCovid) return recipeFeatures(run, train, plan, what);
  const out: (Float32Array | null)[] = new Array(train.length).fill(null);
  for (const [label, p] of [['COVID', plan], ['NonCOVID', { ...plan, marksProbability: recipe.marksOnNonCovid }]] as const) {
    const idx = train.map((e, i) => (e.label === label ? i : -1)).filter((i) => i >= 0);
    const feats = await recipeFeatures(run, idx.map((i) => train[i]), p, `${what}, ${label}`);
    idx.forEach((i, k) => { out[i] = feats[k]; });
  }
  return out;
}

export async function trainModel(opts: TrainOptions): Promise<TrainSummary> {
  if (opts.recipe.finetune) return trainFineTuned(opts);
  const started = Date.now();
  const log = opts.log ?? ((s: string) => { if (!opts.quiet) process.stderr.write(s + '\n'); });
  const { recipe, seed } = opts;
  const all = limitEntries(await loadDataset(opts.dataDir), opts.limit);
  const train = entriesOf(all, 'train');
  const val = entriesOf(all, 'val');
  log(`training recipe "${recipe.name}" seed ${seed} on ${train.length} train images, choosing on ${val.length} val images`);

  const normalisation = opts.pretrained.source.normalisation;
  const backbone: Backbone = await mobileNetV2Backbone(opts.pretrained.layers, { taps: recipe.taps, inputSize: recipe.inputSize, normalisation });
  const skipped: SkippedFile[] = [];

  const bandLimit = bandLimitOf(recipe);
  const run: RecipeFeatureRun = {
    recipe, backbone, cacheDir: opts.cacheDir, key: frozenFeatureKey(opts.pretrained.layers, normalisation, recipe.taps),
    quiet: opts.quiet, log, skipped,
  };
  const trainFeats = await trainFeatures(run, train, recipe, seed);
  const valFeats = await recipeFeatures(run, val, evalPlanOf(recipe), `val features (${recipe.evalViews} views/image)`);
  backbone.dispose();

  const dim = backbone.dim;
  const rows: Float32Array[] = [];
  const y: Binary[] = [];
  train.forEach((e, i) => {
    const f = trainFeats[i];
    if (!f) return;
    for (let v = 0; v < recipe.trainViews; v++) { rows.push(f.subarray(v * dim, (v + 1) * dim)); y.push(labelToBinary(e.label)); }
  });
  const valIdx = val.map((_, i) => i).filter((i) => valFeats[i] !== null);
  const yVal = valIdx.map((i) => labelToBinary(val[i].label));
  const valScores = (head: LinearHead) => valIdx.map((i) => headProbability(head, valFeats[i]!, recipe.evalViews));

  let progress: Progress | undefined;
  const choice = chooseWeightDecay(rows, y, { ...recipe.head, seed }, recipe.weightDecays, (h) => rocAuc(yVal, valScores(h)), {
    start: (weightDecay) => {
      const bar = new Progress(recipe.head.epochs, `head epochs (weight decay ${weightDecay})`, { enabled: !opts.quiet });
      progress = bar;
      return () => bar.tick();
    },
    end: (weightDecay, b) => {
      progress?.done();
      log(`  weight decay ${weightDecay}: best val AUC ${b.score.toFixed(4)} at epoch ${b.epoch}`);
    },
  });
  const chosen = { head: choice.head, auc: choice.best.score, epoch: choice.best.epoch, weightDecay: choice.weightDecay };
  const search = choice.search.map((s) => ({ weightDecay: s.weightDecay, bestEpoch: s.bestEpoch, valAuc: s.score }));
  const scores = valScores(chosen.head);
  const patternThreshold = chooseThreshold(yVal, scores, recipe.thresholdRule);
  log(`chosen: weight decay ${chosen.weightDecay}, epoch ${chosen.epoch}, val AUC ${chosen.auc.toFixed(4)}, threshold ${patternThreshold.toFixed(4)} (${recipe.thresholdRule} on val)`);
  // The lungs design: P = gate(involvement) x pattern (reading.ts). Its threshold is fixed by the design, not chosen
  // on val (whose slices all show diseased lungs): the P of a slice at both cuts, gate 0.5 x the pattern's threshold.
  let reading: ReadingDesign | undefined;
  let finalScores = scores;
  if (recipe.reading) {
    reading = { gate: recipe.reading.gate, pattern: { threshold: patternThreshold, band: recipe.reading.band } };
    const design = reading;
    const findings = await Promise.all(valIdx.map(async (i) => findLungs(await readAndDecodeGrey(val[i].path)).findings));
    finalScores = valIdx.map((_, k) => readSlice(scores[k], findings[k], 0, design).probability);
    log(`reading: val AUC of gate x pattern ${rocAuc(yVal, finalScores).toFixed(4)} (pattern alone ${chosen.auc.toFixed(4)})`);
  }
  // The not-CT distance (ood.ts), fitted on the identity view (view 0) of every train and val slice.
  let ood: OodModel | undefined;
  if (recipe.reading?.ood) {
    const o = recipe.reading.ood;
    const fitRows: Float32Array[] = [];
    for (const f of trainFeats) if (f) fitRows.push(f.subarray(0, dim));
    for (const f of valFeats) if (f) fitRows.push(f.subarray(0, dim));
    const taps = o.taps ?? recipe.taps;
    const t0 = Date.now();
    ood = fitOod(fitRows, { mean: chosen.head.mean, std: chosen.head.std, k: o.k, quantile: o.quantile, taps, use: tapMask(recipe.taps, TAP_CHANNELS, taps) });
    log(`not-CT distance: k ${ood.design.k} on ${fitRows.length} slices (${taps.join(', ')}), threshold ${ood.design.threshold.toFixed(1)} (${o.quantile} quantile out of fold), ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const threshold = modelThreshold(patternThreshold, reading !== undefined);
  const valMetrics = binaryMetrics(yVal, finalScores, threshold);

  const json = await saveModel(opts.outDir, {
    layers: opts.pretrained.layers,
    head: chosen.head,
    ...(ood ? { ood } : {}),
    attribution: `# Attribution\n\n${opts.pretrained.source.attribution}\n\nThe backbone is used frozen; covid-ct trained a logistic head on its features, on the COVID-CT dataset (Zhao J, Zhang Y, He X, Xie P. COVID-CT-Dataset: a CT scan dataset about COVID-19. arXiv:2003.13865, 2020).\n`,
    json: {
      backbone: { architecture: 'mobilenetv2-1.0', taps: recipe.taps, inputSize: recipe.inputSize, pooling: 'mean' },
      preprocessing: {
        colour: 'grey', workingSize: recipe.workingSize, fit: recipe.fit, inputSize: recipe.inputSize,
        normalisation, views: recipe.evalViews, ...bandLimit, ...lungFramingOf(recipe),
      },
      threshold,
      ...(reading ? { reading } : {}),
      card: {
        name: `covid-ct ${recipe.name}`,
        task: 'P(COVID-19 findings) of one axial chest CT slice; COVID is the positive class',
        intendedUse: 'research and education; not a diagnosis and not a medical device',
        pretrained: opts.pretrained.source,
        recipe,
        seed,
        chosen: { weightDecay: chosen.weightDecay, epoch: chosen.epoch, thresholdRule: recipe.thresholdRule },
        search,
        val: { n: yVal.length, ...valMetrics },
        data: { folder: path.basename(path.resolve(opts.dataDir)), splitFiles: await splitFileHashes(opts.dataDir), train: train.length, val: val.length, limit: opts.limit ?? null },
        skipped,
        trainedAt: new Date().toISOString(),
        trainSeconds: Math.round((Date.now() - started) / 1000),
        software: { node: process.version, covidCt: '0.1.0' },
      },
    },
  });
  // The folder carries its ONNX export for the fast engine (if this step is interrupted, the engine exports
  // in memory instead; nothing is left half-written).
  await writeFileAtomic(path.join(opts.outDir, 'model.onnx'), Buffer.from(exportOnnx({ dir: opts.outDir, json, layers: opts.pretrained.layers, head: chosen.head })));
  return { outDir: opts.outDir, model: json, valAuc: valMetrics.auc, patternValAuc: chosen.auc, seconds: (Date.now() - started) / 1000, skipped };
}
