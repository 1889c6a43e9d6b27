/**
 * The orientation stage (src/data/orientation.ts, docs/orientation.md): a slice turned by 90 degrees or upside down
 * is brought upright by its anatomy (lungs side by side, the spine, the heart, the table behind the patient), an
 * upright slice is never turned, and a slice whose anatomy is ambiguous is left as sent. On a drawn phantom, on real
 * CT-MD slices turned (../shared), and through the pipeline (engine.ts prepareSlice).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import {
  apVerdict, decideOrientation, flipImage, mirrorImage, orientImage, transposeImage, TURNS, uprightSlice,
} from '../src/data/orientation.js';
import { decodeGrey } from '../src/data/decode.js';
import { prepareSlice } from '../src/model/engine.js';
import { readModelJson } from '../src/model/model-files.js';
import { parseCsvTable } from '../src/data/labelled-set.js';
import type { GreyImage } from '../src/types.js';
import type { Orientation } from '../src/data/orientation.js';
import { drawnChest as chest, REPO } from './helpers.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { analyseFiles } from '../src/predict/analyse.js';
import { scoreFiles } from '../src/predict/score-files.js';
import { formatPredictions } from '../src/predict/format.js';
import sharp from 'sharp';

/**
 * Where a pixel (x, y) of the upright picture (orientImage(img, o), w x h as sent) lies in the picture as sent: the
 * inverse of orientImage's pixel map (the oracle the test checks orientImage against).
 */
function sentPoint(o: Orientation, x: number, y: number, w: number, h: number): [number, number] {
  switch (o) {
    case 'as-sent': return [x, y];
    case 'flipped': return [x, h - 1 - y];
    // Upright (x, y) = transposed (x, y) = sent (y, x); upright width is h.
    case 'transposed': return [y, x];
    // Upright (x, y) = transposed (x, W - 1 - y) where the transposed height is w.
    case 'transposed-flipped': return [w - 1 - y, x];
  }
}

test('transpose, flip and sentPoint: the upright picture\'s pixels come from where sentPoint says', () => {
  const w = 5, h = 3;
  const img: GreyImage = { width: w, height: h, data: Uint8Array.from({ length: w * h }, (_, i) => i) };
  for (const o of ['as-sent', 'flipped', 'transposed', 'transposed-flipped'] as const) {
    const up = orientImage(img, o);
    assert.equal(up.width * up.height, w * h);
    for (let y = 0; y < up.height; y++) {
      for (let x = 0; x < up.width; x++) {
        const [sx, sy] = sentPoint(o, x, y, w, h);
        assert.equal(up.data[y * up.width + x], img.data[sy * w + sx], `${o} at (${x}, ${y})`);
      }
    }
  }
  assert.equal(orientImage(img, 'as-sent'), img, 'as sent: the very same object');
  assert.deepEqual(transposeImage(transposeImage(img)).data, img.data);
  assert.deepEqual(flipImage(flipImage(img)).data, img.data);
});

test('the verdict: strict needs the table with another cue (or three cues), never against a cue; the body never vetoes', () => {
  const c = (table: number | null, spine: number | null, heart: number | null, body: number | null) => ({ table, spine, heart, body, clean: true });
  assert.equal(apVerdict(c(-1, -0.5, null, null), true), -1);
  assert.equal(apVerdict(c(-1, null, null, null), true), 0, 'the table alone does not flip a side-by-side slice');
  assert.equal(apVerdict(c(-1, null, null, null), false), -1, '... but decides which way a turned slice goes');
  assert.equal(apVerdict(c(-1, -0.5, 0.3, null), true), 0, 'the heart says otherwise: unsure');
  assert.equal(apVerdict(c(-1, -0.5, null, 0.4), true), -1, 'the body does not veto (thick in front of the lung bases)');
  assert.equal(apVerdict(c(null, -0.5, -0.3, -0.2), true), -1, 'spine, heart and body together');
  assert.equal(apVerdict(c(null, -0.5, -0.3, null), true), 0);
  assert.equal(apVerdict(c(null, -0.1, -0.05, -0.02), false), 0, 'below the margins nothing votes');
  assert.equal(apVerdict(c(1, 0.5, 0.2, 0.1), true), 1);
});

test('a drawn chest: upright stays, each turned copy is brought upright (and the lungs found there side by side)', () => {
  const upright = chest();
  for (const { name, turn, right } of TURNS) {
    const d = decideOrientation(turn(upright));
    assert.equal(d.orientation, right, name);
    const up = uprightSlice(turn(upright));
    // Upright up to a left-right mirror: the same picture or its mirror.
    const same = (a: GreyImage, b: GreyImage) => a.width === b.width && a.data.every((v, i) => v === b.data[i]);
    assert.ok(same(up.image, upright) || same(up.image, mirrorImage(upright)), `${name}: upright after the stage`);
  }
  // Without the table, the spine and the heart still agree with the body: the flipped chest is flipped back.
  assert.equal(decideOrientation(flipImage(chest({ table: false }))).orientation, 'flipped');
});

test('ambiguous anatomy is left as sent: no spine, no heart, no table (symmetric top to bottom), or a single lung', () => {
  const plain = chest({ table: false, spine: false, heart: false });
  for (const { name, turn } of TURNS.filter((t) => !t.name.startsWith('turned by 90'))) {
    assert.equal(decideOrientation(turn(plain)).orientation, 'as-sent', name);
  }
  // Half a slice (a paper figure's crop): one lung only, never turned.
  const half: GreyImage = (() => {
    const c = chest();
    const w = 160, data = new Uint8Array(w * c.height);
    for (let y = 0; y < c.height; y++) data.set(c.data.subarray(y * c.width, y * c.width + w), y * w);
    return { width: w, height: c.height, data };
  })();
  for (const { name, turn } of TURNS) assert.equal(decideOrientation(turn(half)).orientation, 'as-sent', `half slice ${name}`);
});

