/**
 * Neck slices (docs/neck-gap.md): the air between the back and the mattress, closed off from the foam's air by the
 * mattress's thin cover, and the trachea on the midline are not lungs. A drawn neck on a mattress is refused with
 * 'no-lungs'; a drawn chest on the same mattress keeps its two lungs as they were; a lung apex beside the trachea is
 * read alone. On the real CT-MD neck slices (when ../shared is beside the project) the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { segmentLungs } from '../src/data/lungs.js';
import { findLungs } from '../src/data/involvement.js';
import { readableSlice } from '../src/data/polarity.js';
import { maskDice } from '../src/data/morphology.js';
import type { GreyImage } from '../src/types.js';
import { drawnChest, drawnNeck, paintMattress, REPO } from './helpers.js';

/** What prepareSlice reads: the polarity and orientation stages, then findLungs. */
const read = (img: GreyImage) => {
  const up = readableSlice(img);
  return findLungs(up.image, up.seg);
};
const lungMask = (labels: Uint8Array) => Uint8Array.from(labels, (v) => (v ? 1 : 0));

test('a neck on a mattress: the gap under the back and the trachea are no lungs -> no-lungs', () => {
  for (const trachea of [true, false]) {
    const img = drawnNeck({ trachea });
    const seg = segmentLungs(img);
    assert.equal(seg.found, false, `trachea ${trachea}: nothing found (${seg.quality.areaFraction})`);
    const r = read(img);
    assert.equal(r.findings.found, false);
    assert.equal(r.findings.refusal, 'no-lungs', `trachea ${trachea}: ${r.findings.reason}`);
    assert.equal(r.findings.involvement, null);
  }
  assert.match(segmentLungs(drawnNeck()).reason ?? '', /trachea/);
});

test('a chest on the same mattress keeps both lungs, as the drawn chest with its table line', () => {
  const plain = drawnChest();
  const onMattress = drawnChest();
  paintMattress(onMattress, 282);
  const a = segmentLungs(plain), b = segmentLungs(onMattress);
  assert.ok(a.found && b.found);
  assert.equal(b.quality.components, 2);
  assert.ok(maskDice(lungMask(a.labels), lungMask(b.labels)) > 0.98, 'the same lungs');
  const r = read(onMattress);
  assert.notEqual(r.findings.refusal, 'no-lungs');
  assert.ok(r.findings.lungPixels !== null && r.findings.lungPixels > 0);
});

test('an apex beside the trachea is read alone; the trachea is not a lung', () => {
  const img = drawnNeck();
  // A small dark apex off the midline, inside the neck (the trachea is at x = 160, y = 110, radius 10).
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) {
    if (((x - 205) / 11) ** 2 + ((y - 150) / 14) ** 2 <= 1) img.data[y * img.width + x] = 22 + ((x * 31 + y * 17) % 11);
  }
  const seg = segmentLungs(img);
  assert.ok(seg.found, seg.reason);
  assert.equal(seg.quality.components, 1);
  const w = seg.analysis.width, labels = seg.labels, s = seg.scale;
  assert.ok(labels[Math.round(150 * s) * w + Math.round(205 * s)] !== 0, 'the apex is lung');
  assert.equal(labels[Math.round(110 * s) * w + Math.round(160 * s)], 0, 'the trachea is not');
});

const MD = path.resolve(REPO, '../shared/data/covid-ct-md-sample/images');
test('CT-MD neck slices: no lungs at the neck of normal002, the apex alone beside the trachea', { skip: !existsSync(MD) }, async () => {
  for (const n of ['normal002_002', 'normal002_007']) {
    const r = read(await readAndDecodeGrey(path.join(MD, `${n}.png`)));
    assert.equal(r.findings.refusal, 'no-lungs', n);
  }
  // normal002_016: the trachea (on the midline) was read as one of two lungs; the left apex remains.
  const r = read(await readAndDecodeGrey(path.join(MD, 'normal002_016.png')));
  assert.ok(r.findings.found);
  assert.equal(r.seg.quality.components, 1);
  const { width: w, height: h } = r.seg.analysis;
  let onMidline = 0;
  for (let y = 0; y < h; y++) for (let x = Math.round(0.45 * w); x < Math.round(0.55 * w); x++) if (r.seg.labels[y * w + x]) onMidline++;
  assert.equal(onMidline, 0, 'nothing on the midline is lung');
});
