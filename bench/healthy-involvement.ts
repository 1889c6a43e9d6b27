/**
 * Involvement on healthy lung against involvement on lesions, per switch of what is left out as not lung
 * (involvement.ts' InvolvementOptions; docs/healthy-involvement.md):
 *
 *   node dist/bench/healthy-involvement.js [--shared DIR] [--set ct-md|covid-ct|dicom] [--candidates 'a;b:stripDomeVessels=0']
 *
 * - ct-md: all 768 PNG slices; per class (COVID / CAP / normal) the median and p90 of involvement, the share of
 *   normal slices at >= 3.5% (where the gate reaches 0.5), involvement's slice AUC (COVID vs normal, vs the rest),
 *   and, against the first candidate, the involvement each later one removes on COVID and CAP slices.
 * - covid-ct: all 746 slices (labels used only for the per-class columns; no split is scored).
 * - dicom: CT-MD's two raw series in HU (P001 COVID, normal001 normal).
 * Each slice goes through the orientation stage and the segmentation once; every candidate reads the same segmentation.
 * The last line times lungInvolvement per candidate on the first 200 slices, in this process.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import { decodeGrey } from '../src/data/decode.js';
import { decodeInput } from '../src/data/inputs.js';
import { loadDataset } from '../src/data/dataset.js';
import { uprightSlice } from '../src/data/orientation.js';
import { segmentLungs, type LungSegmentation } from '../src/data/lungs.js';
import { lungInvolvement } from '../src/data/involvement.js';
import { involvementOptionCandidates } from './involvement-candidates.js';
import { aucOrNull } from '../src/eval/metrics.js';
import type { GreyImage, HuMapping } from '../src/types.js';

const { values } = benchArgs(import.meta.url, { options: { shared: { type: 'string', default: '../shared' }, set: { type: 'string', default: 'ct-md' }, candidates: { type: 'string', default: 'shipped;none:stripDomeVessels=0' } } });
const shared = values.shared!;
const md = path.join(shared, 'data/covid-ct-md-sample');

interface Slice { name: string; dx: 'COVID' | 'CAP' | 'Normal'; seg: LungSegmentation; hu?: HuMapping }
const slices: Slice[] = [];
const add = (name: string, dx: Slice['dx'], img: GreyImage) => {
  const up = uprightSlice(img);
  slices.push({ name, dx, seg: up.seg ?? segmentLungs(up.image, up.image.hu ? { hu: up.image.hu } : {}), ...(up.image.hu ? { hu: up.image.hu } : {}) });
};
if (values.set === 'ct-md') {
  const lines = (await readFile(path.join(md, 'manifest.csv'), 'utf8')).trim().split('\n').slice(1);
  for (const l of lines) {
    const c = l.split(',');
    add(path.basename(c[0], '.png'), c[4] === 'COVID-19' ? 'COVID' : c[4] === 'CAP' ? 'CAP' : 'Normal', await decodeGrey(new Uint8Array(await readFile(path.join(md, c[0])))));
  }
} else if (values.set === 'covid-ct') {
  for (const e of await loadDataset(path.join(shared, 'data/covid-ct'))) add(e.name, e.label === 'COVID' ? 'COVID' : 'Normal', await decodeGrey(new Uint8Array(await readFile(e.path))));
} else if (values.set === 'dicom') {
  for (const series of ['P001', 'normal001']) {
    const dir = path.join(md, 'dicom', series);
    for (const f of (await readdir(dir)).sort()) {
      for (const s of await decodeInput(f, new Uint8Array(await readFile(path.join(dir, f))))) if (s.image) add(`${series}/${f}`, series === 'P001' ? 'COVID' : 'Normal', s.image);
    }
  }
} else throw new Error(`--set must be ct-md, covid-ct or dicom, got ${values.set}`);

const candidates = involvementOptionCandidates(values.candidates!);

const q = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN; };
const f3 = (x: number | null) => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(3));
const results = candidates.map(({ o }) => slices.map((s) => s.seg.found ? lungInvolvement(s.seg, s.hu, o)?.fraction ?? null : null));
console.log(`${values.set}: ${slices.length} slices (${['COVID', 'CAP', 'Normal'].map((d) => `${slices.filter((s) => s.dx === d).length} ${d}`).join(', ')}); involvement of a slice not measured counts as 0 in the AUCs.\n`);
console.log('| candidate | measured | median / p90 COVID | CAP | normal | normal >= 3.5% | AUC COVID vs normal | vs rest | removed vs first: mean COVID / CAP / normal | COVID or CAP slices losing > 1 point |');
console.log('|---|---:|---|---|---|---:|---:|---:|---|---:|');
const y = slices.map((s) => (s.dx === 'COVID' ? 1 : 0) as 0 | 1);
for (const [k, c] of candidates.entries()) {
  const inv = results[k];
  const of = (dx: string) => inv.filter((v, i) => v !== null && slices[i].dx === dx) as number[];
  const mq = (dx: string) => { const v = of(dx); return v.length ? `${f3(q(v, 0.5))} / ${f3(q(v, 0.9))}` : 'n/a'; };
  const normal = of('Normal');
  const score = inv.map((v) => v ?? 0);
  const idx = slices.map((_, i) => i).filter((i) => slices[i].dx !== 'CAP');
  const removed = (dx: string) => {
    const d = slices.map((s, i) => (s.dx === dx && results[0][i] !== null && inv[i] !== null ? results[0][i]! - inv[i]! : null)).filter((v) => v !== null) as number[];
    return d.length ? f3(d.reduce((a, b) => a + b, 0) / d.length) : 'n/a';
  };
  const losing = slices.filter((s, i) => s.dx !== 'Normal' && results[0][i] !== null && (results[0][i]! - (inv[i] ?? 0)) > 0.01).length;
  console.log(`| ${c.name} | ${inv.filter((v) => v !== null).length} | ${mq('COVID')} | ${mq('CAP')} | ${mq('Normal')} | ${normal.length ? (normal.filter((v) => v >= 0.035).length / normal.length).toFixed(3) : 'n/a'} (${normal.filter((v) => v >= 0.035).length}) | ` +
    `${f3(aucOrNull(idx.map((i) => y[i]), idx.map((i) => score[i])))} | ${f3(aucOrNull(y, score))} | ${removed('COVID')} / ${removed('CAP')} / ${removed('Normal')} | ${k === 0 ? '' : losing} |`);
}
// Slices whose involvement changed most (for looking at them with explain).
for (const [k, c] of candidates.entries()) {
  if (k === 0) continue;
  const d = slices.map((s, i) => ({ name: s.name, dx: s.dx, a: results[0][i], b: results[k][i] })).filter((r) => r.a !== null && r.b !== null && Math.abs(r.a! - r.b!) > 0.005);
  d.sort((p, r) => Math.abs(r.a! - r.b!) - Math.abs(p.a! - p.b!));
  console.log(`\n${c.name} against ${candidates[0].name}: ${d.length} slices move by > 0.5 point; largest: ${d.slice(0, 12).map((r) => `${r.name} (${r.dx}) ${f3(r.a)} -> ${f3(r.b)}`).join('; ')}`);
}
// Timing, one process: each candidate's lungInvolvement on the first 200 measured segmentations; the candidates take
// turns over 7 rounds (other work on a shared machine hits them alike), best round each.
const segs = slices.filter((s) => s.seg.found).slice(0, 200);
const best = candidates.map(() => Infinity);
for (let r = 0; r < 7; r++) {
  for (const [k, { o }] of candidates.entries()) {
    const t = performance.now();
    for (const s of segs) lungInvolvement(s.seg, s.hu, o);
    best[k] = Math.min(best[k], performance.now() - t);
  }
}
console.log(`\nlungInvolvement per slice (${segs.length} slices, best of 7 interleaved rounds): ${candidates.map(({ name }, k) => `${name} ${(best[k] / segs.length).toFixed(3)} ms`).join(', ')}`);
