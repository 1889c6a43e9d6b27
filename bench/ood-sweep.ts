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
import { parseArgs } from 'node:util';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { prepareSlice } from '../src/model/engine.js';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { loadDataset } from '../src/data/dataset.js';
import { fitOod, oodDistance, tapMask } from '../src/model/ood.js';
import { TAP_CHANNELS } from '../src/model/backbone.js';
import { packageRoot } from '../src/cli/command.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, set: { type: 'string' }, cache: { type: 'string', default: '/tmp/ood-sweep-feats.json' },
    k: { type: 'string', default: '16,32,64' }, q: { type: 'string', default: '0.99,0.995' }, taps: { type: 'string', default: 'all' },
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
engine.dispose();
const fitRows = items.filter((i) => i.fit && i.found).map((i) => Float32Array.from(i.features));
const allTaps = json.backbone.taps;
const tapSets = values.taps === 'all' ? [allTaps] : values.taps!.split(';').map((s) => s.split(','));
const groups = [...new Set(items.map((i) => i.group))];
for (const taps of tapSets) for (const k of values.k!.split(',').map(Number)) for (const q of values.q!.split(',').map(Number)) {
  const t0 = Date.now();
  const m = fitOod(fitRows, { mean: head.mean, std: head.std, k, quantile: q, taps, use: tapMask(allTaps, TAP_CHANNELS, taps) });
  const secs = (Date.now() - t0) / 1000;
  const flagged = new Map<string, [number, number]>();
  for (const it of items) {
    const d = oodDistance(m, it.features);
    const f = !it.found || d > m.design.threshold;
    const g = flagged.get(it.group) ?? [0, 0];
    g[0] += f ? 1 : 0; g[1]++;
    flagged.set(it.group, g);
  }
  const sum = (pred: (g: string) => boolean) => groups.filter(pred).reduce((a, g) => [a[0] + flagged.get(g)![0], a[1] + flagged.get(g)![1]], [0, 0]);
  const non = sum((g) => g.startsWith('nonCT')), ct = sum((g) => !g.startsWith('nonCT'));
  const pc = (x: number[]) => `${(100 * x[0] / x[1]).toFixed(1)}% (${x[0]}/${x[1]})`;
  console.log(`taps ${taps.join('+')} k ${k} q ${q}: threshold ${m.design.threshold.toFixed(1)} fit ${secs.toFixed(1)} s | nonCT ${pc(non)} | real CT ${pc(ct)}`);
  console.log('   ' + groups.map((g) => `${g} ${flagged.get(g)![0]}/${flagged.get(g)![1]}`).join('; '));
}
