/**
 * The anatomy and image-formation checks of "not a chest CT slice" (src/data/chest-anatomy.ts) on every picture
 * they must refuse or keep (docs/notct-rules3.md). No model is run: findLungs, as predict does, then the figures.
 *
 *   node dist/bench/notct-rules3.js [--set DIR] [--heldout DIR,DIR...] [--data DIR] [--data-md DIR] [--every N] [--figures FILE]
 *
 * Tables (one row per group): n, refused before (findLungs without the new checks), refused by each new check
 * alone (of those that passed before), refused after, and how many the polarity stage would read as a negative
 * (polarity.ts: none of the real CT may be).
 *   - non-CT (bench set): bench/nonct-set.ts's 216 pictures (`npm run nonct:make`);
 *   - held-out non-CT: pictures from other sources, never used to set a limit: every picture file under the
 *     --heldout folders (grey, whole and a seeded crop; e.g. python3-skimage's and gnome-backgrounds' pictures,
 *     unpacked with `apt-get download` + `dpkg -x`), matplotlib's MRI slice (s1045.ima.gz, 3 looks), and X-ray
 *     projections of a geometric chest phantom at angles the bench set has not (oblique 20-70 degrees, lateral,
 *     frontal; made here);
 *   - real CT: all COVID-CT slices (by split) and all CT-MD PNGs;
 *   - real CT, exports: bench/notct-structure.ts's degradations (COVID-CT val every 2nd, CT-MD every 8th);
 *   - real CT, degrade bench: bench/degrade.bench.ts's variants of every Nth CT-MD slice (--every, default 4);
 *   - CT in a viewer: 30 CT-MD slices as a photo of a viewer shows them (panel, toolbar, text, tilt, blur, dim, JPEG).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { benchArgs } from './args.js';
import sharp from 'sharp';
import { decodeGrey, readAndDecodeGrey } from '../src/data/decode.js';
import { findLungs } from '../src/data/involvement.js';
import { decidePolarity } from '../src/data/polarity.js';
import { CHEST_RULES, chestFigures } from '../src/data/chest-check.js';
import { anatomyFigures } from './notct-candidates.js';
import { parseCsvTable } from '../src/data/labelled-set.js';
import { packageRoot } from '../src/cli/command.js';
import { Progress } from '../src/util/progress.js';
import { Rng, deriveSeed } from '../src/util/prng.js';
import type { GreyImage } from '../src/types.js';
import { DEGRADE, VARIANTS, u8 } from './degrade-variants.js';
import { realCtFiles } from './real-ct.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    set: { type: 'string' }, heldout: { type: 'string' }, data: { type: 'string' }, 'data-md': { type: 'string' },
    every: { type: 'string', default: '4' }, figures: { type: 'string' }, only: { type: 'string' },
  },
});
const ROOT = packageRoot();
const SET = path.resolve(values.set ?? path.join(ROOT, '.cache/covid-ct/nonct'));
const DATA = path.resolve(values.data ?? process.env.COVID_CT_DATA ?? path.join(ROOT, '../shared/data/covid-ct'));
const MD = path.resolve(values['data-md'] ?? path.join(ROOT, '../shared/data/covid-ct-md-sample'));
const EVERY = Number(values.every);

type Table = 'non-CT (bench set)' | 'held-out non-CT' | 'real CT' | 'real CT, exports' | 'real CT, degrade bench' | 'CT in a viewer';
interface Case { name: string; group: string; table: Table; load: () => Promise<GreyImage> }

const greyPng = async (b: Buffer | Uint8Array, maxSide = 1024): Promise<GreyImage> =>
  decodeGrey(u8(await sharp(b).resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true }).greyscale().png().toBuffer()));

function listPictures(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const f = path.join(d, n);
      if (statSync(f).isDirectory()) walk(f);
      else if (/\.(png|jpe?g|webp|svg|gif|tiff?)$/i.test(n) && statSync(f).size > 4000) out.push(f);
    }
  };
  walk(dir);
  return out;
}

/** A geometric chest phantom (attenuation per voxel) projected along a direction at `angle` degrees from lateral. */
function phantomProjection(angle: number, look: 'std' | 'hard', seed: number): GreyImage {
  const rng = new Rng(deriveSeed(20261203, `phantom-${seed}`));
  const N = 160; // voxels per side (x left-right, y anterior-posterior, z head-foot)
  // Vessels: cylinders through (vx, vy) at height vz, sloping by (dx, dy) per unit of height, in every direction.
  const vessels: [number, number, number, number, number, number][] = [];
  for (let k = 0; k < 80; k++) vessels.push([rng.uniform(-0.6, 0.6), rng.uniform(-0.4, 0.4), rng.uniform(-0.5, 0.6), rng.uniform(0.01, 0.03), rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5)]);
  // Attenuation at a point in [-1,1]^3 (z: +1 head). The body runs past the picture's top and bottom (no straight
  // cut), its outline changes with height (shoulders, waist), ribs slope, so that the projection has no long
  // horizontal or vertical edges a drawing would have.
  const mu = (x: number, y: number, z: number): number => {
    const ax = 0.8 * (1 + 0.12 * Math.tanh(4 * (z - 0.55))) * (1 - 0.08 * z * z), ay = 0.52 * (1 - 0.1 * z * z);
    if ((x / ax) ** 2 + (y / ay) ** 2 > 1) return 0;
    let m = 1; // soft tissue
    if (Math.hypot(x, y - 0.36) < 0.08) m = 2.2; // spine
    if (Math.abs(Math.hypot(x / ax, y / ay) - 0.9) < 0.03 && Math.sin(30 * z + 6 * y + 3 * Math.abs(x)) > 0.4) m = 1.5; // sloping ribs
    const inLung = (cx: number) => ((x - cx) / 0.3) ** 2 + ((y + 0.02) / 0.38) ** 2 + ((z - 0.1) / 0.8) ** 2 <= 1 && z > -0.6 + 0.25 * Math.abs(x - cx) + 0.1 * y;
    if ((inLung(-0.36) || inLung(0.36)) && ((x + 0.05) / 0.22) ** 2 + ((y + 0.1) / 0.3) ** 2 + ((z + 0.3) / 0.35) ** 2 > 1) {
      m = 0.15;
      for (const [vx, vy, vz, r, dx, dy] of vessels) if (Math.hypot(x - vx - dx * (z - vz), y - vy - dy * (z - vz)) < r * (1 + 0.5 * Math.abs(z - vz))) { m = 1; break; }
    }
    return m;
  };
  const W = N, H = N, a = (angle * Math.PI) / 180;
  const img = new Float64Array(W * H);
  let max = 0;
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const u = (2 * c) / (W - 1) - 1, z = 1 - (2 * r) / (H - 1);
      let s = 0;
      for (let k = 0; k < N; k++) {
        const t = (2 * k) / (N - 1) - 1;
        // Detector axis u is perpendicular to the ray; the ray runs along (cos a, sin a) in the x-y plane (a = 0: lateral).
        const x = t * Math.cos(a) - u * Math.sin(a), y = t * Math.sin(a) + u * Math.cos(a);
        s += mu(x, y, z);
      }
      img[r * W + c] = s;
      if (s > max) max = s;
    }
  }
  const k = look === 'std' ? 2.5 : 4, g = look === 'std' ? 1 : 0.7;
  const data = new Uint8Array(W * H);
  for (let i = 0; i < W * H; i++) data[i] = Math.round(255 * (1 - Math.exp((-k * img[i]) / max)) ** g);
  return { width: W, height: H, data };
}

