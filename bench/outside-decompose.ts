/**
 * Where the outside-the-lungs audits' change of P(COVID) comes from (issue 10 item 7; docs/outside-audits.md).
 *
 *   node dist/bench/outside-decompose.js [--model models/default] [--split val] [--data DIR] [--every 1]
 *        [--variants outside-noise,outside-swap,marks-on-noncovid,marks-inside,marks-outside] [--json FILE] [--list]
 *
 * For every slice of the split and every variant of `covid-ct audit` (src/eval/audit.ts; marks-inside and
 * marks-outside are marks-on-noncovid's marks cut to the kept lung mask or to the rest), the slice is read four
 * ways and P(COVID) = gate(involvement) x pattern compared with the original's:
 *   (d) neither forced: the variant as the pipeline reads it (what the audit measures);
 *   (a) oracle segmentation: the original's lung labels, body and box on the variant's analysis image (the
 *       calibration is then computed from the variant's pixels inside the original's mask);
 *   (b) the original's calibration (intensityReference) with the variant's own segmentation;
 *   (c) both.
 * Also: the share of slices whose lung mask changes (Dice < 0.95 against the original's), slices that lose their
 * lungs, and P split into its parts (mean |d gate|, |d pattern|, and |dP| with only one part moved).
 * --list names, per variant, the slices whose lung mask changes (Dice < 0.95): index, file, Dice, the settled
 * threshold and the lungs kept (original -> variant), and |dP|, to look at (docs/lung-pair.md).
 * Nothing is fitted; no label is read except marks' "non-COVID only".
 */
import { readFile, writeFile } from 'node:fs/promises';
import { benchArgs } from './args.js';
import path from 'node:path';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import { decodeGrey } from '../src/data/decode.js';
import { segmentLungs, type LungSegmentation } from '../src/data/lungs.js';
import { intensityReference, lungInvolvement, withIntensityReference } from '../src/data/involvement.js';
import { modelViews } from '../src/model/engine.js';
import { gateOf, DEFAULT_GATE } from '../src/model/reading.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { maskDice } from '../src/data/morphology.js';
import { OUTSIDE_VARIANTS, pasteMarks, type AuditContext } from '../src/eval/audit.js';
import { labelToBinary, type Split } from '../src/types.js';
import { resolveDataDir } from '../src/cli/command.js';
import { Progress } from '../src/util/progress.js';
import type { GreyImage } from '../src/types.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    model: { type: 'string', default: 'models/default' }, split: { type: 'string', default: 'val' }, data: { type: 'string' },
    every: { type: 'string', default: '1' }, variants: { type: 'string' }, json: { type: 'string' }, list: { type: 'boolean' },
  },
});
if (values.split === 'test') throw new Error('this bench scores val (or train) only: the official test split is scored once, for the report');

type Apply = (b: Uint8Array, ctx: AuditContext) => Promise<Uint8Array>;
const VARIANTS: Record<string, Apply> = Object.fromEntries(OUTSIDE_VARIANTS.map((v) => [v.name, (b: Uint8Array, c: AuditContext) => v.apply(b, c)]));
VARIANTS['marks-inside'] = (b, c) => (c.labels?.[c.index] === 0 ? pasteMarks(b, 'inside') : Promise.resolve(b));
VARIANTS['marks-outside'] = (b, c) => (c.labels?.[c.index] === 0 ? pasteMarks(b, 'outside') : Promise.resolve(b));
const names = (values.variants ?? Object.keys(VARIANTS).join(',')).split(',');
for (const n of names) if (!VARIANTS[n]) throw new Error(`unknown variant ${n}; known: ${Object.keys(VARIANTS).join(', ')}`);

const entries = entriesOf(await loadDataset(resolveDataDir(values.data)), values.split as Split).filter((_, i) => i % Number(values.every) === 0);
const labels = entries.map((e) => labelToBinary(e.label));
const all = await Promise.all(entries.map(async (e) => new Uint8Array(await readFile(e.path))));
const engine = await OnnxClassifier.load(values.model!);
const json = engine.json;
const gateScale = json.reading?.gate ?? DEFAULT_GATE;

interface Parts { gate: number; pattern: number; p: number; found: boolean }
/** The reading's two parts on a given segmentation (its own calibration unless pinned by withIntensityReference). */
async function read(img: GreyImage, seg: LungSegmentation): Promise<Parts> {
  const inv = lungInvolvement(seg);
  const gate = inv ? gateOf(inv.fraction, gateScale) : 0;
  const [pattern] = (await engine.scoreViews(await modelViews(json, img, seg))).patterns;
  return { gate, pattern, p: gate * pattern, found: seg.found };
}


