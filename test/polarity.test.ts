/**
 * The polarity stage (src/data/polarity.ts, docs/negatives.md): a negative (air white, bone black) is read as its
 * inverse, bit for bit the original's reading, and every output says so; a picture as sent is never inverted, a
 * paper figure on a white page included. On a drawn chest, through the pipeline (prepareSlice, the API, predict's
 * outputs) and on real CT-MD slices (../shared).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import sharp from 'sharp';
import { edgeMedian, invertImage, POLARITY_NOTE, readableSlice, sliceNote } from '../src/data/polarity.js';
import { flipImage } from '../src/data/orientation.js';
import { segmentLungs } from '../src/data/lungs.js';
import { decodeGrey } from '../src/data/decode.js';
import { parseCsvTable } from '../src/data/labelled-set.js';
import { prepareSlice } from '../src/model/engine.js';
import { readModelJson } from '../src/model/model-files.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { analyseFiles } from '../src/predict/analyse.js';
import { scoreFiles } from '../src/predict/score-files.js';
import { formatPredictions } from '../src/predict/format.js';
import type { GreyImage } from '../src/types.js';
import { drawnChest as chest, REPO } from './helpers.js';

const png = async (g: GreyImage) => new Uint8Array(await sharp(Buffer.from(g.data), { raw: { width: g.width, height: g.height, channels: 1 } }).png().toBuffer());

/** The drawn chest (air black round it) as a paper figure: a panel in the middle of a white page. */
function onWhitePage(c: GreyImage, margin = 90): GreyImage {
  const w = c.width + 2 * margin, h = c.height + 2 * margin, data = new Uint8Array(w * h).fill(255);
  for (let y = 0; y < c.height; y++) data.set(c.data.subarray(y * c.width, (y + 1) * c.width), (y + margin) * w + margin);
  return { width: w, height: h, data };
}

test('the negative is exact and the edge is read from the picture\'s outermost pixels', () => {
  const c = chest();
  assert.deepEqual(invertImage(invertImage(c)).data, c.data);
  assert.equal(invertImage(c).data[0], 255);
  // The drawn chest's corners are air: black as sent, white as a negative, white on a page.
  assert.equal(edgeMedian(segmentLungs(c)), 0);
  assert.equal(edgeMedian(segmentLungs(invertImage(c))), 255);
  assert.equal(edgeMedian(segmentLungs(onWhitePage(c))), 255);
});

test('a drawn chest made negative is read as the chest; as sent, on a white page or without bone it is not inverted', () => {
  const c = chest();
  const asSent = readableSlice(c);
  assert.equal(asSent.polarity, 'as-sent');
  assert.equal(asSent.image, c, 'a slice as sent is the very image');
  const neg = readableSlice(invertImage(c));
  assert.equal(neg.polarity, 'negative');
  assert.equal(neg.orientation, 'as-sent');
  assert.deepEqual(neg.image.data, c.data, 'the negative is read as the original, pixel for pixel');
  // Turned and negative: both undone.
  const both = readableSlice(invertImage(flipImage(c)));
  assert.equal(both.polarity, 'negative');
  assert.equal(both.orientation, 'flipped');
  assert.deepEqual(both.image.data, c.data);
  // A paper figure: the white page is not air (the panel's own air is black round the body).
  const page = onWhitePage(c);
  const fig = readableSlice(page);
  assert.equal(fig.polarity, 'as-sent');
  assert.equal(fig.image, page);
  // No bone on the midline: no CT anatomy to vouch for the inverse, so it stays as sent.
  assert.equal(readableSlice(invertImage(chest({ spine: false }))).polarity, 'as-sent');
});

test('the pipeline reads a negative as the original: same lungs, bit-identical views (prepareSlice)', async () => {
  const json = await readModelJson(path.join(REPO, 'models/default'));
  const c = chest();
  const ref = await prepareSlice(json, c);
  assert.equal(ref.polarity, 'as-sent');
  const neg = await prepareSlice(json, invertImage(c));
  assert.equal(neg.polarity, 'negative');
  assert.deepEqual(neg.image.data, c.data);
  assert.deepEqual(neg.lungs.findings, ref.lungs.findings);
  assert.equal(neg.views.length, ref.views.length);
  neg.views.forEach((v, i) => assert.deepEqual(v, ref.views[i], `view ${i}`));
});

