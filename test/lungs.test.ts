/**
 * Lung segmentation: synthetic phantoms with known masks (black or grey outside air, a consolidation, an arrow
 * and a letter outside the body, a tight crop, HU input), non-CT pictures, and the real data when ../shared is
 * beside the project (CT-MD DICOM against an independent HU-threshold reference; found-rates on PNGs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { DEFAULT_LUNG_WINDOW, windowValue } from '../src/data/window.js';
import { ANALYSIS_SIDE, type LungSegmentation, lungOutline, segmentLungs } from '../src/data/lungs.js';
import { resample } from '../src/data/working-image.js';
import type { GreyImage } from '../src/types.js';
import { REPO } from './helpers.js';
import { dicomHu } from './dicom-hu.js';

const SHARED = path.resolve(REPO, '../shared/data');

// ---------- phantoms ----------

interface Phantom { img: GreyImage; left: (x: number, y: number) => boolean; right: (x: number, y: number) => boolean }
interface Levels { air: number; body: number; lung: number; noise: number }

const inEllipse = (cx: number, cy: number, rx: number, ry: number) => (x: number, y: number) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
}

/** A 320x280 chest: body ellipse in air, two lungs, a consolidation inside the left lung, an arrow and an "A" outside. */
function phantom(lv: Levels, crop?: { x0: number; y0: number; x1: number; y1: number }, bridge = false): Phantom {
  const W = 320, H = 280;
  const body = inEllipse(160, 140, 150, 115);
  const left = inEllipse(95, 135, 48, 70);
  const right = inEllipse(225, 135, 48, 70);
  const blob = inEllipse(88, 150, 16, 14);
  const rand = lcg(7);
  const full = new Float64Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    let v = lv.air;
    if (body(x, y)) v = lv.body;
    if (left(x, y) || right(x, y)) v = lv.lung;
    if (blob(x, y)) v = lv.body;
    if (bridge && Math.abs(y - 100) <= 2 && x > 130 && x < 190) v = lv.lung; // the lungs touch in front
    // Arrow (top left, outside the body): a shaft and a head, bright.
    if (y >= 12 && y < 16 && x >= 6 && x < 40) v = 250;
    if (x >= 40 && x < 50 && Math.abs(y - 14) <= 50 - x) v = 250;
    // Letter "A" (top right): two slanted strokes and a bar.
    const ax = x - 290, ay = y - 8;
    if (ay >= 0 && ay < 24 && (Math.abs(ax - (12 - ay / 2)) < 2 || Math.abs(ax - (12 + ay / 2)) < 2 || (ay >= 14 && ay < 17 && ax > 5 && ax < 19))) v = 250;
    full[y * W + x] = v + lv.noise * (rand() - 0.5);
  }
  const c = crop ?? { x0: 0, y0: 0, x1: W, y1: H };
  const w = c.x1 - c.x0, h = c.y1 - c.y0;
  const data = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = Math.max(0, Math.min(255, Math.round(full[(y + c.y0) * W + x + c.x0])));
  const shift = (f: (x: number, y: number) => boolean) => (x: number, y: number) => f(x + c.x0, y + c.y0);
  return { img: { width: w, height: h, data }, left: shift(left), right: shift(right) };
}

/** Dice of lung `lab` against the known mask, sampled at analysis pixel centres. */
function dice(seg: LungSegmentation, lab: number, truth: (x: number, y: number) => boolean): number {
  const { width: w, height: h } = seg.analysis;
  let inter = 0, a = 0, b = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const p = seg.labels[y * w + x] === lab;
    const t = truth((x + 0.5) / seg.scale - 0.5, (y + 0.5) / seg.scale - 0.5);
    if (p) a++;
    if (t) b++;
    if (p && t) inter++;
  }
  return (2 * inter) / (a + b);
}

