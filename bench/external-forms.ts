/**
 * The forms in which other hospitals and public COVID CT sets ship slices (docs/external-forms.md), made from the
 * same CT-MD slices and read by the product: is each read as the scanner's DICOM is, refused with a clear reason,
 * or misread?
 *
 *   node dist/bench/external-forms.js [--model DIR] [--shared DIR] [--forms a,b] [--out DIR] [--details FILE] [--png-every N]
 *
 * - Slices: CT-MD's two raw DICOM series (P001 COVID, 41 of 74 slices marked infected; normal001, 77 slices), HU
 *   rebuilt exactly with the project's decoder (bench/ct-md-dicom.ts).
 * - Forms (made in memory, each also written under --out, default .cache/ext/forms, never committed): see FORMS.
 * - Each form through scoreSources (exactly `covid-ct predict`; a NIfTI volume as `predict FILE.nii.gz`), against
 *   the DICOM itself in the same run: slices read / refused by kind and reason / errors; slice AUC on the
 *   labelled slices (P001 infected vs normal001 + P001 not infected; a refused slice keeps its raw P, an error
 *   scores 0); mean P of P001 infected / P001 not infected / normal001; |P - P(DICOM)| on slices both read.
 * - --png-every N: also every Nth of the 768 CT-MD PNGs (6 patients) as shipped, as CC-CCII's 512-px JPEG and as a
 *   tinted body crop; slice and patient AUC (as `evaluate --data manifest.csv`), |P - P(PNG)|.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { windowValue } from '../src/data/window.js';
import { loadEngine } from '../src/model/load-engine.js';
import { scoreSources } from '../src/predict/score-files.js';
import type { Prediction } from '../src/types.js';
import { niftiBytes, tiffBytes } from '../test/helpers.js';
import { loadCtMdDicom, type DicomSlice } from './ct-md-dicom.js';
import {
  LUNG, bodyBox, ctMdPngRows, deltaP, dicom, dicomAuc, f3, grey, isRead, lungMask, mean, outsideFov, padded, png16, png8,
  PNG_TABLE_HEAD, pngTableRow, reasonLines, refusedCell, sliceGroup, u8, windowed,
} from './ct-md-forms.js';
import { Rng, deriveSeed } from '../src/util/prng.js';

const { values: args } = benchArgs(import.meta.url, {
  options: { model: { type: 'string' }, shared: { type: 'string' }, forms: { type: 'string' }, out: { type: 'string' }, details: { type: 'string' }, 'png-every': { type: 'string' } },
});
const shared = path.resolve(args.shared ?? '/work/shared');
const outDir = path.resolve(args.out ?? '.cache/ext/forms');

const slices = await loadCtMdDicom(shared);

// ---------- the forms ----------
interface Form { name: string; group: string; ext: string; make: (s: DicomSlice, k: number) => Promise<Uint8Array> }
const FORMS: Form[] = [
  { name: 'DICOM as shipped (reference)', group: 'reference', ext: 'dcm', make: async (s) => s.bytes },
  // 1. COVID-CTset (Iran): the scanner's stored values, no window.
  { name: '16-bit PNG, stored values (HU + 1024)', group: '1 COVID-CTset', ext: 'png', make: async (s) => png16(s, Uint16Array.from(s.hu, (v) => v + 1024)) },
  { name: '16-bit TIFF, stored values (HU + 1024)', group: '1 COVID-CTset', ext: 'tif', make: async (s) => tiffBytes(s.width, s.height, Uint16Array.from(s.hu, (v) => v + 1024)) },
  { name: '16-bit TIFF, signed HU', group: '1 COVID-CTset', ext: 'tif', make: async (s) => tiffBytes(s.width, s.height, s.hu, { signed: true }) },
  { name: '16-bit PNG, signed HU saved unsigned (wrapped)', group: '1 COVID-CTset', ext: 'png', make: async (s) => png16(s, Uint16Array.from(s.hu, (v) => v & 0xffff)) },
  { name: '16-bit PNG, HU + 1024, FOV padding -2048 clipped to 0', group: '1 COVID-CTset', ext: 'png', make: async (s) => png16(s, Uint16Array.from(padded(s, -2048), (v) => Math.max(0, v + 1024))) },
  { name: '16-bit PNG, HU + 1024, FOV padding -2048 wrapped (uint16 cast)', group: '1 COVID-CTset', ext: 'png', make: async (s) => png16(s, Uint16Array.from(padded(s, -2048), (v) => (v + 1024) & 0xffff)) },
  // 3. CC-CCII: 512 px lung-window JPEG/PNG, and lung-segmented.
  { name: 'JPEG q90, lung window 1500 / -600 (CC-CCII)', group: '3 CC-CCII', ext: 'jpg', make: async (s) => u8(await grey(windowed(s, LUNG), s.width, s.height).jpeg({ quality: 90 }).toBuffer()) },
  { name: 'PNG, lung window, lungs segmented (outside black)', group: '3 CC-CCII', ext: 'png', make: async (s) => {
    const m = lungMask(s), g = windowed(s, LUNG);
    return u8(await grey(g.map((v, i) => (m[i] ? v : 0)), s.width, s.height).png().toBuffer());
  } },
  // 4. Other windows, padding, DICOM variants, naive converters.
  { name: '8-bit PNG, W 1500 / L -600', group: '4 windows', ext: 'png', make: (s) => png8(s, LUNG) },
  { name: '8-bit PNG, W 1000 / L -700', group: '4 windows', ext: 'png', make: (s) => png8(s, { width: 1000, level: -700 }) },
  { name: '8-bit PNG, W 1200 / L -600', group: '4 windows', ext: 'png', make: (s) => png8(s, { width: 1200, level: -600 }) },
  { name: '8-bit PNG, W 2000 / L -500', group: '4 windows', ext: 'png', make: (s) => png8(s, { width: 2000, level: -500 }) },
  { name: '8-bit PNG, W 1600 / L -550', group: '4 windows', ext: 'png', make: (s) => png8(s, { width: 1600, level: -550 }) },
  { name: '8-bit PNG, lung window, FOV padding white', group: '4 padding', ext: 'png', make: async (s) => {
    const fov = outsideFov(s);
    return u8(await grey(windowed(s, LUNG).map((v, i) => (fov[i] ? 255 : v)), s.width, s.height).png().toBuffer());
  } },
  { name: '8-bit PNG, lung window, FOV padding grey 180', group: '4 padding', ext: 'png', make: async (s) => {
    const fov = outsideFov(s);
    return u8(await grey(windowed(s, LUNG).map((v, i) => (fov[i] ? 180 : v)), s.width, s.height).png().toBuffer());
  } },
  { name: '8-bit PNG, min-max of HU + 1024 with padding -2048 wrapped', group: '4 naive', ext: 'png', make: async (s) => {
    const v = Uint16Array.from(padded(s, -2048), (x) => (x + 1024) & 0xffff);
    let lo = Infinity, hi = -Infinity;
    for (const x of v) { if (x < lo) lo = x; if (x > hi) hi = x; }
    return u8(await grey(Uint8Array.from(v, (x) => Math.round((255 * (x - lo)) / Math.max(1, hi - lo))), s.width, s.height).png().toBuffer());
  } },
  { name: 'DICOM, FOV padding -2048 HU (signed)', group: '4 padding', ext: 'dcm', make: async (s) => dicom(s, { rows: s.height, columns: s.width, pixelRepresentation: 1, bitsStored: 16, rescaleSlope: 1, rescaleIntercept: 0, pixels: padded(s, -2048) }) },
  { name: 'DICOM, FOV padding -3024 HU (signed)', group: '4 padding', ext: 'dcm', make: async (s) => dicom(s, { rows: s.height, columns: s.width, pixelRepresentation: 1, bitsStored: 16, rescaleSlope: 1, rescaleIntercept: 0, pixels: padded(s, -3024) }) },
  { name: 'DICOM, MONOCHROME1 (same values)', group: '4 DICOM', ext: 'dcm', make: async (s) => dicom(s, { rows: s.height, columns: s.width, photometric: 'MONOCHROME1', bitsStored: 12, rescaleSlope: 1, rescaleIntercept: -1024, pixels: Uint16Array.from(s.hu, (v) => v + 1024) }) },
  { name: 'DICOM, RescaleSlope 0.5 (stored 2 (HU + 1024))', group: '4 DICOM', ext: 'dcm', make: async (s) => dicom(s, { rows: s.height, columns: s.width, bitsStored: 13, rescaleSlope: 0.5, rescaleIntercept: -1024, pixels: Uint16Array.from(s.hu, (v) => 2 * (v + 1024)) }) },
  { name: 'DICOM, RescaleSlope 2 (stored (HU + 1024) / 2)', group: '4 DICOM', ext: 'dcm', make: async (s) => dicom(s, { rows: s.height, columns: s.width, bitsStored: 11, rescaleSlope: 2, rescaleIntercept: -1024, pixels: Uint16Array.from(s.hu, (v) => Math.round((v + 1024) / 2)) }) },
  { name: '8-bit PNG, min-max of the slice\'s HU', group: '4 naive', ext: 'png', make: async (s) => {
    let lo = Infinity, hi = -Infinity;
    for (const v of s.hu) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return u8(await grey(Uint8Array.from(s.hu, (v) => Math.round((255 * (v - lo)) / Math.max(1, hi - lo))), s.width, s.height).png().toBuffer());
  } },
  { name: '8-bit PNG, min-max with FOV padding -2048', group: '4 naive', ext: 'png', make: async (s) => {
    const p = padded(s, -2048);
    let lo = Infinity, hi = -Infinity;
    for (const v of p) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return u8(await grey(Uint8Array.from(p, (v) => Math.round((255 * (v - lo)) / Math.max(1, hi - lo))), s.width, s.height).png().toBuffer());
  } },
  { name: '8-bit PNG, 12-bit stored values >> 4 (no window)', group: '4 naive', ext: 'png', make: async (s) => u8(await grey(Uint8Array.from(s.hu, (v) => Math.min(255, Math.max(0, (v + 1024) >> 4))), s.width, s.height).png().toBuffer()) },
  // 5. SARS-CoV-2 CT-scan dataset (Brazil): screenshots cropped to the body, 200-500 px, slight tint.
  { name: 'PNG cropped to the body, 200-500 px, lung window', group: '5 SARS-CoV-2 CT', ext: 'png', make: async (s, k) => {
    const box = bodyBox(s.width, s.height, (i) => s.hu[i] >= -500), rng = new Rng(deriveSeed(7, s.file));
    const side = 200 + Math.floor(rng.next() * 300);
    return u8(await sharp(await grey(windowed(s, LUNG), s.width, s.height).extract(box).png().toBuffer()).resize(side, undefined, { fit: 'inside' }).png().toBuffer());
  } },
  { name: 'PNG cropped to the body, 200-500 px, tinted RGB', group: '5 SARS-CoV-2 CT', ext: 'png', make: async (s, k) => {
    const box = bodyBox(s.width, s.height, (i) => s.hu[i] >= -500), rng = new Rng(deriveSeed(7, s.file));
    const side = 200 + Math.floor(rng.next() * 300);
    const tint = [1, 0.93 + 0.04 * rng.next(), 0.86 + 0.06 * rng.next()];
    const g = windowed(s, LUNG), rgb = new Uint8Array(3 * g.length);
    for (let i = 0; i < g.length; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = Math.round(g[i] * tint[c]);
    return u8(await sharp(await grey(rgb, s.width, s.height, 3).extract(box).png().toBuffer()).resize(side, undefined, { fit: 'inside' }).png().toBuffer());
  } },
];

/** 2. MosMedData: one NIfTI volume of int16 HU per series, in the storage orders converters write. */
interface VolumeForm { name: string; store: (s: DicomSlice) => { w: number; h: number; hu: Int16Array }; orient: Parameters<typeof niftiBytes>[4] }
const transposed = (s: DicomSlice) => { const out = new Int16Array(s.hu.length); for (let y = 0; y < s.height; y++) for (let x = 0; x < s.width; x++) out[x * s.height + y] = s.hu[y * s.width + x]; return { w: s.height, h: s.width, hu: out }; };
const upDown = (s: DicomSlice) => { const out = new Int16Array(s.hu.length); for (let y = 0; y < s.height; y++) out.set(s.hu.subarray(y * s.width, (y + 1) * s.width), (s.height - 1 - y) * s.width); return { w: s.width, h: s.height, hu: out }; };
const asIs = (s: DicomSlice) => ({ w: s.width, h: s.height, hu: s.hu });
const VOLUMES: VolumeForm[] = [
  { name: 'NIfTI, DICOM order, LPS-like sform', store: asIs, orient: { sform: [[-0.7, 0, 0, 0], [0, -0.7, 0, 0], [0, 0, 5, 0]] } },
  { name: 'NIfTI, rows flipped (dcm2niix / nibabel RAS), sform', store: upDown, orient: { sform: [[-0.7, 0, 0, 0], [0, 0.7, 0, 0], [0, 0, 5, 0]] } },
  { name: 'NIfTI, x/y transposed (numpy order), sform', store: transposed, orient: { sform: [[0, -0.7, 0, 0], [-0.7, 0, 0, 0], [0, 0, 5, 0]] } },
  { name: 'NIfTI, DICOM order, no affine', store: asIs, orient: {} },
  { name: 'NIfTI, rows flipped, no affine', store: upDown, orient: {} },
  { name: 'NIfTI, x/y transposed, no affine', store: transposed, orient: {} },
];

