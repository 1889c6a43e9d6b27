/**
 * What each part of the not-a-chest-CT refusal flags (src/data/chest-check.ts), on the non-CT set and on real CT:
 * the lungs check alone (no plausible lungs, lungs.ts), each of the texture checks alone (applied to the
 * pictures whose lungs were found), and all together (what `predict` says). No model is run: this is the pure
 * stage, so it takes about a minute. docs/notct-structure.md holds its tables.
 *
 *   node dist/bench/notct-structure.js [--set DIR] [--data DIR] [--data-md DIR] [--degrade] [--figures FILE]
 *
 * --degrade adds COVID-CT val slices (every 2nd) and CT-MD PNGs (every 8th) made worse as exports can be (Gaussian
 * blur sigma 2.4 px, downscaled 4x and back, halved and back, JPEG quality 30 and 10, resized to 128 px wide,
 * contrast halved, gamma 2.2, rotated 30 degrees, nearest-neighbour 2x; and blur sigma 4 px, heavier than an
 * export should be): real CT the checks should still pass. --figures FILE writes every picture's figures as JSON lines.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import sharp from 'sharp';
import { decodeGrey, readAndDecodeGrey } from '../src/data/decode.js';
import { findLungs, lungInvolvement } from '../src/data/involvement.js';
import { segmentLungs } from '../src/data/lungs.js';
import { CHEST_RULES, checkChest, chestFigures, type ChestFigures } from '../src/data/chest-check.js';
import { DEGRADE } from './degrade-variants.js';
import { realCtFiles } from './real-ct.js';
import { parseCsvTable } from '../src/data/labelled-set.js';
import { packageRoot } from '../src/cli/command.js';
import { Progress } from '../src/util/progress.js';
import type { GreyImage } from '../src/types.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    set: { type: 'string' },
    data: { type: 'string' },
    'data-md': { type: 'string' },
    degrade: { type: 'boolean', default: false },
    figures: { type: 'string' },
  },
});
const ROOT = packageRoot();
const SET = path.resolve(values.set ?? path.join(ROOT, '.cache/covid-ct/nonct'));
const DATA = path.resolve(values.data ?? process.env.COVID_CT_DATA ?? path.join(ROOT, '../shared/data/covid-ct'));
const MD = path.resolve(values['data-md'] ?? path.join(ROOT, '../shared/data/covid-ct-md-sample'));

interface Case { file: string; group: string; table: 'non-CT kind' | 'real CT source' | 'real CT made worse'; load: () => Promise<GreyImage> }

const fromFile = (file: string) => () => readAndDecodeGrey(file);

async function cases(): Promise<Case[]> {
  const out: Case[] = [];
  const manifest = path.join(SET, 'manifest.csv');
  if (!existsSync(manifest)) throw new Error(`no non-CT set at ${SET}: run npm run nonct:make first (or pass --set DIR)`);
  for (const r of parseCsvTable(await readFile(manifest, 'utf8'))) out.push({ file: path.join(SET, r.path), group: r.kind, table: 'non-CT kind', load: fromFile(path.join(SET, r.path)) });
  const real = await realCtFiles(DATA, MD);
  for (const r of real) out.push({ file: r.file, group: r.group, table: 'real CT source', load: fromFile(r.file) });
  const valFiles = real.filter((r) => r.split === 'val').map((r) => r.file);
  const mdFiles = real.filter((r) => r.set === 'ct-md').map((r) => r.file);
  if (values.degrade) {
    const picked = [...valFiles.filter((_, i) => i % 2 === 0), ...mdFiles.filter((_, i) => i % 8 === 0)];
    for (const [name, fn] of Object.entries(DEGRADE)) {
      for (const file of picked) {
        out.push({
          file: `${file} (${name})`, group: name, table: 'real CT made worse',
          load: async () => { const b = await readFile(file); const m = await sharp(b).metadata(); return decodeGrey(await fn(b, m.width ?? 256)); },
        });
      }
    }
  }
  return out;
}

interface Result { c: Case; lungs: boolean; figures: ChestFigures | null; rules: Record<string, boolean>; error?: string }

const COLUMNS = ['lungs', ...CHEST_RULES.map((r) => r.name), 'any texture check', 'all (predict)'] as const;

function row(results: Result[]): Record<string, number> {
  const count: Record<string, number> = Object.fromEntries(COLUMNS.map((k) => [k, 0]));
  for (const r of results) {
    const notLungs = !r.lungs;
    if (notLungs) count.lungs++;
    let any = false;
    for (const rule of CHEST_RULES) if (r.rules[rule.name]) { count[rule.name]++; any = true; }
    if (any) count['any texture check']++;
    if (notLungs || any) count['all (predict)']++;
  }
  return count;
}

function table(title: string, results: Result[]): string {
  const groups = [...new Set(results.map((r) => r.c.group))];
  const pct = (k: number, n: number) => (n ? `${((100 * k) / n).toFixed(1)}` : '-');
  const line = (name: string, rs: Result[]) => { const c = row(rs); return `| ${name} | ${rs.length} | ${COLUMNS.map((k) => pct(c[k], rs.length)).join(' | ')} |`; };
  return [
    `| ${title} | n | ${COLUMNS.map((k) => (k === 'lungs' ? 'no lungs found' : k)).join(' | ')} |`,
    `|---|---:|${COLUMNS.map(() => '---:').join('|')}|`,
    ...groups.map((g) => line(g, results.filter((r) => r.c.group === g))),
    line('**all**', results),
  ].join('\n');
}

/**
 * What the check costs beside the lung stage it follows: on every 4th real CT picture (decoded beforehand), the
 * median of 5 passes of segmentLungs + lungInvolvement (the reference, the lung stage before this check) and of
 * checkChest on those segmentations.
 */
