/**
 * Where the models look (issue 10): for every slice of the official test split, the class activation map of
 * models/default (lungs design) and of models/official (whole slice) mapped onto the original slice as the API does (engine.prepare,
 * explainPrepared, mapToImage over camRegion), its positive part (ReLU: evidence towards COVID), and the share of
 * that mass inside the lung mask dilated by 4 analysis pixels. A measurement of where the models look, not a
 * score: no label-dependent choice is made from it.
 *
 *   node dist/bench/cam-in-lungs.js [--split val|test] [--data DIR] [--examples DIR] [--limit N] [--maps a,b]
 *
 * Maps measured (docs/explain-maps.md): for models/default its plain class activation map (`cam`) and the
 * occlusion map it ships (8 x 8 cells, drawn on the pixels each cell changed); for models/official its CAM. Per map: the mean share of positive mass inside the dilated lung
 * mask, the share of slices (with some involved lung) whose hottest region overlaps the involved-lung mask
 * (involvement.ts), ms per slice of explainPrepared (Node, the model's run included), and a deletion check of
 * faithfulness (MoRF, Samek et al. 2017): the 8 x 8 view cells ranked by the map are hidden (set to the fill)
 * 1..5 at a time, most evidence first, and the mean drop of the logit over k = 1..5 is reported, with randomly
 * ranked slice-holding cells as the reference in the same run.
 *
 * --examples DIR also writes, for 10 COVID slices of the split (evenly spaced in its sorted COVID list), the slice,
 * the API's overlay (heatmap + lung outline + involved lung) of each map, and a contact sheet (slice, old map, new
 * map), and prints where the hottest region lies and whether it touches the involved-lung mask, to be checked by
 * eye against the lesion.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { dilate } from '../src/data/morphology.js';
import { OnnxClassifier, type ActivationMap } from '../src/model/onnx-engine.js';
import { fillValue, occlusionPlan, type MapMethod } from '../src/explain/lung-evidence.js';
import { Rng } from '../src/util/prng.js';
import type { PreparedSlice } from '../src/model/engine.js';
import { camRegion, gridToImage, mapToImage } from '../src/explain/cam-overlay.js';
import { overlayPng } from '../src/explain/heatmap.js';
import type { GreyImage } from '../src/types.js';
import { benchArgs } from './args.js';

/** The lung mask is grown by this many analysis pixels (as the lungs view and the outside audits keep). */
const DILATE = 4;

const { values: argv } = benchArgs(import.meta.url, { options: { data: { type: 'string' }, examples: { type: 'string' }, split: { type: 'string' }, limit: { type: 'string' }, maps: { type: 'string' } } });
const dataDir = argv.data ?? process.env.COVID_CT_DATA ?? '../shared/data/covid-ct';
const examplesDir = argv.examples;
const split = (argv.split ?? 'test') as 'val' | 'test';
if (split !== 'val' && split !== 'test') throw new Error('--split val|test');
const limit = Number(argv.limit ?? Infinity);

interface CamMeasure {
  /** Share of the positive map's mass inside the dilated lung mask (null: lungs not found, or no positive mass). */
  inside: number | null;
  probability: number;
  /** The map on the original slice's pixels (NaN where it does not reach). */
  heat: Float32Array;
  cam: ActivationMap;
}

async function measure(engine: OnnxClassifier, image: GreyImage, prepared: PreparedSlice, keep: Uint8Array | null, how: { method?: MapMethod } = {}): Promise<CamMeasure & { ms: number }> {
  const t0 = performance.now();
  const { reading, cam } = await engine.explainPrepared(prepared, how);
  const ms = performance.now() - t0;
  const { width, height } = image;
  const region = camRegion(width, height, engine.json.preprocessing.fit, prepared.lungs.seg, engine.json.preprocessing.lungs);
  const heat = mapToImage(cam, width, height, region, { width, height });
  if (!keep) return { inside: null, probability: reading.probability, heat, cam, ms };
  let all = 0, inLungs = 0;
  for (let i = 0; i < heat.length; i++) {
    const v = heat[i];
    if (!(v > 0)) continue; // NaN (outside the covered region) and negative evidence carry no mass
    all += v;
    if (keep[i]) inLungs += v;
  }
  return { inside: all > 0 ? inLungs / all : null, probability: reading.probability, heat, cam, ms };
}

