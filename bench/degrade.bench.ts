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
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { decodeGrey } from '../src/data/decode.js';
import { segmentLungs } from '../src/data/lungs.js';
import { keptRegion } from '../src/data/lung-view.js';
import { entriesOf, loadDataset } from '../src/data/dataset.js';
import type { LungFindings } from '../src/data/involvement.js';
import { loadEngine } from '../src/model/load-engine.js';
import { readSlice } from '../src/model/reading.js';
import { scoreSources } from '../src/predict/score-files.js';
import { aucOrNull } from '../src/eval/metrics.js';
import { patientScores, DEFAULT_TOP_K } from '../src/eval/patients.js';
import type { Binary, GreyImage, Prediction } from '../src/types.js';
import { CANDIDATES, addCandidate } from './involvement-candidates.js';
import { Rng, deriveSeed } from '../src/util/prng.js';

const { values } = parseArgs({
  options: {
    every: { type: 'string', default: '4' }, model: { type: 'string', default: 'models/default' }, 'no-model': { type: 'boolean' },
    shared: { type: 'string', default: '../shared' }, set: { type: 'string', default: 'ct-md' }, candidates: { type: 'string', default: 'shipped' }, variants: { type: 'string' },
  },
});
const every = Number(values.every);
if (!Number.isInteger(every) || every < 1) throw new Error(`--every must be an integer >= 1, got ${values.every}`);
const md = path.resolve(values.shared!, 'data/covid-ct-md-sample');

const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const rawPng = (img: GreyImage): Promise<Buffer> =>
  sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 1 } }).png().toBuffer();
/** A grey-level map applied pixel by pixel, written as PNG. */
async function mapGrey(bytes: Uint8Array, f: (v: number) => number): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.max(0, Math.min(255, Math.round(f(v))));
  return u8(await rawPng({ ...img, data: img.data.map((v) => lut[v]) }));
}

interface Variant { name: string; make(bytes: Uint8Array): Promise<Uint8Array> }
const VARIANTS: Variant[] = [
  { name: 'original', make: async (b) => b },
  {
    name: 'half', make: async (b) => {
      const m = await sharp(b).metadata();
      return u8(await sharp(b).resize(Math.round(m.width! / 2), Math.round(m.height! / 2), { fit: 'fill', kernel: 'lanczos3' }).png().toBuffer());
    },
  },
  { name: 'blur1.2', make: async (b) => u8(await sharp(b).blur(1.2).png().toBuffer()) },
  { name: 'jpeg30', make: async (b) => u8(await sharp(b).jpeg({ quality: 30 }).toBuffer()) },
  { name: 'photo', make: async (b) => u8(await sharp(await sharp(b).blur(1).linear(0.75, 10).png().toBuffer()).jpeg({ quality: 60 }).toBuffer()) },
  { name: 'window', make: (b) => mapGrey(b, (v) => 1.3 * (v - 40)) },
  { name: 'gamma', make: (b) => mapGrey(b, (v) => 255 * (v / 255) ** 1.4) },
  { name: 'screen-photo', make: screenPhoto },
  { name: 'noise6', make: (b) => addNoise(b, 6) },
  { name: 'noise12', make: (b) => addNoise(b, 12) },
  { name: 'wide-fov', make: widerField },
  { name: 'crop-body', make: (b) => cropBody(b, 0, 0) },
  { name: 'crop-tight', make: (b) => cropBody(b, 0.1, 0.12) },
  { name: 'figure', make: paperFigure },
  { name: 'wide-window', make: (b) => mapGrey(b, (v) => 0.7 * v + 40) },
  { name: 'gamma0.7', make: (b) => mapGrey(b, (v) => 255 * (v / 255) ** 0.7) },
  { name: 'pre-segmented', make: preSegmented },
  {
    name: 'double', make: async (b) => {
      const m = await sharp(b).metadata();
      return u8(await sharp(b).resize(m.width! * 2, m.height! * 2, { fit: 'fill', kernel: 'lanczos3' }).png().toBuffer());
    },
  },
  { name: 'upside-down', make: async (b) => u8(await sharp(b).flip().png().toBuffer()) },
  { name: 'rotated90', make: async (b) => u8(await sharp(b).rotate(90).png().toBuffer()) },
  // A soft-tissue (mediastinal) window, W 400 / L 40 HU, from CT-MD's lung window (W 1500 / L -600): the lungs go black.
  { name: 'mediastinal', make: (b) => mapGrey(b, (v) => ((-1350 + (v / 255) * 1500) + 160) / 400 * 255) },
  { name: 'mirrored', make: async (b) => u8(await sharp(b).flop().png().toBuffer()) },
  // A negative (some viewers' invert key): air white, bone black.
  { name: 'negative', make: (b) => mapGrey(b, (v) => 255 - v) },
];

/** As some public sets ship slices: the lungs only (the mask grown by 2 analysis px), everything else black. */
async function preSegmented(bytes: Uint8Array): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const keep = keptRegion(segmentLungs(img), img.width, img.height, 2);
  return u8(await rawPng({ ...img, data: img.data.map((v, i) => (keep[i] ? v : 0)) }));
}

