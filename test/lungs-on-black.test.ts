/**
 * Lungs cut out onto black with no rim of chest wall (some public sets ship their slices so): found (cut-out.ts),
 * read, outlined on the lungs; shapes on black that are no CT (flat or two-tone blobs, noise) still refused.
 * Synthetic pictures only (test/helpers.ts's phantom), never a dataset image.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import os from 'node:os';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { findLungs } from '../src/data/involvement.js';
import { segmentLungs } from '../src/data/lungs.js';
import { keptRegion, lungView } from '../src/data/lung-view.js';
import { cutOutLungs } from '../src/data/cut-out.js';
import { OUTLINE_RGB } from '../src/explain/cam-overlay.js';
import type { GreyImage } from '../src/types.js';
import { lungPhantom, runCli } from './helpers.js';

/** The phantom cut to its own lung mask (radius 0: no rim), everything else black. */
function phantomOnBlack(size = 256): { cut: GreyImage; whole: GreyImage; keep: Uint8Array } {
  const whole = lungPhantom(size);
  const keep = keptRegion(segmentLungs(whole), size, size, 0);
  return { cut: { ...whole, data: whole.data.map((v, i) => (keep[i] ? v : 0)) }, whole, keep };
}

/** Two ellipses side by side on black, filled by `fill(x, y)`: an icon-like picture, 256 px. */
function blobsOnBlack(fill: (x: number, y: number) => number): GreyImage {
  const s = 256, data = new Uint8Array(s * s);
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const a = ((x - 80) / 40) ** 2 + ((y - 128) / 60) ** 2 <= 1, b = ((x - 176) / 40) ** 2 + ((y - 128) / 60) ** 2 <= 1;
      if (a || b) data[y * s + x] = fill(x, y);
    }
  }
  return { width: s, height: s, data };
}

const png = (img: GreyImage) => sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 1 } }).png().toBuffer();

test('lungs cut out onto black with no rim are found: the two non-black regions, left and right, and read', () => {
  const { cut, whole, keep } = phantomOnBlack(256);
  // Without a rim the lungs are no dark region enclosed by tissue: the search alone finds none (as before cut-out.ts).
  const r = findLungs(cut);
  assert.equal(r.seg.found, true, r.seg.reason);
  assert.equal(r.seg.cutOut, true);
  assert.equal(r.seg.quality.components, 2);
  assert.equal(r.findings.found, true, r.findings.reason);
  // The lungs are the cut's regions: every lung pixel is one the picture's maker kept, and nearly all kept are lung.
  let lung = 0, kept = 0, both = 0;
  for (let i = 0; i < keep.length; i++) { if (r.seg.labels[i]) lung++; if (keep[i]) kept++; if (keep[i] && r.seg.labels[i]) both++; }
  assert.equal(both, lung, 'no lung pixel on the black');
  assert.ok(both >= 0.98 * kept, `${both} of ${kept} kept pixels are lung`);
  // Label 1 is the lung on the picture's left.
  const x = (label: number) => { let s = 0, n = 0; r.seg.labels.forEach((v, i) => { if (v === label) { s += i % 256; n++; } }); return s / n; };
  assert.ok(x(1) < 128 && x(2) > 128, `${x(1)} ${x(2)}`);
  // Involvement is measured inside the lungs: the phantom's ground glass reads as it does in the whole slice.
  const full = findLungs(whole);
  assert.ok(r.involvement && full.involvement, 'involvement measured');
  assert.ok(r.involvement.fraction > 0.02, `involvement ${r.involvement.fraction}`);
  assert.ok(Math.abs(r.involvement.fraction - full.involvement.fraction) < 0.01, `${r.involvement.fraction} vs ${full.involvement.fraction}`);
  // The view shows the lungs on the soft-tissue grey, no black ring of the cut: its darkest grey is the lungs'.
  const view = lungView(r.seg, cut);
  const dark = view.data.filter((v) => v < 10).length;
  assert.ok(dark < 0.01 * view.data.length, `${dark} near-black view pixels`);
});

test('the whole phantom is still found by the search, not as a cut-out; a picture without black is no cut-out', () => {
  const whole = lungPhantom(256);
  const seg = segmentLungs(whole);
  assert.equal(seg.found, true);
  assert.equal(seg.cutOut, undefined);
  const grey = { width: 64, height: 64, data: Uint8Array.from({ length: 64 * 64 }, (_, i) => 40 + (i % 7) * 20) };
  assert.deepEqual(cutOutLungs(grey), { reason: 'no black background' });
});

