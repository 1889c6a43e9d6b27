/**
 * Solid islands the lung mask encloses (src/data/enclosed-tissue.ts): an organ's dome is left out of the
 * involvement measure, a consolidation is not. Synthetic pictures only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { enclosedTissue, hullArea } from '../src/data/enclosed-tissue.js';
import { findLungs } from '../src/data/involvement.js';
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
