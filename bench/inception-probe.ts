/**
 * Probe (val only) of the other backbone nsfwjs bundles: its Keras InceptionV3 (ImageNet, then tuned on NSFW
 * photos), as a frozen feature extractor under the shipped recipe's framing, views, logistic head and choice
 * rules, with the shortcut audit's downscale-2x on val. Answers "is it worth importing?" before any import work;
 * the test split is not read.
 *
 *   node dist/bench/inception-probe.js [--size S (default 160)] [--train-views N (default 4)]
 */
import { readFile } from 'node:fs/promises';
import { benchArgs } from './args.js';
import { initTf, tf } from '../src/model/tf-backend.js';
import { loadNsfwjsBundle } from '../src/model/nsfwjs-import.js';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import { decodeGrey } from '../src/data/decode.js';
import { renderViews } from '../src/data/views.js';
import { AUDIT_VARIANTS } from '../src/eval/audit.js';
import { rocAuc } from '../src/eval/metrics.js';
import { headProbability } from '../src/model/head.js';
import { chooseWeightDecay } from '../src/train/logreg.js';
import { RECIPES } from '../src/train/recipe.js';
import { evalPlanOf, trainPlanOf } from '../src/train/recipe-features.js';
import { Progress } from '../src/util/progress.js';
import { labelToBinary, type Binary, type GreyImage } from '../src/types.js';

const { values } = benchArgs(import.meta.url, { options: { size: { type: 'string' }, 'train-views': { type: 'string' }, data: { type: 'string' } } });
const S = Number(values.size ?? 160);
const recipe = { ...RECIPES.default, inputSize: S, trainViews: Number(values['train-views'] ?? 4) };
const dataDir = values.data ?? process.env.COVID_CT_DATA ?? '../shared/data/covid-ct';
const TAPS = ['mixed7', 'mixed10'];

await initTf();
const bundle = await loadNsfwjsBundle('inception_v3');
// The network is convolutional up to mixed10: the NSFW classifier on top (a fixed 8x8 pooling, dense layers) is
// cut off, so that the input size can be other than 299; its weights are then left unused (strict: false).
const config = bundle.modelTopology.model_config.config;
const cut = config.layers.findIndex((l: { config: { name: string } }) => l.config.name === 'mixed10');
config.layers = config.layers.slice(0, cut + 1);
config.output_layers = [['mixed10', 0, 0]];
config.layers[0].config.batch_input_shape = [null, S, S, 3];
const full = await tf.loadLayersModel(tf.io.fromMemory({
  modelTopology: bundle.modelTopology, weightSpecs: bundle.manifest.flatMap((g) => g.weights), weightData: bundle.data,
}), { strict: false });
const net = tf.model({ inputs: full.inputs, outputs: TAPS.map((t) => full.getLayer(t).output as tf.SymbolicTensor) });

/** Mean-pooled mixed7 + mixed10 of grey views in [0,1] (nsfwjs feeds [0,1] RGB). */
function extract(views: Float32Array[]): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i < views.length; i += 8) {
    const chunk = views.slice(i, i + 8);
    const f = tf.tidy(() => {
      const x = tf.tensor4d(Float32Array.from(chunk.flatMap((v) => Array.from(v))), [chunk.length, S, S, 1]).tile([1, 1, 1, 3]);
      const ys = net.predict(x) as tf.Tensor4D[];
      return tf.concat(ys.map((y) => y.mean([1, 2])), 1).dataSync() as Float32Array;
    });
    const d = f.length / chunk.length;
    for (let k = 0; k < chunk.length; k++) out.push(f.slice(k * d, (k + 1) * d));
  }
  return out;
}

const all = await loadDataset(dataDir);
const train = entriesOf(all, 'train');
const val = entriesOf(all, 'val');
const framing = { workingSize: recipe.workingSize, fit: recipe.fit, inputSize: S, blurSigma: recipe.blurSigma };
const t0 = Date.now();
async function featuresOf(imgs: GreyImage[], names: string[], plan: ReturnType<typeof trainPlanOf>, what: string): Promise<Float32Array[]> {
  const progress = new Progress(imgs.length, what);
  const res: Float32Array[] = [];
  for (let i = 0; i < imgs.length; i += 4) {
    const views = (await Promise.all(imgs.slice(i, i + 4).map((im, k) => renderViews(im, names[i + k], plan, framing)))).flat();
    res.push(...extract(views));
    progress.tick(Math.min(4, imgs.length - i));
  }
  progress.done();
  return res;
}
const trainImgs = await Promise.all(train.map(async (e) => decodeGrey(new Uint8Array(await readFile(e.path)))));
const trainF = await featuresOf(trainImgs, train.map((e) => e.name), trainPlanOf(recipe, 0), `InceptionV3 train features (${recipe.trainViews} views, ${S} px)`);
const y: Binary[] = train.flatMap((e) => Array<Binary>(recipe.trainViews).fill(labelToBinary(e.label)));
const yVal: Binary[] = val.map((e) => labelToBinary(e.label));
const valBytes = await Promise.all(val.map(async (e) => new Uint8Array(await readFile(e.path))));
const evalPlan = evalPlanOf(recipe);
const valFeats = async (bs: Uint8Array[], what: string) => {
  const f = await featuresOf(await Promise.all(bs.map((b) => decodeGrey(b))), val.map((e) => e.name), evalPlan, what);
  const d = f[0].length;
  return val.map((_, i) => { const o = new Float32Array(recipe.evalViews * d); for (let v = 0; v < recipe.evalViews; v++) o.set(f[i * recipe.evalViews + v], v * d); return o; });
};
const vf = await valFeats(valBytes, 'val features');
const c = chooseWeightDecay(trainF, y, { ...recipe.head, seed: 0 }, recipe.weightDecays, (h) => rocAuc(yVal, vf.map((f) => headProbability(h, f, recipe.evalViews))));
const best = { auc: c.best.score, head: c.head, wd: c.weightDecay, epoch: c.best.epoch };
const down = AUDIT_VARIANTS.find((v) => v.name === 'downscale-2x')!;
const dv = await valFeats(await Promise.all(valBytes.map((b) => down.apply(b))), 'val features, downscale-2x');
const dAuc = rocAuc(yVal, dv.map((f) => headProbability(best.head, f, recipe.evalViews))) - best.auc;
console.log(`InceptionV3 (nsfwjs) ${TAPS.join('+')} at ${S} px, ${recipe.trainViews} train views: val AUC ${best.auc.toFixed(4)} (weight decay ${best.wd}, epoch ${best.epoch}); downscale-2x ${dAuc >= 0 ? '+' : ''}${dAuc.toFixed(4)}; ${((Date.now() - t0) / 1000).toFixed(0)} s`);
