/**
 * The blur read inside the lungs (interior-blur.ts), for lungs cut out onto black, whose painted border says nothing
 * of the slice's blur: drawn lungs with vessels, and CT-MD slices cut out as some public sets ship them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { addedInteriorBlur, interiorBlur } from '../src/data/interior-blur.js';
import { addedBlur, edgeBlur } from '../src/data/edge-blur.js';
import { findLungs, sliceBlur } from '../src/data/involvement.js';
import { segmentLungs } from '../src/data/lungs.js';
import { keptRegion } from '../src/data/lung-view.js';
import { gaussianBlur } from '../src/data/band-limit.js';
import { decodeGrey } from '../src/data/decode.js';
import type { GreyImage } from '../src/types.js';
import { REPO, requireShared } from './helpers.js';

/** A chest at 256 px: body, two lungs of parenchyma (grey 40) with 60 round vessels (radius 1-2.5 px, grey 150). */
function chestWithVessels(): GreyImage {
  const s = 256, data = new Uint8Array(s * s);
  const inEllipse = (x: number, y: number, cx: number, cy: number, rx: number, ry: number) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
  const vessels: [number, number, number][] = [];
  for (let k = 0; k < 60; k++) {
    const side = k % 2 ? 176 : 80;
    vessels.push([side - 24 + ((k * 37) % 48), 70 + ((k * 53) % 110), 1 + ((k * 7) % 4) / 2]);
  }
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      let v = 0;
      if (inEllipse(x, y, 128, 130, 120, 100)) v = 150;
      if (inEllipse(x, y, 80, 125, 40, 70) || inEllipse(x, y, 176, 125, 40, 70)) {
        v = 40;
        for (const [cx, cy, r] of vessels) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) v = 150;
      }
      data[y * s + x] = v;
    }
  }
  return { width: s, height: s, data };
}

/** `img` cut to the lungs found on `mask` (radius 0: no rim), everything else black, as a cut-out set ships it. */
function cutOut(img: GreyImage, mask: GreyImage): GreyImage {
  const keep = keptRegion(segmentLungs(mask), img.width, img.height, 0);
  return { ...img, data: img.data.map((v, i) => (keep[i] ? v : 0)) };
}

test('inside the lungs, a sharp slice reads little blur and the same slice blurred reads about what was added', () => {
  const sharpChest = chestWithVessels();
  const sharpRead = addedInteriorBlur(interiorBlur(segmentLungs(sharpChest)));
  assert.ok(sharpRead < 0.5, `sharp: ${sharpRead}`);
  const reads = [1, 1.5, 2].map((sigma) => addedInteriorBlur(interiorBlur(segmentLungs(gaussianBlur(sharpChest, sigma)))));
  // Monotone, and within a factor of about 1.5 of the blur added.
  assert.ok(reads[0] < reads[1] && reads[1] < reads[2], reads.join(' '));
  [1, 1.5, 2].forEach((sigma, k) => assert.ok(reads[k] > 0.6 * sigma && reads[k] < 1.5 * sigma, `blur ${sigma}: read ${reads[k]}`));
});

test('lungs cut out onto black: the border reads no blur (a painted step), so the blur is read inside them', () => {
  const chest = chestWithVessels();
  const blurred = gaussianBlur(chest, 1.5);
  // Blurred first, then cut with a sharp mask: the slice's own blur is there, its border to black is sharp.
  const seg = segmentLungs(cutOut(blurred, chest));
  assert.equal(seg.cutOut, true, seg.reason);
  assert.equal(edgeBlur(seg), null);
  const read = sliceBlur(seg);
  assert.ok(read > 0.9 && read < 2.25, `cut-out blurred by 1.5: ${read}`);
  assert.equal(read, addedInteriorBlur(interiorBlur(seg)));
  // A slice whose border can be read keeps the border's reading.
  const whole = segmentLungs(blurred);
  assert.equal(whole.cutOut, undefined);
  assert.equal(sliceBlur(whole), addedBlur(edgeBlur(whole)));
  // Involvement opens vessels by the blur read: the blurred cut-out reads as the sharp one (0.036), where read as
  // sharp its widened vessels counted as ground glass (0.092 before interior-blur.ts).
  const inv = findLungs(cutOut(blurred, chest)).involvement, sharpInv = findLungs(cutOut(chest, chest)).involvement;
  assert.ok(inv && sharpInv, 'measured');
  assert.ok(inv.vesselRadius > 2.5, `opening radius ${inv.vesselRadius}`);
  assert.ok(Math.abs(inv.fraction - sharpInv.fraction) < 0.015, `involvement blurred ${inv.fraction}, sharp ${sharpInv.fraction}`);
});

test('too little lung deep inside the cut for a reading: none (0 added), not a guess', () => {
  const s = 64, data = new Uint8Array(s * s);
  for (let y = 20; y < 44; y++) for (let x = 10; x < 16; x++) data[y * s + x] = 40 + (x % 3);
  const seg = segmentLungs({ width: s, height: s, data });
  assert.equal(interiorBlur(seg), null);
  assert.equal(addedInteriorBlur(null), 0);
});

test('CT-MD slices cut out onto black after a blur (sigma 1.2): the blur is read inside, and healthy lungs stay clear', { timeout: 120_000 }, async () => {
  requireShared();
  const md = path.resolve(REPO, '../shared/data/covid-ct-md-sample');
  const lines = (await readFile(path.join(md, 'manifest.csv'), 'utf8')).trim().split('\n');
  const head = lines[0].split(',');
  const [pathCol, dxCol] = [head.indexOf('path'), head.indexOf('diagnosis')];
  const reads: number[] = [], edges: number[] = [], normal: number[] = [];
  for (const [i, line] of lines.slice(1).entries()) {
    if (i % 16 !== 0) continue;
    const cols = line.split(',');
    const bytes = await readFile(path.join(md, cols[pathCol]));
    const img = await decodeGrey(bytes);
    const blurred = await decodeGrey(await sharp(bytes).blur(1.2).png().toBuffer());
    const mask = segmentLungs(img);
    if (!mask.found) continue;
    const body = findLungs(blurred);
    const cut = findLungs(cutOut(blurred, img));
    if (!cut.involvement || !body.involvement) continue;
    reads.push(cut.involvement.blur);
    edges.push(body.involvement.blur);
    if (cols[dxCol] === 'Normal') normal.push(cut.involvement.fraction);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  assert.ok(reads.length >= 35, `${reads.length} slices read`);
  // The border of the same blurred slices with their body reads about 1.2; inside the cut-out lungs reads near it
  // (before interior-blur.ts: 0 on every one).
  assert.ok(Math.abs(median(edges) - 1.2) < 0.15, `border reading ${median(edges)}`);
  assert.ok(median(reads) > 0.7 && median(reads) < 1.5, `interior reading ${median(reads)}`);
  // Healthy lungs: the blurred vessels are opened away (median 0.015 on every 4th slice; 0.055 read as sharp).
  assert.ok(normal.length >= 12 && median(normal) < 0.03, `normal slices' involvement ${median(normal)} (${normal.length})`);
});
