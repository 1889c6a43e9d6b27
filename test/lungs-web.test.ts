/**
 * The lungs reading as a user of the API, the heatmap and `covid-ct explain` sees it, on synthetic phantoms (never
 * dataset images): involvement, pattern and category per slice, NotCT with its reason, the lung outline drawn in
 * its colour, and no heat outside the square a lungs-only model saw. The lungs-framed model is a plumbing variant
 * of the shipped model (see lungsModelVariant: same graph, lungs views and a reading design added to model.json);
 * its numbers test the path, not the reading's quality.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import sharp from 'sharp';
import { REPO, huPhantom, lungPhantom, lungsModelVariant, runCli } from './helpers.js';
import { windowValue } from '../src/data/window.js';
import { createApp } from '../src/server/app.js';
import { DEFAULT_LIMITS } from '../src/server/api.js';
import { modelCard } from '../src/server/card.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { findLungs } from '../src/data/involvement.js';
import { camRegion, lungLayers, OUTLINE_RGB } from '../src/explain/cam-overlay.js';
import { legendSvg } from '../src/explain/heatmap.js';
import { lungViewRegion } from '../src/data/lung-view.js';
import { zipSync } from 'fflate';
import { ctSlice } from './dicom-writer.js';

let variantDir = '';
let lungsEngine: OnnxClassifier;
let wholeEngine: OnnxClassifier;
let phantom: Uint8Array, clear: Uint8Array, blank: Uint8Array;
const grey = (img: { width: number; height: number; data: Uint8Array }) =>
  sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } }).png().toBuffer().then((b) => new Uint8Array(b));

before(async () => {
  variantDir = await lungsModelVariant();
  lungsEngine = await OnnxClassifier.load(variantDir);
  wholeEngine = await OnnxClassifier.load(path.join(REPO, 'models/official'));
  phantom = await grey(lungPhantom(384, true));
  clear = await grey(lungPhantom(384, false));
  blank = await grey({ width: 300, height: 300, data: new Uint8Array(300 * 300).fill(255) });
});
after(async () => {
  lungsEngine?.dispose();
  wholeEngine?.dispose();
  if (variantDir) await rm(variantDir, { recursive: true, force: true });
});

const appOf = (engine: OnnxClassifier, dir: string) => createApp({ root: REPO, modelDir: dir, engine, card: modelCard(engine.json), limits: DEFAULT_LIMITS });

async function postFull(engine: OnnxClassifier, dir: string, files: Record<string, Uint8Array>, query = '') {
  const fd = new FormData();
  for (const [name, bytes] of Object.entries(files)) fd.append('files', new Blob([bytes.slice()]), name);
  const res = await appOf(engine, dir).request(`/api/predict${query}`, { method: 'POST', body: fd });
  assert.equal(res.status, 200);
  return await res.json() as { results: any[]; scans: any[] };
}
const post = async (engine: OnnxClassifier, dir: string, files: Record<string, Uint8Array>, query = '') => (await postFull(engine, dir, files, query)).results;

test('a DICOM series: the scan carries its involvement and how many slices were left out as NotCT', async () => {
  const zip = zipSync({ 'IM1': ctSlice(1), 'IM2': ctSlice(2), 'IM3': ctSlice(3) });
  const { results, scans } = await postFull(lungsEngine, variantDir, { 'series.zip': zip });
  assert.equal(results.length, 3);
  assert.equal(scans.length <= 1, true);
  for (const s of scans) {
    assert.ok(s.involvement === null || typeof s.involvement === 'number');
    assert.equal(s.notCt, results.filter((r) => r.label === 'NotCT').length);
  }
  if (!scans.length) assert.ok(results.filter((r) => r.label !== 'NotCT').length < 2, 'no scan only when fewer than two CT slices');
});

test('lungs model: a CT-like phantom gets involvement, pattern and a category; a blank image is NotCT with a reason', async () => {
  const [ct, healthy, none] = await post(lungsEngine, variantDir, { 'phantom.png': phantom, 'clear.png': clear, 'blank.png': blank });
  assert.equal(typeof ct.involvement, 'number');
  assert.ok(ct.involvement > 0.03, `the ground-glass patch is involvement: ${ct.involvement}`);
  assert.equal(typeof ct.pattern, 'number');
  assert.equal(typeof ct.category, 'string');
  assert.ok(['COVID', 'NonCOVID'].includes(ct.label));
  const [expected] = await lungsEngine.read([lungPhantom(384, true)]);
  assert.ok(Math.abs(ct.probability - expected.probability) < 1e-9, `API ${ct.probability} vs engine.read ${expected.probability}`);
  assert.ok(healthy.involvement < 0.01 && healthy.category === 'negative for pneumonia', JSON.stringify(healthy));
  assert.equal(none.label, 'NotCT');
  assert.equal(none.category, null);
  assert.match(none.reason, /\w/);
  assert.equal(none.refusal, 'no-lungs', 'the API says which kind of refusal');
  assert.equal(none.involvement, null);
});


test('whole-slice model (shipped): still COVID/NonCOVID, involvement reported, no category', async () => {
  const [ct, none] = await post(wholeEngine, path.join(REPO, 'models/official'), { 'phantom.png': phantom, 'blank.png': blank }, '?heatmap=1');
  assert.equal(typeof ct.involvement, 'number');
  assert.equal(ct.category, null);
  assert.ok(['COVID', 'NonCOVID'].includes(ct.label) && ['COVID', 'NonCOVID'].includes(none.label));
  assert.equal(ct.pattern, ct.probability);
  assert.match(ct.heatmap, /^data:image\/png;base64,/);
});

test('the OpenAPI document describes involvement, pattern, category, reason and NotCT, and scans\' involvement', async () => {
  const doc = await (await appOf(wholeEngine, path.join(REPO, 'models/official')).request('/api/openapi.json')).json() as any;
  const props = doc.components.schemas.SliceResult.properties;
  for (const k of ['involvement', 'pattern', 'category', 'refusal', 'reason']) assert.ok(props[k]?.description, k);
  assert.ok(JSON.stringify(props.label).includes('NotCT'));
  assert.match(JSON.stringify(doc.components.schemas.PredictResponse), /notCt/);
});

test('heatmap of a lungs model: the outline is drawn in its colour, and there is no heat outside the lung view\'s square', async () => {
  const [r] = await post(lungsEngine, variantDir, { 'phantom.png': phantom }, '?heatmap=1');
  const { data, info } = await sharp(Buffer.from(r.heatmap.split(',')[1], 'base64')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const img = lungPhantom(384, true);
  assert.equal(info.width, img.width);
  const { seg, involvement } = findLungs(img);
  const layers = lungLayers(seg, involvement?.mask ?? null, info.width, img.height);
  // The legend is a strip under the slice, so every pixel of the slice is checked.
  assert.equal(info.height, img.height + legendSvg(img.width, true)!.height, 'a legend strip under the slice');
  let onOutline = 0, outside = 0;
  const region = camRegion(img.width, img.height, 'cover', seg, lungsEngine.json.preprocessing.lungs);
  assert.ok(lungViewRegion(seg, lungsEngine.json.preprocessing.lungs), 'the lungs were framed');
  assert.ok(region.w < img.width * 0.9, `the lung view covers part of the slice: ${JSON.stringify(region)}`);
  for (let y = 0; y < img.height; y++) for (let x = 0; x < info.width; x++) {
    const i = y * info.width + x;
    const px = [data[3 * i], data[3 * i + 1], data[3 * i + 2]];
    if (layers.outline[i]) {
      assert.deepEqual(px, [...OUTLINE_RGB], `outline pixel ${x},${y}`);
      onOutline++;
    } else if (!layers.involved[i] && (x + 1 < region.x0 || x > region.x0 + region.w || y + 1 < region.y0 || y > region.y0 + region.h)) {
      assert.deepEqual(px, [img.data[i], img.data[i], img.data[i]], `no heat outside the lung view at ${x},${y}`);
      outside++;
    }
  }
  assert.ok(onOutline > 500 && outside > 1000, `${onOutline} outline pixels, ${outside} outside`);
});

test('covid-ct explain prints P, involvement, pattern and category, or NotCT and why', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-explain-'));
  try {
    await writeFile(path.join(dir, 'phantom.png'), phantom);
    await writeFile(path.join(dir, 'blank.png'), blank);
    const a = await runCli(['explain', path.join(dir, 'phantom.png'), '--out', path.join(dir, 'h.png'), '--model', variantDir]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /P\(COVID\) = [\d.]+; involvement [\d.]+% of the lung; pattern [\d.]+ -> (COVID|NonCOVID) .*, (typical|indeterminate|atypical|negative for pneumonia)/);
    const b = await runCli(['explain', path.join(dir, 'blank.png'), '--out', path.join(dir, 'b.png'), '--model', variantDir]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /NotCT: no lungs found \(.+\); no COVID verdict/);
    assert.doesNotMatch(b.stdout, /-> (COVID|NonCOVID)/);
    const meta = await sharp(path.join(dir, 'h.png')).metadata();
    assert.equal(meta.width, 384);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('covid-ct explain draws no heat on a slice it refuses: the slice as read, its lungs outlined, no verdict', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-explain-'));
  const side = 256;
  const hu = huPhantom(side);
  const windowed = (width: number, level: number) => grey({ width: side, height: side, data: Uint8Array.from(hu, (v) => windowValue(v, { width, level })) });
  try {
    // The same phantom in a lung window (read, with heat) and in a soft-tissue window (lungs found, then refused).
    await writeFile(path.join(dir, 'lung.png'), await windowed(1500, -600));
    await writeFile(path.join(dir, 'soft.png'), await windowed(400, 40));
    const heatPixels = async (file: string) => {
      const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
      let n = 0;
      // The slice's rows only: the legend strip under it has the heat colours' bar.
      for (let y = 0; y < side; y++) for (let x = 0; x < info.width; x++) {
        const i = (y * info.width + x) * info.channels;
        const px = [data[i], data[i + 1], data[i + 2]];
        const greyPx = px[0] === px[1] && px[1] === px[2];
        if (!greyPx && px.join() !== OUTLINE_RGB.join()) n++;
      }
      return n;
    };
    const read = await runCli(['explain', path.join(dir, 'lung.png'), '--out', path.join(dir, 'lung-out.png'), '--model', variantDir]);
    assert.equal(read.code, 0, read.stderr);
    assert.match(read.stdout, /-> (COVID|NonCOVID).*; heatmap written to /);
    assert.ok(await heatPixels(path.join(dir, 'lung-out.png')) > 500, 'a slice read as chest CT shows heat over its lungs');

    const refused = await runCli(['explain', path.join(dir, 'soft.png'), '--out', path.join(dir, 'soft-out.png'), '--model', variantDir, '--json']);
    assert.equal(refused.code, 0, refused.stderr);
    const json = JSON.parse(refused.stdout);
    assert.equal(json.label, 'NotCT');
    assert.equal(json.refusal, 'window');
    assert.equal(json.heatmap, null);
    assert.equal(json.picture, path.join(dir, 'soft-out.png'));
    assert.equal(await heatPixels(path.join(dir, 'soft-out.png')), 0, 'no heat on a refused slice: only grey and the cyan outline');
    // The outline is there: the user sees which lungs the window check looked at.
    const { data } = await sharp(path.join(dir, 'soft-out.png')).raw().toBuffer({ resolveWithObject: true });
    let outline = 0;
    for (let i = 0; i < data.length; i += 3) if (data[i] === OUTLINE_RGB[0] && data[i + 1] === OUTLINE_RGB[1] && data[i + 2] === OUTLINE_RGB[2]) outline++;
    assert.ok(outline > 200, `${outline} outline pixels`);
    const text = await runCli(['explain', path.join(dir, 'soft.png'), '--out', path.join(dir, 'soft-out2.png'), '--model', variantDir]);
    assert.match(text.stdout, /NotCT: lungs not readable in this window \(.+\); no COVID verdict; no heatmap; the slice as read, with the lungs found outlined, written to /);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