/** The body's box: rows and columns where at least 5% of the pixels are brighter than grey 110 (air, grey in some lung windows, is darker). */
function bodyBox(img: GreyImage): { x0: number; x1: number; y0: number; y1: number } {
  const cols = new Array<number>(img.width).fill(0), rowsN = new Array<number>(img.height).fill(0);
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) if (img.data[y * img.width + x] > 110) { cols[x]++; rowsN[y]++; }
  const first = (a: number[], n: number) => a.findIndex((c) => c > 0.05 * n);
  const last = (a: number[], n: number) => a.length - 1 - [...a].reverse().findIndex((c) => c > 0.05 * n);
  return { x0: first(cols, img.height), x1: last(cols, img.height), y0: first(rowsN, img.width), y1: last(rowsN, img.width) };
}

/** Cropped to the body's box, then further by fx of its width on each side and fy of its height (a tight crop: the
 * chest wall cut, the lungs at the picture's edge, as in datasets cut from viewers). */
async function cropBody(bytes: Uint8Array, fx: number, fy: number): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const b = bodyBox(img);
  const w = b.x1 - b.x0 + 1, h = b.y1 - b.y0 + 1;
  const left = b.x0 + Math.round(fx * w), top = b.y0 + Math.round(fy * h);
  return u8(await sharp(await rawPng(img)).extract({ left, top, width: Math.round((1 - 2 * fx) * w), height: Math.round((1 - 2 * fy) * h) }).png().toBuffer());
}

/** A paper figure: the slice at 240 px wide, framed in white, a panel letter in the corner, JPEG quality 80. */
async function paperFigure(bytes: Uint8Array): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const w = 240, h = Math.round((240 * img.height) / img.width);
  const small = await sharp(await rawPng(img)).resize(w, h, { kernel: 'lanczos3' }).png().toBuffer();
  const letter = `<svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg"><text x="8" y="26" font-family="sans-serif" font-size="22" font-weight="bold" fill="white">A</text></svg>`;
  return u8(await sharp({ create: { width: w + 12, height: h + 12, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([{ input: small, left: 6, top: 6 }, { input: Buffer.from(letter), left: 6, top: 6 }]).jpeg({ quality: 80 }).toBuffer());
}

/** A wider field of view: the slice shrunk to 60% (Lanczos) in a frame of air (grey 0) of its old size. */
async function widerField(bytes: Uint8Array): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const w = Math.round(0.6 * img.width), h = Math.round(0.6 * img.height);
  const small = await sharp(await rawPng(img)).resize(w, h, { kernel: 'lanczos3' }).png().toBuffer();
  return u8(await sharp({ create: { width: img.width, height: img.height, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite([{ input: small, left: Math.round((img.width - w) / 2), top: Math.round((img.height - h) / 2) }]).greyscale().png().toBuffer());
}

/** Gaussian noise of standard deviation sd grey levels (a sharper kernel or a lower dose), seeded by the file's bytes. */
async function addNoise(bytes: Uint8Array, sd: number): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const rng = new Rng(deriveSeed(20261202, `${bytes.length}:${bytes.subarray(0, 64).join(',')}:${bytes.subarray(-64).join(',')}`));
  return u8(await rawPng({ ...img, data: img.data.map((v) => Math.max(0, Math.min(255, Math.round(v + sd * rng.normal())))) }));
}

/**
 * A colour phone photo of the slice on a monitor: the screen's raised black level and dimmed white (0.8 v + 25),
 * a warm cast (R, G, B x 1 / 0.9 / 0.75), tilted 5 degrees, slightly out of focus (sigma 0.8), inside a dark
 * bezel and desk (20% larger on each axis), a glare from the top left, and the phone's JPEG (quality 70, RGB).
 */
async function screenPhoto(bytes: Uint8Array): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const rgb = new Uint8Array(3 * img.data.length);
  for (let i = 0; i < img.data.length; i++) {
    const v = 0.8 * img.data[i] + 25;
    rgb[3 * i] = Math.round(v); rgb[3 * i + 1] = Math.round(0.9 * v); rgb[3 * i + 2] = Math.round(0.75 * v);
  }
  const bezel = { r: 30, g: 27, b: 23 };
  const screen = await sharp(rgb, { raw: { width: img.width, height: img.height, channels: 3 } }).rotate(5, { background: bezel }).blur(0.8).png().toBuffer();
  const { width = 0, height = 0 } = await sharp(screen).metadata();
  const W = Math.round(1.2 * width), H = Math.round(1.2 * height);
  const glare = `<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg"><defs><radialGradient id="g" cx="0.2" cy="0.15" r="0.7">`
    + '<stop offset="0" stop-color="white" stop-opacity="0.18"/><stop offset="1" stop-color="white" stop-opacity="0"/></radialGradient></defs>'
    + `<rect width="${W}" height="${H}" fill="url(#g)"/></svg>`;
  return u8(await sharp({ create: { width: W, height: H, channels: 3, background: bezel } })
    .composite([{ input: screen, left: Math.round((W - width) / 2), top: Math.round((H - height) / 2) }, { input: Buffer.from(glare), blend: 'screen' }])
    .jpeg({ quality: 70 }).toBuffer());
}

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
