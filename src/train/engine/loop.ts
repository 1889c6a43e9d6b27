/**
 * The fine-tuning loop on cached lower feature maps: epochs of shuffled mini-batches (each image contributes
 * one of its cached augmented views per epoch, drawn from a stream seeded by (seed, epoch)), val AUC after
 * every epoch (epoch 0 = the starting model), the best epoch kept, early stopping, and a checkpoint after every
 * epoch so that an interrupted run resumes and ends exactly as an uninterrupted one would.
 */
import type { Binary } from '../../types.js';
import type { ConvLayer } from '../../model/mobilenetv2.js';
import { sigmoid, type LinearHead } from '../../model/head.js';
import { rocAuc } from '../../eval/metrics.js';
import { Rng, deriveSeed } from '../../util/prng.js';
import { FineTuner, type FineTuneOptions, type UpperSpec } from './finetune.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';

/** One image's cached lower feature maps: `views` maps of H*W*C floats, view-major. */
export interface CachedImage { x: Float32Array; views: number; y: Binary }

export interface FineTuneData {
  shape: [number, number, number];
  train: CachedImage[];
  val: CachedImage[];
}

export interface LoopOptions {
  epochs: number;
  batchSize: number;
  /** Stop when val AUC has not improved for this many epochs. */
  patience: number;
  learningRate: number;
  headLearningRate: number;
  weightDecay: number;
  warmupEpochs: number;
  labelSmoothing: number;
  /**
   * Mixup on the cached maps (manifold mixup at block 13) with this probability per batch: each map becomes
   * l x_i + (1 - l) x_j and its label l y_i + (1 - l) y_j, l = max(u, 1 - u), u uniform, j a permutation of
   * the batch. 0 = off.
   */
  mixup?: number;
  /**
   * Weight averaging (SWA): when set, the weights after every epoch >= averageFrom are averaged, and the run
   * trains all its epochs (no early stopping, no best epoch). The result is the averaged model when its val
   * AUC is at least the starting model's, else the starting model: a choice between two models instead of the
   * maximum over a noisy per-epoch val curve.
   */
  averageFrom?: number;
  seed: number;
  /** Resume from / save to this file; the fingerprint must match for a checkpoint to be used. */
  checkpoint?: { file: string; fingerprint: string };
  /** Seconds already spent before the loop (cache, head init), added to the wall-clock column. */
  elapsedBefore?: number;
  onEpoch?: (r: EpochRecord, tuner: FineTuner) => void;
  /** Called before each step (progress) with the global step and the total. */
  onStep?: (step: number, total: number) => void;
}

export interface EpochRecord {
  epoch: number;
  /** Mean training loss of the epoch (null for epoch 0, the starting model). */
  loss: number | null;
  valAuc: number;
  /** Wall-clock seconds since the start of the run when this epoch's val AUC was known. */
  wallSeconds: number;
}

export interface LoopResult {
  bestEpoch: number;
  bestAuc: number;
  history: EpochRecord[];
  layers: ConvLayer[];
  head: LinearHead;
  resumedFrom: number | null;
  stoppedEarly: boolean;
  /** With averageFrom: the averaged model's epochs and val AUC, and whether it was chosen over epoch 0. */
  average?: { fromEpoch: number; toEpoch: number; valAuc: number; chosen: boolean };
}

interface Meta {
  fingerprint: string;
  epoch: number;
  history: EpochRecord[];
  bestEpoch: number;
  bestAuc: number;
  done: boolean;
  /** Epochs summed into the running average (arrays a0..). */
  averaged?: number;
}

/** P(COVID) of each val image: the mean over its cached views of sigmoid(logit). */
export function valScores(tuner: FineTuner, data: FineTuneData): number[] {
  const per = data.shape[0] * data.shape[1] * data.shape[2];
  const views = data.val.reduce((s, im) => s + im.views, 0);
  const x = new Float32Array(views * per);
  let o = 0;
  for (const im of data.val) { x.set(im.x, o); o += im.x.length; }
  const z = tuner.logits(x, data.shape, views);
  let k = 0;
  return data.val.map((im) => {
    let p = 0;
    for (let v = 0; v < im.views; v++) p += sigmoid(z[k++]);
    return p / im.views;
  });
}