function checkPhantom(name: string, p: Phantom, opts?: Parameters<typeof segmentLungs>[1]): LungSegmentation {
  const seg = segmentLungs(p.img, opts);
  assert.ok(seg.found, `${name}: found (${seg.reason})`);
  assert.equal(seg.quality.components, 2, `${name}: two lungs`);
  const dl = dice(seg, 1, p.left), dr = dice(seg, 2, p.right);
  assert.ok(dl >= 0.95, `${name}: Dice of the left lung ${dl.toFixed(3)}`);
  assert.ok(dr >= 0.95, `${name}: Dice of the right lung ${dr.toFixed(3)}`);
  assert.ok(seg.quality.balance > 0.8 && seg.quality.balance <= 1, `${name}: balance ${seg.quality.balance}`);
  assert.equal(Math.max(seg.analysis.width, seg.analysis.height), ANALYSIS_SIDE, `${name}: long side`);
  assert.equal(seg.labels.length, seg.analysis.width * seg.analysis.height);
  assert.ok(seg.box && seg.box.x0 < seg.box.x1 && seg.box.y0 < seg.box.y1, `${name}: box`);
  return seg;
}

test('phantom, black outside air: both lungs (consolidation included), left/right labels, body, outline', () => {
  const p = phantom({ air: 5, body: 190, lung: 45, noise: 16 });
  const seg = checkPhantom('black air', p);
  assert.ok(Math.abs(seg.scale - 256 / 320) < 1e-9);
  assert.equal(seg.analysis.width, 256);
  assert.equal(seg.analysis.height, 224);
  // The consolidation centre is lung 1; the arrow and the letter are neither lung nor body.
  const at = (x: number, y: number) => Math.round(y * seg.scale) * seg.analysis.width + Math.round(x * seg.scale);
  assert.equal(seg.labels[at(88, 150)], 1, 'consolidation is lung');
  assert.equal(seg.body[at(160, 40)], 1, 'body');
  assert.equal(seg.body[at(20, 14)], 0, 'the arrow is not body');
  assert.equal(seg.labels[at(297, 22)], 0, 'the letter is not lung');
  const out = lungOutline(seg);
  const nOut = out.reduce((s, v) => s + v, 0);
  assert.ok(nOut > 200 && nOut < 1200, `outline pixels ${nOut}`);
  for (let i = 0; i < out.length; i++) if (out[i]) assert.ok(seg.labels[i] > 0);
});

test('phantom in a lung window: grey outside air (about 60) as dark as the lungs', () => {
  checkPhantom('grey air', phantom({ air: 60, body: 230, lung: 70, noise: 20 }));
});

test('tight crop: the lungs touch the image border', () => {
  const p = phantom({ air: 5, body: 190, lung: 45, noise: 16 }, { x0: 60, y0: 50, x1: 260, y1: 230 });
  const seg = checkPhantom('tight crop', p);
  const { width: w, height: h } = seg.analysis;
  let touches = 0;
  for (let y = 0; y < h; y++) if (seg.labels[y * w] === 1 || seg.labels[y * w + w - 1] === 2) touches++;
  assert.ok(touches > 20, `lungs reach the left and right borders (${touches} rows)`);
});

test('two lungs joined by a thin dark bridge are split into left and right', () => {
  checkPhantom('bridge', phantom({ air: 5, body: 190, lung: 45, noise: 16 }, undefined, true));
});

