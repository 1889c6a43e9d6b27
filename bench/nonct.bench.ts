/**
 * How well the model refuses what is not a chest CT slice, and how rarely it refuses real CT:
 *   - the non-CT set (bench/nonct-set.ts; `npm run nonct:make` first): per kind, n, flagged NotCT, %, and the
 *     mean P(COVID) of the images scored;
 *   - real CT: all 746 COVID-CT slices and the 768 CT-MD PNGs: per source, n, flagged, %.
 * Goal: >= 95% of non-CT flagged, <= 1% of real CT flagged. Everything goes through the project's own scoring
 * (loadEngine + scoreFiles), as `covid-ct predict` does. Flagged means `prediction.label === 'NotCT'`.
 *
 *   npm run bench:nonct -- [--model DIR] [--set DIR] [--details FILE] [--data DIR] [--data-md DIR] [--engine onnx|tfjs]
 *
 * --details FILE lists the real CT files flagged and the non-CT images not flagged (with their kind).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import { loadEngine } from '../src/model/load-engine.js';
import { parseCsvTable } from '../src/data/labelled-set.js';
import { scoreFiles } from '../src/predict/score-files.js';
import { packageRoot } from '../src/cli/command.js';
import { Progress } from '../src/util/progress.js';
import type { Prediction } from '../src/types.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    model: { type: 'string' },
    set: { type: 'string' },
    details: { type: 'string' },
    data: { type: 'string' },
    'data-md': { type: 'string' },
    engine: { type: 'string', default: 'onnx' },
  },
});
const ROOT = packageRoot();
const MODEL = path.resolve(values.model ?? path.join(ROOT, 'models/default'));
const SET = path.resolve(values.set ?? path.join(ROOT, '.cache/covid-ct/nonct'));
const DATA = path.resolve(values.data ?? process.env.COVID_CT_DATA ?? path.join(ROOT, '../shared/data/covid-ct'));
const MD = path.resolve(values['data-md'] ?? path.join(ROOT, '../shared/data/covid-ct-md-sample'));

/** The label type is 'COVID' | 'NonCOVID' until NotCT lands: compared as a string so this compiles either way. */
const flagged = (p: Prediction) => p.label === 'NotCT';

interface Case { file: string; group: string }


async function nonCtCases(): Promise<Case[]> {
  const manifest = path.join(SET, 'manifest.csv');
  if (!existsSync(manifest)) throw new Error(`no non-CT set at ${SET}: run npm run nonct:make first (or pass --set DIR)`);
  return parseCsvTable(await readFile(manifest, 'utf8')).map((r) => ({ file: path.join(SET, r.path), group: r.kind }));
}

async function realCtCases(): Promise<Case[]> {
  const out: Case[] = [];
  for (const cls of ['CT_COVID', 'CT_NonCOVID']) {
    const dir = path.join(DATA, 'images', cls);
    if (!existsSync(dir)) { process.stderr.write(`missing ${dir}: COVID-CT ${cls} left out\n`); continue; }
    for (const n of (await readdir(dir)).filter((n) => !n.startsWith('.')).sort()) out.push({ file: path.join(dir, n), group: `COVID-CT ${cls}` });
  }
  const mdManifest = path.join(MD, 'manifest.csv');
  if (existsSync(mdManifest)) {
    for (const r of parseCsvTable(await readFile(mdManifest, 'utf8'))) out.push({ file: path.join(MD, r.path), group: `CT-MD ${r.label} (${r.patient_id.replace(/^COVIDCTMD_/, '')})` });
  } else process.stderr.write(`missing ${mdManifest}: CT-MD left out\n`);
  return out;
}

interface Row { group: string; n: number; scored: number; flagged: number; covid: number; meanP: number; why: [number, number, number, number] }

/** Which kind of refusal (the prediction's `refusal`): 0 = no lungs found, 1 = not like a CT slice, 2 = a window that hides the lungs, 3 = a coronal or sagittal reformat. */
const why = (p: Prediction): 0 | 1 | 2 | 3 => (p.refusal === 'not-axial' ? 3 : p.refusal === 'window' ? 2 : p.refusal === 'not-ct' ? 1 : 0);

function summarise(cases: Case[], preds: Prediction[]): Row[] {
  const by = new Map<string, Row & { sumP: number }>();
  cases.forEach((c, i) => {
    const p = preds[i];
    const r = by.get(c.group) ?? { group: c.group, n: 0, scored: 0, flagged: 0, covid: 0, meanP: NaN, sumP: 0, why: [0, 0, 0, 0] };
    r.n++;
    if (p.probability !== null) { r.scored++; r.sumP += p.probability; }
    if (flagged(p)) { r.flagged++; r.why[why(p)]++; }
    if (p.label === 'COVID') r.covid++;
    by.set(c.group, r);
  });
  return [...by.values()].map(({ sumP, ...r }) => ({ ...r, meanP: r.scored ? sumP / r.scored : NaN }));
}

