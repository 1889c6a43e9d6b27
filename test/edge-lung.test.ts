/**
 * Lungs cut by the picture's side edge (src/data/edge-lung.ts, docs/lungs-at-edge.md): when a field tighter than the
 * body cuts a lung's lateral part away, its anterior crescent and its posterior part are two dark regions touching
 * the same side edge; both stay lung. The outside air, and gas as dark as it, stays out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { segmentLungs, type LungSegmentation } from '../src/data/lungs.js';
import { cutLungByGrey, edgePartner, type EdgeRegion } from '../src/data/edge-lung.js';
import type { GreyImage } from '../src/types.js';

type Inside = (x: number, y: number) => boolean;
const ellipse = (cx: number, cy: number, rx: number, ry: number): Inside => (x, y) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;

const SIZE = 256;
/**
 * A lung base drawn with a field tighter than the body: the body (grey about 150) is wider than the picture, with
 * outside air (black) above and below it; on each side a lung in two pieces that both run off the side edge, a thin
 * anterior crescent (round the liver's dome) above a larger posterior part. `crescent` paints the anterior pieces as
 * lung (grey about 27, textured) or as gas (black, the outside air's grey); `notch` adds outside air cut into the body
 * from the left edge between the two left pieces.
 */
function tightBase(crescent: 'lung' | 'gas', notch = false): GreyImage {
  const body = ellipse(128, 135, 230, 125);
  const anterior = [ellipse(0, 70, 60, 16), ellipse(256, 70, 60, 16)];
  const posterior = [ellipse(20, 170, 80, 42), ellipse(236, 170, 80, 42)];
  const cut: Inside = (x, y) => x < 30 && y >= 100 && y < 118;
  const data = new Uint8Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      let v = 0;
      const lungTexture = 22 + ((x * 31 + y * 17) % 11);
      if (body(x, y)) v = 150 + ((x * 7 + y * 13) % 9);
      if (posterior.some((f) => f(x, y))) v = lungTexture;
      if (anterior.some((f) => f(x, y))) v = crescent === 'lung' ? lungTexture : 2;
      if (notch && cut(x, y)) v = 0;
      data[y * SIZE + x] = v;
    }
  }
  return { width: SIZE, height: SIZE, data };
}

/** Lung pixels of a segmentation (256 px picture: analysis pixels are picture pixels) where `inside` holds, and its pixels. */
function within(seg: LungSegmentation, inside: Inside): { lung: number; all: number } {
  let lung = 0, all = 0;
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) {
    if (!inside(x, y)) continue;
    all++;
    if (seg.labels[y * SIZE + x]) lung++;
  }
  return { lung, all };
}

test('a lung base whose lungs run off both side edges keeps each lung\'s anterior crescent with its posterior part', () => {
  const seg = segmentLungs(tightBase('lung'));
  assert.ok(seg.found);
  assert.equal(seg.quality.components, 2);
  for (const [side, label, crescent, posterior] of [['left', 1, ellipse(0, 70, 60, 16), ellipse(20, 170, 80, 42)], ['right', 2, ellipse(256, 70, 60, 16), ellipse(236, 170, 80, 42)]] as const) {
    const a = within(seg, crescent), p = within(seg, posterior);
    assert.ok(a.lung >= 0.85 * a.all, `${side} anterior crescent kept as lung: ${a.lung} of ${a.all} px`);
    assert.ok(p.lung >= 0.85 * p.all, `${side} posterior part kept: ${p.lung} of ${p.all} px`);
    // Both pieces carry the same lung's label (the crescent is that lung's, not a third lung).
    assert.equal(seg.labels[(side === 'left' ? 70 * SIZE + 5 : 70 * SIZE + 250)], label);
    assert.equal(seg.labels[(side === 'left' ? 170 * SIZE + 20 : 170 * SIZE + 236)], label);
  }
  // The outside air above and below the body is not lung.
  assert.equal(within(seg, (x, y) => !ellipse(128, 135, 230, 125)(x, y)).lung, 0);
});

test('the same picture: gas as dark as the outside air in the crescents\' place, and outside air cut in from the edge, stay out', () => {
  const gas = segmentLungs(tightBase('gas'));
  assert.ok(gas.found);
  assert.equal(within(gas, (x, y) => ellipse(0, 70, 60, 16)(x, y) || ellipse(256, 70, 60, 16)(x, y)).lung, 0, 'gas pieces at the air\'s grey are not lung');
  assert.ok(within(gas, ellipse(20, 170, 80, 42)).lung > 0.85 * within(gas, ellipse(20, 170, 80, 42)).all, 'the posterior lungs are still found');
  const notched = segmentLungs(tightBase('lung', true));
  assert.ok(notched.found);
  assert.equal(within(notched, (x, y) => x < 30 && y >= 100 && y < 118).lung, 0, 'the outside air along the left edge is not lung');
  assert.ok(within(notched, ellipse(0, 70, 60, 16)).lung > 0, 'the crescent is still lung');
});

const piece = (x0: number, y0: number, x1: number, y1: number, sides: number, area = Math.round(0.7 * (x1 - x0) * (y1 - y0))): EdgeRegion =>
  ({ area, x0, y0, x1, y1, sides });

test('edgePartner: a piece on the same side edge above or below the lung, grey as lung, within a lung height', () => {
  const lung = piece(0, 114, 128, 212, 1);
  const greys = { region: 77, air: 61, lung: 75 };
  assert.ok(edgePartner(lung, piece(0, 42, 66, 78, 1), greys), 'the anterior crescent above');
  assert.ok(!edgePartner(lung, piece(200, 42, 256, 78, 2), greys), 'a piece on the other edge');
  assert.ok(!edgePartner(lung, piece(0, 120, 40, 200, 1), greys), 'beside the lung (overlapping it top to bottom)');
  assert.ok(!edgePartner(piece(0, 150, 60, 200, 1), piece(0, 0, 60, 30, 1), greys), 'farther than the lung\'s height');
  assert.ok(!edgePartner(lung, piece(0, 90, 10, 100, 1, 50), greys), 'tiny next to the lung');
  assert.ok(!edgePartner(lung, piece(0, 42, 66, 78, 1), { ...greys, region: 62 }), 'as dark as the outside air (gas)');
  assert.ok(!edgePartner(lung, piece(0, 42, 66, 78, 1), { ...greys, air: NaN }), 'no outside air to compare with');
  assert.ok(!edgePartner(lung, piece(0, 42, 256, 78, 3), greys), 'a band from edge to edge');
});

test('cutLungByGrey: nearer the lungs\' grey than the air\'s, only when the two are told apart', () => {
  assert.ok(cutLungByGrey({ region: 70, air: 60, lung: 80 }));
  assert.ok(!cutLungByGrey({ region: 69, air: 60, lung: 80 }));
  assert.ok(!cutLungByGrey({ region: 80, air: 75, lung: 80 }), 'lungs within 10 greys of the air: no decision');
});