test('the API and predict read a negative as the chest and say so: same P, polarity in JSON and CSV, the note in the table', async () => {
  const engine = await OnnxClassifier.load(path.join(REPO, 'models/default'));
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-polarity-'));
  try {
    const c = chest();
    const { results } = await analyseFiles(engine, [{ name: 'chest.png', bytes: await png(c) }, { name: 'negative.png', bytes: await png(invertImage(c)) }]);
    const [a, b] = ['chest.png', 'negative.png'].map((n) => results.find((r) => r.file === n)!);
    assert.equal(a.polarity, undefined, 'a slice as sent carries no polarity field');
    assert.equal(b.polarity, 'negative');
    assert.equal(b.probability, a.probability);
    assert.equal(b.involvement, a.involvement);
    assert.equal(b.label, a.label);

    const files = [path.join(dir, 'chest.png'), path.join(dir, 'negative.png')];
    await writeFile(files[0], await png(c));
    await writeFile(files[1], await png(invertImage(c)));
    const preds = await scoreFiles(engine, files);
    assert.equal(preds[0].polarity, undefined);
    assert.equal(preds[1].polarity, 'negative');
    assert.equal(preds[1].probability, preds[0].probability, 'read as the original');
    const json = JSON.parse(formatPredictions(preds, 'json', engine.threshold)) as { predictions: { polarity: string | null }[] };
    assert.deepEqual(json.predictions.map((p) => p.polarity), [null, 'negative']);
    const [header, first, second] = formatPredictions(preds, 'csv', engine.threshold).trim().split('\n');
    const col = header.split(',').indexOf('polarity');
    assert.ok(col > 0, header);
    assert.equal(first.split(',')[col], '');
    assert.equal(second.split(',')[col], 'negative');
    const table = formatPredictions(preds, 'table', engine.threshold).split('\n');
    assert.ok(table.find((l) => l.includes('negative.png'))!.includes(POLARITY_NOTE), 'the table tells the user');
    assert.ok(!table.find((l) => l.includes('chest.png'))!.includes(POLARITY_NOTE));
  } finally {
    engine.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the note: the polarity first, then the turn; nothing for a slice read as sent', () => {
  assert.equal(sliceNote('as-sent', 'as-sent'), '');
  assert.equal(sliceNote(undefined, 'negative'), POLARITY_NOTE);
  assert.match(sliceNote('flipped', 'negative'), /^it came as a negative, air white and bone black, and was read with air black; it came upside down and was read upright$/);
});

const MD = path.resolve(REPO, '../shared/data/covid-ct-md-sample');
const skipMd = existsSync(path.join(MD, 'manifest.csv')) ? false : `the CT-MD sample is not at ${MD}: real-slice polarity test skipped`;

test('real CT-MD slices (every 16th): none as sent is inverted; their negatives are read as the originals', { skip: skipMd }, async () => {
  const json = await readModelJson(path.join(REPO, 'models/default'));
  const rows = parseCsvTable(readFileSync(path.join(MD, 'manifest.csv'), 'utf8')).filter((_, i) => i % 16 === 0);
  let caught = 0;
  for (const r of rows) {
    const g = await decodeGrey(new Uint8Array(await readFile(path.join(MD, r.path))));
    const ref = await prepareSlice(json, g);
    assert.equal(ref.polarity, 'as-sent', `${r.path} as sent`);
    const neg = await prepareSlice(json, invertImage(g));
    if (neg.polarity !== 'negative') continue;
    caught++;
    assert.deepEqual(neg.image.data, ref.image.data, `${r.path}: the negative read as the original`);
    assert.deepEqual(neg.lungs.findings, ref.lungs.findings, r.path);
    neg.views.forEach((v, i) => assert.deepEqual(v, ref.views[i], `${r.path} view ${i}`));
  }
  // About a quarter of the sample's slices hold no plausible pair of lungs (above or below them): those stay as sent.
  assert.ok(caught >= 0.6 * rows.length, `${caught} of ${rows.length} negatives read as the originals`);
});