async function timing(real: Case[]): Promise<string> {
  const imgs = await Promise.all(real.filter((_, i) => i % 4 === 0).map((c) => c.load()));
  const segs = imgs.map((img) => segmentLungs(img, img.hu ? { hu: img.hu } : {})).filter((s) => s.found);
  const median = (f: () => void) => {
    const t: number[] = [];
    for (let k = 0; k < 5; k++) { const t0 = performance.now(); f(); t.push(performance.now() - t0); }
    return t.sort((a, b) => a - b)[2];
  };
  const lung = median(() => { for (const img of imgs) lungInvolvement(segmentLungs(img, img.hu ? { hu: img.hu } : {}), img.hu); });
  const check = median(() => { for (const s of segs) checkChest(s); });
  return [
    `| stage (${imgs.length} real CT pictures, ${segs.length} with lungs; median of 5 passes) | ms per picture | vs the lung stage |`,
    '|---|---:|---:|',
    `| segmentLungs + lungInvolvement (reference) | ${(lung / imgs.length).toFixed(2)} | 100% |`,
    `| checkChest | ${(check / Math.max(1, segs.length)).toFixed(2)} | ${((100 * check) / lung).toFixed(0)}% |`,
  ].join('\n');
}

async function main(): Promise<void> {
  const all = await cases();
  const progress = new Progress(all.length, 'pictures checked');
  const results: Result[] = [];
  for (const c of all) {
    try {
      const { seg } = findLungs(await c.load());
      // Each rule alone, on the pictures whose lungs were found (the rules never see the others).
      const figures = seg.found ? chestFigures(seg) : null;
      results.push({ c, lungs: seg.found, figures, rules: Object.fromEntries(CHEST_RULES.map((r) => [r.name, figures ? r.refuses(figures) : false])) });
    } catch (e) {
      // An unreadable picture is refused as input, not by these checks: counted as flagged by neither, and named.
      process.stderr.write(`${c.file}: ${(e as Error).message}\n`);
      results.push({ c, lungs: true, figures: null, rules: {}, error: (e as Error).message });
    }
    progress.tick(1);
  }
  progress.done();
  const out = [`Non-CT set: ${SET}; % of each row flagged by each part (texture checks only where lungs were found)`, ''];
  for (const t of ['non-CT kind', 'real CT source', 'real CT made worse'] as const) {
    const rs = results.filter((r) => r.c.table === t);
    if (rs.length) out.push(table(t, rs), '');
  }
  out.push(await timing(all.filter((c) => c.table === 'real CT source')), '');
  process.stdout.write(out.join('\n'));
  if (values.figures) {
    await writeFile(values.figures, results.map((r) => JSON.stringify({ file: r.c.file, group: r.c.group, lungs: r.lungs, ...r.figures, rules: r.rules })).join('\n') + '\n');
    process.stderr.write(`figures in ${values.figures}\n`);
  }
}

await main();
