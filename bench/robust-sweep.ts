/**
 * Fast screening of preprocessing / recipe variants for the shortcut audit (docs/robustness-experiments.md).
 * It reproduces `covid-ct train` (same views, same logistic head, weight decay and epoch chosen by val AUC) and
 * `covid-ct audit --split val` (same re-encodings), but computes the frozen features with onnxruntime-node
 * (about 10x faster than tfjs-wasm; the two agree to ~1e-6), so many variants can be compared. Only the train
 * and val splits are read. Candidates found here are then trained and audited with the real commands.
 *
 *   node dist/bench/robust-sweep.js --pretrained FILE CONFIG_JSON...
 * CONFIG_JSON: {"name": "...", "recipe": "default", ...recipe fields to override, "testViews": ["clean","rescale"]}
 */
import { readFile } from 'node:fs/promises';
import { ort } from '../src/model/ort-node.js';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import { decodeGrey } from '../src/data/decode.js';
import { renderViews, type ViewPlan } from '../src/data/views.js';
import { evalPlanOf, trainPlanOf } from '../src/train/recipe-features.js';
import { AUDIT_VARIANTS } from '../src/eval/audit.js';
import { rocAuc } from '../src/eval/metrics.js';
import { TAP_CHANNELS } from '../src/model/backbone.js';
import { headProbability } from '../src/model/head.js';
import { exportOnnx } from '../src/model/onnx-export.js';
import { onnxRoot } from '../src/model/onnx-proto.js';
import { loadPretrained } from '../src/model/pretrained.js';
import type { LoadedModel } from '../src/model/model-files.js';
import type { ConvLayer } from '../src/model/mobilenetv2.js';
import { chooseWeightDecay } from '../src/train/logreg.js';
import { RECIPES, type Recipe } from '../src/train/recipe.js';
import { labelToBinary, type Binary, type GreyImage } from '../src/types.js';

const args = process.argv.slice(2);
const pi = args.indexOf('--pretrained');
const pretrainedFile = pi >= 0 ? args.splice(pi, 2)[1] : '../shared/weights/mobilenetv2-12-int8.onnx';
const dataDir = process.env.COVID_CT_DATA ?? '../shared/data/covid-ct';
const { layers } = await loadPretrained(pretrainedFile);

/** The backbone as ONNX with one extra output "feats" = the mean-pooled taps, concatenated. */
async function featureSession(taps: string[], S: number, layers: ConvLayer[]): Promise<ort.InferenceSession> {
  const dim = taps.reduce((s, t) => s + TAP_CHANNELS[t], 0);
  const fake = {
    dir: '', layers,
    head: { mean: new Float32Array(dim), std: new Float32Array(dim).fill(1), weight: new Float32Array(dim), bias: 0 },
    json: { backbone: { inputSize: S, taps, sha256: '' }, head: { sha256: '' }, preprocessing: { normalisation: 'imagenet', views: 1 }, threshold: 0, card: {} },
  } as unknown as LoadedModel;
  const Model = onnxRoot().lookupType('onnx.ModelProto');
  const proto = Model.toObject(Model.decode(exportOnnx(fake)), { longs: Number }) as { graph: { node: unknown[]; output: unknown[] } };
  const tensorOf = (t: string) => (t === 'f18' ? 'features.18.relu6' : `features.${/^f(\d+)/.exec(t)![1]}.conv.expand.relu6`);
  const pooled = taps.map((t, k) => {
    proto.graph.node.push({ op_type: 'GlobalAveragePool', input: [tensorOf(t)], output: [`gap${k}`], name: `gap${k}` });
    proto.graph.node.push({ op_type: 'Flatten', input: [`gap${k}`], output: [`flat${k}`], name: `flat${k}` });
    return `flat${k}`;
  });
  proto.graph.node.push({ op_type: 'Concat', input: pooled, output: ['feats'], name: 'feats', attribute: [{ name: 'axis', type: 2, i: 1 }] });
  proto.graph.output = [{ name: 'feats', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_param: 'N' }, { dim_value: dim }] } } } }];
  return ort.InferenceSession.create(Model.encode(Model.fromObject(proto)).finish(), { graphOptimizationLevel: 'all' });
}

