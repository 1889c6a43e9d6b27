/**
 * CT acquired the way other hospitals acquire it (docs/scanner-variation.md): CT-MD's slices in HU changed by a
 * physical model of another kernel, dose, slice thickness, contrast, inspiration, field or matrix
 * (bench/scanner-ops.ts), exported as the scanner's DICOM and as an 8-bit lung-window PNG, and read by the product
 * (scoreSources, exactly `covid-ct predict`) as bench/external-forms.ts reads its forms.
 *
 *   node dist/bench/scanner-variation.js [--model DIR] [--shared DIR] [--variants a,b] [--png-every N] [--details FILE] [--out DIR]
 *
 * - DICOM part: CT-MD's two raw series (P001 COVID, 41 of 74 slices infected; normal001, 77), HU rebuilt exactly
 *   (bench/ct-md-dicom.ts; cached in .cache/ct-md-dicom-hu.bin). Per variant and export: slices read / refused by
 *   kind; slice AUC (P001 infected vs the rest); mean P by group; mean involvement of normal001 and of P001
 *   infected (slices read); |P - P(DICOM as shipped)| on slices both read.
 * - --png-every N (default 4): the 2-D variants also on every Nth of the 768 CT-MD PNGs, turned back to HU through
 *   their lung window (W1500/L-600), changed, windowed again; slice and patient AUC as the degrade bench.
 * - --out DIR: also write every file (never committed).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import sharp from 'sharp';
import { huOfWindow, windowValue } from '../src/data/window.js';
import { loadEngine } from '../src/model/load-engine.js';
import { scoreSources } from '../src/predict/score-files.js';
import type { Prediction } from '../src/types.js';
import { decodeGrey } from '../src/data/decode.js';
import { findLungs } from '../src/data/involvement.js';
import { CHEST_LIMITS, type ChestFigures } from '../src/data/chest-check.js';
import { loadCtMdDicom, type DicomSlice } from './ct-md-dicom.js';
import {
  LUNG, ctMdPngRows, deltaP, dicom, dicomAuc, f3, grey, isRead, lungMask, mean, PNG_TABLE_HEAD, pngTableRow, reasonLines, refusedCell, sliceGroup, u8,
} from './ct-md-forms.js';
import {
  HU_MAX, HU_MIN, addNoise, contrast, correlatedNoise, rescale, shallowBreath, sharpen, slab, soften, type HuImage,
} from './scanner-ops.js';

const { values: args } = benchArgs(import.meta.url, {
  options: { model: { type: 'string' }, shared: { type: 'string' }, variants: { type: 'string' }, 'png-every': { type: 'string' }, details: { type: 'string' }, out: { type: 'string' } },
});
const shared = path.resolve(args.shared ?? '/work/shared');

// ---------- the slices, HU cached (rebuilding it decodes every file 16 times) ----------
const CACHE = path.resolve('.cache/ct-md-dicom-hu.bin');
async function slicesCached(): Promise<DicomSlice[]> {
  try {
    const buf = await readFile(CACHE), metaLen = buf.readUInt32LE(0);
    const meta = JSON.parse(buf.subarray(4, 4 + metaLen).toString()) as Omit<DicomSlice, 'bytes' | 'hu'>[];
    let at = 4 + metaLen;
    const dir = path.join(shared, 'data', 'covid-ct-md-sample', 'dicom');
    return await Promise.all(meta.map(async (m) => {
      const n = m.width * m.height, hu = new Int16Array(n);
      for (let i = 0; i < n; i++) hu[i] = buf.readInt16LE(at + 2 * i);
      at += 2 * n;
      return { ...m, hu, bytes: new Uint8Array(await readFile(path.join(dir, m.file))) };
    }));
  } catch {
    const slices = await loadCtMdDicom(shared);
    const meta = Buffer.from(JSON.stringify(slices.map(({ bytes: _b, hu: _h, ...m }) => m)));
    const head = Buffer.alloc(4);
    head.writeUInt32LE(meta.length);
    await mkdir(path.dirname(CACHE), { recursive: true });
    await writeFile(CACHE, Buffer.concat([head, meta, ...slices.map((s) => Buffer.from(s.hu.buffer, s.hu.byteOffset, s.hu.byteLength))]));
    return slices;
  }
}
const slices = await slicesCached();
const huImage = (s: DicomSlice): HuImage => ({ width: s.width, height: s.height, hu: Float32Array.from(s.hu) });

// ---------- variants ----------
/** What a variant sees: the slice, its scan neighbours (mm away along the series), and its pixel scale (width / 512). */
interface Context { key: string; pxScale: number; neighbours: { dz: number; img: HuImage }[] }
interface ScannerVariant { name: string; group: string; make: (img: HuImage, ctx: Context) => HuImage; slab?: boolean }
const noise = (img: HuImage, ctx: Context, sd: number, grain: number, salt: string) => addNoise(img, correlatedNoise(img.width, img.height, sd, grain * ctx.pxScale, `${ctx.key}|${salt}`));
/** The stored slices within `reach` mm of this one (CT-MD keeps every second 2-mm slice: neighbours 4 mm away). */
const within = (ctx: Context, reach: number) => ctx.neighbours.filter((n) => Math.abs(n.dz) <= reach);

