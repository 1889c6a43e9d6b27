/**
 * The map of evidence of a lungs model (src/explain/lung-evidence.ts): the occlusion maths on known values, the
 * shipped default model's map checked against logit drops computed independently, and explain's picture of a
 * phantom with its heat inside the lungs.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import sharp from 'sharp';
import { fillValue, occlusionPlan, occludedViews, occlusionMap, onChangedPixels, mapMethodFor, readingMap, cellCounts } from '../src/explain/lung-evidence.js';
import { gateOf } from '../src/model/reading.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { camRegion, mapToImage } from '../src/explain/cam-overlay.js';
import { keptRegion, lungViewRegion } from '../src/data/lung-view.js';
import { lungPhantom, REPO, runCli } from './helpers.js';

const FILL = fillValue(200);

/** Two 16 x 16 views (identity and its exact mirror) of fill with a 3 x 2 patch of "lung" in cell (1, 1) of a 4 x 4 grid. */
function tinyViews(): Float32Array[] {
  const a = new Float32Array(256).fill(FILL);
  for (let y = 5; y < 7; y++) for (let x = 4; x < 7; x++) a[y * 16 + x] = 0.2 + 0.01 * x;
  const b = new Float32Array(256);
  for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) b[y * 16 + x] = a[y * 16 + 15 - x];
  return [a, b];
}

test('occlusion plan: only cells holding some of the slice are hidden, and only their slice pixels change', () => {
  const views = tinyViews();
  const plan = occlusionPlan(views, 16, 4, FILL);
  assert.deepEqual(plan.cells, [5], 'cell (1, 1) alone holds the patch');
  const [a, b] = occludedViews(views, plan);
  assert.ok(a.every((v) => v === FILL), 'hidden with the fill, the identity view is all fill');
  assert.ok(b.every((v) => v === FILL), 'the mirror hides the mirrored cell');
  let changed = 0;
  for (let i = 0; i < 256; i++) if (a[i] !== views[0][i]) changed++;
  assert.equal(changed, 6, 'hiding changes the 6 slice pixels, not the fill around them');
  assert.throws(() => occlusionPlan(views, 16, 5, FILL), /does not divide/);
});

test('occlusion map: the mean logit drop over the two views on hidden cells, 0 elsewhere; drawn on the changed pixels', () => {
  const views = tinyViews();
  const plan = occlusionPlan(views, 16, 4, FILL);
  const map = occlusionMap(plan, [2, 4], [1, 3.5]);
  assert.equal(map[5], 0.75);
  assert.equal(map.reduce((s, v) => s + Math.abs(v), 0), 0.75);
  const pixels = onChangedPixels(plan, map, views[0]);
  for (let i = 0; i < 256; i++) assert.equal(pixels[i], views[0][i] === FILL ? 0 : 0.75);
  assert.throws(() => occlusionMap(plan, [2, 4], [1]), /1 logits for 1 cells x 2 views/);
});

test('reading map: the drop of P = gate x pattern when a cell is hidden from both stages', () => {
  const views = tinyViews();
  const plan = occlusionPlan(views, 16, 4, FILL);
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  // 10 measured lung pixels, 4 involved, 3 and 2 of them in cell 5; gate = the share itself.
  const lung = new Float64Array(16), involved = new Float64Array(16);
  lung[5] = 3; involved[5] = 2;
  const map = readingMap(plan, [0, 0], [-1, -1], (f) => f, { lungPixels: 10, involvedPixels: 4, lung, involved });
  const p = 0.4 * sig(0), hidden = (2 / 7) * sig(-1);
  assert.ok(Math.abs(map[5] - (p - hidden)) < 1e-6, `${map[5]} vs ${p - hidden}`);
  assert.equal(map.reduce((s, v) => s + Math.abs(v), 0), map[5], 'only the planned cell');
  // Hiding a cell with no involved lung raises the share: the gate's part of the drop is then negative.
  involved[5] = 0;
  const map2 = readingMap(plan, [0, 0], [0, 0], (f) => f, { lungPixels: 10, involvedPixels: 4, lung, involved });
  assert.ok(Math.abs(map2[5] - (0.4 - 4 / 7) * 0.5) < 1e-6);
});

