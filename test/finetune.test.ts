/**
 * The fine-tuning engine (src/train/engine/finetune.ts, loop.ts, checkpoint.ts, lower.ts): gradients of the
 * whole upper stack on wasm against the pure-JS cpu backend, a step lowers the loss, an interrupted run resumed
 * from its checkpoint ends bit-identical to an uninterrupted one, and a fine-tuned model folder round-trips and
 * its ONNX export agrees with tfjs (and the cached lower maps + upper stack give the full network's features).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initTf, tf } from '../src/model/tf-backend.js';
import { registerWasmConvGradients } from '../src/train/engine/conv-grads.js';
import { convLayout, type ConvLayer } from '../src/model/mobilenetv2.js';
import { FineTuner, lrFactor, pooledFeatures, upperLayerIndices, upperLogits, bceLoss, type UpperSpec } from '../src/train/engine/finetune.js';
import { fineTuneLoop, type FineTuneData } from '../src/train/engine/loop.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/train/engine/checkpoint.js';
import { LowerBackbone } from '../src/train/engine/lower.js';
import { tapsDim, mobileNetV2Backbone } from '../src/model/backbone.js';
import { saveModel, loadModel } from '../src/model/model-files.js';
import { exportOnnx } from '../src/model/onnx-export.js';
import { Classifier } from '../src/model/classifier.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { loadPretrained } from '../src/model/pretrained.js';
import type { LinearHead } from '../src/model/head.js';
import { Rng } from '../src/util/prng.js';
import { WEIGHTS, requireShared } from './helpers.js';

const SPEC: UpperSpec = { firstBlock: 14, taps: ['f14.expand', 'f16.expand', 'f17.expand', 'f18'] };
const SHAPE: [number, number, number] = [4, 4, 96]; // tiny maps: the channel counts are the real ones

function randomLayers(seed: number): ConvLayer[] {
  const rng = new Rng(seed);
  return convLayout().map((l) => {
    const fanIn = l.kind === 'conv' ? l.kernel * l.kernel * l.cin : l.kernel * l.kernel;
    const n = l.kind === 'conv' ? l.kernel * l.kernel * l.cin * l.cout : l.kernel * l.kernel * l.cin;
    const a = Math.sqrt(3 / fanIn);
    return { ...l, weight: Float32Array.from({ length: n }, () => rng.uniform(-a, a)), bias: Float32Array.from({ length: l.cout }, () => rng.uniform(0, 0.05)) };
  });
}

function randomHead(dim: number, seed: number): LinearHead {
  const rng = new Rng(seed);
  return {
    mean: Float32Array.from({ length: dim }, () => rng.uniform(0, 0.5)), std: Float32Array.from({ length: dim }, () => rng.uniform(0.5, 1.5)),
    weight: Float32Array.from({ length: dim }, () => rng.uniform(-0.05, 0.05)), bias: 0.1,
  };
}

const randoms = (n: number, seed: number, lo = 0, hi = 1): Float32Array => { const r = new Rng(seed); return Float32Array.from({ length: n }, () => r.uniform(lo, hi)); };

before(async () => {
  await initTf();
  registerWasmConvGradients();
});

test('gradients of the whole upper stack + head on wasm match the cpu backend', async () => {
  const layers = randomLayers(1);
  const upper = upperLayerIndices(layers, SPEC).map((i) => layers[i]);
  assert.equal(upper.length, 13); // blocks 14-17 (3 convs each) + features.18
  const head = randomHead(tapsDim(SPEC.taps), 2);
  const x = randoms(2 * SHAPE[0] * SHAPE[1] * SHAPE[2], 3);
  const y = [1, 0];
  const grads = (): Float32Array[] => tf.tidy(() => {
    const params: tf.Tensor[] = [];
    for (const l of upper) params.push(tf.tensor4d(l.weight, l.kind === 'conv' ? [l.kernel, l.kernel, l.cin, l.cout] : [l.kernel, l.kernel, l.cin, 1]), tf.tensor1d(l.bias));
    params.push(tf.tensor1d(head.weight), tf.tensor1d([head.bias]));
    const input = tf.tensor4d(x, [2, ...SHAPE]);
    const f = (...ps: tf.Tensor[]) => bceLoss(upperLogits(upper, SPEC, ps, tf.tensor1d(head.mean), tf.tensor1d(head.std), input), y, 0.1);
    return tf.grads(f)(params).map((g) => g.dataSync() as Float32Array);
  });
  await tf.setBackend('cpu');
  const ref = grads();
  await tf.setBackend('wasm');
  const got = grads();
  let worst = 0;
  got.forEach((g, k) => {
    let diff = 0, scale = 0;
    for (let i = 0; i < g.length; i++) { diff = Math.max(diff, Math.abs(g[i] - ref[k][i])); scale = Math.max(scale, Math.abs(ref[k][i])); }
    worst = Math.max(worst, diff / Math.max(scale, 1e-8));
  });
  assert.ok(worst < 1e-3, `max relative error ${worst}`);
});

test('fine-tuning steps lower the loss on a tiny synthetic batch; the schedule warms up then decays to 0', () => {
  const layers = randomLayers(4);
  const head = randomHead(tapsDim(SPEC.taps), 5);
  const tuner = new FineTuner(layers, SPEC, head, { learningRate: 1e-4, headLearningRate: 1e-3, weightDecay: 0, warmupSteps: 1, totalSteps: 100, labelSmoothing: 0 });
  try {
    const x = randoms(8 * SHAPE[0] * SHAPE[1] * SHAPE[2], 6);
    const y = [0, 1, 0, 1, 1, 0, 0, 1];
    const before = tuner.loss(x, SHAPE, y);
    for (let i = 0; i < 5; i++) tuner.trainStep(x, SHAPE, y);
    const after = tuner.loss(x, SHAPE, y);
    assert.ok(after < before * 0.9, `loss ${before} -> ${after}`);
    // The trained layers come back as float32 without their int8 source; the others are untouched.
    const out = tuner.layers(layers);
    assert.notDeepEqual(out[tuner.indices[0]].weight, layers[tuner.indices[0]].weight);
    assert.equal(out[0], layers[0]);
  } finally {
    tuner.dispose();
  }
  assert.equal(lrFactor(0, 10, 100), 0.1);
  assert.equal(lrFactor(9, 10, 100), 1);
  assert.equal(lrFactor(10, 10, 100), 1);
  assert.ok(Math.abs(lrFactor(100, 10, 100)) < 1e-12);
});

test('a run interrupted after epoch 1 and resumed from its checkpoint ends bit-identical to an uninterrupted run', async () => {
  const layers = randomLayers(7);
  const head = randomHead(tapsDim(SPEC.taps), 8);
  const per = SHAPE[0] * SHAPE[1] * SHAPE[2];
  const img = (i: number, views: number) => ({ x: randoms(views * per, 100 + i), views, y: (i % 2) as 0 | 1 });
  const data: FineTuneData = { shape: SHAPE, train: Array.from({ length: 6 }, (_, i) => img(i, 2)), val: Array.from({ length: 4 }, (_, i) => img(50 + i, 2)) };
  const opts = { epochs: 3, batchSize: 4, patience: 10, learningRate: 1e-3, headLearningRate: 1e-3, weightDecay: 1e-2, warmupEpochs: 1, labelSmoothing: 0.1, seed: 3 };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-ckpt-'));
  try {
    const straight = await fineTuneLoop(layers, SPEC, head, data, opts);
    const checkpoint = { file: path.join(dir, 'run.ckpt'), fingerprint: 'x' };
    await assert.rejects(fineTuneLoop(layers, SPEC, head, data, {
      ...opts, checkpoint, onEpoch: (e) => { if (e.epoch === 2) throw new Error('killed'); },
    }), /killed/);
    const resumed = await fineTuneLoop(layers, SPEC, head, data, { ...opts, checkpoint });
    assert.equal(resumed.resumedFrom, 1);
    assert.deepEqual(resumed.history.map((h) => [h.epoch, h.loss, h.valAuc]), straight.history.map((h) => [h.epoch, h.loss, h.valAuc]));
    assert.equal(resumed.bestEpoch, straight.bestEpoch);
    for (const i of upperLayerIndices(layers, SPEC)) {
      assert.deepEqual(resumed.layers[i].weight, straight.layers[i].weight);
      assert.deepEqual(resumed.layers[i].bias, straight.layers[i].bias);
    }
    assert.deepEqual(resumed.head, straight.head);
    // The checkpoint format round-trips (odd header length: padding).
    const c = { meta: { a: 'é' }, arrays: { p: Float32Array.of(1.5, -2), q: new Float32Array(3) } };
    assert.deepEqual(decodeCheckpoint(encodeCheckpoint(c)), c);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('weight averaging: the result is the mean of the weights after epochs averageFrom..last, or epoch 0 when that is worse on val; it resumes exactly', async () => {
  const layers = randomLayers(11);
  const head = randomHead(tapsDim(SPEC.taps), 12);
  const per = SHAPE[0] * SHAPE[1] * SHAPE[2];
  const img = (i: number, views: number) => ({ x: randoms(views * per, 300 + i), views, y: (i % 2) as 0 | 1 });
  const data: FineTuneData = { shape: SHAPE, train: Array.from({ length: 6 }, (_, i) => img(i, 2)), val: Array.from({ length: 6 }, (_, i) => img(60 + i, 1)) };
  const opts = { epochs: 4, batchSize: 4, patience: 1, learningRate: 1e-3, headLearningRate: 1e-3, weightDecay: 1e-2, warmupEpochs: 1, labelSmoothing: 0.1, seed: 5, averageFrom: 2 };
  const seen: Float32Array[][] = [];
  const r = await fineTuneLoop(layers, SPEC, head, data, { ...opts, onEpoch: (e, t) => { if (e.epoch >= 2) seen.push(t.weights()); } });
  assert.equal(r.history.length, 5, 'all epochs run: patience does not apply when averaging');
  assert.equal(seen.length, 3);
  assert.ok(r.average && r.average.fromEpoch === 2 && r.average.toEpoch === 4);
  const idx = upperLayerIndices(layers, SPEC);
  const last = idx[idx.length - 1];
  const k = 2 * (idx.length - 1); // the last conv's weight among the tuner's params
  const expected = seen[0][k].map((_, i) => (seen[0][k][i] + seen[1][k][i] + seen[2][k][i]) / 3);
  const got = r.average.chosen ? r.layers[last].weight : null;
  if (got) {
    for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(got[i] - expected[i]) <= 1e-6 * (1 + Math.abs(expected[i])), `weight ${i}`);
    assert.equal(r.bestAuc, r.average.valAuc);
  } else {
    assert.ok(r.average.valAuc < r.history[0].valAuc);
    assert.deepEqual(r.layers[last].weight, layers[last].weight);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-swa-'));
  try {
    const checkpoint = { file: path.join(dir, 'run.ckpt'), fingerprint: 'y' };
    await assert.rejects(fineTuneLoop(layers, SPEC, head, data, { ...opts, checkpoint, onEpoch: (e) => { if (e.epoch === 4) throw new Error('killed'); } }), /killed/);
    const resumed = await fineTuneLoop(layers, SPEC, head, data, { ...opts, checkpoint });
    assert.equal(resumed.resumedFrom, 3);
    assert.deepEqual(resumed.average, r.average);
    for (const i of idx) assert.deepEqual(resumed.layers[i].weight, r.layers[i].weight);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a fine-tuned model: cached lower maps + upper stack = full network; save/load round trip; ONNX agrees with tfjs', async () => {
  requireShared();
  const { layers } = await loadPretrained(WEIGHTS);
  const S = 224;
  const views = Array.from({ length: 4 }, (_, i) => randoms(S * S, 200 + i));
  // 1. onnxruntime lower blocks + tfjs upper blocks give the full tfjs network's pooled taps.
  const lower = await LowerBackbone.create(layers, 'imagenet', S, 14);
  const maps = await lower.extract(views);
  lower.dispose();
  assert.deepEqual(lower.shape, [14, 14, 96]);
  const flat = new Float32Array(maps.length * lower.dim);
  maps.forEach((m, i) => flat.set(m, i * lower.dim));
  const viaCache = pooledFeatures(layers, SPEC, flat, lower.shape, maps.length);
  const full = await mobileNetV2Backbone(layers, { taps: SPEC.taps, inputSize: S, normalisation: 'imagenet' });
  const direct = await full.extract(views);
  full.dispose();
  let worst = 0;
  direct.forEach((d, i) => d.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - viaCache[i][j]) / (Math.abs(v) + 1e-2)); }));
  assert.ok(worst < 1e-3, `cached path vs full network: max relative difference ${worst}`);

  // 2. A few fine-tuning steps, then the model folder.
  const head = randomHead(tapsDim(SPEC.taps), 9);
  const tuner = new FineTuner(layers, SPEC, head, { learningRate: 1e-3, headLearningRate: 1e-3, weightDecay: 0, warmupSteps: 1, totalSteps: 10, labelSmoothing: 0 });
  tuner.trainStep(flat, lower.shape, [1, 0, 1, 0]);
  tuner.trainStep(flat, lower.shape, [1, 0, 1, 0]);
  const tuned = tuner.layers(layers);
  const tunedHead = tuner.head();
  tuner.dispose();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-ft-model-'));
  try {
    const json = await saveModel(dir, {
      layers: tuned, head: tunedHead, attribution: 'test\n',
      json: {
        backbone: { architecture: 'mobilenetv2-1.0', taps: SPEC.taps, inputSize: S, pooling: 'mean' },
        preprocessing: { colour: 'grey', workingSize: 256, fit: 'cover', inputSize: S, normalisation: 'imagenet', views: 2 },
        threshold: 0.5, card: {},
      },
    });
    const loaded = await loadModel(dir);
    tuned.forEach((l, i) => {
      assert.deepEqual(loaded.layers[i].weight, l.weight, l.name);
      assert.deepEqual(loaded.layers[i].bias, l.bias, l.name);
      assert.equal(loaded.layers[i].quant === undefined, l.quant === undefined, l.name);
    });
    assert.ok(json.backbone.layers.some((e) => e.weight.dtype === 'float32') && json.backbone.layers.some((e) => e.weight.dtype === 'int8'));
    assert.deepEqual(loaded.head, tunedHead);
    // model.onnx is optional in a folder: the onnx engine exports in memory; check the written file path too.
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(dir, 'model.onnx'), exportOnnx(loaded));
    const tfjs = await Classifier.load(dir);
    const onnx = await OnnxClassifier.load(dir);
    const pt = await tfjs.probabilitiesOfViews(views);
    const po = await onnx.probabilitiesOfViews(views);
    tfjs.dispose();
    onnx.dispose();
    pt.forEach((p, i) => assert.ok(Math.abs(p - po[i]) < 1e-4, `view pair ${i}: tfjs ${p} vs onnx ${po[i]}`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