export async function fineTuneLoop(layers: ConvLayer[], spec: UpperSpec, head: LinearHead, data: FineTuneData, opts: LoopOptions): Promise<LoopResult> {
  const t0 = Date.now() / 1000 - (opts.elapsedBefore ?? 0);
  const per = data.shape[0] * data.shape[1] * data.shape[2];
  const stepsPerEpoch = Math.ceil(data.train.length / opts.batchSize);
  const total = stepsPerEpoch * opts.epochs;
  const ftOpts: FineTuneOptions = {
    learningRate: opts.learningRate, headLearningRate: opts.headLearningRate, weightDecay: opts.weightDecay,
    warmupSteps: Math.max(1, Math.round(opts.warmupEpochs * stepsPerEpoch)), totalSteps: total, labelSmoothing: opts.labelSmoothing,
  };
  const tuner = new FineTuner(layers, spec, head, ftOpts);
  const yVal = data.val.map((im) => im.y);
  try {
    let meta: Meta;
    let best: Float32Array[];
    // Running sum of the weights for SWA (float64 would differ only in the last bits; kept float32 for the checkpoint).
    let sum: Float32Array[] | undefined;
    const averaging = (opts.averageFrom ?? 0) > 0;
    let resumedFrom: number | null = null;
    const ck = opts.checkpoint ? await loadCheckpoint<Meta>(opts.checkpoint.file) : undefined;
    if (ck && ck.meta.fingerprint === opts.checkpoint!.fingerprint) {
      tuner.restore(ck.arrays);
      meta = ck.meta;
      best = tuner.weights().map((_, k) => ck.arrays[`b${k}`]);
      if (meta.averaged) sum = best.map((_, k) => ck.arrays[`a${k}`]);
      resumedFrom = meta.epoch;
    } else {
      const auc0 = rocAuc(yVal, valScores(tuner, data));
      const r0: EpochRecord = { epoch: 0, loss: null, valAuc: auc0, wallSeconds: Date.now() / 1000 - t0 };
      meta = { fingerprint: opts.checkpoint?.fingerprint ?? '', epoch: 0, history: [r0], bestEpoch: 0, bestAuc: auc0, done: false };
      best = tuner.weights();
      opts.onEpoch?.(r0, tuner);
    }
    const save = async () => {
      if (!opts.checkpoint) return;
      const arrays = tuner.state();
      best.forEach((w, k) => { arrays[`b${k}`] = w; });
      sum?.forEach((w, k) => { arrays[`a${k}`] = w; });
      await saveCheckpoint(opts.checkpoint.file, { meta, arrays });
    };
    const batch = new Float32Array(opts.batchSize * per);
    while (!meta.done && meta.epoch < opts.epochs) {
      const epoch = meta.epoch + 1;
      const rng = new Rng(deriveSeed(opts.seed, `finetune-epoch-${epoch}`));
      const viewOf = data.train.map((im) => rng.int(im.views));
      const order = rng.shuffle(Array.from(data.train.keys()));
      let lossSum = 0;
      for (let s = 0; s < order.length; s += opts.batchSize) {
        const idx = order.slice(s, s + opts.batchSize);
        idx.forEach((i, k) => batch.set(data.train[i].x.subarray(viewOf[i] * per, (viewOf[i] + 1) * per), k * per));
        let labels: number[] = idx.map((i) => data.train[i].y);
        if (opts.mixup && rng.next() < opts.mixup) {
          const u = rng.next();
          const l = Math.max(u, 1 - u);
          const perm = rng.shuffle(Array.from(idx.keys()));
          const src = batch.slice(0, idx.length * per);
          for (let k = 0; k < idx.length; k++) {
            const a = k * per, b = perm[k] * per;
            for (let e = 0; e < per; e++) batch[a + e] = l * src[a + e] + (1 - l) * src[b + e];
          }
          labels = labels.map((v, k) => l * v + (1 - l) * labels[perm[k]]);
        }
        opts.onStep?.(tuner.step, total);
        lossSum += tuner.trainStep(batch.subarray(0, idx.length * per), data.shape, labels) * idx.length;
      }
      const auc = rocAuc(yVal, valScores(tuner, data));
      const rec: EpochRecord = { epoch, loss: lossSum / order.length, valAuc: auc, wallSeconds: Date.now() / 1000 - t0 };
      meta.history.push(rec);
      meta.epoch = epoch;
      if (averaging) {
        if (epoch >= opts.averageFrom!) {
          const w = tuner.weights();
          if (!sum) sum = w;
          else sum.forEach((a, k) => { const b = w[k]; for (let i = 0; i < a.length; i++) a[i] += b[i]; });
          meta.averaged = (meta.averaged ?? 0) + 1;
        }
      } else {
        if (auc > meta.bestAuc) { meta.bestAuc = auc; meta.bestEpoch = epoch; best = tuner.weights(); }
        if (epoch - meta.bestEpoch >= opts.patience) meta.done = true;
      }
      opts.onEpoch?.(rec, tuner);
      await save();
    }
    const stoppedEarly = meta.done && meta.epoch < opts.epochs;
    let average: LoopResult['average'];
    if (averaging && sum && meta.averaged) {
      const n = meta.averaged;
      tuner.setWeights(sum.map((a) => a.map((v) => v / n)));
      const valAuc = rocAuc(yVal, valScores(tuner, data));
      const chosen = valAuc >= meta.history[0].valAuc;
      average = { fromEpoch: opts.averageFrom!, toEpoch: meta.epoch, valAuc, chosen };
      if (chosen) { meta.bestAuc = valAuc; meta.bestEpoch = meta.epoch; } else tuner.setWeights(best);
    } else tuner.setWeights(best);
    return {
      bestEpoch: meta.bestEpoch, bestAuc: meta.bestAuc, history: meta.history, layers: tuner.layers(layers), head: tuner.head(),
      resumedFrom, stoppedEarly, ...(average ? { average } : {}),
    };
  } finally {
    tuner.dispose();
  }
}