const VARIANTS: ScannerVariant[] = [
  { name: 'reference (HU re-exported)', group: 'reference', make: (img) => img },
  // 1. Sharp / lung kernels (Siemens B60-B70, I70, GE LUNG, Philips YC/L): CT-MD's D40s is a medium body kernel.
  { name: 'sharp kernel, g 1, sigma 1.0 px', group: '1 kernel', make: (img, c) => sharpen(img, 1, 1.0 * c.pxScale) },
  { name: 'sharp kernel, g 2, sigma 0.7 px', group: '1 kernel', make: (img, c) => sharpen(img, 2, 0.7 * c.pxScale) },
  { name: 'lung kernel: g 2, sigma 1.2 px, with its noise (20 HU before, grain 0.5 px)', group: '1 kernel', make: (img, c) => sharpen(noise(img, c, 20, 0.5, 'lung'), 2, 1.2 * c.pxScale) },
  // 2. Low dose: correlated quantum noise.
  { name: 'low dose, noise 30 HU', group: '2 dose', make: (img, c) => noise(img, c, 30, 0.8, 'dose') },
  { name: 'low dose, noise 60 HU', group: '2 dose', make: (img, c) => noise(img, c, 60, 0.8, 'dose') },
  { name: 'low dose, noise 120 HU', group: '2 dose', make: (img, c) => noise(img, c, 120, 0.8, 'dose') },
  // 3. Thickness and soft kernels.
  { name: 'soft kernel, gaussian 1.0 px', group: '3 thickness', make: (img, c) => soften(img, 1.0 * c.pxScale) },
  { name: 'soft kernel, gaussian 1.5 px', group: '3 thickness', make: (img, c) => soften(img, 1.5 * c.pxScale) },
  { name: 'slab ~6 mm (1/4, 1/2, 1/4 of slices 4 mm apart)', group: '3 thickness', slab: true, make: (img, c) => { const n = within(c, 6); return slab([img, ...n.map((x) => x.img)], [2, ...n.map(() => 1)]); } },
  { name: 'slab ~10 mm (mean of 3 slices 4 mm apart)', group: '3 thickness', slab: true, make: (img, c) => { const n = within(c, 6); return slab([img, ...n.map((x) => x.img)], [1, ...n.map(() => 1)]); } },
  // 4. Iodine contrast, venous phase.
  { name: 'contrast: blood +175 HU, tissue +40 HU', group: '4 contrast', make: (img) => contrast(img, lungMask(img), 175, 40) },
  // 5. Shallower inspiration (a limit: the lungs really are denser).
  { name: 'inspiration: lungs +50 HU', group: '5 inspiration', make: (img) => shallowBreath(img, lungMask(img), 50) },
  { name: 'inspiration: lungs +100 HU', group: '5 inspiration', make: (img) => shallowBreath(img, lungMask(img), 100) },
  { name: 'inspiration: lungs +150 HU', group: '5 inspiration', make: (img) => shallowBreath(img, lungMask(img), 150) },
  // 6. Field of view and matrix: a field fitted to a larger patient (anatomy smaller) or a tight field (larger).
  { name: 'field 1.4x wider (anatomy x0.7)', group: '6 field', make: (img) => rescale(img, 0.7, img.width, img.height) },
  { name: 'field 1.35x tighter (anatomy x1.35, edges cut)', group: '6 field', make: (img) => rescale(img, 1.35, img.width, img.height) },
  { name: '1024 matrix', group: '6 field', make: (img) => rescale(img, 1, 2 * img.width, 2 * img.height) },
  // An older protocol: 5-mm slab, sharp kernel, lower dose.
  { name: 'combined: slab ~6 mm, lung kernel, noise 40 HU', group: '7 combined', slab: true, make: (img, c) => { const n = within(c, 6); return sharpen(noise(slab([img, ...n.map((x) => x.img)], [2, ...n.map(() => 1)]), c, 40, 0.8, 'combo'), 2, 1.2 * c.pxScale); } },
];
/** Variants that need no neighbours: also run on the 2-D CT-MD PNGs (not the 1024 matrix: a 256-px PNG upscaled is the degrade bench's). */
const PNG_VARIANTS = VARIANTS.filter((v) => !v.slab && v.name !== '1024 matrix');