test('the pipeline reads a turned slice as the upright one: same lungs, same views (prepareSlice)', async () => {
  const json = await readModelJson(path.join(REPO, 'models/default'));
  const upright = chest();
  const ref = await prepareSlice(json, upright);
  assert.equal(ref.orientation, 'as-sent');
  assert.equal(ref.image, upright, 'an upright slice is the very image sent');
  const turned = await prepareSlice(json, flipImage(upright));
  assert.equal(turned.orientation, 'flipped');
  assert.deepEqual(turned.image.data, upright.data);
  assert.deepEqual(turned.lungs.findings, ref.lungs.findings);
  assert.equal(turned.views.length, ref.views.length);
  turned.views.forEach((v, i) => assert.deepEqual(v, ref.views[i], `view ${i}`));
});

test('the API reads a flipped slice upright and says so: same P as the upright slice, orientation "flipped"', async () => {
  const engine = await OnnxClassifier.load(path.join(REPO, 'models/default'));
  const png = async (g: GreyImage) => new Uint8Array(await sharp(Buffer.from(g.data), { raw: { width: g.width, height: g.height, channels: 1 } }).png().toBuffer());
  const upright = chest();
  const { results } = await analyseFiles(engine, [{ name: 'up.png', bytes: await png(upright) }, { name: 'flipped.png', bytes: await png(flipImage(upright)) }]);
  engine.dispose();
  const [a, b] = ['up.png', 'flipped.png'].map((n) => results.find((r) => r.file === n)!);
  assert.equal(a.orientation, undefined, 'an upright slice carries no orientation field');
  assert.equal(b.orientation, 'flipped');
  assert.equal(b.probability, a.probability);
  assert.equal(b.pattern, a.pattern);
});

test('predict says a slice was read upright: orientation in JSON and CSV, the words in the table; an upright slice says nothing', async () => {
  const engine = await OnnxClassifier.load(path.join(REPO, 'models/default'));
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-orient-'));
  try {
    const upright = chest();
    const files = [path.join(dir, 'up.png'), path.join(dir, 'turned.png')];
    await writeFile(files[0], await sharp(Buffer.from(upright.data), { raw: { width: 320, height: 320, channels: 1 } }).png().toBuffer());
    const t = transposeImage(upright);
    await writeFile(files[1], await sharp(Buffer.from(t.data), { raw: { width: t.width, height: t.height, channels: 1 } }).png().toBuffer());
    const preds = await scoreFiles(engine, files);
    assert.equal(preds[0].orientation, undefined);
    assert.equal(preds[1].orientation, 'transposed');
    assert.equal(preds[1].probability, preds[0].probability, 'read as the upright slice');
    const json = JSON.parse(formatPredictions(preds, 'json', engine.threshold)) as { predictions: { orientation: string | null }[] };
    assert.deepEqual(json.predictions.map((p) => p.orientation), [null, 'transposed']);
    const [header, up, turned] = formatPredictions(preds, 'csv', engine.threshold).trim().split('\n');
    const col = header.split(',').indexOf('orientation');
    assert.ok(col > 0, header);
    assert.equal(up.split(',')[col], '');
    assert.equal(turned.split(',')[col], 'transposed');
    const table = formatPredictions(preds, 'table', engine.threshold).split('\n');
    assert.match(table.find((l) => l.includes('turned.png'))!, /it came turned by 90 degrees and was read upright/);
    assert.doesNotMatch(table.find((l) => l.includes('up.png'))!, /read upright/);
  } finally {
    engine.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

const MD = path.resolve(REPO, '../shared/data/covid-ct-md-sample');
const skipMd = existsSync(path.join(MD, 'manifest.csv')) ? false : `the CT-MD sample is not at ${MD}: real-slice orientation test skipped`;

test('real CT-MD slices (every 16th): none upright is turned, none turned is turned the wrong way, most are put upright', { skip: skipMd }, async () => {
  const rows = parseCsvTable(readFileSync(path.join(MD, 'manifest.csv'), 'utf8')).filter((_, i) => i % 16 === 0);
  const counts = new Map<string, { right: number; wrong: number; left: number }>();
  for (const r of rows) {
    const g = await decodeGrey(new Uint8Array(await readFile(path.join(MD, r.path))));
    for (const { name, turn, right } of TURNS) {
      const o = decideOrientation(turn(g)).orientation;
      const c = counts.get(name) ?? { right: 0, wrong: 0, left: 0 };
      if (o === right) c.right++; else if (o === 'as-sent') c.left++; else c.wrong++;
      counts.set(name, c);
    }
  }
  const up = counts.get('upright')!;
  assert.equal(up.right, rows.length, 'no upright slice is turned');
  for (const [name, c] of counts) {
    assert.equal(c.wrong, 0, `${name}: no wrong turn`);
    // About a quarter of the sample's slices hold no pair of lungs (above or below them): those stay as sent.
    if (name !== 'upright') assert.ok(c.right >= 0.5 * rows.length, `${name}: ${c.right} of ${rows.length} put upright`);
  }
});
