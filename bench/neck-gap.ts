/**
 * Where each kept lung lies against the body's outline, on every real CT slice we have (docs/neck-gap.md): all
 * COVID-CT files, the 768 CT-MD PNGs and the 151 CT-MD DICOM slices, each read as prepareSlice reads it (polarity and
 * orientation stages, then findLungs). Per lung: its area, its wall (the chamfer distance, analysis px, from the
 * lung to the outside of the body: the smallest over its pixels, and the share of its pixels within WALL_NEAR px),
 * and whether it touches the outside. Lists the lungs with the thinnest walls and the slices found, to look at.
 *
 *   node dist/bench/neck-gap.js [--shared DIR] [--list N] [--near PX]
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import { readableSlice } from '../src/data/polarity.js';
import { findLungs } from '../src/data/involvement.js';
import { distanceToSet } from '../src/data/morphology.js';
import { sliceImages } from './real-ct.js';

const { values } = benchArgs(import.meta.url, { options: { shared: { type: 'string', default: '/work/shared' }, list: { type: 'string', default: '40' }, near: { type: 'string', default: '6' } } });
const shared = path.resolve(values.shared!, 'data');
const NEAR = Number(values.near);
const list = async (dir: string) => (await readdir(dir)).filter((f) => !f.startsWith('.')).sort().map((f) => path.join(dir, f));
const groups: Record<string, string[]> = {
  'COVID-CT': [...await list(`${shared}/covid-ct/images/CT_COVID`), ...await list(`${shared}/covid-ct/images/CT_NonCOVID`)],
  'CT-MD PNG': await list(`${shared}/covid-ct-md-sample/images`),
  'CT-MD DICOM': [...await list(`${shared}/covid-ct-md-sample/dicom/P001`), ...await list(`${shared}/covid-ct-md-sample/dicom/normal001`)],
};
interface Row { set: string; file: string; lung: number; area: number; wall: number; near: number; involvement: number | null }
const rows: Row[] = [];
for (const [set, files] of Object.entries(groups)) {
  let n = 0, found = 0;
  for (const file of files) {
    const images = await sliceImages(file, set.includes('DICOM'));
    for (const img of images) {
      n++;
      const up = readableSlice(img);
      const r = findLungs(up.image, up.seg);
      if (!r.findings.found) continue;
      found++;
      const { width: w, height: h } = r.seg.analysis;
      const outside = new Uint8Array(w * h);
      for (let i = 0; i < w * h; i++) outside[i] = r.seg.body[i] ? 0 : 1;
      const d = distanceToSet(outside, w, h);
      for (const lung of [1, 2]) {
        let area = 0, wall = Infinity, near = 0;
        for (let i = 0; i < w * h; i++) {
          if (r.seg.labels[i] !== lung) continue;
          area++;
          if (d[i] < wall) wall = d[i];
          if (d[i] <= NEAR) near++;
        }
        if (area) rows.push({ set, file: path.basename(file), lung, area, wall, near: near / area, involvement: r.findings.involvement });
      }
    }
  }
  console.log(`${set}: ${n} slices, ${found} read`);
}
rows.sort((a, b) => b.near - a.near);
console.log(`\nlungs: ${rows.length}; share of a lung's pixels within ${NEAR} px of the outside (descending), first ${values.list}:`);
console.log('| set | file | lung | area px | wall px | near share | involvement |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows.slice(0, Number(values.list))) console.log(`| ${r.set} | ${r.file} | ${r.lung} | ${r.area} | ${r.wall.toFixed(1)} | ${r.near.toFixed(3)} | ${r.involvement === null ? '-' : (100 * r.involvement).toFixed(1) + '%'} |`);
const hist = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8].map((t) => `>=${t}: ${rows.filter((r) => r.near >= t).length}`);
console.log(`\nnear-share histogram: ${hist.join(', ')}`);