// ---------- exports ----------
const storedOf = (img: HuImage) => Uint16Array.from(img.hu, (v) => Math.round(Math.min(HU_MAX, Math.max(HU_MIN, v))) + 1024);
const asDicom = (s: DicomSlice, img: HuImage) => dicom(s, { rows: img.height, columns: img.width, bitsStored: 12, rescaleSlope: 1, rescaleIntercept: -1024, pixels: storedOf(img) });
const lungPng = async (img: HuImage) => u8(await grey(Uint8Array.from(img.hu, (v) => windowValue(v, LUNG)), img.width, img.height).png().toBuffer());

// ---------- scoring ----------
const wanted = args.variants?.split(',').map((w) => w.toLowerCase());
const picked = VARIANTS.filter((v, k) => k === 0 || !wanted || wanted.some((w) => v.name.toLowerCase().includes(w)));
const engine = await loadEngine(path.resolve(args.model ?? 'models/default'));
const bySeries = new Map<string, DicomSlice[]>();
for (const s of slices) bySeries.set(s.series, [...(bySeries.get(s.series) ?? []), s]);
const contextOf = (s: DicomSlice, withNeighbours: boolean): Context => {
  const series = bySeries.get(s.series)!, k = series.indexOf(s);
  const neighbours = withNeighbours ? [series[k - 1], series[k + 1]].filter((n) => n).map((n) => ({ dz: n.position - s.position, img: huImage(n) })) : [];
  return { key: s.file, pxScale: s.width / 512, neighbours };
};

