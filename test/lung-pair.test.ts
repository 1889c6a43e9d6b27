/**
 * The lung pair by anatomy (src/data/lung-pair.ts, docs/lung-pair.md): when the two largest dark regions of a slice
 * are not side by side at similar heights (a gas bubble under a lung, another picture's lung under ours), the
 * largest pair that is replaces them; a crescent lung whose hollow is cut away still counts as inside the body.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { segmentLungs, type LungSegmentation } from '../src/data/lungs.js';
import { chooseLungPair, nothingBetween, sideBySide, type Region } from '../src/data/lung-pair.js';
import { keptLungMask } from '../src/eval/audit.js';
import { maskDice } from '../src/data/morphology.js';
import type { GreyImage } from '../src/types.js';

type Inside = (x: number, y: number) => boolean;
const ellipse = (cx: number, cy: number, rx: number, ry: number): Inside => (x, y) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;

/**
 * A drawn slice, size x size: black air, soft-tissue bodies (grey about 150), lungs (about 27, with texture), air
 * bubbles (black, as outside air) and bright masses (230), later shapes over earlier ones.
 */
function draw(size: number, shapes: [kind: 'body' | 'lung' | 'gas' | 'mass', inside: Inside][]): GreyImage {
  const data = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 0;
      for (const [kind, inside] of shapes) {
        if (!inside(x, y)) continue;
        v = kind === 'body' ? 150 + ((x * 7 + y * 13) % 9) : kind === 'lung' ? 22 + ((x * 31 + y * 17) % 11) : kind === 'gas' ? 2 : 230;
      }
      data[y * size + x] = v;
    }
  }
  return { width: size, height: size, data };
}

/** The analysis-size mask of the pixels where `inside` holds (analysis pixel centres mapped back to the slice). */
function truth(seg: LungSegmentation, size: number, inside: Inside): Uint8Array {
  const { width: w, height: h } = seg.analysis;
  const m = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = inside(((x + 0.5) * size) / w, ((y + 0.5) * size) / h) ? 1 : 0;
  return m;
}
const lungMask = (seg: LungSegmentation) => seg.labels.map((v) => (v ? 1 : 0));
const union = (...fs: Inside[]): Inside => (x, y) => fs.some((f) => f(x, y));

const region = (cx: number, cy: number, rx: number, ry: number, area = Math.round(Math.PI * rx * ry)): Region =>
  ({ area, cx, cy, x0: cx - rx, y0: cy - ry, x1: cx + rx, y1: cy + ry });

test('sideBySide and nothingBetween on boxes: stacked, diagonal and nested regions are not a pair; the trachea between is', () => {
  const left = region(70, 120, 40, 70), right = region(186, 120, 40, 70);
  assert.ok(sideBySide(left, right));
  assert.ok(!sideBySide(left, region(75, 230, 35, 25)), 'a region under the left lung');
  assert.ok(!sideBySide(left, region(186, 250, 40, 50)), 'diagonal: the boxes overlap top to bottom by less than half');
  assert.ok(!sideBySide(region(70, 120, 60, 90), region(80, 120, 30, 50)), 'one inside the other');
  assert.ok(nothingBetween(left, right, [left, right, region(128, 80, 10, 10, 900)]), 'a large trachea on the midline');
  assert.ok(nothingBetween(left, right, [left, right, region(150, 120, 8, 8)]), 'a small region (a bronchus) off the midline');
  assert.ok(!nothingBetween(left, right, [left, right, region(100, 120, 30, 60)]), 'a lung-sized region off the midline');
});

test('chooseLungPair: the two largest stay when side by side; otherwise the largest pair that is, if not much smaller', () => {
  const left = region(70, 120, 40, 70), right = region(186, 120, 34, 60), below = region(75, 235, 40, 40);
  // The two largest side by side: kept, whatever else there is.
  assert.deepEqual(chooseLungPair([left, right, below], [0, 1], 256), [0, 1]);
  // The two largest are a lung and a region under it: the pair side by side replaces them.
  const big = region(75, 235, 48, 48);
  assert.ok(big.area > right.area);
  assert.deepEqual(chooseLungPair([left, big, right], [0, 1], 256), [0, 2]);
  // ... unless what is side by side is small (less than half their joint area): then they stay.
  assert.deepEqual(chooseLungPair([left, region(75, 235, 45, 45, 20000), region(186, 120, 34, 60, 3000)], [0, 1], 256), [0, 1]);
  // A single lung stays single.
  assert.deepEqual(chooseLungPair([left, right], [0], 256), [0]);
  // The replacing pair has nothing lung-sized between its two, away from the midline.
  const midPiece = region(100, 120, 20, 60);
  assert.deepEqual(chooseLungPair([left, big, right, midPiece], [0, 1], 256), [2, 3], 'the pair without a lung between');
  // A small central region (the trachea) is never half of a pair.
  assert.deepEqual(chooseLungPair([left, big, region(128, 110, 12, 12)], [0, 1], 256), [0, 1]);
  // A region that may not be a lung at all (eligible: the trachea, by its size on the midline) is never chosen, but
  // still stands between: here the replacing pair (left, right) is given up when `right` is not eligible.
  assert.deepEqual(chooseLungPair([left, big, right], [0, 1], 256, (i) => i !== 2), [0, 1]);
  assert.deepEqual(chooseLungPair([left, big, right, midPiece], [0, 1], 256, (i) => i !== 3), [0, 1], 'the piece between still blocks left-right');
});

