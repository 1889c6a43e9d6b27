/**
 * The ONNX export run by onnxruntime gives the tfjs engine's probabilities on real test images, evaluate's
 * metrics agree exactly, and the class activation map is real: occluding its hottest region lowers P(COVID)
 * more than occluding its coldest.
 */
import { legendSvg } from '../src/explain/heatmap.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, cp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { DATA, REPO, requireShared, runCli, readCsv } from './helpers.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { workingRegion } from '../src/explain/heatmap.js';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import type { GreyImage } from '../src/types.js';

// The engine's mechanics on the whole-slice model (its map covers the working image of the whole slice).
const MODEL = path.join(REPO, 'models/official');

test('onnxruntime and tfjs give the same probabilities and the same metrics on the test split', async () => {
  requireShared();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-engines-'));
  try {
    const run = async (engine: string) => {
      const scores = path.join(dir, `${engine}.csv`);
      const r = await runCli(['evaluate', '--data', DATA, '--split', 'test', '--json', '--quiet', '--engine', engine, '--scores', scores]);
      assert.equal(r.code, 0, r.stderr);
      return { result: JSON.parse(r.stdout), scores: readCsv(await readFile(scores, 'utf8')) };
    };
    const onnx = await run('onnx');
    const tfjs = await run('tfjs');
    assert.equal(onnx.scores.length, 203);
    let maxDiff = 0;
    onnx.scores.forEach((row, i) => {
      assert.equal(row.file, tfjs.scores[i].file);
      maxDiff = Math.max(maxDiff, Math.abs(Number(row.probability) - Number(tfjs.scores[i].probability)));
    });
    assert.ok(maxDiff < 1e-4, `max |p_onnx - p_tfjs| = ${maxDiff}`);
    assert.deepEqual(onnx.result.metrics, tfjs.result.metrics);
    assert.deepEqual(onnx.result.confusion, tfjs.result.confusion);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * Paints the original-image rectangle that a block of map cells covers: (2 * reach + 1) cells a side around
 * `cell`, so that the block is about a fifth of the slice's side: 3x3 cells on a 14x14 map (one cell is smaller
 * than the network's receptive field), one cell on the 8x8 map of a 128 px model.
 */
const reachOf = (grid: number) => (grid >= 12 ? 1 : 0);
function occludeCell(img: GreyImage, cell: number, grid: number, fit: 'cover' | 'fill' | 'contain'): GreyImage {
  const r = workingRegion(img.width, img.height, fit);
  const cx = cell % grid, cy = Math.floor(cell / grid);
  const k = reachOf(grid);
  const x0 = Math.max(0, Math.floor(r.x0 + ((cx - k) * r.w) / grid)), x1 = Math.min(img.width, Math.ceil(r.x0 + ((cx + k + 1) * r.w) / grid));
  const y0 = Math.max(0, Math.floor(r.y0 + ((cy - k) * r.h) / grid)), y1 = Math.min(img.height, Math.ceil(r.y0 + ((cy + k + 1) * r.h) / grid));
  // Filled with black, CT's air: a mid-grey patch would itself look like ground-glass opacity, a COVID sign
  // (measured: mean-grey patches raised P(COVID) wherever they were put).
  const data = Uint8Array.from(img.data);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data[y * img.width + x] = 0;
  return { ...img, data };
}

test('the heatmap is real: occluding the hottest region lowers P(COVID) more than the coldest (in 6 of 8 slices at least)', async () => {
  requireShared();
  const engine = await OnnxClassifier.load(MODEL);
  try {
    const test = entriesOf(await loadDataset(DATA), 'test').filter((e) => e.label === 'COVID').slice(0, 24);
    const images = await Promise.all(test.map((e) => readAndDecodeGrey(e.path)));
    const probs = await engine.probabilities(images);
    // The test builds its occluded images from the COVID slices the model is most confident about.
    const order = probs.map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 8);
    let wins = 0;
    for (const [, i] of order) {
      const ex = await engine.explain(images[i]);
      const { grid, values } = ex.cam;
      // Hottest and coldest cells whose block fits inside the map.
      let hot = -1, cold = -1;
      const k0 = reachOf(grid);
      for (let y = k0; y < grid - k0; y++) for (let x = k0; x < grid - k0; x++) {
        const k = y * grid + x;
        if (hot < 0 || values[k] > values[hot]) hot = k;
        if (cold < 0 || values[k] < values[cold]) cold = k;
      }
      const fit = engine.json.preprocessing.fit;
      const [pHot, pCold] = await engine.probabilities([occludeCell(images[i], hot, grid, fit), occludeCell(images[i], cold, grid, fit)]);
      if (ex.probability - pHot > ex.probability - pCold) wins++;
      assert.ok(Math.abs(ex.probability - probs[i]) < 1e-9, 'explain and probabilities agree');
    }
    assert.ok(wins >= 6, `hottest-region occlusion lowered the score more in only ${wins} of 8 images`);
  } finally {
    engine.dispose();
  }
});

test('explain writes an overlay of the input size; a model.onnx from other weights is refused', async () => {
  requireShared();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-explain-'));
  try {
    const file = entriesOf(await loadDataset(DATA), 'test')[0].path;
    const out = path.join(dir, 'heat.png');
    const r = await runCli(['explain', file, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.ok(info.probability > 0 && info.probability < 1);
    const meta = await sharp(out).metadata();
    const src = await sharp(file).metadata();
    assert.equal(meta.format, 'png');
    // The slice at its size with the legend strip under it; with --no-legend the slice's size exactly.
    assert.deepEqual([meta.width, meta.channels], [src.width, 3]);
    assert.equal(meta.height, src.height! + legendSvg(src.width!, true)!.height);
    const bare = path.join(dir, 'bare.png');
    assert.equal((await runCli(['explain', file, '--out', bare, '--no-legend'])).code, 0);
    const bareMeta = await sharp(bare).metadata();
    assert.deepEqual([bareMeta.width, bareMeta.height], [src.width, src.height]);

    const copy = path.join(dir, 'model');
    await cp(MODEL, copy, { recursive: true });
    // A valid model folder whose head changed after export: its old model.onnx must not be used.
    const head = await readFile(path.join(copy, 'head.bin'));
    head.writeFloatLE(head.readFloatLE(head.length - 4) + 1, head.length - 4);
    await writeFile(path.join(copy, 'head.bin'), head);
    const json = JSON.parse(await readFile(path.join(copy, 'model.json'), 'utf8'));
    json.head.sha256 = createHash('sha256').update(head).digest('hex');
    await writeFile(path.join(copy, 'model.json'), JSON.stringify(json));
    const bad = await runCli(['predict', file, '--model', copy]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /was not exported from this model folder/);
    // Once re-exported, the folder works again.
    assert.equal((await runCli(['export', '--model', copy])).code, 0);
    assert.equal((await runCli(['predict', file, '--model', copy, '--quiet'])).code, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
