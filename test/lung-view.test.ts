/**
 * What the lungs-only view shows of the slice (src/data/lung-view.ts): the lungs and their rim of chest wall and
 * mediastinum, never a picture's own background (docs/lung-view-body.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { segmentLungs } from '../src/data/lungs.js';
import { lungView, keptRegion, shownRegion, DEFAULT_LUNG_FRAMING } from '../src/data/lung-view.js';
import { lungPhantom } from './helpers.js';

const { dilate, lungGrey } = DEFAULT_LUNG_FRAMING;

test('a scan: the view shows the whole kept region (the lungs\' rim lies in the body)', () => {
  const img = lungPhantom(384);
  const seg = segmentLungs(img);
  assert.ok(seg.found);
  const kept = keptRegion(seg, img.width, img.height, dilate);
  assert.ok(kept.some((v, i) => v && img.data[i] >= 150), 'the kept region reaches the chest wall');
  assert.deepEqual(shownRegion(seg, img, dilate), kept);
});

test('lungs a set ships cut out on black: no dark ring round them in the view', () => {
  const img = lungPhantom(384);
  const seg = segmentLungs(img);
  // The lungs and a 2-analysis-px rim of the slice, black elsewhere (as some public sets ship their slices).
  const rim = keptRegion(seg, img.width, img.height, 2);
  const cut = { ...img, data: img.data.map((v, i) => (rim[i] ? v : 0)) };
  const segCut = segmentLungs(cut);
  assert.ok(segCut.found, segCut.reason);
  const view = lungView(segCut, cut), plain = lungView(seg, img);
  // Healthy lung is at lungGrey in the view; black background would be far below it (calibrated air is < 0).
  const dark = (g: { data: Uint8Array }) => g.data.filter((v) => v < lungGrey - 25).length;
  assert.equal(dark(plain), 0, 'the scan\'s own view has no such pixel');
  assert.ok(dark(view) < 0.001 * view.data.length, `${dark(view)} pixels darker than the lungs in the view of the cut-out lungs`);
  // What was black in the kept region is now shown as the view's fill, like everything else not shown.
  const keptCut = keptRegion(segCut, cut.width, cut.height, dilate), shownCut = shownRegion(segCut, cut, dilate);
  // The body is found on the analysis grid (1.5 slice px here), so rim pixels next to the background may go with it.
  const nearBlack = (i: number) => {
    const x = i % cut.width, y = Math.floor(i / cut.width);
    for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) if (cut.data[(y + dy) * cut.width + x + dx] === 0) return true;
    return false;
  };
  let hidden = 0;
  for (let i = 0; i < keptCut.length; i++) if (keptCut[i] && !shownCut[i]) { hidden++; assert.ok(nearBlack(i), `pixel ${i} (grey ${cut.data[i]}) hidden`); }
  assert.ok(hidden > 0, 'the black ring was in the kept region');
});