test('cell counts: each measured lung pixel in the cell of the view that shows it', () => {
  const plan = { grid: 4, size: 16, fill: FILL, cells: [], views: 2 };
  // An 8 x 8 analysis grid; the view square is its rows and columns 2..5 (side 4): one analysis px per cell.
  const W = 8, measured = new Uint8Array(64), mask = new Uint8Array(64);
  measured[2 * W + 2] = 1; measured[5 * W + 5] = 1; measured[5 * W + 4] = 1; mask[5 * W + 5] = 1; measured[0] = 1;
  const inv = { fraction: 0.25, consolidation: 0, lungPixels: 4, mask, measured, islands: null, scale: 'calibrated' as const, blur: 0, vesselRadius: 1 };
  const { lung, involved } = cellCounts(plan, { x0: 2, y0: 2, side: 4 }, inv, W);
  assert.equal(lung[0], 1);
  assert.equal(lung[15], 1);
  assert.equal(lung[14], 1);
  assert.equal(involved[15], 1);
  assert.equal(lung.reduce((a, b) => a + b, 0), 3, 'a pixel outside the square belongs to no cell');
});

test('shipped default on a phantom: a hidden fill cell changes nothing; each cell\'s value is the drop of P when it is hidden from the pattern and the gate', async () => {
  const engine = await OnnxClassifier.load(path.join(REPO, 'models/default'));
  try {
    const [prepared] = await engine.prepare([lungPhantom(384, true)]);
    assert.equal(mapMethodFor(engine.json.preprocessing, prepared.lungs.seg), 'occlusion', 'a lungs view gets the occlusion map');
    const views = prepared.views.slice(0, 2);
    const size = engine.json.backbone.inputSize, G = 8, step = size / G;
    const plan = occlusionPlan(views, size, G, FILL);
    const outside = Array.from({ length: G * G }, (_, k) => k).filter((k) => !plan.cells.includes(k));
    assert.ok(plan.cells.length > 8 && outside.length > 4, `cells with lung ${plan.cells.length}, without ${outside.length}`);
    const hide = (c: number): Float32Array[] => views.map((v, i) => {
      const copy = v.slice();
      const gx = i === 1 ? G - 1 - (c % G) : c % G, gy = Math.floor(c / G);
      for (let y = gy * step; y < (gy + 1) * step; y++) copy.fill(FILL, y * size + gx * step, y * size + (gx + 1) * step);
      return copy;
    });
    const base = await engine.runViews(views);
    // A cell outside the dilated lungs: hiding it is the same input, so exactly the same logits.
    const same = await engine.runViews(hide(outside[0]));
    assert.deepEqual(Array.from(same.logits), Array.from(base.logits));
    const { cam } = await engine.explainPrepared(prepared);
    assert.equal(cam.method, 'occlusion');
    assert.equal(cam.grid, size, 'drawn on the view\'s pixels');
    // The value of a cell is drawn on its slice pixels of view 0: none on a cell without lung.
    const cellOf = (i: number) => Math.floor(Math.floor(i / size) / step) * G + Math.floor((i % size) / step);
    for (let i = 0; i < cam.values.length; i++) if (outside.includes(cellOf(i))) assert.equal(cam.values[i], 0);
    // P as read (the default reads two views), and the involvement it was read from, per cell of the view.
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    const gate = (f: number) => gateOf(f, engine.json.reading!.gate);
    const inv = prepared.lungs.involvement!, seg = prepared.lungs.seg;
    const P = gate(inv.fraction) * (sig(base.logits[0]) + sig(base.logits[1])) / 2;
    const { probability } = (await engine.explainPrepared(prepared, { method: 'cam' })).reading;
    assert.ok(Math.abs(probability - P) < 1e-6, `the reading's P ${probability} vs ${P}`);
    const counts = cellCounts(plan, lungViewRegion(seg, engine.json.preprocessing.lungs)!, inv, seg.analysis.width);
    assert.equal(counts.lung.reduce((a, b) => a + b, 0), inv.lungPixels, 'every measured lung pixel lies in a cell');
    assert.ok(counts.involved.reduce((a, b) => a + b, 0) > 0, 'the phantom\'s ground glass is involved');
    let checked = 0, involvedChecked = 0;
    for (const c of [...plan.cells].sort((a, b) => counts.involved[b] - counts.involved[a])) {
      const at = Array.from(views[0].keys()).find((i) => cellOf(i) === c && Math.abs(views[0][i] - FILL) > 1e-5);
      if (at === undefined) continue; // the cell holds lung only in the mirror
      const run = await engine.runViews(hide(c));
      const n = inv.lungPixels - counts.lung[c], share = (Math.round(inv.fraction * inv.lungPixels) - counts.involved[c]) / n;
      const drop = P - gate(share) * (sig(run.logits[0]) + sig(run.logits[1])) / 2;
      assert.ok(Math.abs(cam.values[at] - drop) < 1e-5, `cell ${c}: map ${cam.values[at]} vs drop ${drop}`);
      if (counts.involved[c] > 0) involvedChecked++;
      if (++checked >= 3 && involvedChecked > 0) break;
    }
    assert.ok(checked >= 3 && involvedChecked > 0, `${checked} cells checked, ${involvedChecked} with involved lung`);
    assert.ok(cam.values.some((v) => Math.abs(v) > 1e-3), 'the map is not all zero');
  } finally {
    engine.dispose();
  }
});