test('HU input (opts.hu): HU thresholds instead of Otsu', () => {
  // grey = (HU + 1024) / 8: air -1000 -> 3, lung -850 -> 22, soft tissue 40 -> 133.
  const hu = { slope: 8, intercept: -1024 };
  const p = phantom({ air: 3, body: 133, lung: 22, noise: 6 });
  checkPhantom('HU', p, { hu });
  // A slice that is all soft tissue under HU has no lung, whatever Otsu would say.
  const soft = phantom({ air: 133, body: 140, lung: 128, noise: 4 });
  assert.equal(segmentLungs(soft.img, { hu }).found, false);
  // A soft-tissue window (W400 L40: -160..240 HU) clips every lung pixel to black: the reason says so.
  const mediastinal = segmentLungs(p.img, { hu: { slope: 400 / 255, intercept: -160 } });
  assert.equal(mediastinal.found, false);
  assert.match(mediastinal.reason ?? '', /DICOM window \(-160 to 240 HU\) hides the lung tissue/);
  // A narrower lung window that still shows -800..-200 HU is read.
  assert.equal(segmentLungs(p.img, { hu: { slope: 1000 / 255, intercept: -1200 } }).reason?.includes('window') ?? false, false);
});

test('small inputs are upscaled to the analysis size', () => {
  const p = phantom({ air: 5, body: 190, lung: 45, noise: 0 });
  const small = resample(p.img, { x0: 0, y0: 0, w: 320, h: 280 }, 160, 140);
  const seg = segmentLungs(small);
  assert.equal(seg.analysis.width, 256);
  assert.ok(Math.abs(seg.scale - 1.6) < 1e-9);
  assert.ok(seg.found);
  assert.equal(seg.quality.components, 2);
});

test('non-CT pictures: blank, flat grey, noise, gradients -> not found, with a reason', () => {
  const make = (w: number, h: number, f: (x: number, y: number) => number): GreyImage => {
    const data = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = Math.max(0, Math.min(255, Math.round(f(x, y))));
    return { width: w, height: h, data };
  };
  const rand = lcg(3);
  const cases: [string, GreyImage][] = [
    ['blank', make(300, 300, () => 0)],
    ['white', make(300, 200, () => 255)],
    ['flat grey', make(256, 256, () => 128)],
    ['uniform noise', make(300, 300, () => rand() * 256)],
    ['binary noise', make(256, 256, () => (rand() < 0.5 ? 0 : 255))],
    ['horizontal gradient', make(400, 300, (x) => (x / 399) * 255)],
    ['vertical gradient', make(300, 300, (_, y) => (y / 299) * 255)],
    ['diagonal gradient', make(300, 300, (x, y) => ((x + y) / 598) * 255)],
    // A screenshot: white page, two dark panels, a dark title bar, black text.
    ['screenshot', make(400, 300, (x, y) => {
      if (y < 20) return 40;
      if (y > 60 && y < 250 && ((x > 30 && x < 180) || (x > 220 && x < 370))) return 30;
      if (y > 270 && y < 280 && x > 30 && x < 300 && x % 7 < 2) return 0;
      return 245;
    })],
    // Text: rows of black letters (thin strokes) on white.
    ['text', make(300, 300, (x, y) => (y % 24 > 4 && y % 24 < 18 && (x % 11 < 2 || (y % 24 === 10 && x % 11 < 8)) ? 0 : 250))],
  ];
  for (const [name, img] of cases) {
    const seg = segmentLungs(img);
    assert.equal(seg.found, false, `${name}: found`);
    assert.ok(seg.reason && seg.reason.length > 5, `${name}: reason`);
    assert.ok(seg.labels.every((v) => v === 0) || !seg.found);
  }
});

// ---------- real data ----------

const DICOM = path.join(SHARED, 'covid-ct-md-sample/dicom');
const haveShared = existsSync(DICOM) && existsSync(path.join(SHARED, 'covid-ct/images'));
const skip = haveShared ? false : `../shared/data is not beside the project (${SHARED}): real-data tests skipped`;

/** Grey -> HU of the default lung window (level -600, width 1500): grey = 255 (HU + 1350) / 1500. */
const LUNG_WINDOW_HU = { slope: 1500 / 255, intercept: -1350 };

/**
 * The reference, from the raw HU: HU < -320, 4-connected components not touching the border, holes filled, the
 * largest two, resampled to the analysis grid (mask * 255, Lanczos, >= 128).
 */