// ---------- scoring ----------
const wanted = args.forms?.split(',');
// The reference (FORMS[0]) is always scored: every other form is compared with it.
const pick = <T extends { name: string }>(list: T[]) => (wanted ? list.filter((f) => (f as unknown) === FORMS[0] || wanted.some((w) => f.name.toLowerCase().includes(w.toLowerCase()))) : list);
const engine = await loadEngine(path.resolve(args.model ?? 'models/default'));
interface Result { name: string; group: string; preds: Prediction[] }
const results: Result[] = [];
for (const form of pick(FORMS)) {
  const dir = path.join(outDir, form.name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, ''));
  await mkdir(dir, { recursive: true });
  const files = await Promise.all(slices.map(async (s, k) => {
    const bytes = await form.make(s, k);
    const name = `${s.file.replace(/\.dcm$/, '').replace('/', '_')}.${form.ext}`;
    await writeFile(path.join(dir, name), bytes);
    return { name, bytes };
  }));
  results.push({ name: form.name, group: form.group, preds: await scoreSources(engine, files.map((f) => ({ name: f.name, read: async () => f.bytes }))) });
  process.stderr.write(`scored: ${form.name}\n`);
}
for (const v of pick(VOLUMES)) {
  const dir = path.join(outDir, 'nifti');
  await mkdir(dir, { recursive: true });
  const preds: Prediction[] = [];
  for (const series of ['P001', 'normal001']) {
    const part = slices.filter((s) => s.series === series).map(v.store);
    const { w, h } = part[0];
    const hu = new Int16Array(w * h * part.length);
    part.forEach((p, k) => hu.set(p.hu, k * w * h));
    const nii = gzipSync(niftiBytes(w, h, part.length, hu, v.orient));
    const name = `${series}-${v.name.replace(/[^A-Za-z0-9]+/g, '-')}.nii.gz`;
    await writeFile(path.join(dir, name), nii);
    const got = (await scoreSources(engine, [{ name, read: async () => new Uint8Array(nii) }])).filter((p) => !p.file.endsWith(']') || p.file.includes('[slice'));
    // Slices come in position order: the same order as `slices` (each series sorted by position).
    const sliceRows = got.filter((p) => /\[slice \d+\]$/.test(p.file));
    preds.push(...(sliceRows.length ? sliceRows : got));
  }
  results.push({ name: v.name, group: '2 MosMedData', preds });
  process.stderr.write(`scored: ${v.name}\n`);
}

