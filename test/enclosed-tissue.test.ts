/**
 * Solid islands the lung mask encloses (src/data/enclosed-tissue.ts): an organ's dome is left out of the
 * involvement measure, a consolidation is not. Synthetic pictures only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { domeCore, enclosedTissue, hullArea } from '../src/data/enclosed-tissue.js';
import { findLungs, INVOLVEMENT_OPTIONS, lungInvolvement } from '../src/data/involvement.js';
import { lungLayers } from '../src/explain/cam-overlay.js';
import { lungPhantom } from './helpers.js';

const W = 60, H = 40;
/** A lung (rectangle 5..55 x 5..35) of grey 30 with shapes of grey 200 drawn in it; solid = 150. */
function picture(draw: (x: number, y: number) => boolean): { lung: Uint8Array; data: Uint8Array } {
  const lung = new Uint8Array(W * H), data = new Uint8Array(W * H).fill(200);
  for (let y = 5; y < 35; y++) for (let x = 5; x < 55; x++) { lung[y * W + x] = 1; data[y * W + x] = draw(x, y) ? 200 : 30; }
  return { lung, data };
}
const count = (m: Uint8Array) => m.reduce((a, b) => a + b, 0);

test('convex hull area of pixel squares', () => {
  // A 3 x 2 block of pixels covers a 3 x 2 rectangle; an L of 3 pixels has a hull of 3.5.
  assert.equal(hullArea([0, 1, 2, W, W + 1, W + 2], W), 6);
  assert.equal(hullArea([0, W, W + 1], W), 3.5);
});

test('a round solid island inside the lung is left out; a ragged one, one on the wall, or one too small is kept', () => {
  const disk = picture((x, y) => (x - 20) ** 2 + (y - 20) ** 2 <= 36);
  assert.equal(count(enclosedTissue(disk.lung, disk.data, W, H, 150)), count(disk.data.map((v, i) => (disk.lung[i] && v === 200 ? 1 : 0))));
  // A comb (consolidation along lobules): solid but far from convex.
  const comb = picture((x, y) => y >= 14 && y <= 26 && x >= 15 && x <= 40 && (x % 4 !== 0 || y === 14));
  assert.equal(count(enclosedTissue(comb.lung, comb.data, W, H, 150)), 0);
  // A subpleural patch resting on the chest wall along its base.
  const wall = picture((x, y) => y >= 28 && x >= 20 && x <= 32);
  assert.equal(count(enclosedTissue(wall.lung, wall.data, W, H, 150)), 0);
  // A dot under 1% of the lung (a vessel in section is removed by the vessel opening instead).
  const dot = picture((x, y) => (x - 30) ** 2 + (y - 20) ** 2 <= 1);
  assert.equal(count(enclosedTissue(dot.lung, dot.data, W, H, 150)), 0);
  // Ground glass (below the solid grey) is never an island.
  const ggo = picture(() => false);
  for (let y = 14; y < 26; y++) for (let x = 14; x < 26; x++) ggo.data[y * W + x] = 120;
  assert.equal(count(enclosedTissue(ggo.lung, ggo.data, W, H, 150)), 0);
});

test('a dome inside the phantom lung does not count as involvement; a ground-glass patch still does', () => {
  const clear = lungPhantom(384, false);
  const domed = lungPhantom(384, false);
  // A solid disk (soft-tissue grey) inside the left lung, as the liver's dome cuts a lung base.
  for (let y = 0; y < 384; y++) for (let x = 0; x < 384; x++) if ((x - 120) ** 2 + (y - 220) ** 2 <= 26 ** 2) domed.data[y * 384 + x] = 150;
  const a = findLungs(clear).involvement!, b = findLungs(domed).involvement!;
  assert.ok(Math.abs(b.fraction - a.fraction) < 0.01, `domed ${b.fraction} vs clear ${a.fraction}`);
  assert.ok(b.lungPixels < a.lungPixels, 'the dome is not counted as lung');
  // The drawn outline goes round the dome as well (a contour through its disk); without islands it does not.
  assert.equal(a.islands, null);
  assert.ok(b.islands && count(b.islands) > 0);
  const { seg } = findLungs(domed);
  const dome = (x: number, y: number) => Math.round(Math.hypot(x - 120, y - 220));
  const outlineAt = (outline: Uint8Array) => { const r = new Set<number>(); outline.forEach((v, i) => { if (v && dome(i % 384, Math.floor(i / 384)) <= 30) r.add(i); }); return r.size; };
  const drawn = lungLayers(seg, b.mask, 384, 384, b.islands).outline, plain = lungLayers(seg, b.mask, 384, 384).outline;
  assert.equal(outlineAt(plain), 0, 'the mask holds the dome: no outline crosses it');
  assert.ok(outlineAt(drawn) > 2 * Math.PI * 20, `a contour round the dome: ${outlineAt(drawn)} px`);
  const ggo = findLungs(lungPhantom(384, true)).involvement!;
  assert.ok(ggo.fraction > a.fraction + 0.03, `ground glass still counts (${ggo.fraction} vs ${a.fraction})`);
});