interface Result { name: string; form: string; preds: Prediction[]; figures?: ChestFigures[] }
/** The chest check's figures (chest-check.ts) of each lung-window PNG whose lungs were found: how near its limits a variant comes. */
async function chestFiguresOf(files: { bytes: Uint8Array }[]): Promise<ChestFigures[]> {
  const out: ChestFigures[] = [];
  for (const f of files) { const c = findLungs(await decodeGrey(f.bytes)).chest; if (c) out.push(c.figures); }
  return out;
}
const results: Result[] = [{ name: 'DICOM as shipped', form: 'DICOM', preds: await scoreSources(engine, slices.map((s) => ({ name: s.file, read: async () => s.bytes }))) }];
for (const v of picked) {
  const made = slices.map((s) => v.make(huImage(s), contextOf(s, !!v.slab)));
  for (const [form, write] of [['DICOM', (s: DicomSlice, img: HuImage) => Promise.resolve(asDicom(s, img))], ['PNG lung window', (_s: DicomSlice, img: HuImage) => lungPng(img)]] as const) {
    const files = await Promise.all(slices.map(async (s, k) => ({ name: `${s.file.replace(/\.dcm$/, '').replace('/', '_')}.${form === 'DICOM' ? 'dcm' : 'png'}`, bytes: await write(s, made[k]) })));
    if (args.out) {
      const dir = path.join(path.resolve(args.out), `${v.name}-${form}`.replace(/[^A-Za-z0-9]+/g, '-'));
      await mkdir(dir, { recursive: true });
      for (const f of files) await writeFile(path.join(dir, f.name), f.bytes);
    }
    results.push({ name: v.name, form, preds: await scoreSources(engine, files.map((f) => ({ name: f.name, read: async () => f.bytes }))), figures: form === 'DICOM' ? undefined : await chestFiguresOf(files) });
    process.stderr.write(`scored: ${v.name} (${form})\n`);
  }
}

// ---------- report ----------
const reference = results[0].preds;
const involvementOf = (preds: Prediction[], g: string) => mean(preds.filter((p, i) => isRead(p) && sliceGroup(slices[i]) === g && p.involvement != null).map((p) => p.involvement!));
console.log(`\nCT-MD DICOM series P001 (COVID, ${slices.filter((s) => s.infected).length} infected of ${slices.filter((s) => s.series === 'P001').length}) and normal001 (${slices.filter((s) => s.series === 'normal001').length}); model ${args.model ?? 'models/default'}\n`);
console.log('| variant | export | read | NotCT (kind) | errors | slice AUC | mean P: P001 infected / P001 not infected / normal001 | mean involvement: normal001 / P001 infected | mean abs(P - P DICOM as shipped) | slices abs dP > 0.1 |');
console.log('|---|---|---:|---|---:|---:|---|---|---:|---:|');
const reasons: string[] = [];
for (const r of results) {
  const byGroup = ['P001 infected', 'P001 not infected', 'normal001'].map((g) => f3(mean(r.preds.filter((_, i) => sliceGroup(slices[i]) === g).map((p) => p.probability ?? 0)))).join(' / ');
  const dP = deltaP(r.preds, reference);
  console.log(`| ${r.name} | ${r.form} | ${r.preds.filter(isRead).length} | ${refusedCell(r.preds)} | ${r.preds.filter((p) => p.error).length} | ${f3(dicomAuc(r.preds, slices))} | ${byGroup} | ${f3(involvementOf(r.preds, 'normal001'))} / ${f3(involvementOf(r.preds, 'P001 infected'))} | ${f3(mean(dP))} | ${dP.filter((d) => d > 0.1).length} |`);
  const why = reasonLines(`${r.name} (${r.form})`, r.preds);
  if (why) reasons.push(why);
}
console.log(`\nReasons (NotCT and errors):\n${reasons.join('\n') || '(none)'}`);