function reference(hu: Float32Array, w: number, h: number, aw: number, ah: number): Uint8Array {
  const n = w * h;
  const dark = new Uint8Array(n);
  for (let i = 0; i < n; i++) dark[i] = hu[i] < -320 ? 1 : 0;
  const comps = componentsOf(dark, w, h);
  const inner = comps.list.filter((c) => !c.border).sort((a, b) => b.area - a.area).slice(0, 2);
  const mask = new Uint8Array(n);
  for (const c of inner) for (let i = 0; i < n; i++) if (comps.comp[i] === c.id) mask[i] = 1;
  // Holes: non-mask components not touching the border.
  const inv = new Uint8Array(n);
  for (let i = 0; i < n; i++) inv[i] = mask[i] ? 0 : 1;
  const holes = componentsOf(inv, w, h);
  for (let i = 0; i < n; i++) if (holes.comp[i] && !holes.list[holes.comp[i] - 1].border) mask[i] = 1;
  const m255 = new Uint8Array(n);
  for (let i = 0; i < n; i++) m255[i] = mask[i] * 255;
  const r = resample({ width: w, height: h, data: m255 }, { x0: 0, y0: 0, w, h }, aw, ah);
  return r.data.map((v) => (v >= 128 ? 1 : 0));
}

/** Plain BFS labelling, written independently of lungs.ts. */
function componentsOf(mask: Uint8Array, w: number, h: number) {
  const comp = new Int32Array(w * h);
  const list: { id: number; area: number; border: boolean }[] = [];
  const stack: number[] = [];
  for (let s = 0; s < w * h; s++) {
    if (!mask[s] || comp[s]) continue;
    const c = { id: list.length + 1, area: 0, border: false };
    list.push(c);
    comp[s] = c.id;
    stack.push(s);
    while (stack.length) {
      const i = stack.pop()!;
      const x = i % w, y = (i - x) / w;
      c.area++;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1) c.border = true;
      if (x > 0 && mask[i - 1] && !comp[i - 1]) { comp[i - 1] = c.id; stack.push(i - 1); }
      if (x < w - 1 && mask[i + 1] && !comp[i + 1]) { comp[i + 1] = c.id; stack.push(i + 1); }
      if (y > 0 && mask[i - w] && !comp[i - w]) { comp[i - w] = c.id; stack.push(i - w); }
      if (y < h - 1 && mask[i + w] && !comp[i + w]) { comp[i + w] = c.id; stack.push(i + w); }
    }
  }
  return { comp, list };
}