/** The dilated lung mask on the slice's pixels (nearest neighbour from the analysis grid), or null when not found. */
function keptMask(prepared: PreparedSlice, width: number, height: number, radius = DILATE): Uint8Array | null {
  const seg = prepared.lungs.seg;
  if (!seg.found) return null;
  const { width: W, height: H } = seg.analysis;
  const lung = new Uint8Array(W * H);
  for (let i = 0; i < lung.length; i++) lung[i] = seg.labels[i] ? 1 : 0;
  return gridToImage(dilate(lung, W, H, radius), W, H, width, height);
}

/**
 * The hottest region: pixels at or above half the map's maximum, in the 8-connected component holding the
 * maximum. Returns its centre, area share of the slice, and whether it overlaps the involved-lung mask.
 */
function hottest(heat: Float32Array, width: number, height: number, involved: Uint8Array | null): { cx: number; cy: number; area: number; overlapsInvolved: boolean } {
  let max = -Infinity, at = -1;
  for (let i = 0; i < heat.length; i++) if (heat[i] > max) { max = heat[i]; at = i; }
  const on = new Uint8Array(heat.length);
  const stack = [at];
  on[at] = 1;
  let n = 0, sx = 0, sy = 0, overlaps = false;
  while (stack.length) {
    const i = stack.pop()!;
    const x = i % width, y = (i / width) | 0;
    n++; sx += x; sy += y;
    if (involved?.[i]) overlaps = true;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const xx = x + dx, yy = y + dy;
      if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
      const j = yy * width + xx;
      if (!on[j] && heat[j] >= max / 2) { on[j] = 1; stack.push(j); }
    }
  }
  return { cx: sx / n / width, cy: sy / n / height, area: n / heat.length, overlapsInvolved: overlaps };
}


/** The maps compared: name, model, method, occlusion grid. */
interface Candidate { name: string; model: 'default' | 'official'; how: { method: MapMethod } }
// The other maps measured (reference-corrected CAM, occlusion on 16 x 16 cells or drawn on cells, healthy and
// cleared counterfactuals) lost and were removed; docs/explain-maps.md has their figures, branch `cam` their code.
const CANDIDATES: Candidate[] = [
  { name: 'default cam', model: 'default', how: { method: 'cam' } },
  { name: 'default occlusion8 pixels', model: 'default', how: { method: 'occlusion' } },
  { name: 'official cam', model: 'official', how: { method: 'cam' } },
];
/** --maps a,b: only these candidates (names with '-' for ' ', e.g. default-occlusion8-pixels); the rest are skipped. */
const only = argv.maps?.split(',').map((m) => m.replace(/-/g, ' '));
if (only) CANDIDATES.splice(0, CANDIDATES.length, ...CANDIDATES.filter((c) => only.includes(c.name)));
const OLD = 'default cam', NEW = process.env.NEW_MAP ?? 'default occlusion8 pixels';

/** The map's mean over each cell of the G x G grid (G divides the map's grid or the other way round). */
function onGrid(cam: ActivationMap, G: number): Float32Array {
  const out = new Float32Array(G * G);
  const g = cam.grid;
  for (let y = 0; y < G; y++) for (let x = 0; x < G; x++) {
    let s = 0, n = 0;
    for (let yy = Math.floor((y * g) / G); yy < Math.max(Math.floor((y * g) / G) + 1, Math.floor(((y + 1) * g) / G)); yy++) {
      for (let xx = Math.floor((x * g) / G); xx < Math.max(Math.floor((x * g) / G) + 1, Math.floor(((x + 1) * g) / G)); xx++) { s += cam.values[yy * g + xx]; n++; }
    }
    out[y * G + x] = s / n;
  }
  return out;
}

const DELETE_K = 5;
const DELETION_GRID = 8;

/**
 * Deletion (most relevant first): the identity view and its mirror with the top-k cells of `order` set to the fill,
 * k = 1..DELETE_K; returns the mean over k of the drop of the mean logit of the two views.
 */
