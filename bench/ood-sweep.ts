/**
 * Settings of the not-CT feature distance (src/model/ood.ts) compared on the same slices as bench/nonct.bench.ts:
 * the identity-view features (ONNX "features" output) and lungs-found flag of every COVID-CT slice (train + val
 * are the fitting set, test is held out), the CT-MD PNGs and the non-CT set are computed once (cached in
 * --cache), then each setting (k, taps, quantile) is fitted on train + val and scored. Flagged = no lungs OR
 * distance > threshold, as reading.ts does.
 *
 *   node dist/bench/ood-sweep.js --model DIR --set DIR [--cache FILE] [--k 16,32,64] [--q 0.99,0.995]
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { prepareSlice } from '../src/model/engine.js';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { loadDataset } from '../src/data/dataset.js';
import { fitOod, oodDistance, tapMask } from '../src/model/ood.js';
import { TAP_CHANNELS } from '../src/model/backbone.js';
import { packageRoot } from '../src/cli/command.js';
import { renderViews } from '../src/data/views.js';
import { RECIPES } from '../src/train/recipe.js';
import { trainPlanOf } from '../src/train/recipe-features.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    model: { type: 'string' }, set: { type: 'string' }, cache: { type: 'string', default: '/tmp/ood-sweep-feats.json' },
    aug: { type: 'string', default: '0' },
    'loo-md': { type: 'boolean', default: false },
    k: { type: 'string', default: '16,32,64' }, w: { type: 'string', default: '1' }, q: { type: 'string', default: '0.99,0.995' }, taps: { type: 'string', default: 'all' },
  },
});
const ROOT = packageRoot();
const DATA = path.resolve(ROOT, '../shared/data/covid-ct');
const MD = path.resolve(ROOT, '../shared/data/covid-ct-md-sample');

function parseCsv(text: string): Record<string, string>[] {
  const lines = text.split(/\r?\n/).filter(Boolean);
  const head = lines[0].split(',');
  return lines.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [head[i], v])));
}

interface Item { file: string; group: string; fit: boolean; found: boolean; features: number[] }

async function collect(): Promise<Item[]> {
  const items: Omit<Item, 'found' | 'features'>[] = [];
  for (const e of await loadDataset(DATA)) items.push({ file: e.path, group: e.split === 'test' ? 'COVID-CT test' : `COVID-CT ${e.split} (fit)`, fit: e.split !== 'test' });
  for (const r of parseCsv(await readFile(path.join(MD, 'manifest.csv'), 'utf8'))) items.push({ file: path.join(MD, r.path), group: `CT-MD ${r.label}`, fit: false });
  for (const r of parseCsv(await readFile(path.join(values.set!, 'manifest.csv'), 'utf8'))) items.push({ file: path.join(values.set!, r.path), group: `nonCT ${r.kind}`, fit: false });
  const engine = await OnnxClassifier.load(values.model!);
  const out: Item[] = [];
  let done = 0;
  for (const it of items) {
    const img = await readAndDecodeGrey(it.file);
    const prep = await prepareSlice(engine.json, img);
    const { features, dim } = await engine.runViews([prep.views[0]]);
    if (!features) throw new Error('model.onnx has no features output');
    out.push({ ...it, found: prep.lungs.findings.found, features: Array.from(features.subarray(0, dim)) });
    if (++done % 100 === 0) process.stderr.write(`${done}/${items.length}\n`);
  }
  engine.dispose();
  return out;
}

const items: Item[] = existsSync(values.cache!) ? JSON.parse(await readFile(values.cache!, 'utf8')) : await collect();
if (!existsSync(values.cache!)) await writeFile(values.cache!, JSON.stringify(items));
const engine = await OnnxClassifier.load(values.model!);
const { head, json } = engine.model;
const fitRows = items.filter((i) => i.fit && i.found).map((i) => Float32Array.from(i.features));
// --aug N: also N augmented training views (views 2.. of the train plan, as train.ts renders them) of each train slice.
const nAug = Number(values.aug);
let foldGroups: number[] | undefined;
if (nAug > 0) {
  const augFile = values.cache!.replace(/\.json$/, `-aug${nAug}.json`);
  let aug: number[][];
  if (existsSync(augFile)) aug = JSON.parse(await readFile(augFile, 'utf8'));
  else {
    aug = [];
    const recipe = RECIPES.lungs;
    const p = json.preprocessing;
    const train = (await loadDataset(DATA)).filter((e) => e.split === 'train');
    for (const e of train) {
      const views = await renderViews(await readAndDecodeGrey(e.path), e.name, { ...trainPlanOf(recipe, 0), views: 2 + nAug }, { workingSize: p.workingSize, fit: p.fit, inputSize: p.inputSize, blurSigma: p.blurSigma, lungs: p.lungs });
      const { features, dim } = await engine.runViews(views.slice(2));
      for (let v = 0; v < nAug; v++) aug.push(Array.from(features!.subarray(v * dim, (v + 1) * dim)));
    }
    await writeFile(augFile, JSON.stringify(aug));
  }
  // Slice j's augmented rows share its fold (train slices come first in fitRows, in dataset order).
  const trainFound = items.filter((i) => i.fit && i.found && i.group.includes('train')).length;
  if (trainFound !== aug.length / nAug) console.log(`warning: ${trainFound} train rows, ${aug.length / nAug} augmented sets`);
  foldGroups = [...fitRows.map((_, i) => i), ...aug.map((_, r) => Math.floor(r / nAug))];
  for (const r of aug) fitRows.push(Float32Array.from(r));
  console.log(`fitting on ${fitRows.length} rows (${aug.length} augmented)`);
}
engine.dispose();
const allTaps = json.backbone.taps;
if (values['loo-md']) {
  // What healthy and CAP CT in the fitting set would give: leave one CT-MD patient out, fit on COVID-CT train +
  // val plus every 4th slice of the other five patients (folds by patient for the CT-MD rows), score the held-out
  // patient, COVID-CT test and the non-CT set.
  const patientOf = (it: Item) => (it.group.startsWith('CT-MD') ? path.basename(it.file).split('_')[0] : '');
  const patients = [...new Set(items.map(patientOf).filter(Boolean))];
  const k = Number(values.k!.split(',')[0]);
  let ctFlag = 0, ctN = 0, nonFlag = 0, nonN = 0;
  for (const held of patients) {
    const base = items.filter((i) => i.fit && i.found);
    const extra = items.filter((i) => patientOf(i) && patientOf(i) !== held && i.found).filter((_, j) => j % 4 === 0);
    const rows = [...base, ...extra].map((i) => Float32Array.from(i.features));
    const groups = [...base.map((_, j) => j), ...extra.map((i) => patients.indexOf(patientOf(i)))];
    const m = fitOod(rows, { mean: head.mean, std: head.std, k, quantile: Number(values.q!.split(',')[0]), groups });
    const flag = (i: Item) => !i.found || oodDistance(m, i.features) > m.design.threshold;
    const heldItems = items.filter((i) => patientOf(i) === held);
    const test = items.filter((i) => i.group === 'COVID-CT test');
    const non = items.filter((i) => i.group.startsWith('nonCT'));
    const h = heldItems.filter(flag).length, t = test.filter(flag).length, nf = non.filter(flag).length;
    ctFlag += h; ctN += heldItems.length; nonFlag += nf; nonN += non.length;
    console.log(`held out ${held}: threshold ${m.design.threshold.toFixed(1)}, ${h}/${heldItems.length} flagged; COVID-CT test ${t}/${test.length}; non-CT ${nf}/${non.length}`);
  }
  console.log(`leave-one-patient-out: CT-MD flagged ${ctFlag}/${ctN} (${(100 * ctFlag / ctN).toFixed(1)}%), non-CT ${(100 * nonFlag / nonN).toFixed(1)}% (mean over fits)`);
  process.exit(0);
}
const tapSets = values.taps === 'all' ? [allTaps] : values.taps!.split(';').map((s) => s.split(','));
const groups = [...new Set(items.map((i) => i.group))];
for (const taps of tapSets) for (const k of values.k!.split(',').map(Number)) for (const w of values.w!.split(',').map(Number)) for (const q of values.q!.split(',').map(Number)) {
  const t0 = Date.now();
  const m = fitOod(fitRows, { mean: head.mean, std: head.std, k, quantile: q, taps, use: tapMask(allTaps, TAP_CHANNELS, taps), residualWeight: w, ...(foldGroups ? { groups: foldGroups } : {}) });
  const secs = (Date.now() - t0) / 1000;
  const flagged = new Map<string, [number, number]>();
  const ds = items.map((it) => oodDistance(m, it.features));
  // Oracle (not a setting: chosen on the evaluation slices): the threshold flagging <= 1% of real CT in all.
  const ctLungs = items.map((it, i) => ({ it, d: ds[i] })).filter(({ it }) => !it.group.startsWith('nonCT'));
  const noLungs = ctLungs.filter(({ it }) => !it.found).length;
  // The distance's own share: at most 1% of the real CT slices whose lungs were found (noLungs are flagged anyway).
  const sortedD = ctLungs.filter(({ it }) => it.found).map(({ d }) => d).sort((a, b) => b - a);
  const oracle = sortedD[Math.floor(0.01 * sortedD.length)];
  void noLungs;
  const nonIt = items.map((it, i) => ({ it, d: ds[i] })).filter(({ it }) => it.group.startsWith('nonCT'));
  const oracleNon = nonIt.filter(({ it, d }) => !it.found || d > oracle).length;
  console.log(`   oracle threshold flagging 1% of real CT with lungs: ${oracle.toFixed(1)} (${(oracle / m.design.threshold).toFixed(2)} x), non-CT flagged ${(100 * oracleNon / nonIt.length).toFixed(1)}%`);
  items.forEach((it, i) => {
    const d = ds[i];
    const f = !it.found || d > m.design.threshold;
    const g = flagged.get(it.group) ?? [0, 0];
    g[0] += f ? 1 : 0; g[1]++;
    flagged.set(it.group, g);
  });
  const sum = (pred: (g: string) => boolean) => groups.filter(pred).reduce((a, g) => [a[0] + flagged.get(g)![0], a[1] + flagged.get(g)![1]], [0, 0]);
  const non = sum((g) => g.startsWith('nonCT')), ct = sum((g) => !g.startsWith('nonCT'));
  const pc = (x: number[]) => `${(100 * x[0] / x[1]).toFixed(1)}% (${x[0]}/${x[1]})`;
  console.log(`taps ${taps.join('+')} k ${k} w ${w} q ${q}: threshold ${m.design.threshold.toFixed(1)} fit ${secs.toFixed(1)} s | nonCT ${pc(non)} | real CT ${pc(ct)}`);
  console.log('   ' + groups.map((g) => `${g} ${flagged.get(g)![0]}/${flagged.get(g)![1]}`).join('; '));
}
