/**
 * Throughput on this machine: prediction end to end (read + decode + preprocess + model + head) for single
 * images and batches, feature extraction for training views, and head training; the reference in the same run
 * is the bare MobileNetV2 forward pass on ready tensors, so the table shows what our pipeline adds to it.
 *
 *   npm run bench [-- --model DIR --images N]
 */
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Classifier } from '../src/model/classifier.js';
import { mobileNetV2Backbone } from '../src/model/backbone.js';
import { loadModel } from '../src/model/model-files.js';
import { scoreFiles } from '../src/predict/score-files.js';
import { extractFeatures, type ImageSource } from '../src/train/features.js';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { RECIPES } from '../src/train/recipe.js';
import { trainLogReg } from '../src/train/logreg.js';
import { Rng } from '../src/util/prng.js';
import type { Binary } from '../src/types.js';
import { packageRoot } from '../src/cli/command.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, images: { type: 'string' }, data: { type: 'string' } } });
const root = packageRoot();
const modelDir = path.resolve(values.model ?? path.join(root, 'models/default'));
const dataDir = path.resolve(values.data ?? path.join(root, '../shared/data/covid-ct'));
const N = Number(values.images ?? 48);

interface Row { what: string; batch: string; n: number; seconds: number; unit: string }
const rows: Row[] = [];
async function time(what: string, batch: string, n: number, unit: string, fn: () => Promise<unknown>): Promise<void> {
  const t0 = process.hrtime.bigint();
  await fn();
  rows.push({ what, batch, n, seconds: Number(process.hrtime.bigint() - t0) / 1e9, unit });
}

const names = (await readdir(path.join(dataDir, 'images/CT_COVID'))).sort().slice(0, N / 2).map((n) => path.join(dataDir, 'images/CT_COVID', n))
  .concat((await readdir(path.join(dataDir, 'images/CT_NonCOVID'))).sort().slice(0, N / 2).map((n) => path.join(dataDir, 'images/CT_NonCOVID', n)));
const clf = await Classifier.load(modelDir);
const json = clf.model.json;
const views = json.preprocessing.views;
await scoreFiles(clf, names.slice(0, 2), { batchSize: 2 }); // warm-up: XNNPACK operator setup

const model = await loadModel(modelDir);
const bb = await mobileNetV2Backbone(model.layers, { taps: json.backbone.taps, inputSize: json.backbone.inputSize, normalisation: json.preprocessing.normalisation });
const s = json.backbone.inputSize;
const rng = new Rng(0);
const ready = Array.from({ length: 16 }, () => Float32Array.from({ length: s * s }, () => rng.next()));
await bb.extract(ready); // warm-up of each batch shape: XNNPACK sets up operators on first use
await bb.extract(ready.slice(0, 1));
await time('reference: MobileNetV2 forward only (ready tensors)', '16 views', 64, 'views', async () => { for (let i = 0; i < 4; i++) await bb.extract(ready); });
await time('reference: MobileNetV2 forward only (ready tensors)', '1 view', 16, 'views', async () => { for (const v of ready) await bb.extract([v]); });
await time('decode + grey (sharp), no model', '1 image', names.length, 'images', async () => { for (const f of names) await readAndDecodeGrey(f); });
await time(`predict end to end (${views} views/image)`, '1 image', names.length, 'images', () => scoreFiles(clf, names, { batchSize: 1 }));
await time(`predict end to end (${views} views/image)`, '8 images', names.length, 'images', () => scoreFiles(clf, names, { batchSize: 8 }));

const recipe = RECIPES.default;
const sources: ImageSource[] = await Promise.all(names.slice(0, 16).map(async (f) => ({ name: f, bytes: new Uint8Array(await readFile(f)), decode: () => readAndDecodeGrey(f) })));
const plan = { views: recipe.trainViews, augment: recipe.augment, jpegProbability: recipe.jpegProbability, rescaleProbability: recipe.rescaleProbability, seed: 0 };
let feats: (Float32Array | null)[] = [];
await time(`training features (${recipe.trainViews} augmented views/image, no cache)`, '16 views', 16 * recipe.trainViews, 'views', async () => { feats = await extractFeatures(sources, { backbone: bb, plan }); });
const dim = bb.dim;
const trainRows: Float32Array[] = [];
const y: Binary[] = [];
for (let r = 0; r < 425 * recipe.trainViews; r++) { trainRows.push(feats[r % feats.length]!.subarray(0, dim)); y.push((r % 2) as Binary); }
await time('head training (logistic, 1 epoch of 425 x views rows)', '32 rows', trainRows.length, 'rows', async () => { trainLogReg(trainRows, y, { ...recipe.head, epochs: 1, weightDecay: 0.01, seed: 0 }, () => 0); });
clf.dispose();
bb.dispose();

const ref = rows[0].n / rows[0].seconds;
console.log(`\ncovid-ct benchmark: ${os.cpus()[0]?.model ?? 'cpu'} x ${os.cpus().length}, node ${process.version}, tfjs wasm backend (1 thread)`);
console.log(`model: ${modelDir} (MobileNetV2 taps ${json.backbone.taps.join('+')}, input ${s}x${s}, ${views} test-time views)\n`);
console.log('| what | batch | items | seconds | throughput | vs reference forward |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  const rate = r.n / r.seconds;
  const perView = r.unit === 'images' ? rate * views : rate;
  const rel = r.unit === 'rows' || r.what.startsWith('decode') ? '' : `${(perView / ref).toFixed(2)}x`;
  console.log(`| ${r.what} | ${r.batch} | ${r.n} ${r.unit} | ${r.seconds.toFixed(2)} | ${rate.toFixed(1)} ${r.unit}/s | ${rel} |`);
}
console.log(`\npeak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
