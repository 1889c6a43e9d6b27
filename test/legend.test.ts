/**
 * The heatmap's legend is put in the picture corner that hides the least lung (explain, API, PACS pictures).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { legendBox, legendSvg } from '../src/explain/heatmap.js';

const W = 320, H = 240;

/** A lung mask at the picture's size: every pixel except a 200 x 120 block in the given corner. */
function lungsEverywhereBut(corner: 'tl' | 'tr' | 'bl' | 'br'): Uint8Array {
  const m = new Uint8Array(W * H).fill(1);
  const fw = 200, fh = 120;
  const x0 = corner[1] === 'l' ? 0 : W - fw, y0 = corner[0] === 't' ? 0 : H - fh;
  for (let y = y0; y < y0 + fh; y++) for (let x = x0; x < x0 + fw; x++) m[y * W + x] = 0;
  return m;
}

test('without lungs, or when no corner is better, the legend sits bottom-left', () => {
  const plain = legendBox(W, H, false)!;
  assert.equal(plain.x, 2);
  assert.equal(plain.y + plain.h + 2, H);
  assert.deepEqual(legendBox(W, H, true, new Uint8Array(W * H).fill(1)), legendBox(W, H, true));
  assert.equal(legendBox(100, 60, true), null, 'no legend on a picture too small for it');
});

test('the legend moves to the corner free of lung, and covers none of it', () => {
  for (const corner of ['tl', 'tr', 'bl', 'br'] as const) {
    const mask = lungsEverywhereBut(corner);
    const b = legendBox(W, H, true, mask)!;
    assert.equal(b.x + b.w / 2 < W / 2 ? 'l' : 'r', corner[1], `${corner}: x ${b.x}`);
    assert.equal(b.y + b.h / 2 < H / 2 ? 't' : 'b', corner[0], `${corner}: y ${b.y}`);
    let covered = 0;
    for (let y = b.y; y < b.y + b.h; y++) for (let x = b.x; x < b.x + b.w; x++) covered += mask[y * W + x];
    assert.equal(covered, 0, `${corner}: the legend hides ${covered} lung pixels`);
  }
});

test('the drawn legend is where its box says (top-right when the lungs fill the rest)', async () => {
  const box = legendBox(W, H, true, lungsEverywhereBut('tr'))!;
  const svg = legendSvg(W, H, true, box)!;
  const { data } = await sharp(Buffer.from(svg)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const alpha = (x: number, y: number) => data[4 * (y * W + x) + 3];
  assert.ok(alpha(box.x + box.w / 2, box.y + box.h / 2) > 100, 'the legend box is drawn in the top-right corner');
  assert.equal(alpha(10, H - 10), 0, 'nothing is drawn bottom-left, over the lung');
});
