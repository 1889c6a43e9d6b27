/**
 * The lung stage reads nothing beyond the lungs' kept margin (issue 10 item 7, docs/outside-audits.md): the
 * lungs-only view is cut from the kept region only, the segmentation's threshold settles on the lungs' own border,
 * and the audit's marks can be cut into the part over the lungs and the rest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { segmentLungs, borderThreshold } from '../src/data/lungs.js';
import { lungView, keptRegion, DEFAULT_LUNG_FRAMING } from '../src/data/lung-view.js';
import { lungInvolvement } from '../src/data/involvement.js';
import { keptLungMask, pasteMarks, OUTSIDE_DILATE } from '../src/eval/audit.js';
import { decodeGrey } from '../src/data/decode.js';
import { Rng } from '../src/util/prng.js';
import { maskDice } from '../src/data/morphology.js';
import { lungPhantom } from './helpers.js';
import type { GreyImage } from '../src/types.js';

/** The phantom with every pixel outside `keep` replaced by seeded uniform noise. */
function noiseOutside(img: GreyImage, keep: Uint8Array, seed: number): GreyImage {
  const rng = new Rng(seed);
  return { ...img, data: img.data.map((v, i) => (keep[i] ? v : Math.floor(rng.next() * 256))) };
}


for (const size of [512, 300]) {
  test(`lungs view (${size} px slice): the same pixels whatever lies outside the kept region, for the same lungs`, () => {
    const img = lungPhantom(size);
    const seg = segmentLungs(img);
    assert.ok(seg.found);
    const keep = keptRegion(seg, img.width, img.height, DEFAULT_LUNG_FRAMING.dilate);
    const noisy = noiseOutside(img, keep, 7);
    let outside = 0;
    for (let i = 0; i < keep.length; i++) if (!keep[i] && noisy.data[i] !== img.data[i]) outside++;
    assert.ok(outside > 0.3 * keep.length, `the outside changed (${outside} px)`);
    const a = lungView(seg, img), b = lungView(seg, noisy);
    assert.deepEqual([b.width, b.height], [a.width, a.height]);
    assert.deepEqual(b.data, a.data, 'no pixel of the view moved');
    // The view shows the lungs (dark) inside a soft-tissue fill, not a constant picture.
    const dark = a.data.filter((v) => v < 100).length, fill = a.data.filter((v) => v === DEFAULT_LUNG_FRAMING.tissueGrey).length;
    assert.ok(dark > 0.2 * a.data.length && fill > 0.05 * a.data.length, `dark ${dark}, fill ${fill} of ${a.data.length}`);
  });
}

test('keptLungMask (the audits) is the view\'s kept region', () => {
  const img = lungPhantom(400);
  const seg = segmentLungs(img);
  assert.deepEqual(keptLungMask(img), keptRegion(seg, img.width, img.height, OUTSIDE_DILATE));
});

test('borderThreshold: halfway between the lungs\' parenchyma and the tissue around them', () => {
  const seg = segmentLungs(lungPhantom(384, false));
  // Phantom lungs 22-32 (median about 27), body 150-158 (median about 154): halfway about 90.
  const t = borderThreshold(seg);
  assert.ok(t !== null && t >= 86 && t <= 94, `threshold ${t}`);
  assert.equal(seg.threshold, t, 'the segmentation settled on it');
  assert.equal(borderThreshold(segmentLungs({ width: 64, height: 64, data: new Uint8Array(64 * 64).fill(90) })), null, 'no lungs, no threshold');
});

test('segmentation and involvement unchanged when everything outside the kept margin is noise or another picture', () => {
  for (const [size, opacity] of [[384, true], [512, false], [300, true]] as const) {
    const img = lungPhantom(size, opacity);
    const seg = segmentLungs(img);
    const keep = keptLungMask(img)!;
    const ramp = { ...img, data: img.data.map((v, i) => (keep[i] ? v : 60 + ((i % size) + 2 * Math.floor(i / size)) % 150)) };
    for (const [name, other] of [['noise', noiseOutside(img, keep, size)], ['ramp', ramp]] as const) {
      const s2 = segmentLungs(other);
      assert.ok(s2.found, `${size} ${name}: lungs found`);
      assert.equal(s2.threshold, seg.threshold, `${size} ${name}: same threshold`);
      assert.ok(maskDice(s2.labels, seg.labels) >= 0.99, `${size} ${name}: Dice ${maskDice(s2.labels, seg.labels).toFixed(4)}`);
      const i1 = lungInvolvement(seg)!, i2 = lungInvolvement(s2)!;
      assert.ok(Math.abs(i1.fraction - i2.fraction) < 0.005, `${size} ${name}: involvement ${i1.fraction.toFixed(4)} vs ${i2.fraction.toFixed(4)}`);
    }
  }
});

test('pasteMarks inside / outside: the same marks cut at the kept region, together the whole', async () => {
  const img = lungPhantom(320, false);
  const bytes = new Uint8Array(await sharp(Buffer.from(img.data), { raw: { width: 320, height: 320, channels: 1 } }).png().toBuffer());
  const keep = keptLungMask(img)!;
  const [all, inside, outside] = await Promise.all([pasteMarks(bytes), pasteMarks(bytes, 'inside'), pasteMarks(bytes, 'outside')].map(async (p) => (await decodeGrey(await p)).data));
  let nIn = 0, nOut = 0;
  for (let i = 0; i < all.length; i++) {
    if (keep[i]) {
      assert.equal(outside[i], img.data[i], `pixel ${i}: no mark inside from 'outside'`);
      assert.equal(inside[i], all[i], `pixel ${i}: 'inside' has the marks over the lungs`);
      if (inside[i] !== img.data[i]) nIn++;
    } else {
      assert.equal(inside[i], img.data[i], `pixel ${i}: no mark outside from 'inside'`);
      assert.equal(outside[i], all[i], `pixel ${i}: 'outside' has the marks beyond the lungs`);
      if (outside[i] !== img.data[i]) nOut++;
    }
  }
  assert.ok(nIn + nOut > 200, `marks cover ${nIn} px over the lungs and ${nOut} px beyond`);
});
