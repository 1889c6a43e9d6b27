/**
 * "A colour picture is not a CT slice" (src/data/colour.ts): the share of strongly coloured pixels on known
 * pictures made here, a colour cast that leaves a grey picture grey, the decoders that measure it (PNG/JPEG in
 * decode.ts; grey files are not measured), and the shipped default through predict's scoring path: the CT-like
 * phantom painted in colours is NotCT with the colour reason, the same phantom under a warm cast reads as the
 * grey one does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { COLOUR_LIMITS, colourRefusal, colourShare } from '../src/data/colour.js';
import { decodeGrey } from '../src/data/decode.js';
import { findLungs } from '../src/data/involvement.js';
import { loadEngine } from '../src/model/load-engine.js';
import { scoreFiles } from '../src/predict/score-files.js';
import { REPO, colourPng, lungPhantom } from './helpers.js';

/** w x h RGB(A) pixels from a function of the pixel index. */
function picture(w: number, h: number, channels: 3 | 4, at: (i: number) => [number, number, number]): Uint8Array {
  const px = new Uint8Array(w * h * channels).fill(255);
  for (let i = 0; i < w * h; i++) px.set(at(i), i * channels);
  return px;
}

test('colourShare: grey is 0, a quarter of red on white is 0.25, a cast grey ramp stays 0, RGBA reads as RGB', () => {
  const grey = picture(64, 64, 3, (i) => [i % 256, i % 256, i % 256]);
  assert.equal(colourShare(grey, 64, 64, 3), 0);
  // 16 of 64 columns pure red: the median chromaticity is white's, so no correction, and exactly those are coloured.
  const redQuarter = (i: number): [number, number, number] => (i % 64 < 16 ? [255, 0, 0] : [255, 255, 255]);
  assert.equal(colourShare(picture(64, 64, 3, redQuarter), 64, 64, 3), 0.25);
  assert.equal(colourShare(picture(64, 64, 4, redQuarter), 64, 64, 4), 0.25);
  // A warm and a cold cast multiply the channels: the median chromaticity takes them away.
  for (const k of [[1, 0.8, 0.6], [0.6, 0.8, 1]]) {
    const cast = picture(64, 64, 3, (i) => [Math.round((i % 256) * k[0]), Math.round((i % 256) * k[1]), Math.round((i % 256) * k[2])]);
    assert.ok(colourShare(cast, 64, 64, 3) < 0.01, `cast ${k}: ${colourShare(cast, 64, 64, 3)}`);
  }
  // Without the correction the cast would count: check that the test can fail.
  const raw = picture(64, 64, 3, (i) => [i % 256, Math.round(0.6 * (i % 256)), Math.round(0.3 * (i % 256))]);
  assert.ok(colourShare(raw, 64, 64, 3) < 0.01);
  // A large picture is read on a grid of every k-th row and column: the share is still the share.
  const W = 1200, H = 900;
  assert.ok(W * H > COLOUR_LIMITS.samples);
  const big = colourShare(picture(W, H, 3, (i) => (i % W < W / 4 ? [200, 30, 30] : [128, 128, 128])), W, H, 3);
  assert.ok(Math.abs(big - 0.25) < 0.01, `large picture: ${big}`);
  assert.throws(() => colourShare(new Uint8Array(10), 4, 4, 3), RangeError);
});

test('colourRefusal: nothing for a grey picture or a few coloured marks, a reason with the share above 10%', () => {
  assert.equal(colourRefusal(undefined), undefined);
  assert.equal(colourRefusal(0), undefined);
  assert.equal(colourRefusal(COLOUR_LIMITS.maxShare), undefined);
  assert.match(colourRefusal(0.42) ?? '', /^a colour picture \(42% of its pixels strongly coloured\)/);
});

test('decodeGrey measures colour in colour files only; the grey it returns is unchanged', async () => {
  const ct = lungPhantom(192);
  const greyRaw = sharp(Buffer.from(ct.data), { raw: { width: 192, height: 192, channels: 1 } });
  assert.equal((await decodeGrey(await greyRaw.clone().toColourspace('b-w').png().toBuffer())).colourShare, undefined, 'a grey PNG is not measured');
  // sharp stores a one-channel raw picture as an RGB PNG of equal channels: measured, and 0.
  assert.equal((await decodeGrey(await greyRaw.clone().png().toBuffer())).colourShare, 0);
  const hues = await colourPng(ct, 'hues');
  const decoded = await decodeGrey(hues);
  assert.ok((decoded.colourShare ?? 0) > COLOUR_LIMITS.maxShare, `hues: ${decoded.colourShare}`);
  const direct = await sharp(hues).greyscale().raw().toBuffer();
  assert.deepEqual(Buffer.from(decoded.data), direct, 'the grey is libvips\' own, as before');
  const cast = await decodeGrey(await sharp(await colourPng(ct, 'cast')).jpeg({ quality: 90 }).toBuffer());
  assert.ok(cast.colourShare !== undefined && cast.colourShare < 0.01, `cast JPEG: ${cast.colourShare}`);
  // findLungs refuses the colour picture first, with the colour reason; the segmentation is still its own.
  const f = findLungs(decoded);
  assert.equal(f.findings.found, false);
  assert.match(f.findings.reason ?? '', /^not like a CT slice: a colour picture/);
  assert.deepEqual(f.seg, findLungs({ width: decoded.width, height: decoded.height, data: decoded.data }).seg);
});

test('shipped default: the phantom in colours is NotCT for its colour; under a warm cast it reads as the grey one', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-colour-'));
  const engine = await loadEngine(path.join(REPO, 'models/default'), 'onnx');
  try {
    const ct = lungPhantom(384, true);
    const files: string[] = [];
    for (const [name, bytes] of [
      ['grey.png', await sharp(Buffer.from(ct.data), { raw: { width: 384, height: 384, channels: 1 } }).png().toBuffer()],
      ['hues.png', await colourPng(ct, 'hues')],
      ['cast.png', await colourPng(ct, 'cast')],
    ] as const) {
      files.push(path.join(dir, name));
      await writeFile(files.at(-1)!, bytes);
    }
    const [grey, hues, cast] = await scoreFiles(engine, files);
    assert.notEqual(grey.label, 'NotCT', grey.reason);
    assert.equal(hues.label, 'NotCT');
    assert.match(hues.reason ?? '', /a colour picture \(\d+% of its pixels strongly coloured\)/);
    assert.equal(typeof hues.probability, 'number', 'the raw P is kept for research');
    assert.notEqual(cast.label, 'NotCT', cast.reason);
    assert.equal(cast.reason, undefined);
  } finally {
    engine.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
