/**
 * Lung segmentation on the real data: found-rates (COVID-CT COVID / NonCOVID, CT-MD PNGs), the files where no
 * lung was found, the speed of segmentLungs (decoding excluded) and, with --sheet PREFIX, contact sheets with
 * the lung outline in red (written to PREFIX-*.png; never commit them: the images belong to their authors).
 *
 *   node dist/bench/lungs.bench.js [--sheet /tmp/seg-sheet] [--seed 1]
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import sharp from 'sharp';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { type LungSegmentation, lungOutline, segmentLungs } from '../src/data/lungs.js';
import type { GreyImage } from '../src/types.js';

const { values } = benchArgs(import.meta.url, { options: { sheet: { type: 'string' }, seed: { type: 'string', default: '1' }, shared: { type: 'string', default: '../shared' }, only: { type: 'string' }, match: { type: 'string' } } });
const shared = path.resolve(values.shared!);

async function listPng(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => !f.startsWith('.')).sort().map((f) => path.join(dir, f));
}

const groups: Record<string, string[]> = {
  COVID: await listPng(path.join(shared, 'data/covid-ct/images/CT_COVID')),
  NonCOVID: await listPng(path.join(shared, 'data/covid-ct/images/CT_NonCOVID')),
  'CT-MD': await listPng(path.join(shared, 'data/covid-ct-md-sample/images')),
};

interface Row { file: string; group: string; img: GreyImage; seg: LungSegmentation; ms: number }
const rows: Row[] = [];
for (const [group, files] of Object.entries(groups)) {
  if (values.only && values.only !== group) continue;
  for (const file of files) {
    const img = await readAndDecodeGrey(file);
    const t0 = performance.now();
    const seg = segmentLungs(img);
    rows.push({ file, group, img, seg, ms: performance.now() - t0 });
  }
}
// Speed: a second, warm pass over 200 slices spread over the groups.
const sample = rows.filter((_, i) => i % Math.max(1, Math.floor(rows.length / 200)) === 0).slice(0, 200);
for (const r of sample) segmentLungs(r.img);
// CPU time of this process as well as wall time: on a shared machine the wall time includes waiting for a core.
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
let c0 = process.cpuUsage();
const t0 = performance.now();
for (let k = 0; k < 3; k++) for (const r of sample) segmentLungs(r.img);
console.log(`segmentLungs: ${((performance.now() - t0) / sample.length / 3).toFixed(2)} ms/slice wall, ${(cpuMs(process.cpuUsage(c0)) / sample.length / 3).toFixed(2)} ms CPU (warm, ${sample.length} slices at their own size, decoding excluded)`);
// The same slices already at the analysis size (the resampling to 256 px excluded).
const small = sample.map((r) => r.seg.analysis);
for (const a of small) segmentLungs(a);
c0 = process.cpuUsage();
const t1 = performance.now();
for (let k = 0; k < 3; k++) for (const a of small) segmentLungs(a);
console.log(`segmentLungs on 256-px inputs: ${((performance.now() - t1) / small.length / 3).toFixed(2)} ms/slice wall, ${(cpuMs(process.cpuUsage(c0)) / small.length / 3).toFixed(2)} ms CPU`);

for (const group of Object.keys(groups)) {
  const g = rows.filter((r) => r.group === group);
  if (!g.length) continue;
  const found = g.filter((r) => r.seg.found).length;
  console.log(`${group}: found ${found}/${g.length} = ${(found / g.length).toFixed(4)}`);
  for (const r of g) if (!r.seg.found) console.log(`  not found: ${path.basename(r.file)} (${r.img.width}x${r.img.height}): ${r.seg.reason}`);
}

// Contact sheets.
function mulberry32(a: number) {
  return () => { a |= 0; a = (a + 0x6d2b79f5) | 0; let t = Math.imul(a ^ (a >>> 15), 1 | a); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}
async function sheet(file: string, chosen: Row[], cols = 8, cell = 256): Promise<void> {
  const rowsN = Math.ceil(chosen.length / cols);
  const W = cols * cell, H = rowsN * cell;
  const rgb = new Uint8Array(W * H * 3);
  chosen.forEach((r, k) => {
    const ox = (k % cols) * cell, oy = Math.floor(k / cols) * cell;
    const a = r.seg.analysis, out = lungOutline(r.seg);
    for (let y = 0; y < a.height; y++) for (let x = 0; x < a.width; x++) {
      const i = y * a.width + x, o = ((oy + y) * W + ox + x) * 3;
      const v = a.data[i];
      if (out[i]) { rgb[o] = 255; rgb[o + 1] = r.seg.labels[i] === 1 ? 0 : 160; rgb[o + 2] = 0; }
      else { rgb[o] = v; rgb[o + 1] = v; rgb[o + 2] = r.seg.body[i] ? v : Math.min(255, v + 40); }
    }
    if (!r.seg.found) for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) { const o = ((oy + y) * W + ox + x) * 3; rgb[o] = 0; rgb[o + 1] = 0; rgb[o + 2] = 255; }
  });
  await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
  console.log(`wrote ${file}: ${chosen.map((r) => path.basename(r.file)).join(' | ')}`);
}
if (values.sheet) {
  const rand = mulberry32(Number(values.seed));
  const pick = (g: Row[], k: number) => { const c = g.slice(); for (let i = c.length - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [c[i], c[j]] = [c[j], c[i]]; } return c.slice(0, k); };
  const cc = rows.filter((r) => r.group !== 'CT-MD');
  if (cc.length) await sheet(`${values.sheet}-covidct.png`, pick(cc, 48));
  const md = rows.filter((r) => r.group === 'CT-MD');
  if (md.length) await sheet(`${values.sheet}-ctmd.png`, pick(md, 16));
  if (values.match) { const re = new RegExp(values.match); await sheet(`${values.sheet}-match.png`, rows.filter((r) => re.test(path.basename(r.file))).slice(0, 48)); }
  const fails = rows.filter((r) => !r.seg.found);
  if (fails.length) await sheet(`${values.sheet}-fails.png`, fails.slice(0, 32));
}
