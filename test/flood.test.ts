/** flood4 (src/data/flood.ts): 4-connected regions of small hand-drawn pictures, against what is drawn. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flood4 } from '../src/data/flood.js';
import { LUNG_SHAPE, lungShaped, runsAlongEdge } from '../src/data/lung-shape.js';

/** A picture from rows of '#' (set) and '.' (unset). */
const draw = (rows: string[]) => ({ w: rows[0].length, h: rows.length, set: Uint8Array.from(rows.join(''), (c) => (c === '#' ? 1 : 0)) });

test('flood4 takes the 4-connected region of its seed, not what touches it only diagonally nor across the picture\'s edge', () => {
  const { w, h, set } = draw([
    '##..#',
    '#...#',
    '..#..',
    '#...#',
  ]);
  const mark = new Uint8Array(w * h);
  const enter = (j: number) => (set[j] && !mark[j] ? (mark[j] = 1, true) : false);
  // Top-left L: 3 px; the diagonal (2,2) and the right column's pixels (which a wrap from x = 0 would reach) are apart.
  assert.equal(flood4(w, h, [0], enter), 3);
  assert.deepEqual([...mark].map((v, i) => (v ? i : -1)).filter((i) => i >= 0), [0, 1, 5]);
  assert.equal(flood4(w, h, [4], enter), 2, 'the right column\'s top two');
  assert.equal(flood4(w, h, [0], enter), 0, 'taken pixels are not taken again');
  assert.equal(flood4(w, h, [12], enter), 1);
});

test('flood4 from several seeds takes their union once, depth first, and reports the order', () => {
  const { w, h, set } = draw([
    '###',
    '...',
    '###',
  ]);
  const mark = new Uint8Array(w * h);
  const order: number[] = [];
  const n = flood4(w, h, [0, 2, 6], (j) => (set[j] && !mark[j] ? (mark[j] = 1, true) : false), (i) => order.push(i));
  assert.equal(n, 6);
  assert.deepEqual([...order].sort((a, b) => a - b), [0, 1, 2, 6, 7, 8]);
  // The last seed pushed is taken first, then its right neighbour (depth first from one stack).
  assert.deepEqual(order.slice(0, 2), [6, 7]);
});

test('lungShaped: an ellipse is a lung; a thin band, a filled box and a ring without a core are not', () => {
  // An ellipse 40 x 60: fills pi/4 of its box, half-thickness 20, most of it 2 px or more inside.
  const ellipse = { area: Math.round(Math.PI * 20 * 30), core: Math.round(Math.PI * 18 * 28), halfThickness: 20, x0: 0, y0: 0, x1: 40, y1: 60 };
  assert.equal(lungShaped(ellipse), true);
  assert.equal(lungShaped({ ...ellipse, halfThickness: 2 }), false, 'thinner than 2.5 px');
  assert.equal(lungShaped({ ...ellipse, x1: 200, halfThickness: 9 }), false, 'a band: half-thickness under 5% of its length');
  assert.equal(lungShaped({ ...ellipse, area: 40 * 60, core: 36 * 56 }), false, 'fills its box');
  assert.equal(lungShaped({ ...ellipse, core: Math.floor(0.39 * ellipse.area) }), false, 'no solid core (an outline)');
  assert.equal(runsAlongEdge(40, 1600), false, 'a lung cut by the crop over 40 px of 1600');
  assert.equal(runsAlongEdge(100, 1600), true, 'outside air along the edge');
  assert.ok(LUNG_SHAPE.minFraction > 0 && Object.isFrozen(LUNG_SHAPE));
});