test('explain on a lung phantom: the heat lies inside the lungs, in the map and in the written picture', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-evidence-'));
  try {
    const img = lungPhantom(384, true);
    const file = path.join(dir, 'phantom.png');
    await writeFile(file, await sharp(img.data, { raw: { width: 384, height: 384, channels: 1 } }).png().toBuffer());
    const out = path.join(dir, 'heat.png');
    const r = await runCli(['explain', file, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const engine = await OnnxClassifier.load(path.join(REPO, 'models/default'));
    const lungs = engine.json.preprocessing.lungs!;
    // Shares of the positive map inside the lungs dilated by the view's 4 analysis px, and by 8 (what the view's
    // resampling smears, Lanczos-3 twice and the band limit, about 2 view px): for the map shipped and the old CAM.
    let share4 = 0, share8 = 0, camShare8 = 0, keep: Uint8Array;
    try {
      const [prepared] = await engine.prepare([img]);
      const { cam } = await engine.explainPrepared(prepared);
      assert.equal(cam.method, 'occlusion');
      const seg = prepared.lungs.seg;
      keep = keptRegion(seg, 384, 384, 8);
      const keep4 = keptRegion(seg, 384, 384, lungs.dilate);
      const region = camRegion(384, 384, 'cover', seg, lungs);
      const shareIn = (m: typeof cam, k: Uint8Array) => {
        const heat = mapToImage(m, 384, 384, region, { width: 384, height: 384 });
        let all = 0, inside = 0;
        for (let i = 0; i < heat.length; i++) if (heat[i] > 0) { all += heat[i]; if (k[i]) inside += heat[i]; }
        assert.ok(all > 0, 'some evidence towards COVID');
        return inside / all;
      };
      share4 = shareIn(cam, keep4);
      share8 = shareIn(cam, keep);
      camShare8 = shareIn((await engine.explainPrepared(prepared, { method: 'cam' })).cam, keep);
    } finally {
      engine.dispose();
    }
    console.log(`# phantom: positive map inside the lungs dilated 4 / 8: occlusion ${share4.toFixed(3)} / ${share8.toFixed(3)}, plain CAM - / ${camShare8.toFixed(3)}`);
    assert.ok(share4 >= 0.8 && share8 >= 0.98, `share of the positive map inside the lungs: ${share4.toFixed(3)} (dilated 4), ${share8.toFixed(3)} (dilated 8)`);
    assert.ok(camShare8 < 0.8, `the plain CAM fails the same check (${camShare8.toFixed(3)}), so the check can fail`);
    // The picture: outside the lungs dilated by 8 (grown by 2 px more for the map's last half pixel) every pixel of
    // the slice is grey, as the slice was (the legend is a strip below it).
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 384);
    assert.ok(info.height > 384, 'the legend strip is under the slice');
    let coloured = 0, outsideN = 0;
    for (let y = 0; y < 384; y++) for (let x = 0; x < 384; x++) {
      let near = false;
      for (let dy = -2; dy <= 2 && !near; dy++) for (let dx = -2; dx <= 2; dx++) if (keep[Math.min(383, Math.max(0, y + dy)) * 384 + Math.min(383, Math.max(0, x + dx))]) { near = true; break; }
      if (near) continue;
      outsideN++;
      const i = (y * 384 + x) * info.channels;
      if (data[i] !== data[i + 1] || data[i + 1] !== data[i + 2]) coloured++;
    }
    assert.ok(outsideN > 10000);
    assert.ok(coloured / outsideN < 0.01, `${coloured} of ${outsideN} pixels outside the lungs carry heat`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