/** matplotlib's MRI slice (256x256, 16-bit little-endian), mapped to grey by a window. */
async function mriSlice(file: string, lo: number, hi: number): Promise<GreyImage> {
  const raw = gunzipSync(await readFile(file));
  const v = new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2);
  let max = 0;
  for (const x of v) if (x > max) max = x;
  const data = Uint8Array.from(v, (x) => Math.max(0, Math.min(255, Math.round((255 * (x / max - lo)) / (hi - lo)))));
  return { width: 256, height: 256, data };
}

/** A CT slice as a photo of a viewer shows it: 400 px on an 800x600 black panel with a toolbar and text bars, tilted 3 degrees, blurred 1.2 px, dimmed, JPEG 70. */
async function inViewer(bytes: Uint8Array, k: number): Promise<GreyImage> {
  const slice = await sharp(bytes).greyscale().resize(400, 400, { fit: 'inside' }).png().toBuffer();
  const bars = Array.from({ length: 12 }, (_, j) => `<rect x="16" y="${70 + j * 34}" width="${60 + ((j * 37 + k * 11) % 100)}" height="9" fill="#d0d0d0"/>`).join('');
  const ui = `<svg width="800" height="600" xmlns="http://www.w3.org/2000/svg"><rect width="800" height="44" fill="#474747"/>${bars}</svg>`;
  const composed = await sharp({ create: { width: 800, height: 600, channels: 3, background: { r: 6, g: 6, b: 6 } } })
    .composite([{ input: Buffer.from(ui), left: 0, top: 0 }, { input: slice, left: 260, top: 120 }]).png().toBuffer();
  const photo = await sharp(await sharp(composed).rotate(3, { background: '#060606' }).blur(1.2).linear(0.85, 8).png().toBuffer()).jpeg({ quality: 70 }).toBuffer();
  return decodeGrey(u8(photo));
}