const pct = (k: number, n: number) => (n ? ((100 * k) / n).toFixed(1) : '-');
function table(title: string, rows: Row[], goal: string): string {
  const total = rows.reduce((a, r) => ({
    n: a.n + r.n, scored: a.scored + r.scored, flagged: a.flagged + r.flagged, covid: a.covid + r.covid, sumP: a.sumP + (r.scored ? r.meanP * r.scored : 0),
    why: a.why.map((k, j) => k + r.why[j]) as Row['why'],
  }), { n: 0, scored: 0, flagged: 0, covid: 0, sumP: 0, why: [0, 0, 0, 0] as Row['why'] });
  const lines = [
    `| ${title} | n | not scored | flagged NotCT | % flagged | flagged for: no lungs / not like CT / window hides the lungs / not axial | % labelled COVID | mean P(COVID) |`,
    '|---|---:|---:|---:|---:|---|---:|---:|',
    ...rows.map((r) => `| ${r.group} | ${r.n} | ${r.n - r.scored} | ${r.flagged} | ${pct(r.flagged, r.n)} | ${r.why.join(' / ')} | ${pct(r.covid, r.n)} | ${Number.isNaN(r.meanP) ? '-' : r.meanP.toFixed(3)} |`),
    `| **all** (goal: ${goal}) | ${total.n} | ${total.n - total.scored} | ${total.flagged} | ${pct(total.flagged, total.n)} | ${total.why.join(' / ')} | ${pct(total.covid, total.n)} | ${total.scored ? (total.sumP / total.scored).toFixed(3) : '-'} |`,
  ];
  return lines.join('\n');
}

async function score(engine: Awaited<ReturnType<typeof loadEngine>>, cases: Case[], label: string): Promise<Prediction[]> {
  const progress = new Progress(cases.length, label);
  let last = 0;
  const preds = await scoreFiles(engine, cases.map((c) => c.file), { batchSize: 16, onProgress: (d) => { progress.tick(d - last); last = d; } });
  progress.done();
  // One prediction per PNG/JPEG file: anything else (a DICOM or zip in the set) would break the pairing.
  if (preds.length !== cases.length) throw new Error(`expected one prediction per file, got ${preds.length} for ${cases.length} files`);
  return preds;
}

async function main(): Promise<void> {
  const nonCt = await nonCtCases();
  const realCt = await realCtCases();
  const engine = await loadEngine(MODEL, values.engine);
  try {
    const nonPreds = await score(engine, nonCt, 'non-CT scored');
    const ctPreds = await score(engine, realCt, 'real CT scored');
    const nonRows = summarise(nonCt, nonPreds);
    const ctRows = summarise(realCt, ctPreds);
    const out = [
      `Model: ${path.relative(process.cwd(), MODEL) || MODEL} (${values.engine}); non-CT set: ${SET}`,
      '',
      table('non-CT kind', nonRows, '>= 95% flagged'),
      '',
      table('real CT source', ctRows, '<= 1% flagged'),
      '',
    ].join('\n');
    process.stdout.write(out);
    if (values.details) {
      const notFlagged = nonCt.map((c, i) => ({ c, p: nonPreds[i] })).filter(({ p }) => !flagged(p));
      const ctFlagged = realCt.map((c, i) => ({ c, p: ctPreds[i] })).filter(({ p }) => flagged(p));
      const fmt = (p: Prediction) => (p.probability === null ? `error: ${p.error}` : `P(COVID) ${p.probability.toFixed(4)}, label ${p.label}`);
      const text = [
        `# Non-CT bench details (${new Date().toISOString()})`,
        '',
        `Model: ${MODEL}`,
        '',
        `## Real CT flagged NotCT (${ctFlagged.length} of ${realCt.length})`,
        '',
        ...ctFlagged.map(({ c, p }) => `- ${c.group}: ${c.file} (${fmt(p)}${p.error ? '' : p.reason ? `; ${p.reason}` : ''})`),
        '',
        `## Non-CT images not flagged (${notFlagged.length} of ${nonCt.length})`,
        '',
        ...notFlagged.map(({ c, p }) => `- ${c.group}: ${path.relative(SET, c.file)} (${fmt(p)})`),
        '',
      ].join('\n');
      await mkdir(path.dirname(path.resolve(values.details)), { recursive: true });
      await writeFile(values.details, text);
      process.stderr.write(`details in ${values.details}\n`);
    }
  } finally {
    engine.dispose();
  }
}

await main();
