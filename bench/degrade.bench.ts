/**
 * Lung involvement and the shipped reading on degraded copies of the CT-MD slices (docs/robust-involvement.md):
 * the hidden external set is CT from other hospitals, at other resolutions, sharpness and encodings, so how
 * much involvement (and P) moves when a slice is halved, blurred, JPEG'd or photographed is measured here.
 *
 *   npm run bench:degrade -- [--every N] [--model DIR | --no-model] [--shared DIR] [--candidates a,b]
 *
 * - Slices: every Nth row of the CT-MD manifest (default 4: 192 of 768 slices, all 6 patients), in file order.
 * - Variants, made in memory from each slice's PNG with sharp (deterministic): original; half (downscaled 2x
 *   with Lanczos, the file is then 128 px); blur (Gaussian sigma 1.2 px); jpeg30 (JPEG quality 30); photo
 *   (Gaussian sigma 1, dimmed to 0.75 v + 10, JPEG quality 60: a phone photo of a screen); window (a narrower,
 *   shifted window: 1.3 (v - 40), clipped); gamma (255 (v / 255)^1.4); screen-photo (a colour phone photo of the
 *   slice on a monitor: cast, tilt, bezel, glare, JPEG; see screenPhoto).
 * - Involvement per variant: decodeGrey then the candidate (`shipped` = findLungs, what predict does). Columns:
 *   median per class (COVID / CAP / normal slices measured), the mean shift against the original on normal
 *   slices (and on all), involvement's slice AUC (COVID patients' slices vs the rest, and vs normal; a slice
 *   without a measurement scores 0).
 * - End to end (`--model`, default models/default): every variant through scoreSources (decode, segmentation,
 *   lungs-only views, ONNX, the reading: exactly `covid-ct predict` / `evaluate`), slice AUC (aucOrNull) and
 *   patient AUC (patientScores, top-5 mean, as `evaluate --data manifest.csv`); also the AUC of the pattern
 *   model's P alone (COVID vs the rest). For a candidate other than
 *   `shipped`, P is recomposed with readSlice from the pipeline's pattern and the candidate's findings, which is
 *   exact while the candidate leaves the lungs-only view alone (the `shipped` row checks the recomposition).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import { decodeGrey } from '../src/data/decode.js';
import { entriesOf, loadDataset } from '../src/data/dataset.js';
import type { LungFindings } from '../src/data/involvement.js';
import { loadEngine } from '../src/model/load-engine.js';
import { readSlice } from '../src/model/reading.js';
import { scoreSources } from '../src/predict/score-files.js';
import { aucOrNull } from '../src/eval/metrics.js';
import { patientScores, DEFAULT_TOP_K } from '../src/eval/patients.js';
import type { Binary, Prediction } from '../src/types.js';
import { CANDIDATES, addCandidate } from './involvement-candidates.js';
import { VARIANTS } from './degrade-variants.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    every: { type: 'string', default: '4' }, model: { type: 'string', default: 'models/default' }, 'no-model': { type: 'boolean' },
    shared: { type: 'string', default: '../shared' }, set: { type: 'string', default: 'ct-md' }, candidates: { type: 'string', default: 'shipped' }, variants: { type: 'string' },
  },
});
const every = Number(values.every);
if (!Number.isInteger(every) || every < 1) throw new Error(`--every must be an integer >= 1, got ${values.every}`);
const md = path.resolve(values.shared!, 'data/covid-ct-md-sample');

interface Row { file: string; covid: Binary; patient: string; diagnosis: string; bytes: Uint8Array }
const rows: Row[] = [];
if (values.set === 'covid-ct-train') {
  // A consistency set for choosing a design constant without the external check: COVID-CT's train split (its
  // labels are not used for anything but the AUC columns, which are at chance there by design; no model run).
  const train = entriesOf(await loadDataset(path.resolve(values.shared!, 'data/covid-ct')), 'train');
  for (const [i, e] of train.entries()) {
    if (i % every !== 0) continue;
    rows.push({ file: e.name, covid: e.label === 'COVID' ? 1 : 0, patient: e.name, diagnosis: e.label === 'COVID' ? 'COVID-19' : 'Normal', bytes: new Uint8Array(await readFile(e.path)) });
  }
} else if (values.set === 'ct-md') {
  const lines = (await readFile(path.join(md, 'manifest.csv'), 'utf8')).trim().split('\n');
  const head = lines[0].split(',');
  const col = (n: string) => head.indexOf(n);
  for (const [i, line] of lines.slice(1).entries()) {
    if (i % every !== 0) continue;
    const c = line.split(',');
    rows.push({
      file: c[col('path')], covid: c[col('label')].toLowerCase() === 'covid' ? 1 : 0, patient: c[col('patient_id')],
      diagnosis: c[col('diagnosis')], bytes: new Uint8Array(await readFile(path.join(md, c[col('path')]))),
    });
  }
} else throw new Error(`--set must be ct-md or covid-ct-train, got ${values.set}`);
const variants = values.variants ? VARIANTS.filter((v) => values.variants!.split(',').includes(v.name)) : VARIANTS;
const candidates = values.candidates!.split(';').map((c) => (c.includes(':') ? addCandidate(c) : c));
for (const c of candidates) if (!CANDIDATES[c]) throw new Error(`unknown candidate ${c}; known: ${Object.keys(CANDIDATES).join(', ')}`);

const engine = values['no-model'] || values.set !== 'ct-md' ? null : await loadEngine(path.resolve(values.model!));
const y = rows.map((r) => r.covid);
const groups = rows.map((r) => r.patient);
const isNormal = rows.map((r) => r.diagnosis === 'Normal');

interface Result { variant: string; findings: (LungFindings | null)[]; probability: (number | null)[]; pattern: (number | null)[] }
const results = new Map<string, Result[]>(candidates.map((c) => [c, []]));
const t0 = performance.now();
for (const v of variants) {
  const bytes = await Promise.all(rows.map((r) => v.make(r.bytes)));
  const images = await Promise.all(bytes.map((b) => decodeGrey(b)));
  const preds: Prediction[] | null = engine
    ? await scoreSources(engine, rows.map((r, i) => ({ name: r.file, read: async () => bytes[i] })))
    : null;
  for (const c of candidates) {
    const findings = images.map((img) => CANDIDATES[c](img));
    const probability = findings.map((f, i) => {
      if (!preds || !engine) return null;
      const p = preds[i];
      if (c === 'shipped') {
        // The recomposition must give the pipeline's P, or the candidates' end-to-end figures mean nothing.
        const re = readSlice(p.pattern!, f, engine.threshold, engine.json.reading).probability;
        if (Math.abs(re - (p.probability ?? NaN)) > 1e-9) throw new Error(`${p.file} ${v.name}: recomposed P ${re} != pipeline P ${p.probability}`);
        return p.probability;
      }
      return readSlice(p.pattern!, f, engine.threshold, engine.json.reading).probability;
    });
    results.get(c)!.push({ variant: v.name, findings, probability, pattern: rows.map((_, i) => preds?.[i].pattern ?? null) });
  }
  process.stderr.write(`${v.name}: done (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
}
engine?.dispose();

const median = (xs: number[]) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const f3 = (x: number | null) => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(3));
const signed = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(3);
const auc = (scores: number[], keep: (i: number) => boolean) => {
  const idx = rows.map((_, i) => i).filter(keep);
  return aucOrNull(idx.map((i) => y[i]), idx.map((i) => scores[i]));
};

console.log(`${values.set === 'ct-md' ? 'CT-MD sample' : 'COVID-CT train (NonCOVID in the normal columns)'}, every ${every}th slice: ${rows.length} slices (${y.filter((v) => v).length} COVID, ${rows.filter((r) => r.diagnosis === 'CAP').length} CAP, ${isNormal.filter(Boolean).length} normal)` +
  `${engine ? `; end to end: ${values.model}` : ''}.\n`);
for (const c of candidates) {
  const res = results.get(c)!;
  const base = res.find((r) => r.variant === 'original')?.findings;
  console.log(`### candidate \`${c}\`\n`);
  console.log('| variant | measured | involvement median COVID / CAP / normal | shift on normal (mean) | shift on all (mean) | involvement AUC vs rest | vs normal | pattern AUC | end-to-end slice AUC | patient AUC | mean P COVID / CAP / normal |');
  console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of res) {
    const inv = r.findings.map((f) => f?.involvement ?? null);
    const byDx = (dx: string) => median(inv.filter((v, i) => v !== null && rows[i].diagnosis === dx) as number[]);
    const shift = (keep: (i: number) => boolean) => {
      if (!base) return NaN;
      const d: number[] = [];
      inv.forEach((v, i) => { const b = base[i]?.involvement; if (keep(i) && v !== null && b !== null && b !== undefined) d.push(v - b); });
      return d.length ? mean(d) : NaN;
    };
    const score = inv.map((v) => v ?? 0);
    let e2e = 'n/a', pat = 'n/a';
    if (r.probability.every((p) => p !== null)) {
      const p = r.probability as number[];
      e2e = f3(aucOrNull(y, p));
      const ps = patientScores(y, p, groups, DEFAULT_TOP_K);
      pat = f3(aucOrNull(ps.yTrue, ps.scores));
    }
    const meanP = (dx: string) => (r.probability.every((p) => p !== null) ? f3(mean(rows.map((_, i) => i).filter((i) => rows[i].diagnosis === dx).map((i) => r.probability[i]!))) : 'n/a');
    console.log(`| ${r.variant} | ${inv.filter((v) => v !== null).length} | ${f3(byDx('COVID-19'))} / ${f3(byDx('CAP'))} / ${f3(byDx('Normal'))} | ` +
      `${r.variant === 'original' ? '' : signed(shift((i) => isNormal[i]))} | ${r.variant === 'original' ? '' : signed(shift(() => true))} | ` +
      `${f3(auc(score, () => true))} | ${f3(auc(score, (i) => y[i] === 1 || isNormal[i]))} | ` +
      `${r.pattern.every((p) => p !== null) ? f3(aucOrNull(y, r.pattern as number[])) : 'n/a'} | ${e2e} | ${pat} | ${meanP('COVID-19')} / ${meanP('CAP')} / ${meanP('Normal')} |`);
  }
  console.log('');
}
console.error(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
