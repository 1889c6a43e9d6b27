/**
 * Coronal and sagittal reformats against real axial CT (docs/reformats.md): findLungs as predict runs it (after the
 * polarity and orientation stages), then the reformat figures, one JSON line per picture.
 *
 *   node dist/bench/reformat.js [--reformats DIR --truth FILE] [--every N] [--only GROUPS] --out FILE
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import sharp from 'sharp';
import { decodeGrey, readAndDecodeGrey } from '../src/data/decode.js';
import { findLungs } from '../src/data/involvement.js';
import { readableSlice } from '../src/data/polarity.js';
import { planeFigures } from '../src/data/reformat-check.js';
import { domeFigure } from './reformat-figures.js';
import { checkWindow } from '../src/data/window-check.js';
import { parseCsvTable } from '../src/data/labelled-set.js';
import { packageRoot } from '../src/cli/command.js';
import { Progress } from '../src/util/progress.js';
import type { GreyImage } from '../src/types.js';
import { DEGRADE, VARIANTS } from './degrade-variants.js';
import { realCtFiles, sliceImages } from './real-ct.js';
import { readdirSync } from 'node:fs';

const { values } = benchArgs(import.meta.url, { options: { reformats: { type: 'string' }, truth: { type: 'string' }, every: { type: 'string', default: '4' }, only: { type: 'string' }, out: { type: 'string' }, set: { type: 'string' } } });
const ROOT = packageRoot();
const DATA = path.join(ROOT, '../shared/data/covid-ct'), MD = path.join(ROOT, '../shared/data/covid-ct-md-sample');
const SET = path.resolve(values.set ?? path.join(ROOT, '.cache/covid-ct/nonct'));
const EVERY = Number(values.every);
interface Case { name: string; group: string; load: () => Promise<GreyImage[]>; extra?: Record<string, unknown> }

async function cases(): Promise<Case[]> {
  const out: Case[] = [];
  if (values.reformats) {
    const truth = values.truth ? new Map((JSON.parse(await readFile(values.truth, 'utf8')) as { file: string }[]).map((t) => [t.file, t])) : new Map();
    for (const f of readdirSync(values.reformats).sort()) out.push({ name: f, group: 'reformat', extra: truth.get(f), load: async () => [await readAndDecodeGrey(path.join(values.reformats!, f))] });
  }
  if (existsSync(path.join(SET, 'manifest.csv'))) for (const r of parseCsvTable(await readFile(path.join(SET, 'manifest.csv'), 'utf8'))) out.push({ name: r.path, group: 'non-CT', load: async () => [await readAndDecodeGrey(path.join(SET, r.path))] });
  const real = await realCtFiles(DATA, MD);
  for (const r of real) out.push({ name: r.file, group: r.group, load: async () => [await readAndDecodeGrey(r.file)] });
  for (const s of ['P001', 'normal001']) { const d = path.join(MD, 'dicom', s); for (const f of readdirSync(d).sort()) out.push({ name: path.join(d, f), group: `CT-MD DICOM ${s}`, load: () => sliceImages(path.join(d, f), true) }); }
  const valFiles = real.filter((r) => r.split === 'val').map((r) => r.file), mdFiles = real.filter((r) => r.set === 'ct-md').map((r) => r.file);
  const picked = [...valFiles.filter((_, i) => i % 2 === 0), ...mdFiles.filter((_, i) => i % 8 === 0)];
  for (const [name, fn] of Object.entries(DEGRADE)) for (const f of picked) out.push({ name: `${f} (${name})`, group: `export ${name}`, load: async () => { const b = await readFile(f); const m = await sharp(b).metadata(); return [await decodeGrey(await fn(b, m.width ?? 256))]; } });
  for (const v of VARIANTS) {
    if (v.name === 'original') continue;
    mdFiles.forEach((f, i) => { if (i % EVERY === 0) out.push({ name: `${f} (${v.name})`, group: `degrade ${v.name}`, load: async () => [await decodeGrey(await v.make(new Uint8Array(await readFile(f))))] }); });
    // COVID-CT val through the same variants too (their crops and windows differ from CT-MD's).
    valFiles.forEach((f, i) => { if (i % EVERY === 0) out.push({ name: `${f} (${v.name})`, group: `degrade-cc ${v.name}`, load: async () => [await decodeGrey(await v.make(new Uint8Array(await readFile(f))))] }); });
  }
  return values.only ? out.filter((c) => values.only!.split(',').some((g) => c.group.startsWith(g))) : out;
}

const all = await cases();
const progress = new Progress(all.length, 'pictures');
const lines: string[] = [];
for (const c of all) {
  try {
    for (const img of await c.load()) {
      const up = readableSlice(img);
      const t0 = performance.now();
      const { seg, findings, chest } = findLungs(up.image, up.seg);
      const ms = performance.now() - t0;
      // Read before this check: read now, or refused as a reformat where the checks after it (texture, then the
      // window) pass.
      const before = findings.found || (findings.refusal === 'not-axial' && !chest?.refusal && (up.image.hu !== undefined || !checkWindow(seg).refusal));
      lines.push(JSON.stringify({ name: c.name, group: c.group, ...c.extra, orientation: up.orientation, before, read: findings.found, refusal: findings.refusal, reason: findings.reason, ms, ...(seg.found ? { ...planeFigures(seg), dome: domeFigure(seg) } : {}) }));
    }
  } catch (e) { process.stderr.write(`${c.name}: ${(e as Error).message}\n`); }
  progress.tick(1);
}
progress.done();
await writeFile(values.out ?? '/tmp/reformat.jsonl', lines.join('\n') + '\n');