test('CT-MD DICOM (P001, normal001): Dice against an HU-threshold reference', { skip }, async () => {
  // The raw HU (test/dicom-hu.ts) give the reference; the project's lung window of them gives the grey the
  // segmentation sees, as decodeInput would.
  const manifest = (await readFile(path.join(SHARED, 'covid-ct-md-sample/manifest.csv'), 'utf8')).split('\n').slice(1).filter(Boolean).map((l) => l.trim().split(','));
  const pngOf = new Map(manifest.map((r) => [path.basename(r[7]), path.join(SHARED, 'covid-ct-md-sample', r[0])]));
  const dices: number[] = [];
  let withLung = 0, foundWithLung = 0, pngChecked = 0;
  for (const series of ['P001', 'normal001']) {
    const dir = path.join(DICOM, series);
    const files = (await readdir(dir)).filter((f) => f.endsWith('.dcm')).sort();
    for (const f of files) {
      const { width, height, hu } = dicomHu(new Uint8Array(await readFile(path.join(dir, f))));
      const grey = new Uint8Array(width * height);
      for (let i = 0; i < grey.length; i++) grey[i] = windowValue(hu[i], DEFAULT_LUNG_WINDOW);
      const img = { width, height, data: grey };
      // The decoder is right: the dataset's own PNG of this slice (same window, 256 px) looks the same.
      const png = pngOf.get(f);
      if (png && pngChecked < 3) {
        const ours = resample(img, { x0: 0, y0: 0, w: width, h: height }, 256, 256).data;
        const theirs = (await readAndDecodeGrey(png)).data;
        let d = 0;
        for (let i = 0; i < ours.length; i++) d += Math.abs(ours[i] - theirs[i]);
        assert.ok(d / ours.length < 6, `${f}: mean difference from ${path.basename(png)} is ${(d / ours.length).toFixed(2)}`);
        pngChecked++;
      }
      const seg = segmentLungs(img, { hu: LUNG_WINDOW_HU });
      const ref = reference(hu, width, height, seg.analysis.width, seg.analysis.height);
      const n = ref.length;
      let a = 0, b = 0, inter = 0;
      for (let i = 0; i < n; i++) {
        const p = seg.labels[i] > 0 ? 1 : 0;
        a += p; b += ref[i]; inter += p & ref[i];
      }
      // Slices where the reference has lung: at least 1% of the slice (less: the trachea or bowel gas alone).
      if (b < 0.01 * n) continue;
      withLung++;
      if (seg.found) foundWithLung++;
      dices.push((2 * inter) / (a + b));
    }
  }
  assert.ok(pngChecked > 0, 'no DICOM slice matched a PNG of the manifest');
  const mean = dices.reduce((s, v) => s + v, 0) / dices.length;
  const min = Math.min(...dices);
  console.log(`# CT-MD DICOM: ${dices.length} slices with lung, Dice mean ${mean.toFixed(4)}, min ${min.toFixed(4)}; found ${foundWithLung}/${withLung}`);
  assert.ok(dices.length > 100, `slices with lung: ${dices.length}`);
  assert.ok(mean >= 0.9, `mean Dice ${mean}`);
  assert.ok(foundWithLung / withLung >= 0.99, `found on ${foundWithLung}/${withLung}`);
});

test('found-rate >= 0.99 on COVID-CT and on CT-MD PNGs (slices in the middle 70% of each series)', { skip }, async () => {
  const covid = path.join(SHARED, 'covid-ct/images');
  const files: string[] = [];
  for (const cls of ['CT_COVID', 'CT_NonCOVID']) {
    const names = (await readdir(path.join(covid, cls))).sort();
    files.push(...names.filter((_, i) => i % 4 === 0).map((f) => path.join(covid, cls, f)));
  }
  // CT-MD: every slice of each series, so the first and last ones show the neck or the abdomen, no lung.
  const md = path.join(SHARED, 'covid-ct-md-sample/images');
  const mdNames = (await readdir(md)).filter((f) => f.endsWith('.png')).sort();
  const bySeries = new Map<string, string[]>();
  for (const f of mdNames) { const s = f.replace(/_\d+\.png$/, ''); bySeries.set(s, [...(bySeries.get(s) ?? []), f]); }
  const mdFiles: string[] = [];
  for (const [series, names] of bySeries) {
    // P001/P002 hold only the slices marked infected (all show lung); the others hold the whole series.
    const lo = series.startsWith('P') ? 0 : Math.ceil(0.15 * names.length), hi = series.startsWith('P') ? names.length : Math.floor(0.85 * names.length);
    mdFiles.push(...names.slice(lo, hi).filter((_, i) => i % 3 === 0).map((f) => path.join(md, f)));
  }
  for (const [name, list] of [['COVID-CT', files], ['CT-MD PNG', mdFiles]] as const) {
    const missed: string[] = [];
    for (const f of list) if (!segmentLungs(await readAndDecodeGrey(f)).found) missed.push(path.basename(f));
    const rate = 1 - missed.length / list.length;
    console.log(`# ${name}: found ${list.length - missed.length}/${list.length}${missed.length ? ` (missed ${missed.join(', ')})` : ''}`);
    assert.ok(rate >= 0.99, `${name}: found-rate ${rate.toFixed(4)}; missed ${missed.join(', ')}`);
  }
});