async function cases(): Promise<Case[]> {
  const out: Case[] = [];
  const manifest = path.join(SET, 'manifest.csv');
  if (existsSync(manifest)) {
    for (const r of parseCsvTable(await readFile(manifest, 'utf8'))) out.push({ name: r.path, group: r.kind, table: 'non-CT (bench set)', load: () => readAndDecodeGrey(path.join(SET, r.path)) });
  } else process.stderr.write(`no non-CT set at ${SET}: run npm run nonct:make first\n`);
  // Held-out non-CT.
  for (const dir of (values.heldout ?? '').split(',').filter(Boolean)) {
    for (const f of listPictures(path.resolve(dir))) {
      const group = `held-out ${path.basename(path.resolve(dir))}`;
      out.push({ name: f, group, table: 'held-out non-CT', load: async () => greyPng(await readFile(f)) });
      out.push({
        name: `${f} (crop)`, group, table: 'held-out non-CT', load: async () => {
          const b = await readFile(f);
          const m = await sharp(b).metadata();
          const W = m.width ?? 0, H = m.height ?? 0;
          const rng = new Rng(deriveSeed(20261203, f));
          const cw = Math.max(16, Math.round(W * rng.uniform(0.45, 0.75))), ch = Math.max(16, Math.round(H * rng.uniform(0.45, 0.75)));
          const left = rng.int(Math.max(1, W - cw)), top = rng.int(Math.max(1, H - ch));
          return greyPng(await sharp(b).extract({ left, top, width: Math.min(cw, W - left), height: Math.min(ch, H - top) }).png().toBuffer());
        },
      });
    }
  }
  const mri = '/usr/share/matplotlib/mpl-data/sample_data/s1045.ima.gz';
  if (existsSync(mri)) {
    for (const [lo, hi] of [[0, 1], [0, 0.5], [0.05, 0.7]] as const) out.push({ name: `s1045 MRI ${lo}-${hi}`, group: 'held-out MRI (matplotlib)', table: 'held-out non-CT', load: () => mriSlice(mri, lo, hi) });
  }
  for (const angle of [0, 20, 35, 50, 70, 90]) {
    for (const look of ['std', 'hard'] as const) {
      out.push({ name: `phantom ${angle} deg ${look}`, group: 'held-out phantom projections', table: 'held-out non-CT', load: async () => phantomProjection(angle, look, angle) });
    }
  }
  // Real CT.
  const real = await realCtFiles(DATA, MD);
  for (const r of real) out.push({ name: r.file, group: r.group, table: 'real CT', load: () => readAndDecodeGrey(r.file) });
  const valFiles = real.filter((r) => r.split === 'val').map((r) => r.file);
  const mdFiles = real.filter((r) => r.set === 'ct-md').map((r) => r.file);
  const picked = [...valFiles.filter((_, i) => i % 2 === 0), ...mdFiles.filter((_, i) => i % 8 === 0)];
  for (const [name, fn] of Object.entries(DEGRADE)) {
    for (const f of picked) out.push({ name: `${f} (${name})`, group: name, table: 'real CT, exports', load: async () => { const b = await readFile(f); const m = await sharp(b).metadata(); return decodeGrey(await fn(b, m.width ?? 256)); } });
  }
  for (const v of VARIANTS) {
    // Not real CT that must be kept: a soft-tissue window is refused on purpose (window-check.ts), a negative is no CT rendering.
    if (v.name === 'original' || v.name === 'mediastinal' || v.name === 'negative') continue;
    mdFiles.forEach((f, i) => { if (i % EVERY === 0) out.push({ name: `${f} (${v.name})`, group: v.name, table: 'real CT, degrade bench', load: async () => decodeGrey(await v.make(new Uint8Array(await readFile(f)))) }); });
  }
  mdFiles.filter((_, i) => i % 25 === 0).slice(0, 30).forEach((f, k) => out.push({ name: `${f} (viewer)`, group: 'CT-MD in a viewer', table: 'CT in a viewer', load: async () => inViewer(new Uint8Array(await readFile(f)), k) }));
  return values.only ? out.filter((c) => values.only!.split(',').some((t) => c.table.startsWith(t))) : out;
}