// ---------- report ----------
const reference = results[0].preds;
console.log(`\nCT-MD DICOM series P001 (COVID, ${slices.filter((s) => s.infected).length} infected of ${slices.filter((s) => s.series === 'P001').length}) and normal001 (${slices.filter((s) => s.series === 'normal001').length}); model ${args.model ?? 'models/default'}\n`);
console.log('| form | read | NotCT (kind) | errors | slice AUC (infected vs rest) | mean P: P001 infected / P001 not infected / normal001 | mean abs(P - P DICOM), both read | slices abs dP > 0.1 |');
console.log('|---|---:|---|---:|---:|---|---:|---:|');
const reasons: string[] = [];
for (const r of results) {
  if (r.preds.length !== slices.length) { console.log(`| ${r.name} | ${r.preds.length} rows for ${slices.length} slices: ${r.preds[0]?.error ?? r.preds[0]?.reason ?? ''} | | | | | | |`); continue; }
  const byGroup = ['P001 infected', 'P001 not infected', 'normal001'].map((g) => f3(mean(r.preds.filter((_, i) => sliceGroup(slices[i]) === g).map((p) => p.probability ?? 0)))).join(' / ');
  const dP = deltaP(r.preds, reference);
  console.log(`| ${r.name} | ${r.preds.filter(isRead).length} | ${refusedCell(r.preds)} | ${r.preds.filter((p) => p.error).length} | ${f3(dicomAuc(r.preds, slices))} | ${byGroup} | ${f3(mean(dP))} | ${dP.filter((d) => d > 0.1).length} |`);
  const why = reasonLines(r.name, r.preds);
  if (why) reasons.push(why);
}
console.log(`\nReasons (NotCT and errors):\n${reasons.join('\n')}`);
// ---------- the 768 CT-MD PNGs (lung window, 256 px) in the 8-bit forms ----------
const pngEvery = Number(args['png-every'] ?? '0');
const pngLines: string[] = [];
if (pngEvery > 0) {
  const { rows, bytes } = await ctMdPngRows(shared, pngEvery);
  const pngForms: Record<string, (b: Uint8Array, file: string) => Promise<Uint8Array>> = {
    'PNG as shipped (reference)': async (b) => b,
    'JPEG q90 at 512 px (CC-CCII)': async (b) => u8(await sharp(b).greyscale().resize(512, 512).jpeg({ quality: 90 }).toBuffer()),
    'cropped to the body, 200-500 px, tinted RGB (SARS-CoV-2 CT)': async (b, file) => {
      const { data, info } = await sharp(b).greyscale().raw().toBuffer({ resolveWithObject: true });
      const box = bodyBox(info.width, info.height, (i) => data[i] >= windowValue(-500, LUNG));
      const rng = new Rng(deriveSeed(7, file));
      const side = 200 + Math.floor(rng.next() * 300), t = [1, 0.93 + 0.04 * rng.next(), 0.86 + 0.06 * rng.next()];
      const small = await sharp(b).greyscale().extract(box).resize(side, undefined, { fit: 'inside' }).raw().toBuffer({ resolveWithObject: true });
      const rgb = new Uint8Array(3 * small.data.length);
      for (let i = 0; i < small.data.length; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = Math.round(small.data[i] * t[c]);
      return u8(await grey(rgb, small.info.width, small.info.height, 3).png().toBuffer());
    },
  };
  pngLines.push(`\nCT-MD PNGs (every ${pngEvery}th of 768: ${rows.length} slices, 6 patients)\n`, ...PNG_TABLE_HEAD);
  let ref: Prediction[] | undefined;
  for (const [name, make] of Object.entries(pngForms)) {
    const preds = await scoreSources(engine, await Promise.all(rows.map(async (r, i) => { const b = await make(bytes[i], r.path); return { name: r.path, read: async () => b }; })));
    ref ??= preds;
    pngLines.push(pngTableRow(name, preds, ref, rows));
    process.stderr.write(`scored: ${name}\n`);
  }
}

console.log(pngLines.join('\n'));
if (args.details) {
  const rows = ['form,file,label,refusal,P,P_dicom,orientation,polarity,error'];
  for (const r of results) r.preds.forEach((p, i) => rows.push([r.name, slices[i]?.file, p.label, p.refusal ?? '', p.probability?.toFixed(4) ?? '', reference[i]?.probability?.toFixed(4) ?? '', p.orientation ?? '', p.polarity ?? '', (p.error ?? '').replace(/,/g, ';')].map((c) => `"${c}"`).join(',')));
  await writeFile(args.details, rows.join('\n') + '\n');
}
engine.dispose();