test('a dome with vessels attached is left out once they are stripped; the vessels are not, nor a ragged consolidation', () => {
  // A disk of radius 7 (a dome) with two vessels 2 px wide running from it to the lung's edge: ragged (convexity
  // well under 0.85) and touching what is not lung through them.
  const dome = (x: number, y: number) => (x - 28) ** 2 + (y - 20) ** 2 <= 49;
  const vessels = (x: number, y: number) => (y >= 19 && y <= 20 && x >= 5 && x < 28) || (x >= 27 && x <= 28 && y >= 20 && y < 35);
  const p = picture((x, y) => dome(x, y) || vessels(x, y));
  const solidPixels = count(p.data.map((v, i) => (p.lung[i] && v === 200 ? 1 : 0)));
  assert.equal(count(enclosedTissue(p.lung, p.data, W, H, 150, { stripVessels: false, hilarTubes: false })), 0, 'ragged: kept without stripping');
  const out = enclosedTissue(p.lung, p.data, W, H, 150);
  const disk = count(p.data.map((_, i) => (dome(i % W, Math.floor(i / W)) ? 1 : 0)));
  assert.ok(count(out) >= 0.9 * disk && count(out) <= disk, `the dome is left out (${count(out)} of its ${disk} px)`);
  assert.ok(count(out) < solidPixels - 30, 'the vessels beyond it are not');
  // The largest piece an opening of radius 3 leaves is the disk.
  const pixels: number[] = [];
  p.data.forEach((v, i) => { if (p.lung[i] && v === 200) pixels.push(i); });
  const core = domeCore(pixels, W);
  assert.ok(core.length > 0 && core.every((i) => (i % W - 28) ** 2 + (Math.floor(i / W) - 20) ** 2 <= 81), 'the core lies within the dome (grown by 2 px: the opening keeps the vessels\' roots)');
  // An L-shaped consolidation, arms 8 px wide: the opening leaves it as it is, and it is not convex.
  const ell = picture((x, y) => (x >= 15 && x < 23 && y >= 8 && y < 32) || (x >= 15 && x < 45 && y >= 24 && y < 32));
  assert.equal(count(enclosedTissue(ell.lung, ell.data, W, H, 150)), 0);
});

/**
 * Two lungs (labels 1 and 2: x 4..35 and 45..76, rows 4..75) of grey 30 on soft tissue of grey 200, with shapes of
 * grey 200 drawn in them; solid = 150. The mediastinum is the tissue between them (x 36..44).
 */
const W2 = 80, H2 = 80;
function pair(draw: (x: number, y: number) => boolean): { lung: Uint8Array; data: Uint8Array } {
  const lung = new Uint8Array(W2 * H2), data = new Uint8Array(W2 * H2).fill(200);
  for (let y = 4; y < 76; y++) for (let x = 4; x < 77; x++) {
    if (x > 35 && x < 45) continue;
    lung[y * W2 + x] = x <= 35 ? 1 : 2;
    data[y * W2 + x] = draw(x, y) ? 200 : 30;
  }
  return { lung, data };
}