/** The checks this work added (the rest of CHEST_RULES were there before). */
const NEW_RULES = new Set<string>(['projection']);

interface Result { c: Case; before: boolean; after: boolean; /** Read as a negative's inverse by the polarity stage (polarity.ts; real CT: none may be). */ inverted: boolean; by?: string; reason?: string; chest: ReturnType<typeof chestFigures> | null; anatomy: ReturnType<typeof anatomyFigures> | null }

async function main(): Promise<void> {
  const all = await cases();
  const progress = new Progress(all.length, 'pictures');
  const results: Result[] = [];
  for (const c of all) {
    try {
      const img = await c.load();
      const { seg, findings, chest } = findLungs(img);
      const anatomy = seg.found ? anatomyFigures(seg, chest?.figures.contrast ?? NaN) : null;
      // Refused by a new rule only: the first rule that refuses (the one whose reason the user sees) is new, and
      // findLungs gave that reason (so neither colour nor the lungs check refused first).
      const first = chest ? CHEST_RULES.find((r) => r.refuses(chest.figures)) : undefined;
      const byNew = !findings.found && first !== undefined && NEW_RULES.has(first.name) && findings.reason === `not like a CT slice: ${chest!.refusal}`;
      results.push({ c, inverted: decidePolarity(img).polarity === 'negative', before: !findings.found && !byNew, after: !findings.found, by: byNew ? first!.name : undefined, reason: findings.reason, chest: chest?.figures ?? null, anatomy });
    } catch (e) {
      process.stderr.write(`${c.name}: ${(e as Error).message}\n`);
    }
    progress.tick(1);
  }
  progress.done();
  if (values.figures) {
    await writeFile(values.figures, results.map((r) => JSON.stringify({ name: r.c.name, group: r.c.group, table: r.c.table, before: r.before, after: r.after, by: r.by, reason: r.reason, ...r.chest, ...r.anatomy })).join('\n') + '\n');
    process.stderr.write(`figures in ${values.figures}\n`);
  }
  // Tables.
  const tables = [...new Set(results.map((r) => r.c.table))];
  const lines: string[] = [];
  for (const t of tables) {
    const rs = results.filter((r) => r.c.table === t);
    const news = [...NEW_RULES];
    lines.push(`| ${t} | n | refused before | ${news.map((k) => `newly by ${k}`).join(' | ')} | refused after | % after | inverted (polarity.ts) |`, `|---|---:|---:|${news.map(() => '---:|').join('')}---:|---:|---:|`);
    const line = (g: string, gr: Result[]) => `| ${g} | ${gr.length} | ${gr.filter((r) => r.before).length} | ${news.map((k) => gr.filter((r) => r.by === k).length).join(' | ')} | ${gr.filter((r) => r.after).length} | ${((100 * gr.filter((r) => r.after).length) / gr.length).toFixed(1)} | ${gr.filter((r) => r.inverted).length} |`;
    for (const g of [...new Set(rs.map((r) => r.c.group))]) lines.push(line(g, rs.filter((r) => r.c.group === g)));
    lines.push(line('**all**', rs), '');
    const newly = rs.filter((r) => r.by);
    if (newly.length && t !== 'non-CT (bench set)' && t !== 'held-out non-CT') lines.push(`Newly refused here: ${newly.map((r) => r.c.name).join(', ')}`, '');
  }
  process.stdout.write(lines.join('\n'));
}

await main();