async function features(session: ort.InferenceSession, views: Float32Array[], S: number): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < views.length; i += 4) {
    const chunk = views.slice(i, i + 4);
    const data = new Float32Array(chunk.length * S * S);
    chunk.forEach((v, k) => data.set(v, k * S * S));
    const r = await session.run({ views: new ort.Tensor('float32', data, [chunk.length, 1, S, S]) });
    const f = r.feats.data as Float32Array;
    const d = f.length / chunk.length;
    for (let k = 0; k < chunk.length; k++) out.push(f.slice(k * d, (k + 1) * d));
  }
  return out;
}

interface Config extends Partial<Recipe> { name: string; recipe?: string; seed?: number }

const all = await loadDataset(dataDir);
const train = entriesOf(all, 'train');
const val = entriesOf(all, 'val');
const trainBytes = await Promise.all(train.map(async (e) => new Uint8Array(await readFile(e.path))));
const valBytes = await Promise.all(val.map(async (e) => new Uint8Array(await readFile(e.path))));
const yVal: Binary[] = val.map((e) => labelToBinary(e.label));

for (const arg of args) {
  const cfg = JSON.parse(arg) as Config;
  const recipe: Recipe = { ...RECIPES[cfg.recipe ?? 'official'], ...cfg, name: cfg.name };
  const t0 = Date.now();
  const seed = cfg.seed ?? 0;
  const S = recipe.inputSize;
  const session = await featureSession(recipe.taps, S, layers);
  const framing = { workingSize: recipe.workingSize, fit: recipe.fit, inputSize: S, blurSigma: recipe.blurSigma };
  const featsOf = async (imgs: GreyImage[], names: string[], plan: ViewPlan): Promise<Float32Array[]> => {
    const res: Float32Array[] = [];
    for (let i = 0; i < imgs.length; i += 8) {
      const views = (await Promise.all(imgs.slice(i, i + 8).map((im, k) => renderViews(im, names[i + k], plan, framing)))).flat();
      res.push(...(await features(session, views, S)));
    }
    return res;
  };
  const trainPlan = trainPlanOf(recipe, seed);
  const trainImgs = await Promise.all(trainBytes.map((b) => decodeGrey(b)));
  const trainF = await featsOf(trainImgs, train.map((e) => e.name), trainPlan);
  const y: Binary[] = train.flatMap((e) => Array<Binary>(recipe.trainViews).fill(labelToBinary(e.label)));
  const evalPlan = evalPlanOf(recipe);
  const valFeats = async (bytes: Uint8Array[]) => {
    const imgs = await Promise.all(bytes.map((b) => decodeGrey(b)));
    const f = await featsOf(imgs, val.map(() => ''), evalPlan);
    const dim = f[0].length;
    return imgs.map((_, i) => { const o = new Float32Array(recipe.evalViews * dim); for (let v = 0; v < recipe.evalViews; v++) o.set(f[i * recipe.evalViews + v], v * dim); return o; });
  };
  const vf = await valFeats(valBytes);
  const tFeat = (Date.now() - t0) / 1000;
  const c = chooseWeightDecay(trainF, y, { ...recipe.head, seed }, recipe.weightDecays, (h) => rocAuc(yVal, vf.map((f) => headProbability(h, f, recipe.evalViews))));
  const best = { auc: c.best.score, head: c.head, wd: c.weightDecay, epoch: c.best.epoch };
  const deltas: string[] = [];
  let maxAbs = 0;
  for (const v of AUDIT_VARIANTS.slice(1)) {
    const bytes = await Promise.all(valBytes.map((b) => v.apply(b)));
    const f = await valFeats(bytes);
    const auc = rocAuc(yVal, f.map((x) => headProbability(best.head, x, recipe.evalViews)));
    const d = auc - best.auc;
    maxAbs = Math.max(maxAbs, Math.abs(d));
    deltas.push(`${v.name}=${d >= 0 ? '+' : ''}${d.toFixed(4)}`);
  }
  console.log([cfg.name, `auc=${best.auc.toFixed(4)}`, ...deltas, `max=${maxAbs.toFixed(4)}`, `wd=${best.wd}`, `ep=${best.epoch}`, `feat_s=${tFeat.toFixed(0)}`, `total_s=${((Date.now() - t0) / 1000).toFixed(0)}`, JSON.stringify(cfg)].join('\t'));
  await session.release();
}