async function deletionDrop(engine: OnnxClassifier, views: Float32Array[], order: number[], base: number): Promise<number> {
  const size = engine.json.backbone.inputSize, G = DELETION_GRID, step = size / G;
  const fill = fillValue(engine.json.preprocessing.lungs?.tissueGrey ?? 0);
  const batch: Float32Array[] = [];
  const a = views[0].slice(), b = views[1].slice();
  for (let k = 0; k < DELETE_K; k++) {
    const c = order[k];
    if (c !== undefined) {
      const gy = Math.floor(c / G), gx = c % G, mx = G - 1 - gx;
      for (let y = gy * step; y < (gy + 1) * step; y++) { a.fill(fill, y * size + gx * step, y * size + (gx + 1) * step); b.fill(fill, y * size + mx * step, y * size + (mx + 1) * step); }
    }
    batch.push(a.slice(), b.slice());
  }
  const { logits } = await engine.runViews(batch);
  let drop = 0;
  for (let k = 0; k < DELETE_K; k++) drop += base - (logits[2 * k] + logits[2 * k + 1]) / 2;
  return drop / DELETE_K;
}

interface Tally { shares: number[]; noMass: number; hot: number; hotOf: number; ms: number[]; deletion: number[] }
const tally = (): Tally => ({ shares: [], noMass: 0, hot: 0, hotOf: 0, ms: [], deletion: [] });

