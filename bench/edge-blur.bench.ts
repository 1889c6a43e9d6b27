/**
 * The edge-blur reading (src/data/edge-blur.ts) on CT-MD slices and on copies with known added blur, which is how
 * BLUR_GAIN was measured, and its cost (docs/robust-involvement.md): `node dist/bench/edge-blur.bench.js [--every 8]`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import sharp from 'sharp';
import { decodeGrey } from '../src/data/decode.js';
import { segmentLungs } from '../src/data/lungs.js';
import { addedBlur, edgeBlur } from '../src/data/edge-blur.js';
import { lungInvolvement } from '../src/data/involvement.js';

const { values } = benchArgs(import.meta.url, { options: { every: { type: 'string', default: '8' }, shared: { type: 'string', default: '../shared' } } });
const md = path.resolve(values.shared!, 'data/covid-ct-md-sample');
const every = Number(values.every);
const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const variants: [string, (b: Uint8Array) => Promise<Uint8Array>][] = [
  ['original', async (b) => b],
  ['blur 0.8 px', async (b) => u8(await sharp(b).blur(0.8).png().toBuffer())],
  ['blur 1.2 px', async (b) => u8(await sharp(b).blur(1.2).png().toBuffer())],
  ['blur 2 px', async (b) => u8(await sharp(b).blur(2).png().toBuffer())],
  ['half (128 px)', async (b) => u8(await sharp(b).resize(128, 128, { fit: 'fill', kernel: 'lanczos3' }).png().toBuffer())],
  ['jpeg q30', async (b) => u8(await sharp(b).jpeg({ quality: 30 }).toBuffer())],
  ['photo', async (b) => u8(await sharp(await sharp(b).blur(1).linear(0.75, 10).png().toBuffer()).jpeg({ quality: 60 }).toBuffer())],
];
const files = (await readFile(path.join(md, 'manifest.csv'), 'utf8')).trim().split('\n').slice(1).filter((_, i) => i % every === 0).map((l) => l.split(',')[0]);
const bytes = await Promise.all(files.map(async (f) => new Uint8Array(await readFile(path.join(md, f)))));
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))];
let base = NaN;
console.log(`CT-MD, every ${every}th slice (${files.length}); the reading's p10 / median / p90, then the median added blur.\n`);
console.log('| copy | slices read | reading p10 | median | p90 | added blur (median) | reading^2 gain per sigma^2 |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const [name, make] of variants) {
  const readings: number[] = [], added: number[] = [];
  for (const b of bytes) {
    const e = edgeBlur(segmentLungs(await decodeGrey(await make(b))));
    if (!e) continue;
    readings.push(e.sigma);
    added.push(addedBlur(e));
  }
  const med = q(readings, 0.5);
  if (name === 'original') base = med;
  const sigma = /blur ([\d.]+)/.exec(name)?.[1];
  const gain = sigma ? ((med * med - base * base) / Number(sigma) ** 2).toFixed(2) : '';
  console.log(`| ${name} | ${readings.length} | ${q(readings, 0.1).toFixed(2)} | ${med.toFixed(2)} | ${q(readings, 0.9).toFixed(2)} | ${q(added, 0.5).toFixed(2)} | ${gain} |`);
}

// Cost, with segmentLungs as the reference in the same run (median of 5 passes over the original slices).
const images = await Promise.all(bytes.map((b) => decodeGrey(b)));
const segs = images.map((img) => segmentLungs(img));
const msPerSlice = (fn: () => void) => {
  const runs: number[] = [];
  for (let k = 0; k < 5; k++) { const t0 = performance.now(); fn(); runs.push(performance.now() - t0); }
  return runs.sort((a, b) => a - b)[2] / images.length;
};
console.log('\n| step (on the original slices) | ms per slice |\n|---|---:|');
console.log(`| segmentLungs (reference) | ${msPerSlice(() => images.forEach((img) => segmentLungs(img))).toFixed(2)} |`);
console.log(`| lungInvolvement (with the edge reading) | ${msPerSlice(() => segs.forEach((s) => lungInvolvement(s))).toFixed(2)} |`);
console.log(`| edgeBlur alone | ${msPerSlice(() => segs.forEach((s) => edgeBlur(s))).toFixed(2)} |`);
