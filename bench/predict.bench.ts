/**
 * Inference and training throughput on this machine, all in one run, with ratios:
 *   - model only (ready views -> P(COVID)): onnxruntime-node vs tfjs-wasm, batch 1 and 16;
 *   - end to end (read + decode + preprocess + model + head): both engines, 1 image and 16 images per call;
 *   - reference: the seed project's DenseNet-169 in PyTorch (CPU, model only; skipped with a message when
 *     PyTorch is not installed: apt-get install python3-torch python3-torchvision);
 *   - training: feature extraction of augmented views and the logistic head's epochs;
 *   - peak memory (RSS) of this process.
 *
 *   npm run bench [-- --model DIR --images N]
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Classifier } from '../src/model/classifier.js';
import * as ort from 'onnxruntime-node';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { mobileNetV2Backbone } from '../src/model/backbone.js';
import { scoreFiles } from '../src/predict/score-files.js';
import { extractFeatures, type ImageSource } from '../src/train/features.js';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import { RECIPES } from '../src/train/recipe.js';
import { trainLogReg } from '../src/train/logreg.js';
import { Rng } from '../src/util/prng.js';
import type { Binary } from '../src/types.js';
import { packageRoot } from '../src/cli/command.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, images: { type: 'string' }, data: { type: 'string' } } });
const root = packageRoot();
const modelDir = path.resolve(values.model ?? path.join(root, 'models/default'));
const dataDir = path.resolve(values.data ?? path.join(root, '../shared/data/covid-ct'));
const N = Number(values.images ?? 64);

interface Row { group: string; what: string; batch: number; items: number; seconds: number; unit: string }
const rows: Row[] = [];
async function time(group: string, what: string, batch: number, items: number, unit: string, fn: () => Promise<unknown>): Promise<void> {
  await fn(); // warm-up: operator setup, caches
  const t0 = process.hrtime.bigint();
  await fn();
  rows.push({ group, what, batch, items, seconds: Number(process.hrtime.bigint() - t0) / 1e9, unit });
}
const rate = (r: Row) => r.items / r.seconds;

// PyTorch first, while this process runs nothing: onnxruntime's and OpenMP's spinning threads would skew it.
let torch: { b1?: number; b16?: number; torch?: string; threads?: number; error?: string } = { error: 'no python3 found' };
// Debian's python3-torch lives in the system interpreter, which may not be the first python3 on PATH.
for (const py of ['/usr/bin/python3', 'python3']) {
  try {
    torch = JSON.parse(execFileSync(py, [path.join(root, 'bench/python/densenet169_forward.py'), String(os.cpus().length)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').pop()!);
    if (!torch.error) break;
  } catch (e) {
    torch = { error: `${py} failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

const files = entriesOf(await loadDataset(dataDir), 'test').slice(0, N).map((e) => e.path);
const onnx = await OnnxClassifier.load(modelDir);
const tfjs = await Classifier.load(modelDir);
const json = onnx.json;
const S = json.backbone.inputSize;
const V = json.preprocessing.views;
const rng = new Rng(0);
const ready = Array.from({ length: 16 }, () => Float32Array.from({ length: S * S }, () => rng.next()));
const bb = await mobileNetV2Backbone(tfjs.model.layers, { taps: json.backbone.taps, inputSize: S, normalisation: json.preprocessing.normalisation });

// The same network straight through onnxruntime's API, without our code around it.
const raw = await ort.InferenceSession.create(await readFile(path.join(modelDir, 'model.onnx')), { graphOptimizationLevel: 'all' });
for (const batch of [1, 16]) {
  const reps = batch === 1 ? 32 : 4;
  const flat = new Float32Array(batch * S * S);
  ready.slice(0, batch).forEach((v, i) => flat.set(v, i * S * S));
  const tensor = new ort.Tensor('float32', flat, [batch, 1, S, S]);
  await time('model only (ready views)', 'bare onnxruntime session.run', batch, reps * batch, 'views', async () => { for (let i = 0; i < reps; i++) await raw.run({ views: tensor }); });
  await time('model only (ready views)', 'onnxruntime-node', batch, reps * batch, 'views', async () => { for (let i = 0; i < reps; i++) await onnx.runViews(ready.slice(0, batch)); });
  await time('model only (ready views)', 'tfjs-wasm', batch, reps * batch, 'views', async () => { for (let i = 0; i < reps; i++) await bb.extract(ready.slice(0, batch)); });
}
for (const batch of [1, 16]) {
  await time(`end to end (${V} views/image)`, 'onnxruntime-node', batch, files.length, 'images', () => scoreFiles(onnx, files, { batchSize: batch }));
  await time(`end to end (${V} views/image)`, 'tfjs-wasm', batch, files.length, 'images', () => scoreFiles(tfjs, files, { batchSize: batch }));
}

// Training throughput: augmented views through the frozen backbone, and the head.
const recipe = RECIPES.default;
const sources: ImageSource[] = await Promise.all(files.slice(0, 16).map(async (f) => ({ name: f, bytes: new Uint8Array(await readFile(f)), decode: () => readAndDecodeGrey(f) })));
const plan = { views: recipe.trainViews, augment: recipe.augment, jpegProbability: recipe.jpegProbability, rescaleProbability: recipe.rescaleProbability, seed: 0 };
let feats: (Float32Array | null)[] = [];
await time('training', `features, ${recipe.trainViews} views/image (tfjs-wasm)`, 16, 16 * recipe.trainViews, 'views', async () => { feats = await extractFeatures(sources, { backbone: bb, plan, workingSize: recipe.workingSize, fit: recipe.fit }); });
const trainRows: Float32Array[] = [];
const y: Binary[] = [];
for (let r = 0; r < 425 * recipe.trainViews; r++) { trainRows.push(feats[r % feats.length]!.subarray(0, bb.dim)); y.push((r % 2) as Binary); }
await time('training', 'logistic head, 1 epoch (425 images x views)', recipe.head.batchSize, trainRows.length, 'rows', async () => { trainLogReg(trainRows, y, { ...recipe.head, epochs: 1, weightDecay: 0.01, seed: 0 }, () => 0); });
onnx.dispose();
tfjs.dispose();
void raw.release();
bb.dispose();

console.log(`\ncovid-ct benchmark - ${os.cpus()[0]?.model ?? 'cpu'} x ${os.cpus().length}, node ${process.version}`);
console.log(`model: ${path.relative(process.cwd(), modelDir) || modelDir} (MobileNetV2, taps ${json.backbone.taps.join('+')}, ${S}x${S}, ${V} test-time views); ${files.length} real test images\n`);
console.log('| group | engine / what | batch | throughput | vs tfjs-wasm |');
console.log('|---|---|---|---|---|');
for (const r of rows) {
  const twin = rows.find((o) => o.group === r.group && o.batch === r.batch && o.what === 'tfjs-wasm');
  const vs = r.what === 'onnxruntime-node' && twin ? `${(rate(r) / rate(twin)).toFixed(1)}x` : '';
  console.log(`| ${r.group} | ${r.what} | ${r.batch} | ${rate(r).toFixed(1)} ${r.unit}/s | ${vs} |`);
}
if (torch.error) {
  console.log(`| reference | PyTorch DenseNet-169 (seed) | - | skipped: ${torch.error} | |`);
} else {
  console.log(`| reference (model only) | PyTorch ${torch.torch} DenseNet-169 (seed) | 1 | ${torch.b1!.toFixed(1)} images/s | |`);
  console.log(`| reference (model only) | PyTorch ${torch.torch} DenseNet-169 (seed) | 16 | ${torch.b16!.toFixed(1)} images/s | |`);
  const e2e = rows.find((r) => r.group.startsWith('end to end') && r.what === 'onnxruntime-node' && r.batch === 16)!;
  console.log(`\nour end-to-end batch throughput / seed DenseNet-169 model-only batch throughput: ${(rate(e2e) / torch.b16!).toFixed(1)}x (goal >= 5x)`);
}
const m1 = rows.find((r) => r.group.startsWith('model only') && r.what === 'onnxruntime-node' && r.batch === 16)!;
const bare = rows.find((r) => r.group.startsWith('model only') && r.what.startsWith('bare') && r.batch === 16)!;
console.log(`our onnxruntime engine (model only, batch 16) runs at ${((rate(m1) / rate(bare)) * 100).toFixed(0)}% of bare onnxruntime on the same network`);
const e1 = rows.find((r) => r.group.startsWith('end to end') && r.what === 'onnxruntime-node' && r.batch === 16)!;
console.log(`end to end uses ${(((rate(e1) * V) / rate(m1)) * 100).toFixed(0)}% of the bare onnxruntime view throughput (the rest: decode, resize, views)`);
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
