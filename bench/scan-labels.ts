/**
 * Scan labels on the CT-MD external check (series.ts): each of its 6 patients' PNG slices read as one scan, and
 * the two raw DICOM series, with the scan label of the lungs design (involvement and the top slices' pattern)
 * beside the former label (the score at the slice threshold). The pipeline is `covid-ct predict`'s (scoreFiles,
 * scoreScans); a patient's PNG slices are grouped by the manifest's patient id as if they were one series.
 *
 *   node dist/bench/scan-labels.js [--model DIR] [--shared DIR]
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import { loadLabelledSet } from '../src/data/labelled-set.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { scoreFiles } from '../src/predict/score-files.js';
import { scoreScans, type ScanScore } from '../src/predict/series.js';

const { values } = benchArgs(import.meta.url, { options: { model: { type: 'string', default: 'models/default' }, shared: { type: 'string', default: '../shared' } } });
const root = path.resolve(values.shared!, 'data/covid-ct-md-sample');
const engine = await OnnxClassifier.load(values.model!);
const set = await loadLabelledSet(path.join(root, 'manifest.csv'));
const byPatient = new Map<string, { files: string[]; covid: boolean }>();
for (const e of set.images) {
  const p = byPatient.get(e.patient!) ?? { files: [], covid: false };
  p.files.push(e.path);
  p.covid ||= e.label === 'COVID';
  byPatient.set(e.patient!, p);
}
const rows: { scan: string; truth: string; s: ScanScore }[] = [];
const t0 = performance.now();
for (const [patient, p] of byPatient) {
  const preds = await scoreFiles(engine, p.files);
  const slices = preds.map((r) => ({ ...r, name: r.file, dicom: { series: patient } }));
  const [s] = scoreScans(slices, engine.threshold, 2, engine.json.reading);
  rows.push({ scan: `${patient} (PNG)`, truth: p.covid ? 'COVID' : 'NonCOVID', s });
  process.stderr.write(`${rows.length}/8 scans (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
}
for (const [series, truth] of [['P001', 'COVID'], ['normal001', 'NonCOVID']] as const) {
  const dir = path.join(root, 'dicom', series);
  const files = (await readdir(dir)).map((f) => path.join(dir, f)).sort();
  const preds = await scoreFiles(engine, files);
  const [s] = scoreScans(preds.map((r) => ({ ...r, name: r.file })), engine.threshold, 2, engine.json.reading);
  rows.push({ scan: `${series} (DICOM)`, truth, s });
  process.stderr.write(`${rows.length}/8 scans (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
}
engine.dispose();
console.log(`model ${values.model}: slice threshold ${engine.threshold.toFixed(4)}, pattern threshold ${engine.json.reading?.pattern.threshold.toFixed(4) ?? 'n/a'}\n`);
console.log('| scan | truth | slices | score (top-k mean) | former label (score >= slice threshold) | involvement (lung-weighted) | P(involvement present) | pattern of top k | label | category |');
console.log('|---|---|---:|---:|---|---:|---:|---:|---|---|');
const f = (x: number | null, d = 3) => (x === null ? 'n/a' : x.toFixed(d));
for (const { scan, truth, s } of rows) {
  console.log(`| ${scan} | ${truth} | ${s.slices} | ${f(s.probability)} | ${s.probability >= engine.threshold ? 'COVID' : 'NonCOVID'} | ${s.involvement === null ? 'n/a' : (100 * s.involvement).toFixed(2) + '%'} | ${f(s.involvementPresent)} | ${f(s.pattern)} | ${s.label} | ${s.category ?? ''} |`);
}
const right = (label: (s: ScanScore) => string) => rows.filter((r) => label(r.s) === r.truth).length;
console.log(`\nright: former ${right((s) => (s.probability >= engine.threshold ? 'COVID' : 'NonCOVID'))}/${rows.length}, now ${right((s) => s.label)}/${rows.length}`);
