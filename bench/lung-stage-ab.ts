/**
 * The lung stage of this checkout against another build of it (the code before a speed change), on the same
 * slices: how far the outputs moved and how much CPU time it takes. `--old DIR` is a checkout built with
 * `npx tsc -p tsconfig.json` (it needs only its dist/), e.g. `git worktree add /tmp/old COMMIT`.
 *
 *   node dist/bench/lung-stage-ab.js --old DIR [--shared DIR] [--skip-outputs] [--list] [--reps 9]
 *
 * 1. Outputs, on every COVID-CT file, the 768 CT-MD PNGs and the two CT-MD DICOM series: slices whose analysis
 *    image, masks, findings and involvement mask are all identical; lung-mask Dice (mean, min); the change of
 *    involvement per slice (mean abs, max); and whether the lungs-only view is identical wherever the
 *    segmentation is. With --list, every slice whose outputs differ is named after the table (file, lung Dice, found
 *    old -> new), to look at.
 * 2. CPU time per slice of findLungs, segmentLungs and lungInvolvement on the 64 test images `npm run bench` uses,
 *    old and new interleaved in this one process (median of --reps), so that other processes' load hits both alike.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import { readImageBytes } from '../src/data/decode.js';
import { decodeInput } from '../src/data/inputs.js';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import * as newInvolvement from '../src/data/involvement.js';
import * as newLungs from '../src/data/lungs.js';
import * as newView from '../src/data/lung-view.js';
import type { GreyImage } from '../src/types.js';
import { sliceImages } from './real-ct.js';

const { values } = benchArgs(import.meta.url, { options: { old: { type: 'string' }, shared: { type: 'string', default: '../shared' }, 'skip-outputs': { type: 'boolean' }, list: { type: 'boolean' }, reps: { type: 'string', default: '9' } } });
if (!values.old) throw new Error('--old DIR (a built checkout of the code to compare with) is required');
const oldDist = path.resolve(values.old, 'dist/src/data');
const shared = path.resolve(values.shared!, 'data');
const oldInvolvement: typeof newInvolvement = await import(path.join(oldDist, 'involvement.js'));
const oldLungs: typeof newLungs = await import(path.join(oldDist, 'lungs.js'));
const oldView: typeof newView = await import(path.join(oldDist, 'lung-view.js'));

const same = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};
const mean = (xs: number[]) => (xs.length ? xs.reduce((p, q) => p + q, 0) / xs.length : NaN);

if (!values['skip-outputs']) {
  const list = async (dir: string) => (await readdir(dir)).filter((f) => !f.startsWith('.')).sort().map((f) => path.join(dir, f));
  const groups: Record<string, string[]> = {
    'COVID-CT (all files)': [...await list(`${shared}/covid-ct/images/CT_COVID`), ...await list(`${shared}/covid-ct/images/CT_NonCOVID`)],
    'CT-MD PNG': await list(`${shared}/covid-ct-md-sample/images`),
    'CT-MD DICOM (HU)': [...await list(`${shared}/covid-ct-md-sample/dicom/P001`), ...await list(`${shared}/covid-ct-md-sample/dicom/normal001`)],
  };
  console.log('| set | slices | identical outputs | found changed | lung Dice mean | min | involvement mean abs change | max | measured by one only | lungs-only view differs where the segmentation is identical |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  const changed: string[] = [];
  for (const [name, files] of Object.entries(groups)) {
    let n = 0, identical = 0, foundChanged = 0, oneOnly = 0, viewDiffers = 0;
    const dices: number[] = [], changes: number[] = [];
    for (const file of files) {
      const images = await sliceImages(file, name.includes('DICOM'));
      for (const img of images) {
        n++;
        const a = oldInvolvement.findLungs(img), b = newInvolvement.findLungs(img);
        const eq = same(a.seg.analysis.data, b.seg.analysis.data) && same(a.seg.labels, b.seg.labels) && same(a.seg.body, b.seg.body)
          && JSON.stringify(a.findings) === JSON.stringify(b.findings) && (a.involvement === null) === (b.involvement === null)
          && (!a.involvement || !b.involvement || same(a.involvement.mask, b.involvement.mask));
        if (eq) {
          identical++;
          const va = (oldView.lungView as (...a: unknown[]) => GreyImage)(a.seg, img), vb = newView.lungView(b.seg, img);
          if (va.width !== vb.width || !same(va.data, vb.data)) viewDiffers++;
        }
        if (a.seg.found !== b.seg.found) foundChanged++;
        let inter = 0, sa = 0, sb = 0;
        for (let i = 0; i < a.seg.labels.length; i++) {
          const p = a.seg.labels[i] ? 1 : 0, q = b.seg.labels[i] ? 1 : 0;
          inter += p & q; sa += p; sb += q;
        }
        if (sa + sb) dices.push((2 * inter) / (sa + sb));
        if (!eq) changed.push(`${name}: ${path.basename(file)} lung Dice ${sa + sb ? ((2 * inter) / (sa + sb)).toFixed(3) : 'n/a'}, found ${a.seg.found} -> ${b.seg.found}`);
        const ia = a.findings.involvement, ib = b.findings.involvement;
        if (ia !== null && ib !== null) changes.push(Math.abs(ia - ib));
        else if (ia !== ib) oneOnly++;
      }
    }
    console.log(`| ${name} | ${n} | ${identical} | ${foundChanged} | ${mean(dices).toFixed(4)} | ${Math.min(...dices).toFixed(3)} | ${mean(changes).toFixed(4)} | ${Math.max(0, ...changes).toFixed(3)} | ${oneOnly} | ${viewDiffers} |`);
  }
  if (values.list) {
    console.log(`\nSlices whose outputs differ (${changed.length}):`);
    for (const c of changed) console.log(`- ${c}`);
  }
}

// 2. CPU time, old and new interleaved.
const files = entriesOf(await loadDataset(`${shared}/covid-ct`), 'test').slice(0, 64).map((e) => e.path);
const decoded: GreyImage[] = [];
for (const f of files) for (const s of await decodeInput(f, await readImageBytes(f))) if (s.image) decoded.push(s.image);
const reps = Number(values.reps);
const cpuMs = (fn: () => void) => {
  const c0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(c0);
  return (d.user + d.system) / 1000 / decoded.length;
};
type Side = { inv: typeof newInvolvement; lungs: typeof newLungs };
const tasks: [string, (m: Side) => () => void][] = [
  ['findLungs', (m) => () => { for (const img of decoded) m.inv.findLungs(img); }],
  ['segmentLungs', (m) => () => { for (const img of decoded) m.lungs.segmentLungs(img, img.hu ? { hu: img.hu } : {}); }],
  ['lungInvolvement', (m) => {
    const segs = decoded.map((img) => m.lungs.segmentLungs(img, img.hu ? { hu: img.hu } : {}));
    return () => segs.forEach((s, i) => m.inv.lungInvolvement(s, decoded[i].hu));
  }],
];
console.log(`\n${decoded.length} decoded test slices, CPU ms/slice, median of ${reps} interleaved passes\n`);
console.log('| what | old | new | old / new |');
console.log('|---|---|---|---|');
for (const [name, make] of tasks) {
  const fOld = make({ inv: oldInvolvement, lungs: oldLungs }), fNew = make({ inv: newInvolvement, lungs: newLungs });
  for (let w = 0; w < 2; w++) { fOld(); fNew(); } // JIT warm-up
  const tOld: number[] = [], tNew: number[] = [];
  for (let r = 0; r < reps; r++) { tOld.push(cpuMs(fOld)); tNew.push(cpuMs(fNew)); }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  console.log(`| ${name} | ${med(tOld).toFixed(3)} | ${med(tNew).toFixed(3)} | ${(med(tOld) / med(tNew)).toFixed(2)}x |`);
}