// How near the chest check's texture limits each variant's lung-window PNGs come (extremes over the slices checked).
const L = CHEST_LIMITS;
const extreme = (xs: number[], f: (...v: number[]) => number) => { const ok = xs.filter((x) => Number.isFinite(x)); return ok.length ? f(...ok) : NaN; };
console.log(`\nChest-check figures of the lung-window PNGs (worst slice; limits: lung grain <= ${L.maxLungGrain}, tissue grain <= ${L.maxTissueGrain} and >= ${L.minTissueGrain}, contrast / grain >= ${L.minContrastToGrain}, coarse >= ${L.minCoarse}, flat <= ${L.maxFlat}, axis edges <= ${L.maxAxisEdges}, lung floor <= ${L.maxLungFloor})\n`);
console.log('| variant | slices checked | max lung grain | max tissue grain | min tissue grain | min contrast / grain | min coarse | max flat | max axis edges | max lung floor |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results.filter((x) => x.figures)) {
  const f = r.figures!, col = (k: keyof ChestFigures) => f.map((x) => x[k]);
  const ratio = f.map((x) => x.contrast / Math.max(0.5, Number.isNaN(x.tissueGrain) ? x.lungGrain : x.tissueGrain, x.lungGrain));
  console.log(`| ${r.name} | ${f.length} | ${f3(extreme(col('lungGrain'), Math.max))} | ${f3(extreme(col('tissueGrain'), Math.max))} | ${f3(extreme(col('tissueGrain'), Math.min))} | ${f3(extreme(ratio, Math.min))} | ${f3(extreme(col('coarse'), Math.min))} | ${f3(extreme(col('flat'), Math.max))} | ${f3(extreme(col('axisEdges'), Math.max))} | ${f3(extreme(col('lungFloor'), Math.max))} |`);
}

// ---------- the CT-MD PNGs, back to HU through their lung window ----------
const pngEvery = Number(args['png-every'] ?? '4');
const pngResults: { name: string; preds: Prediction[] }[] = [];
if (pngEvery > 0) {
  const { rows, bytes } = await ctMdPngRows(shared, pngEvery);
  const toHu = huOfWindow(LUNG);
  const hus = await Promise.all(bytes.map(async (b) => {
    const { data, info } = await sharp(b).greyscale().raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, hu: Float32Array.from(data, (g) => toHu.intercept + toHu.slope * g) };
  }));
  const lines = [`\nCT-MD PNGs (every ${pngEvery}th of 768: ${rows.length} slices, 6 patients), turned back to HU through W1500/L-600\n`, ...PNG_TABLE_HEAD];
  const asShipped = await scoreSources(engine, rows.map((r, i) => ({ name: r.path, read: async () => bytes[i] })));
  lines.push(pngTableRow('PNG as shipped', asShipped, asShipped, rows));
  pngResults.push({ name: 'PNG as shipped', preds: asShipped });
  for (const v of PNG_VARIANTS.filter((x) => picked.includes(x))) {
    const files = await Promise.all(rows.map(async (r, i) => ({ name: r.path, bytes: await lungPng(v.make(hus[i], { key: r.path, pxScale: hus[i].width / 512, neighbours: [] })) })));
    const preds = await scoreSources(engine, files.map((f) => ({ name: f.name, read: async () => f.bytes })));
    lines.push(pngTableRow(v.name, preds, asShipped, rows));
    pngResults.push({ name: v.name, preds });
    process.stderr.write(`scored PNG: ${v.name}\n`);
  }
  const why = pngResults.map((r) => reasonLines(r.name, r.preds)).filter((x) => x);
  console.log(`${lines.join('\n')}\n\nReasons (PNG, NotCT and errors):\n${why.join('\n') || '(none)'}`);
}

if (args.details) {
  const out = ['variant,form,file,label,refusal,reason,P,involvement,pattern,error'];
  const cell = (x: unknown) => `"${String(x ?? '').replace(/"/g, "'")}"`;
  for (const r of results) r.preds.forEach((p, i) => out.push([r.name, r.form, slices[i].file, p.label, p.refusal, p.reason, p.probability?.toFixed(4), p.involvement?.toFixed(4), p.pattern?.toFixed(4), p.error].map(cell).join(',')));
  for (const r of pngResults) r.preds.forEach((p) => out.push([r.name, 'CT-MD PNG', p.file, p.label, p.refusal, p.reason, p.probability?.toFixed(4), p.involvement?.toFixed(4), p.pattern?.toFixed(4), p.error].map(cell).join(',')));
  await writeFile(args.details, out.join('\n') + '\n');
}
engine.dispose();