test('a slice without lungs turned by 30 degrees (black corners) is no cut-out: the black does not surround one region', async () => {
  // Grey air and a body of grainy soft tissue, no lungs (a neck or an abdomen slice), turned: sharp fills the corners black.
  const s = 256, data = new Uint8Array(s * s);
  for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) data[y * s + x] = ((x - 128) / 100) ** 2 + ((y - 128) / 80) ** 2 <= 1 ? 150 + ((x * 7 + y * 13) % 9) : 55 + ((x * 3 + y * 5) % 5);
  const turned = await sharp(await png({ width: s, height: s, data })).rotate(30).raw().toBuffer({ resolveWithObject: true });
  const img: GreyImage = { width: turned.info.width, height: turned.info.height, data: new Uint8Array(turned.data.buffer, turned.data.byteOffset, turned.data.length).filter((_, i) => i % turned.info.channels === 0) };
  const seg = segmentLungs(img);
  assert.equal(seg.found, false);
  assert.deepEqual(cutOutLungs(seg.analysis), { reason: 'the black does not surround one region' });
});

test('a lungs-only picture saved as JPEG 75 is found as well: the rings JPEG leaves round the cut go back to the black', async () => {
  const { cut, keep } = phantomOnBlack(256);
  const jpeg = await sharp(await png(cut)).jpeg({ quality: 75 }).raw().toBuffer({ resolveWithObject: true });
  const img: GreyImage = { width: 256, height: 256, data: new Uint8Array(jpeg.data.buffer, jpeg.data.byteOffset, jpeg.data.length).filter((_, i) => i % jpeg.info.channels === 0) };
  const r = findLungs(img);
  assert.equal(r.seg.cutOut, true, r.seg.reason);
  assert.equal(r.findings.found, true, r.findings.reason);
  let outside = 0;
  for (let i = 0; i < keep.length; i++) if (r.seg.labels[i] && !keep[i]) outside++;
  assert.ok(outside < 50, `${outside} lung pixels outside the cut`);
});

test('shapes on black that are no CT are refused: flat and two-tone blobs (an icon), noise in two ellipses', () => {
  const cases: [string, GreyImage, RegExp][] = [
    ['flat blobs', blobsOnBlack(() => 120), /no image noise or fine structure/],
    ['two greys', blobsOnBlack((_, y) => (y < 128 ? 90 : 160)), /areas of one exact grey/],
    ['noise', blobsOnBlack((x, y) => 60 + ((x * 7919 + y * 104729) % 97) * 0.8), /show nothing brighter than their own texture \(contrast [\d.]+\), unlike lungs with their vessels/],
  ];
  for (const [name, img, reason] of cases) {
    const r = findLungs(img);
    // Found as lungs on black (the shapes pass as lungs), then refused by the texture of the lungs themselves.
    assert.equal(r.seg.cutOut, true, name);
    assert.equal(r.findings.found, false, name);
    assert.equal(r.findings.refusal, 'not-ct', name);
    assert.match(r.findings.reason ?? '', /^not like a CT slice: /, name);
    assert.match(r.findings.reason ?? '', reason, `${name}: ${r.findings.reason}`);
  }
  // Text on black (letters: many small pieces) is no lung at all.
  const text = blobsOnBlack(() => 0);
  for (let y = 100; y < 160; y++) for (let x = 20; x < 236; x++) if (x % 9 < 6 && y % 14 < 10) text.data[y * 256 + x] = 220;
  assert.deepEqual(cutOutLungs(text), { reason: 'nothing lung-sized on the black' });
  assert.equal(findLungs(text).seg.found, false);
});

test('covid-ct explain on a lungs-only slice: read with the shipped model, its outline on the cut lungs', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-onblack-'));
  try {
    const { cut } = phantomOnBlack(256);
    await writeFile(path.join(dir, 'cut.png'), await png(cut));
    const r = await runCli(['explain', path.join(dir, 'cut.png'), '--out', path.join(dir, 'out.png')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /P\(COVID\) = [\d.]+; involvement [\d.]+% of the lung; .*-> (COVID|NonCOVID)/);
    const { data, info } = await sharp(path.join(dir, 'out.png')).raw().toBuffer({ resolveWithObject: true });
    // The cut's edge: kept pixels with a black 4-neighbour. Each outline pixel lies within 2 px of it.
    const edge = (x: number, y: number) => {
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) {
          const xx = x + dx, yy = y + dy, i = yy * 256 + xx;
          if (xx < 1 || yy < 1 || xx > 254 || yy > 254 || !cut.data[i]) continue;
          if (!cut.data[i - 1] || !cut.data[i + 1] || !cut.data[i - 256] || !cut.data[i + 256]) return true;
        }
      }
      return false;
    };
    let outline = 0, off = 0;
    for (let y = 0; y < 256; y++) {
      for (let x = 0; x < info.width; x++) {
        const i = (y * info.width + x) * info.channels;
        if (data[i] !== OUTLINE_RGB[0] || data[i + 1] !== OUTLINE_RGB[1] || data[i + 2] !== OUTLINE_RGB[2]) continue;
        outline++;
        if (!edge(x, y)) off++;
      }
    }
    assert.ok(outline > 300, `${outline} outline pixels`);
    assert.ok(off <= 0.02 * outline, `${off} of ${outline} outline pixels away from the cut's edge`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