const CONDITIONS = ['d', 'a', 'b', 'c'] as const;
type Cond = typeof CONDITIONS[number];
interface Row { i: number; dice: number; lost: boolean; base: Parts; cond: Record<Cond, Parts>; threshold: [number | undefined, number | undefined]; lungs: [number, number] }
const rows: Record<string, Row[]> = Object.fromEntries(names.map((n) => [n, []]));
const progress = new Progress(entries.length, 'outside-decompose');
for (let i = 0; i < entries.length; i++) {
  const img0 = await decodeGrey(all[i]);
  const seg0 = segmentLungs(img0);
  const ref0 = seg0.found ? intensityReference(seg0) : null;
  const base = await read(img0, seg0);
  for (const n of names) {
    const out = await VARIANTS[n](all[i], { index: i, all, labels });
    if (out === all[i] || !seg0.found) continue;
    const img1 = await decodeGrey(out);
    const seg1 = segmentLungs(img1);
    // The original's lungs on the variant's pixels: same size, so the same analysis grid.
    const oracle: LungSegmentation = { ...seg0, analysis: seg1.analysis };
    const cond = {
      d: await read(img1, seg1),
      a: await read(img1, oracle),
      b: await read(img1, withIntensityReference(seg1, ref0)),
      c: await read(img1, withIntensityReference(oracle, ref0)),
    };
    rows[n].push({ i, dice: maskDice(seg0.labels, seg1.labels), lost: !seg1.found, base, cond, threshold: [seg0.threshold, seg1.threshold], lungs: [seg0.quality.components, seg1.quality.components] });
  }
  progress.tick(1);
}
progress.done();
engine.dispose();

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const f = (x: number) => x.toFixed(4);
console.log(`\n${values.model}, ${values.split} split${values.every !== '1' ? ` (every ${values.every}th)` : ''}: mean |dP(COVID)| per changed slice\n`);
console.log('| variant | slices changed | mask Dice < 0.95 | lungs lost | mean Dice | (d) neither forced | (a) oracle mask/box | (b) original calibration | (c) both |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const n of names) {
  const r = rows[n];
  const dp = (c: Cond) => f(mean(r.map((x) => Math.abs(x.cond[c].p - x.base.p))));
  console.log(`| ${n} | ${r.length} | ${(100 * mean(r.map((x) => (x.dice < 0.95 ? 1 : 0)))).toFixed(1)}% | ${r.filter((x) => x.lost).length} | ${f(mean(r.map((x) => x.dice)))} | ${dp('d')} | ${dp('a')} | ${dp('b')} | ${dp('c')} |`);
}
console.log('\nP split into its parts (gate = P(involvement present), pattern = the lungs-only model):\n');
console.log('| variant | condition | mean abs d gate | mean abs d pattern | mean abs dP, pattern moved only (original gate) | mean abs dP, gate moved only (original pattern) | mean abs dP | slices with Dice >= 0.95: mean abs dP | Dice < 0.95: mean abs dP |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
for (const n of names) {
  const r = rows[n];
  for (const c of CONDITIONS) {
    const good = r.filter((x) => x.dice >= 0.95), bad = r.filter((x) => x.dice < 0.95);
    const adp = (xs: Row[]) => f(mean(xs.map((x) => Math.abs(x.cond[c].p - x.base.p))));
    console.log(`| ${n} | ${c} | ${f(mean(r.map((x) => Math.abs(x.cond[c].gate - x.base.gate))))} | ${f(mean(r.map((x) => Math.abs(x.cond[c].pattern - x.base.pattern))))} | ` +
      `${f(mean(r.map((x) => Math.abs(x.base.gate * x.cond[c].pattern - x.base.p))))} | ${f(mean(r.map((x) => Math.abs(x.cond[c].gate * x.base.pattern - x.base.p))))} | ` +
      `${adp(r)} | ${good.length ? adp(good) : 'n/a'} (${good.length}) | ${bad.length ? adp(bad) : 'n/a'} (${bad.length}) |`);
  }
}
if (values.list) {
  for (const n of names) {
    const moved = rows[n].filter((x) => x.dice < 0.95);
    console.log(`\n${n}: ${moved.length} slices whose lung mask changes (Dice < 0.95)\n`);
    console.log('| slice | file | Dice | threshold | lungs | abs dP |');
    console.log('|---:|---|---:|---|---|---:|');
    for (const x of moved) {
      console.log(`| ${x.i} | ${path.basename(entries[x.i].path)} | ${x.dice.toFixed(3)} | ${x.threshold[0]} -> ${x.threshold[1]} | ${x.lungs[0]} -> ${x.lungs[1]} | ${f(Math.abs(x.cond.d.p - x.base.p))} |`);
    }
  }
}
if (values.json) await writeFile(values.json, JSON.stringify({ model: values.model, split: values.split, files: entries.map((e) => e.path), rows }));
