/**
 * The tilt stage (src/data/tilt.ts, docs/field-and-resolution.md section 4) on every real slice: COVID-CT (all 746,
 * by the official split) and the CT-MD sample (768 PNGs), each as scanned (the bar: none turned) and, for CT-MD,
 * turned by --tilts degrees (rotateImage, corners black as the degrade bench's tilted copies): how many are turned
 * back, and how far from level they are read (the tilt found minus the tilt made: the axis of slices as scanned
 * spreads by some degrees).
 *
 *   node dist/bench/tilt-check.js [--tilts 10,20,30,-15] [--data DIR] [--data-md DIR]
 *
 * Lists every slice as scanned that is turned, with its set and the tilt found.
 */
import { readFile } from 'node:fs/promises';
import { benchArgs } from './args.js';
import { decodeGrey } from '../src/data/decode.js';
import { readableSlice } from '../src/data/polarity.js';
import { rotateImage } from '../src/data/tilt.js';
import { Progress } from '../src/util/progress.js';
import { realCtFiles } from './real-ct.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    tilts: { type: 'string', default: '10,20,30,-15' },
    data: { type: 'string', default: '../shared/data/covid-ct' },
    'data-md': { type: 'string', default: '../shared/data/covid-ct-md-sample' },
  },
});
const tilts = values.tilts!.split(',').map(Number);
if (tilts.some((t) => !Number.isFinite(t))) {
  process.stderr.write(`tilt-check: --tilts takes degrees separated by commas (such as 10,20,-15), not "${values.tilts}"\n`);
  process.exit(2);
}

const files = await realCtFiles(values.data!, values['data-md']!);
const asScanned = new Map<string, { n: number; turned: number }>();
const turnedAsScanned: string[] = [];
const tilted = new Map<number, { n: number; turned: number; offsets: number[] }>(tilts.map((t) => [t, { n: 0, turned: 0, offsets: [] }]));
const progress = new Progress(files.length, 'slices');
for (const f of files) {
  const g = await decodeGrey(new Uint8Array(await readFile(f.file)));
  const set = f.set === 'covid-ct' ? 'COVID-CT' : 'CT-MD';
  const row = asScanned.get(set) ?? { n: 0, turned: 0 };
  asScanned.set(set, row);
  row.n++;
  const r = readableSlice(g);
  if (r.tilt !== undefined) { row.turned++; turnedAsScanned.push(`${set} ${f.file}: tilt ${r.tilt}`); }
  if (f.set === 'ct-md') {
    for (const t of tilts) {
      const s = tilted.get(t)!;
      s.n++;
      const rt = readableSlice(rotateImage(g, t, 0));
      if (rt.tilt !== undefined) { s.turned++; s.offsets.push(rt.tilt - t); }
    }
  }
  progress.tick();
}
progress.done();

const pct = (a: number, n: number) => (n ? ((100 * a) / n).toFixed(1) : '-');
const quantile = (xs: number[], q: number) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(q * (s.length - 1))] : NaN; };
console.log('\n| slices as scanned | n | turned | % |\n|---|---:|---:|---:|');
for (const [set, r] of asScanned) console.log(`| ${set} | ${r.n} | ${r.turned} | ${pct(r.turned, r.n)} |`);
console.log('\n| CT-MD tilted by | n | turned back | % | tilt found - tilt made: 5th / 50th / 95th percentile (degrees) |\n|---|---:|---:|---:|---|');
for (const [t, s] of tilted) {
  const q = [0.05, 0.5, 0.95].map((p) => quantile(s.offsets, p).toFixed(1)).join(' / ');
  console.log(`| ${t} | ${s.n} | ${s.turned} | ${pct(s.turned, s.n)} | ${q} |`);
}
console.log(turnedAsScanned.length ? `\nturned as scanned (the bar is none):\n${turnedAsScanned.join('\n')}` : '\nno slice as scanned was turned');
