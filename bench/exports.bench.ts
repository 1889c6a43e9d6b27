/**
 * The same CT slices in the file formats research sets and viewers export (docs/dicom.md): does covid-ct read each
 * export exactly as it reads the scanner's DICOM?
 *
 *   node dist/bench/exports.bench.js [--model DIR] [--shared DIR]
 *
 * - Slices: the CT-MD sample's two raw DICOM series (P001 COVID, normal001 normal; 151 slices), in scan order.
 * - Each slice's HU are rebuilt exactly from the DICOM itself: windows 255 HU wide give grey = HU - their floor, one
 *   grey level per HU (-1024 .. 3071).
 * - Exports, made in memory: 16-bit grey PNG of HU + 1024; TIFF of HU + 1024 (16-bit), of signed HU (16-bit) and of
 *   HU + 1024 (32-bit); one NIfTI volume (.nii.gz, int16 HU, LPS-like sform) per series; 8-bit PNGs through the
 *   lung window and through a soft-tissue window (400 / 40), as a viewer would export them.
 * - Each export goes through scoreSources (exactly `covid-ct predict`): slices whose P, label and involvement equal
 *   the DICOM's, and the slice AUC of P001 against normal001.
 */
import path from 'node:path';
import { benchArgs } from './args.js';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { windowValue } from '../src/data/window.js';
import { loadEngine } from '../src/model/load-engine.js';
import { scoreSources, type ScoreSource } from '../src/predict/score-files.js';
import { aucOrNull } from '../src/eval/metrics.js';
import type { Prediction } from '../src/types.js';
import { niftiBytes, tiffBytes } from '../test/helpers.js';
import { loadCtMdDicom, type DicomSlice } from './ct-md-dicom.js';

const { values: args } = benchArgs(import.meta.url, { options: { model: { type: 'string' }, shared: { type: 'string' } } });
const shared = path.resolve(args.shared ?? path.join(process.cwd(), '..', 'shared'));

type Slice = DicomSlice;
const slices: Slice[] = await loadCtMdDicom(shared);

const png16 = (s: Slice) => sharp(Uint16Array.from(s.hu, (v) => v + 1024), { raw: { width: s.width, height: s.height, channels: 1 } }).toColourspace('grey16').png().toBuffer();
const png8 = (s: Slice, w: { width: number; level: number }) => sharp(Uint8Array.from(s.hu, (v) => windowValue(v, w)), { raw: { width: s.width, height: s.height, channels: 1 } }).png().toBuffer();
const perSlice: Record<string, (s: Slice) => Promise<Uint8Array>> = {
  'DICOM (reference)': async (s) => s.bytes,
  '16-bit PNG, HU + 1024': async (s) => new Uint8Array(await png16(s)),
  'TIFF 16-bit, HU + 1024': async (s) => tiffBytes(s.width, s.height, Uint16Array.from(s.hu, (v) => v + 1024)),
  'TIFF 16-bit, signed HU': async (s) => tiffBytes(s.width, s.height, s.hu, { signed: true }),
  'TIFF 32-bit, HU + 1024': async (s) => tiffBytes(s.width, s.height, Uint32Array.from(s.hu, (v) => v + 1024), { bits: 32 }),
  '8-bit PNG, lung window 1500 / -600': async (s) => new Uint8Array(await png8(s, { width: 1500, level: -600 })),
  '8-bit PNG, soft-tissue window 400 / 40': async (s) => new Uint8Array(await png8(s, { width: 400, level: 40 })),
};

const engine = await loadEngine(path.resolve(args.model ?? 'models/default'));
const score = (sources: ScoreSource[]): Promise<Prediction[]> => scoreSources(engine, sources);
const results: { name: string; preds: Prediction[] }[] = [];
for (const [name, make] of Object.entries(perSlice)) {
  results.push({ name, preds: await score(slices.map((s) => ({ name: s.file, read: () => make(s) }))) });
  process.stderr.write(`scored: ${name}\n`);
}
// One NIfTI volume per series, slices in scan order (inferior first), voxel (i, j) = the DICOM's (column, row).
const volumes: Prediction[] = [];
for (const series of ['P001', 'normal001']) {
  const part = slices.filter((s) => s.series === series);
  const { width: w, height: h } = part[0];
  const hu = new Int16Array(w * h * part.length);
  part.forEach((s, k) => hu.set(s.hu, k * w * h));
  const nii = gzipSync(niftiBytes(w, h, part.length, hu, { sform: [[-0.7, 0, 0, 0], [0, -0.7, 0, 0], [0, 0, 5, 0]] }));
  volumes.push(...(await score([{ name: `${series}.nii.gz`, read: async () => new Uint8Array(nii) }])));
}
results.push({ name: 'NIfTI volume per series (.nii.gz)', preds: volumes });

const reference = results[0].preds;
const same = (a: Prediction, b: Prediction) => a.probability === b.probability && a.label === b.label && a.involvement === b.involvement;
const y = slices.map((s) => (s.covid ? 1 : 0));
console.log(`\nCT-MD DICOM series P001 (COVID) and normal001 (normal): ${slices.length} slices; model ${args.model ?? 'models/default'}\n`);
console.log('| export | slices read | P, label and involvement equal to the DICOM | NotCT | slice AUC, P001 vs normal001 |');
console.log('|---|---:|---:|---:|---:|');
for (const { name, preds } of results) {
  if (preds.length !== slices.length) { console.log(`| ${name} | ${preds.length} rows for ${slices.length} slices | | | |`); continue; }
  const equal = preds.filter((p, i) => same(p, reference[i])).length;
  const notCt = preds.filter((p) => p.label === 'NotCT').length;
  const auc = aucOrNull(y, preds.map((p) => p.probability ?? 0));
  console.log(`| ${name} | ${preds.filter((p) => !p.error).length} | ${equal} | ${notCt} | ${auc === null ? 'n/a' : auc.toFixed(3)} |`);
}
engine.dispose();
