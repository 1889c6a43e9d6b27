/**
 * The model pieces: the ImageNet MobileNetV2 read from its int8 ONNX file, the model folder round trip, the
 * views, the logistic head and its training.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WEIGHTS, requireShared } from './helpers.js';
import { mobileNetV2FromOnnx } from '../src/model/onnx-import.js';
import { readOnnxGraph } from '../src/model/onnx-proto.js';
import { convLayout } from '../src/model/mobilenetv2.js';
import { saveModel, loadModel } from '../src/model/model-files.js';
import { mobileNetV2Backbone } from '../src/model/backbone.js';
import { headProbability, sigmoid, type LinearHead } from '../src/model/head.js';
import { chooseWeightDecay, trainLogReg } from '../src/train/logreg.js';
import { renderViews, TTA_PLAN } from '../src/train/features.js';
import { DEFAULT_AUGMENT, FLIP_VIEW, IDENTITY_VIEW, renderView } from '../src/data/preprocess.js';
import { viewSpecs } from '../src/data/view-plan.js';
import { viewsOf } from '../src/web/on-device.js';
import { UserError } from '../src/util/errors.js';
import { Rng } from '../src/util/prng.js';
import type { Binary, GreyImage } from '../src/types.js';

test('the 52 ONNX convolutions map onto MobileNetV2 and dequantise as scale * q', () => {
  requireShared();
  const bytes = readFileSync(WEIGHTS);
  const layers = mobileNetV2FromOnnx(bytes);
  const layout = convLayout();
  assert.equal(layers.length, 52);
  layers.forEach((l, i) => {
    assert.equal(l.name, layout[i].name);
    assert.equal(l.weight.length, l.kernel * l.kernel * (l.kind === 'conv' ? l.cin : 1) * l.cout);
  });
  // Projections are linear, every other conv has ReLU6 (checked against the quantiser's fused activations).
  assert.equal(layers.filter((l) => !l.relu6).length, 17);
  // Spot-check one weight by hand from the raw initializers: stem conv, out channel 1, in channel 2, tap (0,1).
  const g = readOnnxGraph(bytes);
  const stem = g.nodes.find((n) => n.opType === 'QLinearConv')!;
  const q = g.initializers.get(stem.inputs[3])!;
  const s = g.initializers.get(stem.inputs[4])!;
  const onnxIndex = ((1 * 3 + 2) * 3 + 0) * 3 + 1; // [out][in][ky][kx]
  const tfjsIndex = ((0 * 3 + 1) * 3 + 2) * 32 + 1; // [ky][kx][in][out]
  assert.equal(layers[0].weight[tfjsIndex], Math.fround(s.values[1] * q.values[onnxIndex]));
});

test('a model folder round-trips exactly and refuses a corrupted file', async () => {
  requireShared();
  const layers = mobileNetV2FromOnnx(readFileSync(WEIGHTS));
  const dim = 4;
  const head: LinearHead = { mean: Float32Array.from([1, 2, 3, 4]), std: Float32Array.from([1, 1, 2, 2]), weight: Float32Array.from([0.5, -0.25, 0, 1]), bias: -0.125 };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-model-'));
  try {
    const out = path.join(dir, 'm');
    await saveModel(out, {
      layers, head, attribution: 'test',
      json: { backbone: { architecture: 'mobilenetv2-1.0', taps: ['f18'], inputSize: 224, pooling: 'mean' }, preprocessing: { colour: 'grey', workingSize: 256, fit: 'cover', inputSize: 224, normalisation: 'imagenet', views: 2 }, threshold: 0.4, card: { note: 'unit test' } },
    });
    const m = await loadModel(out);
    assert.equal(m.layers.length, 52);
    for (let i = 0; i < 52; i++) {
      assert.deepEqual(m.layers[i].weight, layers[i].weight, `weights of ${layers[i].name}`);
      assert.deepEqual(m.layers[i].bias, layers[i].bias);
    }
    assert.deepEqual(m.head.weight, head.weight);
    assert.equal(m.head.bias, head.bias);
    assert.equal(m.json.head.dim, dim);
    assert.equal(m.json.threshold, 0.4);
    const hb = await readFile(path.join(out, 'head.bin'));
    hb[0] ^= 1;
    await writeFile(path.join(out, 'head.bin'), hb);
    await assert.rejects(loadModel(out), (e: unknown) => e instanceof UserError && /head\.bin does not match the sha256/.test((e as Error).message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

function gradient(w: number, h: number): GreyImage {
  const data = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = Math.round((255 * x) / (w - 1));
  return { width: w, height: h, data };
}

test('views: identity is a plain resize, the mirror mirrors, augmented views are seeded', async () => {
  const img = gradient(64, 64);
  const id = renderView(img, IDENTITY_VIEW, 64);
  // Same size, identity: every pixel back exactly (bilinear at pixel centres).
  for (let i = 0; i < id.length; i++) assert.ok(Math.abs(id[i] - img.data[i] / 255) < 1e-6);
  const framing = { workingSize: 64, fit: 'cover' as const, inputSize: 32 };
  const [a, b] = await renderViews(img, 'x', TTA_PLAN, framing);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) assert.ok(Math.abs(a[y * 32 + x] - b[y * 32 + 31 - x]) < 1e-6);
  const plan = { views: 5, augment: DEFAULT_AUGMENT, jpegProbability: 0.5, rescaleProbability: 0.5, seed: 7 };
  const v1 = await renderViews(img, 'img-1', plan, framing);
  const v2 = await renderViews(img, 'img-1', plan, framing);
  const v3 = await renderViews(img, 'img-1', { ...plan, seed: 8 }, framing);
  assert.deepEqual(v1, v2);
  assert.notDeepEqual(v1[4], v3[4]);
});

test('test-time views: identity and mirror first, then fixed draws that do not depend on the file name; the browser renders the same', async () => {
  const img = gradient(90, 70);
  const plan = { ...TTA_PLAN, views: 8 };
  const specs = viewSpecs(plan, 'a.png');
  assert.deepEqual(specs.map((v) => v.params).slice(0, 2), [IDENTITY_VIEW, FLIP_VIEW]);
  assert.deepEqual(viewSpecs(plan, 'other-name.jpg'), specs, 'a test-time view does not depend on the name');
  assert.ok(specs.slice(2).every((v) => !v.rescale && !v.jpeg), 'no degradation at test time');
  assert.equal(new Set(specs.slice(2).map((v) => JSON.stringify(v.params))).size, 6, 'six different augmented views');
  // Training plans do depend on the name (each image its own draws).
  const train = { ...plan, sameForEveryImage: false };
  assert.notDeepEqual(viewSpecs(train, 'a.png'), viewSpecs(train, 'b.png'));
  // The server's views and the page's (src/web/on-device.ts) are the same pixels.
  const pre = { workingSize: 80, fit: 'cover' as const, inputSize: 48, views: 8, blurSigma: 0.7 };
  const server = await renderViews(img, 'whatever', plan, pre);
  const browser = viewsOf(img, pre);
  assert.equal(browser.length, 8);
  assert.deepEqual(browser, server);
});

test('backbone features do not depend on batch composition', async () => {
  requireShared();
  const bb = await mobileNetV2Backbone(mobileNetV2FromOnnx(readFileSync(WEIGHTS)), { taps: ['f14.expand', 'f18'], inputSize: 96, normalisation: 'imagenet' });
  try {
    const rng = new Rng(1);
    const v = Array.from({ length: 3 }, () => Float32Array.from({ length: 96 * 96 }, () => rng.next()));
    const [alone] = await bb.extract([v[1]]);
    const together = await bb.extract(v);
    assert.equal(alone.length, 576 + 1280);
    assert.deepEqual(alone, together[1]);
    assert.notDeepEqual(together[0], together[1]);
  } finally {
    bb.dispose();
  }
});

test('logistic head: learns a separable problem, deterministically, and keeps the best epoch', () => {
  const rng = new Rng(3);
  const rows: Float32Array[] = [];
  const y: Binary[] = [];
  for (let i = 0; i < 200; i++) {
    const label: Binary = i % 2 === 0 ? 1 : 0;
    rows.push(Float32Array.from([label ? 1 + rng.normal() * 0.3 : -1 + rng.normal() * 0.3, rng.normal()]));
    y.push(label);
  }
  const acc = (h: LinearHead) => rows.filter((r, i) => (headProbability(h, r, 1) >= 0.5 ? 1 : 0) === y[i]).length / rows.length;
  const opts = { epochs: 15, learningRate: 0.05, weightDecay: 0, batchSize: 16, labelSmoothing: 0, seed: 1 };
  const r1 = trainLogReg(rows, y, opts, acc);
  const r2 = trainLogReg(rows, y, opts, acc);
  assert.ok(r1.best.score > 0.97, `accuracy ${r1.best.score}`);
  assert.ok(r1.head.weight[0] > Math.abs(r1.head.weight[1]) * 3, 'the informative feature dominates');
  assert.deepEqual(r1.head.weight, r2.head.weight);
  assert.equal(r1.best.score, Math.max(...r1.history.map((h) => h.score)));
  assert.equal(r1.best.epoch, r1.history.find((h) => h.score === r1.best.score)!.epoch);
  assert.equal(sigmoid(0), 0.5);
  assert.ok(sigmoid(-800) >= 0 && sigmoid(800) <= 1);
});

test('weight decay search: the weight decay whose best epoch scores highest is kept, with every run recorded', () => {
  const rng = new Rng(4);
  const rows: Float32Array[] = [];
  const y: Binary[] = [];
  for (let i = 0; i < 120; i++) {
    const label: Binary = i % 2 === 0 ? 1 : 0;
    rows.push(Float32Array.from([(label ? 0.4 : -0.4) + rng.normal(), rng.normal()]));
    y.push(label);
  }
  // Score: the weight on the informative feature. A huge weight decay keeps it small, so 0 must win.
  const score = (h: LinearHead) => h.weight[0];
  const opts = { epochs: 5, learningRate: 0.05, batchSize: 16, labelSmoothing: 0, seed: 1 };
  const ends: number[] = [];
  const c = chooseWeightDecay(rows, y, opts, [5, 0], score, { end: (wd) => ends.push(wd) });
  assert.equal(c.weightDecay, 0);
  assert.deepEqual(ends, [5, 0]);
  assert.deepEqual(c.search.map((s) => s.weightDecay), [5, 0]);
  const alone = trainLogReg(rows, y, { ...opts, weightDecay: 0 }, score);
  assert.deepEqual(c.head.weight, alone.head.weight);
  assert.equal(c.best.score, alone.best.score);
  assert.ok(c.search[0].score < c.search[1].score);
});

test('nsfwjs fallback: our folded network equals the Keras model it came from', async () => {
  const { tf } = await import('../src/model/tf-backend.js');
  const { mobileNetV2FromNsfwjs } = await import('../src/model/nsfwjs-import.js');
  const { buildMobileNetV2, runMobileNetV2, disposeMobileNetV2 } = await import('../src/model/mobilenetv2.js');
  const mod = (await import('nsfwjs/models/mobilenet_v2')) as unknown as {
    MobileNetV2Model: { modelJson: () => Promise<{ default: any }>; weightBundles: (() => Promise<{ default: string }>)[] };
  };
  const layers = await mobileNetV2FromNsfwjs();
  assert.ok(layers.every((l) => l.padding === 'keras'));
  let j = (await mod.MobileNetV2Model.modelJson()).default;
  if (typeof j === 'string') j = JSON.parse(j);
  const buf = Buffer.from((await mod.MobileNetV2Model.weightBundles[0]()).default, 'base64');
  const keras = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: j.modelTopology, weightSpecs: j.weightsManifest[0].weights,
    weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
  }));
  const sub = tf.model({ inputs: keras.inputs, outputs: keras.getLayer('out_relu').output });
  const net = buildMobileNetV2(layers);
  const x = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 5) as import('@tensorflow/tfjs').Tensor4D;
  const ref = sub.predict(x) as import('@tensorflow/tfjs').Tensor;
  const ours = runMobileNetV2(net, x, ['f18']).get('f18')!;
  const rel = tf.max(tf.abs(tf.sub(ref, ours))).dataSync()[0] / tf.max(tf.abs(ref)).dataSync()[0];
  assert.ok(rel < 1e-4, `relative difference ${rel}`);
  disposeMobileNetV2(net);
  keras.dispose();
});

test('working image: cover keeps the centre at the right aspect ratio, with no bars; fill squashes', async () => {
  const { toWorkingImage } = await import('../src/data/preprocess.js');
  // 300x100: left third 0, middle third 200, right third 100.
  const w = 300, h = 100;
  const data = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = x < 100 ? 0 : x < 200 ? 200 : 100;
  const img = { width: w, height: h, data };
  const cover = await toWorkingImage(img, 64, 'cover');
  assert.equal(cover.data.length, 64 * 64);
  // The centre third fills the whole square: every pixel ~200 away from the edges of the band.
  for (let y = 0; y < 64; y++) for (const x of [4, 32, 59]) assert.ok(Math.abs(cover.data[y * 64 + x] - 200) <= 2, `cover(${x},${y}) = ${cover.data[y * 64 + x]}`);
  const fill = await toWorkingImage(img, 63, 'fill');
  assert.ok(fill.data[10] < 5 && Math.abs(fill.data[31] - 200) <= 2 && Math.abs(fill.data[60] - 100) <= 2);
  const contain = await toWorkingImage(img, 60, 'contain');
  assert.equal(contain.data[0], 0); // top bar is black
  assert.equal(contain.data.length, 3600);
});

test('views without rotation take a faster path that is bit-identical to the general one', async () => {
  const { renderView, sampleView, IDENTITY_VIEW, FLIP_VIEW, DEFAULT_AUGMENT } = await import('../src/data/render-view.js');
  const rng = new Rng(11);
  const img = { width: 97, height: 83, data: Uint8Array.from({ length: 97 * 83 }, () => rng.int(256)) };
  // A rotation of 1e-300 rad takes the general path but moves no sampling position (cos = 1, sin*|p| < ulp).
  for (const v of [IDENTITY_VIEW, FLIP_VIEW, { ...sampleView(rng, DEFAULT_AUGMENT), angle: 0 }]) {
    assert.deepEqual(renderView(img, v, 64), renderView(img, { ...v, angle: 1e-300 }, 64));
  }
});
