/**
 * Inference and training throughput on this machine, all in one run, with ratios:
 *   - model only (ready views -> P(COVID)): onnxruntime-node vs tfjs-wasm, batch 1 and 16;
 *   - end to end (read + decode + preprocess + model + head): both engines, 1 image and 16 images per call;
 *   - the lung stage (issue 10): the orientation stage and findLungs alone on decoded images (and their parts:
 *     uprightSlice, findLungs, segmentLungs, lungInvolvement), end to end for --model (default models/official, the whole-slice model) and --lungs-model (default models/default, the lungs design), and a reference end to end without the
 *     lung stage (models/default's views + model, the pre-issue-10 path), so that the lung stage's share of
 *     end-to-end time is measured in the same run (onnxruntime-node; the three end-to-end runs interleaved,
 *     median of 5, since other processes may share the CPU); the same three again with the slices prepared on a
 *     worker thread beside the model (prepare-thread.ts), as predict on a folder and evaluate do;
 *   - reference: the seed project's DenseNet-169 in PyTorch (CPU, model only; skipped with a message when
 *     PyTorch is not installed: apt-get install python3-torch python3-torchvision);
 *   - training: feature extraction of augmented views and the logistic head's epochs;
 *   - peak memory (RSS) of this process.
 *
 *   npm run bench [-- --model DIR --lungs-model DIR --images N] [-- --only lungs]
 *
 * `--only lungs` runs the lung-stage part alone (a few minutes less per run, so that it can be repeated on a shared
 * machine; its figures are the same measurement as in the full run).
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { benchArgs } from './args.js';
import { Classifier } from '../src/model/classifier.js';
import { modelViews, type Engine, type PreparedSlice } from '../src/model/engine.js';
import { findLungs, lungInvolvement } from '../src/data/involvement.js';
import { segmentLungs, type LungSegmentation } from '../src/data/lungs.js';
import { uprightSlice } from '../src/data/orientation.js';
import { readableSlice } from '../src/data/polarity.js';
import { decodeInput } from '../src/data/inputs.js';
import { readImageBytes } from '../src/data/decode.js';
import { existsSync } from 'node:fs';
import type { GreyImage } from '../src/types.js';
import { ort } from '../src/model/ort-node.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { mobileNetV2Backbone } from '../src/model/backbone.js';
import { modelThreadsFor, scoreFiles } from '../src/predict/score-files.js';
import { PrepareThread, type SlicePreparer } from '../src/predict/prepare-thread.js';
import { extractFeatures, type ImageSource } from '../src/train/features.js';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import { RECIPES } from '../src/train/recipe.js';
import { trainLogReg } from '../src/train/logreg.js';
import { Rng } from '../src/util/prng.js';
import type { Binary } from '../src/types.js';
import { packageRoot } from '../src/cli/command.js';

const { values } = benchArgs(import.meta.url, { options: { model: { type: 'string' }, 'lungs-model': { type: 'string' }, images: { type: 'string' }, data: { type: 'string' }, only: { type: 'string' } } });
if (values.only !== undefined && values.only !== 'lungs') throw new Error(`--only takes 'lungs', got '${values.only}'`);
const lungsOnly = values.only === 'lungs';
const root = packageRoot();
const modelDir = path.resolve(values.model ?? path.join(root, 'models/official'));
const lungsModelDir = path.resolve(values['lungs-model'] ?? path.join(root, 'models/default'));
const dataDir = path.resolve(values.data ?? path.join(root, '../shared/data/covid-ct'));
const N = Number(values.images ?? 64);

interface Row { group: string; what: string; batch: number; items: number; seconds: number; unit: string; cpuSeconds?: number }
/** CPU time of this process (all its threads: onnxruntime's, libuv's decoding) since `from`, in seconds. */
const cpuSince = (from: NodeJS.CpuUsage) => { const d = process.cpuUsage(from); return (d.user + d.system) / 1e6; };
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
for (const py of lungsOnly ? [] : ['/usr/bin/python3', 'python3']) {
  try {
    torch = JSON.parse(execFileSync(py, [path.join(root, 'bench/python/densenet169_forward.py'), String(os.cpus().length)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').pop()!);
    if (!torch.error) break;
  } catch (e) {
    torch = { error: `${py} failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

const files = entriesOf(await loadDataset(dataDir), 'test').slice(0, N).map((e) => e.path);
const onnx = await OnnxClassifier.load(modelDir);
const json = onnx.json;
const S = json.backbone.inputSize;
const V = json.preprocessing.views;
// Model only and end to end for both engines (not with --only lungs).
const tfjs = lungsOnly ? null : await Classifier.load(modelDir);
const rng = new Rng(0);
const ready = Array.from({ length: 16 }, () => Float32Array.from({ length: S * S }, () => rng.next()));
const bb = !tfjs ? null : await mobileNetV2Backbone(tfjs.model.layers, { taps: json.backbone.taps, inputSize: S, normalisation: json.preprocessing.normalisation });

// The same network straight through onnxruntime's API, without our code around it.
const raw = lungsOnly ? null : await ort.InferenceSession.create(await readFile(path.join(modelDir, 'model.onnx')), { graphOptimizationLevel: 'all' });
if (tfjs && bb && raw) for (const batch of [1, 16]) {
  const reps = batch === 1 ? 32 : 4;
  const flat = new Float32Array(batch * S * S);
  ready.slice(0, batch).forEach((v, i) => flat.set(v, i * S * S));
  const tensor = new ort.Tensor('float32', flat, [batch, 1, S, S]);
  await time('model only (ready views)', 'bare onnxruntime session.run', batch, reps * batch, 'views', async () => { for (let i = 0; i < reps; i++) await raw.run({ views: tensor }); });
  await time('model only (ready views)', 'onnxruntime-node', batch, reps * batch, 'views', async () => { for (let i = 0; i < reps; i++) await onnx.runViews(ready.slice(0, batch)); });
  await time('model only (ready views)', 'tfjs-wasm', batch, reps * batch, 'views', async () => { for (let i = 0; i < reps; i++) await bb.extract(ready.slice(0, batch)); });
}
if (tfjs) for (const batch of [1, 16]) {
  await time(`end to end (${V} views/image)`, 'onnxruntime-node', batch, files.length, 'images', () => scoreFiles(onnx, files, { batchSize: batch }));
  await time(`end to end (${V} views/image)`, 'tfjs-wasm', batch, files.length, 'images', () => scoreFiles(tfjs, files, { batchSize: batch }));
}

// The lung stage (issue 10's speed goal: segmentation and involvement <= 30% of end-to-end time).
// (a) the lung stage alone (prepareSlice's: the orientation stage, whose segmentation findLungs reuses, then
// findLungs) on the same images, decoded beforehand as scoreFiles decodes them (median of 5 passes).
const decoded: GreyImage[] = [];
for (const f of files) for (const s of await decodeInput(f, await readImageBytes(f))) if (s.image) decoded.push(s.image);
const lungRows: Row[] = [];
async function timeLung(what: string, fn: () => void): Promise<void> {
  fn(); // warm-up (JIT)
  const secs: number[] = [], cpu: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
    fn();
    secs.push(Number(process.hrtime.bigint() - t0) / 1e9);
    cpu.push(cpuSince(c0));
  }
  secs.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  lungRows.push({ group: 'lung stage (decoded images)', what, batch: 1, items: decoded.length, seconds: secs[2], unit: 'images', cpuSeconds: cpu[2] });
}
let segs: LungSegmentation[] = [];
await timeLung('lung stage: readableSlice + findLungs (as prepareSlice)', () => { for (const img of decoded) { const up = readableSlice(img); findLungs(up.image, up.seg); } });
await timeLung('  uprightSlice alone (orientation: segmentation + anatomical cues)', () => { for (const img of decoded) uprightSlice(img); });
await timeLung('  findLungs alone (segmentLungs + lungInvolvement)', () => { for (const img of decoded) findLungs(img); });
await timeLung('  segmentLungs alone', () => { segs = decoded.map((img) => segmentLungs(img, img.hu ? { hu: img.hu } : {})); });
await timeLung('  lungInvolvement alone (on ready segmentations)', () => { segs.forEach((seg, i) => lungInvolvement(seg, decoded[i].hu)); });
const megapixels = decoded.reduce((a, img) => a + img.width * img.height, 0) / decoded.length / 1e6;

// (b) end to end for both shipped models and (c) the reference without the lung stage, interleaved, median of 5.
const SKIPPED = { seg: undefined, involvement: null, findings: { found: false, reason: 'lung stage skipped (bench reference)', involvement: null, consolidation: null } } as unknown as PreparedSlice['lungs'];
const noLungs: Engine = {
  name: onnx.name, json: onnx.json, threshold: onnx.threshold, labelOf: (p) => onnx.labelOf(p),
  // models/default's views need no segmentation: this is prepareSlice without findLungs (the pre-issue-10 path).
  prepare: (imgs) => Promise.all(imgs.map(async (img) => ({ image: img, orientation: 'as-sent' as const, polarity: 'as-sent' as const, lungs: SKIPPED, views: await modelViews(onnx.json, img) }))),
  readPrepared: (slices) => onnx.readPrepared(slices),
  read: async (imgs) => noLungs.readPrepared(await noLungs.prepare(imgs)),
  probabilities: async (imgs) => (await noLungs.read(imgs)).map((r) => r.probability),
  viewsOf: async (imgs) => (await noLungs.prepare(imgs)).flatMap((s) => s.views),
  probabilitiesOfViews: (v) => onnx.probabilitiesOfViews(v),
  dispose: () => {},
};
const lungsModel = existsSync(path.join(lungsModelDir, 'model.json')) ? await OnnxClassifier.load(lungsModelDir) : null;
const E2E = 'end to end, lung stage (onnxruntime-node)';
// The same three with the slices prepared on the batch commands' worker thread (prepare-thread.ts; predict on a
// folder and evaluate use it): the lung stage and the views run beside the model. Each thread is started once and
// kept across passes (its start-up is timed apart below), as one command keeps it for all its files.
const E2E_THREAD = 'end to end, slices prepared on a worker thread (as predict on a folder, evaluate)';
// As predict and evaluate run them beside the prepare thread: the model on one onnxruntime thread (modelThreadsFor).
const onnx1 = await OnnxClassifier.load(modelDir, modelThreadsFor('thread'));
const lungsModel1 = lungsModel ? await OnnxClassifier.load(lungsModelDir, modelThreadsFor('thread')) : null;
const copy = (img: GreyImage): GreyImage => ({ ...img, data: img.data.slice() }); // the thread takes the pixels' buffer
const threadStart = process.hrtime.bigint();
const first = PrepareThread.start(onnx.json);
await first.prepare([copy(decoded[0])]);
const threadStartMs = Number(process.hrtime.bigint() - threadStart) / 1e6;
const threads = { reference: PrepareThread.start(onnx.json, { lungStage: false }), official: first, lungs: lungsModel ? PrepareThread.start(lungsModel.json) : null };
const variants: { group: string; what: string; engine: Engine; prepareOn?: SlicePreparer }[] = [
  { group: E2E, what: `${path.basename(modelDir)}: no lung stage (reference: views + model, pre-issue-10)`, engine: noLungs },
  { group: E2E, what: `${path.basename(modelDir)} (lung stage + views + model)`, engine: onnx },
  ...(lungsModel ? [{ group: E2E, what: `${path.basename(lungsModelDir)} (lung stage + lungs-only views + model)`, engine: lungsModel as Engine }] : []),
  { group: E2E_THREAD, what: `${path.basename(modelDir)}: no lung stage (reference: views on the thread + model)`, engine: onnx1, prepareOn: threads.reference },
  { group: E2E_THREAD, what: `${path.basename(modelDir)} (lung stage + views on the thread, model)`, engine: onnx1, prepareOn: threads.official },
  ...(lungsModel1 && threads.lungs ? [{ group: E2E_THREAD, what: `${path.basename(lungsModelDir)} (lung stage + lungs-only views on the thread, model)`, engine: lungsModel1 as Engine, prepareOn: threads.lungs }] : []),
];
for (const batch of [1, 16]) {
  const secs: number[][] = variants.map(() => []), cpu: number[][] = variants.map(() => []);
  // The thread's copies of the decoded images are moved to it: each pass decodes its own (scoreFiles does).
  const run = (v: (typeof variants)[number]) => scoreFiles(v.engine, files, { batchSize: batch, ...(v.prepareOn ? { prepareOn: v.prepareOn } : {}) });
  for (const v of variants) await run(v); // warm-up
  for (let rep = 0; rep < 5; rep++) {
    for (let k = 0; k < variants.length; k++) {
      const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
      await run(variants[k]);
      secs[k].push(Number(process.hrtime.bigint() - t0) / 1e9);
      cpu[k].push(cpuSince(c0));
    }
  }
  variants.forEach((v, k) => {
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[2];
    lungRows.push({ group: v.group, what: v.what, batch, items: files.length, seconds: median(secs[k]), unit: 'images', cpuSeconds: median(cpu[k]) });
  });
}
for (const t of Object.values(threads)) await t?.close();
onnx1.dispose();
lungsModel1?.dispose();
lungsModel?.dispose();

// Training throughput: augmented views through the frozen backbone, and the head (not with --only lungs).
if (tfjs && bb && raw) {
  const recipe = RECIPES.default;
  const sources: ImageSource[] = await Promise.all(files.slice(0, 16).map(async (f) => ({ name: f, bytes: new Uint8Array(await readFile(f)), decode: () => readAndDecodeGrey(f) })));
  const plan = { views: recipe.trainViews, augment: recipe.augment, jpegProbability: recipe.jpegProbability, rescaleProbability: recipe.rescaleProbability, seed: 0 };
  let feats: (Float32Array | null)[] = [];
  await time('training', `features, ${recipe.trainViews} views/image (tfjs-wasm)`, 16, 16 * recipe.trainViews, 'views', async () => { feats = await extractFeatures(sources, { backbone: bb, plan, workingSize: recipe.workingSize, fit: recipe.fit }); });
  const trainRows: Float32Array[] = [];
  const y: Binary[] = [];
  for (let r = 0; r < 425 * recipe.trainViews; r++) { trainRows.push(feats[r % feats.length]!.subarray(0, bb.dim)); y.push((r % 2) as Binary); }
  await time('training', 'logistic head, 1 epoch (425 images x views)', recipe.head.batchSize, trainRows.length, 'rows', async () => { trainLogReg(trainRows, y, { ...recipe.head, epochs: 1, weightDecay: 0.01, seed: 0 }, () => 0); });
  tfjs.dispose();
  void raw.release();
  bb.dispose();
}
onnx.dispose();

console.log(`\ncovid-ct benchmark - ${os.cpus()[0]?.model ?? 'cpu'} x ${os.cpus().length}, node ${process.version}`);
console.log(`model: ${path.relative(process.cwd(), modelDir) || modelDir} (MobileNetV2, taps ${json.backbone.taps.join('+')}, ${S}x${S}, ${V} test-time views); ${files.length} real test images\n`);
if (!lungsOnly) {
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
}

console.log(`\nlung stage (issue 10), same run: ${decoded.length} decoded slices, mean ${megapixels.toFixed(2)} MP\n`);
// CPU ms/image (this process, all threads) beside wall time: on a shared machine other processes' load inflates
// wall time far more than CPU time, so the CPU share is the steadier reading of the same cost.
console.log('| group | what | batch | ms/image | images/s | lung stage share | CPU ms/image | share of CPU time |');
console.log('|---|---|---|---|---|---|---|---|');
const fl = lungRows[0];
for (const r of lungRows) {
  let share = '', cpuShare = '';
  if (r.group === E2E || r.group === E2E_THREAD) {
    const ref = lungRows.find((o) => o.group === r.group && o.batch === r.batch && o.what.includes('no lung stage'))!;
    if (r !== ref) {
      const ms = (r.seconds / r.items) * 1000, refMs = (ref.seconds / ref.items) * 1000, flMs = (fl.seconds / fl.items) * 1000;
      share = `${(((ms - refMs) / ms) * 100).toFixed(0)}% (vs reference); lung stage alone ${((flMs / ms) * 100).toFixed(0)}%`;
      cpuShare = `${((1 - ref.cpuSeconds! / r.cpuSeconds!) * 100).toFixed(0)}%`;
    }
  }
  console.log(`| ${r.group} | ${r.what} | ${r.batch} | ${((r.seconds / r.items) * 1000).toFixed(2)} | ${rate(r).toFixed(1)} | ${share} | ${((r.cpuSeconds! / r.items) * 1000).toFixed(2)} | ${cpuShare} |`);
}
console.log('goal (issue 10): the lung stage <= 30% of end-to-end time');
console.log(`prepare thread: ${threadStartMs.toFixed(0)} ms to start it and prepare a first slice (paid once per command)`);
console.log(`onnxruntime intra-op threads: ${process.env.COVID_CT_THREADS ? `${process.env.COVID_CT_THREADS} (COVID_CT_THREADS)` : "onnxruntime's default inline, 1 beside the prepare thread (as predict and evaluate)"}`);
console.log(`load average before this table: ${os.loadavg().map((x) => x.toFixed(2)).join(', ')} (1, 5, 15 min)`);
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
