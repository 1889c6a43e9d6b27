/**
 * The heatmap's legend is a strip under the slice (explain, API, PACS pictures): it hides none of the slice, it says
 * what the colours mean, and a picture asked for without it is the slice's own size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { legendSvg, overlayPng, LEGEND_MIN_WIDTH } from '../src/explain/heatmap.js';
import { findLungs } from '../src/data/involvement.js';
import { lungPhantom } from './helpers.js';
import type { ActivationMap } from '../src/model/onnx-engine.js';

/** A map hottest in its top-left cell (8 x 8 cells). */
const MAP: ActivationMap = { grid: 8, values: Float32Array.from({ length: 64 }, (_, i) => (i === 0 ? 1 : 0.1)) };

test('the legend says what the colours mean, in words, and scales with the picture', () => {
  const full = legendSvg(320, true)!;
  for (const words of ['heat: evidence towards COVID', 'none', 'this slice\'s max', 'involved lung', 'lung outline']) {
    assert.ok(full.svg.includes(words), `the legend says "${words}"`);
  }
  assert.ok(!legendSvg(320, false)!.svg.includes('lung outline'), 'no lung swatches when no lungs are drawn');
  const refused = legendSvg(320, true, false)!;
  assert.ok(refused.svg.includes('lungs found (not read)') && !refused.svg.includes('evidence'), 'a refused slice: the outline only');
  assert.ok(refused.height < full.height);
  assert.equal(legendSvg(320, false, false), null, 'nothing to explain: no legend');
  assert.equal(legendSvg(LEGEND_MIN_WIDTH - 1, true), null, 'no legend on a picture too narrow for it');
  assert.ok(legendSvg(256, true)!.height < full.height && legendSvg(1024, true)!.height === full.height, 'scaled down below 320 px, never up');
});

test('the strip goes under the slice: every pixel of the slice is as without a legend, and the strip is drawn', async () => {
  const img = lungPhantom(256, true);
  const found = findLungs(img);
  assert.ok(found.seg.found);
  const lungs = { seg: found.seg, involved: found.involvement?.mask ?? null };
  const withLegend = await sharp(await overlayPng(img, MAP, 'cover', Infinity, lungs)).raw().toBuffer({ resolveWithObject: true });
  const without = await sharp(await overlayPng(img, MAP, 'cover', Infinity, lungs, false)).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([without.info.width, without.info.height], [256, 256], 'without the legend: the slice\'s size');
  const strip = legendSvg(256, true)!;
  assert.deepEqual([withLegend.info.width, withLegend.info.height], [256, 256 + strip.height], 'with it: the strip below');
  const c = withLegend.info.channels;
  assert.equal(c, without.info.channels);
  assert.ok(withLegend.data.subarray(0, 256 * 256 * c).equals(without.data.subarray(0, 256 * 256 * c)), 'the slice is not covered');
  // The strip holds the heat colours' bar (warm and cold pixels) and white text on black.
  let warm = 0, cold = 0, white = 0;
  for (let i = 256 * 256; i < 256 * withLegend.info.height; i++) {
    const [r, g, b] = [withLegend.data[i * c], withLegend.data[i * c + 1], withLegend.data[i * c + 2]];
    if (r > 180 && b < 80) warm++;
    if (b > 150 && r < 80) cold++;
    if (r > 200 && g > 200 && b > 200) white++;
  }
  assert.ok(warm > 20 && cold > 20 && white > 50, `strip: ${warm} warm, ${cold} cold, ${white} white pixels`);
});

test('on a narrow picture the swatches go under the bar, so the text stays readable', async () => {
  const cyanAt = async (width: number) => {
    const strip = legendSvg(width, true)!;
    const { data, info } = await sharp(Buffer.from(strip.svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    let left = 0, right = 0, bottom = 0;
    for (let y = 0; y < info.height; y++) for (let x = 0; x < info.width; x++) {
      const i = (y * info.width + x) * info.channels;
      if (data[i] < 60 && data[i + 1] > 180 && data[i + 2] > 180) {
        if (x < width / 2) left++; else right++;
        if (y > (info.height * 2) / 3) bottom++;
      }
    }
    return { left, right, bottom, height: strip.height };
  };
  const wide = await cyanAt(320), narrow = await cyanAt(180);
  assert.ok(wide.right > 10 && wide.left === 0, `320 px: the outline swatch beside the bar (${JSON.stringify(wide)})`);
  assert.ok(narrow.left > 10 && narrow.right === 0 && narrow.bottom > 10, `180 px: under it (${JSON.stringify(narrow)})`);
  assert.ok(narrow.height > legendSvg(240, true)!.height, 'the stacked strip is taller');
});

test('a map of the fall of P is drawn on one scale for every slice: a clear lung\'s small falls stay faint', async () => {
  const { heatFullScale } = await import('../src/explain/lung-evidence.js');
  const { overlayRgb } = await import('../src/explain/cam-overlay.js');
  assert.equal(heatFullScale('P', 0.2393), 0.2393);
  assert.equal(heatFullScale('logit', 0.2393), undefined, 'a logit map keeps its own maximum');
  const image = { width: 4, height: 1, data: new Uint8Array([100, 100, 100, 100]) };
  const colourOf = (rgb: Uint8Array, i: number) => Math.max(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]) - Math.min(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]);
  // A clear lung: its largest fall of P is 0.01. Scaled to its own maximum it turns red; on the fixed scale it stays faint.
  const small = new Float32Array([0, 0.005, 0.01, 0.01]);
  const relative = overlayRgb(image, small), fixed = overlayRgb(image, small, 0.6, 0.2393);
  assert.ok(colourOf(relative, 3) > 60, `relative: the clear lung's top cell in strong colour (${colourOf(relative, 3)})`);
  assert.ok(colourOf(fixed, 3) < colourOf(relative, 3) / 2, `fixed scale: faint (${colourOf(fixed, 3)})`);
  // A fall at or past the threshold is full colour (red), not more.
  const big = overlayRgb(image, new Float32Array([0, 0.1, 0.2393, 0.5]), 0.6, 0.2393);
  assert.deepEqual([...big.subarray(6, 9)], [...big.subarray(9, 12)], 'values past full scale are drawn as it');
  assert.ok(big[9] > big[11] + 40, 'full colour is the warm end');
  // The legend says what full colour means.
  assert.ok(legendSvg(320, true, true, 0.2393)!.svg.includes('P falls by &#8805; 0.24'));
  assert.ok(legendSvg(320, true, true)!.svg.includes('this slice\'s max'));
});
