/**
 * Where the models look (issue 10): for every slice of the official test split, the class activation map of
 * models/default (lungs design) and of models/official (whole slice) mapped onto the original slice as the API does (engine.prepare,
 * explainPrepared, mapToImage over camRegion), its positive part (ReLU: evidence towards COVID), and the share of
 * that mass inside the lung mask dilated by 4 analysis pixels. A measurement of where the models look, not a
 * score: no label-dependent choice is made from it.
 *
 *   node dist/bench/cam-in-lungs.js [--data DIR] [--examples DIR]
 *
 * --examples DIR also writes, for 10 COVID test slices (evenly spaced in the sorted COVID test list), the slice,
 * the API's overlay (heatmap + lung outline + involved lung) of both models, and prints where the hottest region
 * lies and whether it touches the involved-lung mask (involvement.ts), to be checked by eye against the lesion.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { dilate } from '../src/data/morphology.js';
import { OnnxClassifier, type ActivationMap } from '../src/model/onnx-engine.js';
import type { PreparedSlice } from '../src/model/engine.js';
import { camRegion, gridToImage, mapToImage } from '../src/explain/cam-overlay.js';
import { overlayPng } from '../src/explain/heatmap.js';
import type { GreyImage } from '../src/types.js';

/** The lung mask is grown by this many analysis pixels (as the lungs view and the outside audits keep). */
const DILATE = 4;

const arg = (name: string): string | undefined => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const dataDir = arg('--data') ?? process.env.COVID_CT_DATA ?? '../shared/data/covid-ct';
const examplesDir = arg('--examples');

interface CamMeasure {
  /** Share of the positive map's mass inside the dilated lung mask (null: lungs not found, or no positive mass). */
  inside: number | null;
  probability: number;
  /** The map on the original slice's pixels (NaN where it does not reach). */
  heat: Float32Array;
  cam: ActivationMap;
}

async function measure(engine: OnnxClassifier, image: GreyImage, prepared: PreparedSlice, keep: Uint8Array | null): Promise<CamMeasure> {
  const { reading, cam } = await engine.explainPrepared(prepared);
  const { width, height } = image;
  const region = camRegion(width, height, engine.json.preprocessing.fit, prepared.lungs.seg, engine.json.preprocessing.lungs);
  const heat = mapToImage(cam, width, height, region, { width, height });
  if (!keep) return { inside: null, probability: reading.probability, heat, cam };
  let all = 0, inLungs = 0;
  for (let i = 0; i < heat.length; i++) {
    const v = heat[i];
    if (!(v > 0)) continue; // NaN (outside the covered region) and negative evidence carry no mass
    all += v;
    if (keep[i]) inLungs += v;
  }
  return { inside: all > 0 ? inLungs / all : null, probability: reading.probability, heat, cam };
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

async function main(): Promise<void> {
  const entries = entriesOf(await loadDataset(dataDir), 'test');
  const models = { default: await OnnxClassifier.load('models/default'), official: await OnnxClassifier.load('models/official') };
  const shares: Record<keyof typeof models, number[]> = { default: [], official: [] };
  let notFound = 0;
  const noMass: Record<keyof typeof models, number> = { default: 0, official: 0 };
  const t0 = performance.now();
  for (const [k, e] of entries.entries()) {
    const image = await readAndDecodeGrey(e.path);
    for (const name of ['default', 'official'] as const) {
      const engine = models[name];
      const [prepared] = await engine.prepare([image]);
      const keep = keptMask(prepared, image.width, image.height);
      if (!keep) { if (name === 'default') notFound++; continue; }
      const m = await measure(engine, image, prepared, keep);
      if (m.inside === null) noMass[name]++;
      else shares[name].push(m.inside);
    }
    if ((k + 1) % 25 === 0) process.stderr.write(`${k + 1}/${entries.length} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
  console.log(`CAM mass (ReLU) inside the lung mask dilated by ${DILATE} analysis px, official test split: ${entries.length} slices, lungs not found on ${notFound}\n`);
  console.log('| model | slices measured | no positive map | mean share inside | median | share of slices >= 0.9 |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const name of ['default', 'official'] as const) {
    const s = [...shares[name]].sort((a, b) => a - b);
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    const ge = s.filter((x) => x >= 0.9).length / s.length;
    console.log(`| models/${name} | ${s.length} | ${noMass[name]} | ${mean.toFixed(3)} | ${s[Math.floor(s.length / 2)].toFixed(3)} | ${(100 * ge).toFixed(1)}% |`);
  }

  if (examplesDir) {
    await mkdir(examplesDir, { recursive: true });
    const covid = entries.filter((e) => e.label === 'COVID').sort((a, b) => a.path.localeCompare(b.path));
    const picks = Array.from({ length: 10 }, (_, k) => covid[Math.floor((k * covid.length) / 10)]);
    console.log(`\nexamples (in ${examplesDir}): hottest region = pixels >= half the map's maximum connected to it; centre as a fraction of width, height\n`);
    console.log('| # | file | model | P(COVID) | CAM share in lungs | hottest centre (x, y) | hottest area | overlaps involved lung |');
    console.log('|---|---|---|---:|---:|---|---:|---|');
    for (const [k, e] of picks.entries()) {
      const image = await readAndDecodeGrey(e.path);
      const stem = `${String(k + 1).padStart(2, '0')}-${path.basename(e.path).replace(/\.[^.]+$/, '').replace(/[^A-Za-z0-9_-]+/g, '_')}`;
      await writeFile(path.join(examplesDir, `${stem}-slice.png`), await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 1 } }).png().toBuffer());
      for (const name of ['default', 'official'] as const) {
        const engine = models[name];
        const [prepared] = await engine.prepare([image]);
        const keep = keptMask(prepared, image.width, image.height);
        const m = await measure(engine, image, prepared, keep);
        const { cam } = m;
        const { seg, involvement } = prepared.lungs;
        const png = await overlayPng(image, cam, engine.json.preprocessing.fit, Infinity, { seg, involved: involvement?.mask ?? null, lungs: engine.json.preprocessing.lungs });
        await writeFile(path.join(examplesDir, `${stem}-${name}.png`), png);
        const inv = involvement?.mask ? gridToImage(involvement.mask, seg.analysis.width, seg.analysis.height, image.width, image.height) : null;
        const h = hottest(m.heat, image.width, image.height, inv);
        console.log(`| ${k + 1} | ${path.basename(e.path)} | ${name} | ${m.probability.toFixed(3)} | ${m.inside === null ? 'n/a' : m.inside.toFixed(3)} | (${h.cx.toFixed(2)}, ${h.cy.toFixed(2)}) | ${(100 * h.area).toFixed(1)}% | ${h.overlapsInvolved ? 'yes' : 'no'} |`);
      }
    }
  }
  models.official.dispose();
  models.default.dispose();
}

await main();