async function main(): Promise<void> {
  const entries = entriesOf(await loadDataset(dataDir), split).slice(0, limit);
  const models = { default: await OnnxClassifier.load('models/default'), official: await OnnxClassifier.load('models/official') };
  const t: Record<string, Tally> = Object.fromEntries([...CANDIDATES.map((c) => c.name), 'default random (deletion reference)'].map((n) => [n, tally()]));
  let notFound = 0;
  const rng = new Rng(1);
  const t0 = performance.now();
  for (const [k, e] of entries.entries()) {
    const image = await readAndDecodeGrey(e.path);
    const prepared = { default: (await models.default.prepare([image]))[0], official: (await models.official.prepare([image]))[0] };
    const keep = keptMask(prepared.default, image.width, image.height);
    if (!keep) { notFound++; continue; }
    const { seg, involvement } = prepared.default.lungs;
    const inv = involvement?.mask ? gridToImage(involvement.mask, seg.analysis.width, seg.analysis.height, image.width, image.height) : null;
    const anyInvolved = Boolean(inv?.some((v) => v));
    const views = prepared.default.views;
    const base = await models.default.runViews(views.slice(0, 2));
    const baseLogit = (base.logits[0] + base.logits[1]) / 2;
    for (const c of CANDIDATES) {
      const engine = models[c.model];
      const p = prepared[c.model];
      const m = await measure(engine, image, p, keptMask(p, image.width, image.height), c.how);
      const r = t[c.name];
      r.ms.push(m.ms);
      if (m.inside === null) r.noMass++;
      else r.shares.push(m.inside);
      if (anyInvolved) { r.hotOf++; if (hottest(m.heat, image.width, image.height, inv).overlapsInvolved) r.hot++; }
      if (c.model === 'default') {
        const cells = onGrid(m.cam, DELETION_GRID);
        const order = Array.from(cells.keys()).sort((a, b) => cells[b] - cells[a]);
        r.deletion.push(await deletionDrop(engine, views, order, baseLogit));
      }
    }
    // Reference for the deletion check: slice-holding cells in random order.
    const plan = occlusionPlan(views, models.default.json.backbone.inputSize, DELETION_GRID, fillValue(models.default.json.preprocessing.lungs?.tissueGrey ?? 0));
    const shuffled = [...plan.cells];
    for (let i = shuffled.length - 1; i > 0; i--) { const j = Math.floor(rng.next() * (i + 1)); [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]]; }
    t['default random (deletion reference)'].deletion.push(await deletionDrop(models.default, views, shuffled, baseLogit));
    if ((k + 1) % 10 === 0) {
      const s = (performance.now() - t0) / 1000;
      process.stderr.write(`${k + 1}/${entries.length} (${s.toFixed(0)} s, ETA ${((s / (k + 1)) * (entries.length - k - 1)).toFixed(0)} s)\n`);
    }
  }
  const mean = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN);
  console.log(`Maps of evidence on the official ${split} split: ${entries.length} slices, lungs not found on ${notFound} (left out). Positive mass inside the lung mask dilated by ${DILATE} analysis px; hottest region = pixels >= half the maximum connected to it; deletion = mean logit drop hiding the map's top 1..${DELETE_K} of the 8 x 8 view cells\n`);
  console.log('| map | slices | no positive map | mean share inside | median | slices >= 0.9 | hottest overlaps involved lung | deletion drop (logit) | ms per slice (Node) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, r] of Object.entries(t)) {
    const s = [...r.shares].sort((a, b) => a - b);
    const f = (v: number, d = 3) => (Number.isNaN(v) ? '-' : v.toFixed(d));
    const ge = s.length ? `${(100 * s.filter((x) => x >= 0.9).length / s.length).toFixed(1)}%` : '-';
    const hot = r.hotOf ? `${r.hot}/${r.hotOf} (${(100 * r.hot / r.hotOf).toFixed(1)}%)` : '-';
    console.log(`| ${name} | ${s.length || r.deletion.length} | ${r.noMass} | ${f(mean(s))} | ${s.length ? s[Math.floor(s.length / 2)].toFixed(3) : '-'} | ${ge} | ${hot} | ${f(mean(r.deletion))} | ${f(mean(r.ms), 1)} |`);
  }

  if (examplesDir) {
    await mkdir(examplesDir, { recursive: true });
    const covid = entries.filter((e) => e.label === 'COVID').sort((a, b) => a.path.localeCompare(b.path));
    const picks = Array.from({ length: Math.min(10, covid.length) }, (_, k) => covid[Math.floor((k * covid.length) / 10)]);
    console.log(`\nexamples (in ${examplesDir}): hottest region = pixels >= half the map's maximum connected to it; centre as a fraction of width, height; *-sheet.png = slice | old map (CAM) | new map (occlusion)\n`);
    console.log('| # | file | map | P(COVID) | share in lungs | hottest centre (x, y) | hottest area | overlaps involved lung |');
    console.log('|---|---|---|---:|---:|---|---:|---|');
    for (const [k, e] of picks.entries()) {
      const image = await readAndDecodeGrey(e.path);
      const stem = `${String(k + 1).padStart(2, '0')}-${path.basename(e.path).replace(/\.[^.]+$/, '').replace(/[^A-Za-z0-9_-]+/g, '_')}`;
      const slicePng = await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 1 } }).toColourspace('srgb').png().toBuffer();
      await writeFile(path.join(examplesDir, `${stem}-slice.png`), slicePng);
      const pictures: Record<string, Buffer> = {};
      for (const c of CANDIDATES) {
        const engine = models[c.model];
        const [prepared] = await engine.prepare([image]);
        const keep = keptMask(prepared, image.width, image.height);
        const m = await measure(engine, image, prepared, keep, c.how);
        const { seg, involvement } = prepared.lungs;
        const png = await overlayPng(image, m.cam, engine.json.preprocessing.fit, Infinity, { seg, involved: involvement?.mask ?? null, lungs: engine.json.preprocessing.lungs });
        pictures[c.name] = png;
        await writeFile(path.join(examplesDir, `${stem}-${c.name.replace(/ /g, '-')}.png`), png);
        const inv = involvement?.mask ? gridToImage(involvement.mask, seg.analysis.width, seg.analysis.height, image.width, image.height) : null;
        const h = hottest(m.heat, image.width, image.height, inv);
        console.log(`| ${k + 1} | ${path.basename(e.path)} | ${c.name} | ${m.probability.toFixed(3)} | ${m.inside === null ? 'n/a' : m.inside.toFixed(3)} | (${h.cx.toFixed(2)}, ${h.cy.toFixed(2)}) | ${(100 * h.area).toFixed(1)}% | ${h.overlapsInvolved ? 'yes' : 'no'} |`);
      }
      // The contact sheet: slice | old map (plain CAM) | new map (occlusion), side by side at 384 px high.
      const H = 384, W = Math.round((image.width * H) / image.height);
      if (!pictures[OLD] || !pictures[NEW]) continue;
      const tiles = await Promise.all([slicePng, pictures[OLD], pictures[NEW]].map((b) => sharp(b).resize(W, H).removeAlpha().toBuffer()));
      await sharp({ create: { width: 3 * W + 8, height: H, channels: 3, background: { r: 0, g: 0, b: 0 } } })
        .composite(tiles.map((input, i) => ({ input, left: i * (W + 4), top: 0 }))).png().toFile(path.join(examplesDir, `${stem}-sheet.png`));
    }
  }
  models.official.dispose();
  models.default.dispose();
}

await main();
