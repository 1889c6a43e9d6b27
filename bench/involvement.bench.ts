/**
 * Lung involvement per patient on the CT-MD sample (PNG slices on the calibrated scale; the raw DICOM series in
 * HU) and its distribution on COVID-CT: `node dist/bench/involvement.bench.js [--shared DIR]`. The design's check:
 * CT-MD's normal patients low, its COVID and CAP patients high, at patient level.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { decodeInput } from '../src/data/inputs.js';
import { segmentLungs } from '../src/data/lungs.js';
import { lungInvolvement, scanInvolvement } from '../src/data/involvement.js';
import { loadDataset } from '../src/data/dataset.js';
import { benchArgs } from './args.js';

const shared = benchArgs(import.meta.url, { options: { shared: { type: 'string', default: '../shared' } } }).values.shared;
const md = path.join(shared, 'data/covid-ct-md-sample');

function quantiles(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `median ${q(0.5).toFixed(3)} [p10 ${q(0.1).toFixed(3)}, p90 ${q(0.9).toFixed(3)}]`;
}

async function main(): Promise<void> {
  const rows = (await readFile(path.join(md, 'manifest.csv'), 'utf8')).trim().split('\n').slice(1).map((l) => l.split(','));
  const byPatient = new Map<string, { diagnosis: string; slices: { fraction: number; lungPixels: number }[]; missing: number; ms: number }>();
  for (const r of rows) {
    const [file, , patient, , diagnosis] = r;
    const img = await readAndDecodeGrey(path.join(md, file));
    const t0 = performance.now();
    const seg = segmentLungs(img);
    const inv = lungInvolvement(seg);
    const ms = performance.now() - t0;
    const p = byPatient.get(patient) ?? { diagnosis, slices: [], missing: 0, ms: 0 };
    p.ms += ms;
    if (inv) p.slices.push(inv); else p.missing++;
    byPatient.set(patient, p);
  }
  console.log('| CT-MD patient (PNG, calibrated scale) | diagnosis | slices measured | not measured | scan involvement | per-slice |');
  console.log('|---|---|---:|---:|---:|---|');
  for (const [pid, p] of byPatient) {
    console.log(`| ${pid} | ${p.diagnosis} | ${p.slices.length} | ${p.missing} | ${scanInvolvement(p.slices)?.toFixed(3)} | ${quantiles(p.slices.map((s) => s.fraction))} |`);
  }
  for (const series of ['P001', 'normal001']) {
    const dir = path.join(md, 'dicom', series);
    const slices: { fraction: number; lungPixels: number }[] = [];
    const cal: { fraction: number; lungPixels: number }[] = [];
    for (const f of (await readdir(dir)).sort()) {
      for (const s of await decodeInput(f, new Uint8Array(await readFile(path.join(dir, f))))) {
        if (!s.image) continue;
        const seg = segmentLungs(s.image, { hu: s.image.hu });
        const inv = lungInvolvement(seg, s.image.hu);
        if (inv) slices.push(inv);
        const c = lungInvolvement(seg);
        if (c) cal.push(c);
      }
    }
    console.log(`DICOM ${series}: HU involvement ${scanInvolvement(slices)?.toFixed(3)} over ${slices.length} slices; calibrated on the same slices ${scanInvolvement(cal)?.toFixed(3)}`);
  }
  const data = await loadDataset(path.join(shared, 'data/covid-ct'));
  for (const label of ['COVID', 'NonCOVID'] as const) {
    const fr: number[] = [];
    let missing = 0;
    for (const e of data.filter((d) => d.label === label && d.split === 'train')) {
      const inv = lungInvolvement(segmentLungs(await readAndDecodeGrey(e.path)));
      if (inv) fr.push(inv.fraction); else missing++;
    }
    console.log(`COVID-CT train ${label}: ${quantiles(fr)}, not measured ${missing}`);
  }
}

void main();