test('solid tubes leaving the mediastinum at the hila are not lung; wider solid tissue, tubes elsewhere and ground glass are', () => {
  const tissue = (p: { lung: Uint8Array; data: Uint8Array }, hilarTubes = true) => count(enclosedTissue(p.lung, p.data, W2, H2, 150, { stripVessels: true, hilarTubes }));
  // A vessel 5 px wide from 2 px off the mediastinum (the partial-volume gap) out into the right-hand lung, at
  // mid-height, with a branch (not convex, so not an island by the dome rule).
  const tube = (x: number, y: number) => (x >= 47 && x < 65 && y >= 38 && y < 43) || (x >= 60 && x < 65 && y >= 28 && y < 38);
  assert.equal(tissue(pair(tube)), 18 * 5 + 5 * 10);
  assert.equal(tissue(pair(tube), false), 0, 'the switch turns it off');
  // The same tube in the lowest quarter of the lungs (behind the hila: a posterior recess) or out in the lung.
  assert.equal(tissue(pair((x, y) => (x >= 47 && x < 65 && y >= 66 && y < 71) || (x >= 60 && x < 65 && y >= 56 && y < 66))), 0);
  assert.equal(tissue(pair((x, y) => (x >= 52 && x < 70 && y >= 38 && y < 43) || (x >= 65 && x < 70 && y >= 28 && y < 38))), 0);
  // Solid tissue 14 px wide near the mediastinum, with an arm (a central consolidation, not convex): wider than a
  // lobar artery.
  assert.equal(tissue(pair((x, y) => (x >= 47 && x < 61 && y >= 32 && y < 46) || (x >= 47 && x < 70 && y >= 46 && y < 52))), 0);
  // Ground glass (below the solid grey) in the tube's place.
  const ggo = pair(() => false);
  for (let y = 38; y < 43; y++) for (let x = 47; x < 65; x++) ggo.data[y * W2 + x] = 120;
  assert.equal(tissue(ggo), 0);
  // With one lung only there is no mediastinum to read.
  const one = pair(tube);
  for (let i = 0; i < one.lung.length; i++) if (one.lung[i] === 2) one.lung[i] = 1;
  assert.equal(tissue(one), 0);
});

test('a hilar vessel in the phantom does not count as involvement and is drawn as not lung; ground glass in its place still counts', () => {
  // A branching solid tube (soft-tissue grey, 8 px wide) leaving the left lung's medial border at mid-height, 2 px off
  // the mediastinum (the partial volume where a vessel leaves it).
  const tube = (x: number, y: number) => (x >= 150 && x < 176 && y >= 186 && y < 194) || (x >= 150 && x < 158 && y >= 160 && y < 186);
  const drawn = (grey: number) => {
    const img = lungPhantom(384, false);
    for (let y = 0; y < 384; y++) for (let x = 0; x < 384; x++) if (tube(x, y)) img.data[y * 384 + x] = grey;
    return img;
  };
  const clear = findLungs(lungPhantom(384, false)).involvement!;
  const { seg, involvement } = findLungs(drawn(150));
  const b = involvement!;
  const off = lungInvolvement(seg, undefined, { ...INVOLVEMENT_OPTIONS, hilarTubes: false })!;
  assert.ok(off.fraction > clear.fraction + 0.01, `without the rule the vessel reads as involvement (${off.fraction} vs ${clear.fraction})`);
  assert.ok(Math.abs(b.fraction - clear.fraction) < 0.002, `with it, it does not (${b.fraction} vs ${clear.fraction})`);
  // The picture: the vessel is outside the drawn lung (a contour goes round it) and nothing on it is hatched.
  const near = (i: number) => { const x = i % 384, y = Math.floor(i / 384); return x >= 148 && x < 178 && y >= 158 && y < 196; };
  const layers = lungLayers(seg, b.mask, 384, 384, b.islands);
  let outline = 0, hatched = 0;
  layers.outline.forEach((v, i) => { if (v && near(i)) outline++; });
  layers.involved.forEach((v, i) => { if (v && near(i)) hatched++; });
  assert.ok(outline > 40, `a contour round the vessel: ${outline} px`);
  assert.equal(hatched, 0);
  const ggo = findLungs(drawn(100)).involvement!;
  assert.ok(ggo.fraction > clear.fraction + 0.01, `ground glass in its place counts (${ggo.fraction} vs ${clear.fraction})`);
});