test('a gas bubble under one lung, larger than the other lung: both lungs are chosen, not the bubble', () => {
  const size = 384;
  const body = ellipse(192, 200, 180, 165);
  const lungL = ellipse(115, 160, 55, 75), lungR = ellipse(272, 165, 32, 48), bubble = ellipse(120, 285, 50, 34);
  const img = draw(size, [['body', body], ['lung', lungL], ['lung', lungR], ['gas', bubble]]);
  const seg = segmentLungs(img);
  assert.ok(seg.found);
  assert.equal(seg.quality.components, 2);
  const b = truth(seg, size, bubble), r = truth(seg, size, lungR);
  assert.ok(b.reduce((a, v) => a + v, 0) > r.reduce((a, v) => a + v, 0), 'the bubble is larger than the right lung');
  const d = maskDice(lungMask(seg), truth(seg, size, union(lungL, lungR)));
  assert.ok(d >= 0.9, `lungs Dice ${d.toFixed(3)}`);
  let onBubble = 0;
  for (let i = 0; i < b.length; i++) if (b[i] && seg.labels[i]) onBubble++;
  assert.equal(onBubble, 0, 'no bubble pixel is lung');
});

test('another picture\'s lung under ours (a two-panel figure): our pair, not a lung of each picture', () => {
  const size = 384;
  // Upper panel: a chest with two lungs; lower panel: another slice whose one visible lung is larger than our smaller one.
  const upper = ellipse(192, 110, 170, 95), lower = ellipse(192, 300, 150, 75);
  const lungL = ellipse(115, 110, 55, 70), lungR = ellipse(270, 110, 45, 62), other = ellipse(250, 300, 70, 48);
  const img = draw(size, [['body', upper], ['body', lower], ['lung', lungL], ['lung', lungR], ['lung', other]]);
  const seg = segmentLungs(img);
  assert.ok(seg.found);
  assert.equal(seg.quality.components, 2);
  const d = maskDice(lungMask(seg), truth(seg, size, union(lungL, lungR)));
  assert.ok(d >= 0.9, `our lungs Dice ${d.toFixed(3)}`);
});

test('a crescent lung around a bright mass is still inside the body when its surroundings and hollow become outside air', () => {
  const size = 384;
  const body = ellipse(192, 200, 180, 165);
  const outer = ellipse(112, 195, 70, 105), mass = ellipse(128, 195, 64, 96);
  const crescent: Inside = (x, y) => outer(x, y) && !mass(x, y);
  const lungR = ellipse(276, 195, 55, 95);
  const img = draw(size, [['body', body], ['lung', outer], ['mass', mass], ['lung', lungR]]);
  let sx = 0, sy = 0, n = 0;
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if (crescent(x, y)) { sx += x; sy += y; n++; }
  assert.ok(mass(sx / n, sy / n), 'the crescent\'s centroid lies in the mass it wraps');
  const seg = segmentLungs(img);
  assert.ok(seg.found);
  assert.equal(seg.quality.components, 2, 'both lungs on the slice itself');
  // Everything beyond the kept margin (the mass in the hollow too) becomes black, as the outside air: each lung with
  // its rim is then a piece of tissue of its own, and the crescent's centroid lies in the air.
  const keep = keptLungMask(img)!;
  const cut: GreyImage = { ...img, data: img.data.map((v, i) => (keep[i] ? v : 0)) };
  const s2 = segmentLungs(cut);
  assert.ok(s2.found);
  assert.equal(s2.quality.components, 2, 'both lungs with the outside cut away');
  const d = maskDice(lungMask(s2), truth(s2, size, union(crescent, lungR)));
  assert.ok(d >= 0.9, `lungs Dice ${d.toFixed(3)}`);
});
