/**
 * "Not a chest CT slice" by texture (src/data/chest-check.ts), on pictures this test draws: a CT-like phantom with
 * a scanner's grain passes (also blurred and downscaled, as exports can be), and so does the shared lungPhantom the
 * other tests read as CT; that phantom drawn in a few flat greys, block text, a smooth photo-like gradient with
 * dark blobs, noise and a blank picture are refused, each with a reason the user can read. Then the shipped default model
 * through the scoring path that predict, the API and the page use: the refused picture is NotCT with that reason,
 * and the phantom keeps exactly the reading it has without the check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { findLungs } from '../src/data/involvement.js';
import { CHEST_LIMITS, CHEST_RULES, chestFigures, checkChest } from '../src/data/chest-check.js';
import { segmentLungs } from '../src/data/lungs.js';
import { keptRegion } from '../src/data/lung-view.js';
import { readSlice } from '../src/model/reading.js';
import { loadEngine } from '../src/model/load-engine.js';
import { scoreFiles } from '../src/predict/score-files.js';
import type { GreyImage } from '../src/types.js';
import { REPO, flatPhantom, lungPhantom } from './helpers.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
}

const inEllipse = (x: number, y: number, cx: number, cy: number, rx: number, ry: number) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;

/**
 * A 360x300 axial chest in a lung window: outside air, a body ellipse (soft tissue and a fat rim), two lungs with
 * vessels, a mediastinum and a spine; `grain` is the standard deviation of Gaussian-like noise (a scanner's).
 * Edges are anti-aliased by 4x supersampling, as a reconstruction's are.
 */
function chest(grain: number, seed = 1, lungLevel = 30): GreyImage {
  const W = 360, H = 300, S = 4;
  const rand = lcg(seed);
  const level = (x: number, y: number): number => {
    if (!inEllipse(x, y, 180, 155, 165, 125)) return 8; // outside air
    let v = inEllipse(x, y, 180, 155, 155, 115) ? 225 : 205; // soft tissue, fat rim
    const left = inEllipse(x, y, 115, 145, 55, 80), right = inEllipse(x, y, 245, 145, 55, 80);
    if (left || right) {
      v = lungLevel; // aerated lung
      for (const [vx, vy, r] of [[100, 120, 3], [125, 170, 2.5], [95, 190, 2], [260, 115, 3], [235, 165, 2.5], [270, 200, 2]] as const) if ((x - vx) ** 2 + (y - vy) ** 2 <= r * r) v = 200; // vessels
    }
    if (inEllipse(x, y, 180, 250, 16, 14)) v = 255; // vertebra
    return v;
  };
  const data = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let s = 0;
      for (let j = 0; j < S; j++) for (let i = 0; i < S; i++) s += level(x + (i + 0.5) / S - 0.5, y + (j + 0.5) / S - 0.5);
      // Sum of 4 uniforms, centred and scaled: near-Gaussian grain of standard deviation `grain`.
      const n = grain ? (rand() + rand() + rand() + rand() - 2) * grain * Math.sqrt(3) : 0;
      data[y * W + x] = Math.max(0, Math.min(255, Math.round(s / (S * S) + n)));
    }
  }
  return { width: W, height: H, data };
}

/** A 3x3 box blur, `times` times (an export that softens). */
function boxBlur(img: GreyImage, times: number): GreyImage {
  let d = img.data;
  const { width: w, height: h } = img;
  for (let t = 0; t < times; t++) {
    const o = new Uint8Array(d.length);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0, n = 0;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) { const yy = y + dy, xx = x + dx; if (yy >= 0 && yy < h && xx >= 0 && xx < w) { s += d[yy * w + xx]; n++; } }
        o[y * w + x] = Math.round(s / n);
      }
    }
    d = o;
  }
  return { width: w, height: h, data: d };
}

/** Block letters (thick strokes, dark on white) in lines, as a page of large text or a logo. */
function blockText(): GreyImage {
  const W = 400, H = 300;
  const data = new Uint8Array(W * H).fill(245);
  const rect = (x0: number, y0: number, w: number, h: number) => { for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) data[y * W + x] = 20; };
  for (let line = 0; line < 2; line++) {
    for (let k = 0; k < 4; k++) {
      const x = 30 + k * 90, y = 40 + line * 130;
      // An "L", an "E", a "T" and an "H", strokes 16 px thick, 80 px tall.
      if (k === 0) { rect(x, y, 16, 80); rect(x, y + 64, 60, 16); }
      if (k === 1) { rect(x, y, 16, 80); rect(x, y, 60, 16); rect(x, y + 32, 45, 16); rect(x, y + 64, 60, 16); }
      if (k === 2) { rect(x, y, 64, 16); rect(x + 24, y, 16, 80); }
      if (k === 3) { rect(x, y, 16, 80); rect(x + 48, y, 16, 80); rect(x, y + 32, 64, 16); }
    }
  }
  return { width: W, height: H, data };
}

/** A smooth photo-like picture: a lit backdrop (radial gradient) with two soft dark objects, no grain at all. */
function smoothScene(): GreyImage {
  const W = 320, H = 320;
  const data = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let v = 235 - 0.35 * Math.hypot(x - 160, y - 140);
      for (const [cx, cy] of [[105, 150], [215, 150]]) v -= 150 * Math.exp(-((((x - cx) / 40) ** 2 + ((y - cy) / 60) ** 2) ** 2));
      data[y * W + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return { width: W, height: H, data };
}

function noise(w: number, h: number, seed: number): GreyImage {
  const rand = lcg(seed);
  return { width: w, height: h, data: Uint8Array.from({ length: w * h }, () => Math.floor(rand() * 256)) };
}

test('a CT-like chest with a scanner\'s grain passes, also blurred and at half size; the shared lung phantom passes', () => {
  const ct = chest(6);
  const half: GreyImage = (() => {
    const w = 180, h = 150, d = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d[y * w + x] = Math.round((ct.data[2 * y * 360 + 2 * x] + ct.data[2 * y * 360 + 2 * x + 1] + ct.data[(2 * y + 1) * 360 + 2 * x] + ct.data[(2 * y + 1) * 360 + 2 * x + 1]) / 4);
    return { width: w, height: h, data: d };
  })();
  for (const [name, img] of [['grain 6', ct], ['grain 3', chest(3, 2)], ['blurred', boxBlur(ct, 2)], ['half size', half], ['lungPhantom 384', lungPhantom(384)], ['lungPhantom 256', lungPhantom(256, false)], ['lungPhantom 128', lungPhantom(128)]] as const) {
    const r = findLungs(img);
    assert.ok(r.seg.found, `${name}: lungs found`);
    assert.equal(r.chest?.refusal, undefined, `${name}: ${r.chest?.refusal} ${JSON.stringify(r.chest?.figures)}`);
    assert.equal(r.findings.found, true, name);
    assert.equal(r.findings.reason, undefined, name);
    // Each figure inside its limit, so no rule is near refusing the phantom by accident of order.
    for (const rule of CHEST_RULES) assert.equal(rule.refuses(r.chest!.figures), false, `${name}: ${rule.name}`);
  }
});

/**
 * The chest as a photo or screenshot of a CT viewer shows it: the slice (with its own grey outside air) on a black
 * panel, a bright toolbar and lines of interface text around it. Those straight lines are no part of the slice.
 */
function inViewer(ct: GreyImage): GreyImage {
  const W = 720, H = 520, ox = 260, oy = 150;
  const data = new Uint8Array(W * H).fill(6);
  for (let y = 0; y < 40; y++) for (let x = 0; x < W; x++) data[y * W + x] = 70; // toolbar
  for (let line = 0; line < 14; line++) for (let y = 90 + line * 26; y < 98 + line * 26; y++) for (let x = 20; x < 80 + ((line * 37) % 90); x++) data[y * W + x] = 210; // interface text
  for (let y = 0; y < ct.height; y++) for (let x = 0; x < ct.width; x++) data[(oy + y) * W + ox + x] = Math.max(ct.data[y * ct.width + x], 40); // the slice, outside air grey
  return { width: W, height: H, data };
}

test('a chest shown in a viewer (panel, toolbar, interface text) passes: edges are read around the lungs only', () => {
  const r = findLungs(inViewer(chest(6)));
  assert.ok(r.seg.found, 'lungs found in the viewer picture');
  assert.equal(r.findings.found, true, `${r.findings.reason} ${JSON.stringify(r.chest?.figures)}`);
  assert.ok(r.chest!.figures.axisEdges < 0.3, `axis ${r.chest!.figures.axisEdges}`);
});

/** The chest as some public sets ship it: the lungs and a rim of chest wall (their mask grown by 4 px), the rest black. */
function lungsOnBlack(ct: GreyImage): GreyImage {
  const keep = keptRegion(segmentLungs(ct), ct.width, ct.height, 4);
  return { ...ct, data: ct.data.map((v, i) => (keep[i] ? v : 0)) };
}

test('lungs cut out onto black (a pre-segmented set) pass: the body\'s outline against black is no grain', () => {
  const r = findLungs(lungsOnBlack(chest(6)));
  assert.ok(r.seg.found, 'lungs found on black');
  assert.equal(r.chest?.refusal, undefined, `${r.chest?.refusal} ${JSON.stringify(r.chest?.figures)}`);
  assert.equal(r.findings.found, true);
  // The old measure took the step from the rim to black for grain: 29.7 on this picture, refused as noise.
  assert.ok(r.chest!.figures.tissueGrain < CHEST_LIMITS.maxTissueGrain, `tissue grain ${r.chest!.figures.tissueGrain}`);
});

test('a chest drawn in a few flat greys has its lungs found but is refused: areas of one exact grey', () => {
  for (const size of [256, 384]) {
    const r = findLungs(flatPhantom(size));
    assert.ok(r.seg.found, `${size}: the drawing has a plausible pair of lungs`);
    assert.equal(r.findings.found, false, `${size}`);
    assert.match(r.findings.reason ?? '', /^not like a CT slice: areas of one exact grey \(\d+% of the picture\)/);
    assert.equal(r.findings.refusal, 'not-ct');
    assert.ok(r.chest!.figures.flat > 0.6, `flat ${r.chest!.figures.flat}`);
  }
});

test('block text, a smooth photo-like scene, noise and a blank picture are refused with a reason', () => {
  const text = findLungs(blockText());
  assert.equal(text.findings.found, false, 'text');
  // Whether its letters pass as lungs or not, the reason is one a user can read.
  if (text.seg.found) assert.match(text.findings.reason ?? '', /horizontal and vertical edges|one exact grey/);
  else assert.ok(text.findings.reason && text.findings.reason.length > 10);

  const scene = findLungs(smoothScene());
  assert.ok(scene.seg.found, 'the two dark objects pass as lungs');
  assert.equal(scene.findings.found, false, 'scene');
  assert.match(scene.findings.reason ?? '', /smooth as a drawing, a gradient or a very blurred picture/);

  for (const [w, h, seed] of [[320, 320, 1], [76, 76, 2], [64, 79, 3]] as const) {
    const n = findLungs(noise(w, h, seed));
    assert.equal(n.findings.found, false, `noise ${w}x${h}: ${JSON.stringify(n.chest?.figures)}`);
  }
  const blank = findLungs({ width: 200, height: 200, data: new Uint8Array(200 * 200).fill(255) });
  assert.equal(blank.findings.found, false);
  assert.equal(blank.chest, null, 'no check without lungs');
});

/**
 * A radiograph-like picture: the same chest, but its lung fields lie three quarters of the way from the air outside
 * the body to the tissue (grey 175 against 8 and 225), as in a projection, where every ray through a lung also crosses the
 * chest wall. Its texture is a CT slice's (grain, round edges, dark regions in tissue): the six texture checks let
 * it pass; only the lungs' darkness against the air tells it from a CT slice, where aerated lung is nearly air.
 */
test('lung fields far lighter than the air outside the body are refused as a projection; CT and the viewer picture are not', () => {
  const xray = findLungs(chest(6, 3, 175));
  assert.ok(xray.seg.found, 'the lung fields pass as lungs');
  const old = CHEST_RULES.filter((r) => r.name !== 'projection');
  for (const rule of old) assert.equal(rule.refuses(xray.chest!.figures), false, `${rule.name} ${JSON.stringify(xray.chest!.figures)}`);
  assert.ok(xray.chest!.figures.lungFloor > 0.65, `lungFloor ${xray.chest!.figures.lungFloor}`);
  assert.equal(xray.findings.found, false);
  assert.match(xray.findings.reason ?? '', /^not like a CT slice: the lung fields are far lighter than the air around the body \(\d+% of the way to tissue\), as in a radiograph/);
  // A CT slice, its lungs as dark as air or in a lighter lung window (lungs at grey 70), and the same slice in a
  // viewer: far below the limit.
  for (const [name, img] of [['CT', chest(6)], ['light window', chest(6, 4, 70)], ['viewer', inViewer(chest(6))], ['lungPhantom', lungPhantom(256)]] as const) {
    const r = findLungs(img);
    assert.equal(r.findings.found, true, `${name}: ${r.findings.reason}`);
    assert.ok(r.chest!.figures.lungFloor < 0.4, `${name}: lungFloor ${r.chest!.figures.lungFloor}`);
  }
});

test('the figures measure what they say', () => {
  // Vertical stripes 6 px wide: every strong edge is vertical.
  const W = 240, H = 200;
  const stripes: GreyImage = { width: W, height: H, data: Uint8Array.from({ length: W * H }, (_, i) => ((i % W) % 12 < 6 ? 40 : 200)) };
  const f = chestFigures(segmentLungs(stripes));
  assert.equal(f.axisEdges, 1);
  // A grainy round body: edges in every direction, no flat areas, grain near the noise's mean absolute deviation.
  const ct = chestFigures(findLungs(chest(6)).seg);
  assert.ok(ct.axisEdges < 0.3, `axis ${ct.axisEdges}`);
  assert.ok(ct.flat < 0.05, `flat ${ct.flat}`);
  assert.ok(ct.tissueGrain > 2 && ct.tissueGrain < 8, `grain ${ct.tissueGrain}`);
  assert.ok(ct.contrast > 150, `contrast ${ct.contrast}`);
  // Without lungs there is nothing to compare: NaN, and NaN never refuses.
  const none = chestFigures(segmentLungs({ width: 64, height: 64, data: new Uint8Array(64 * 64).fill(128) }));
  assert.ok(Number.isNaN(none.lungGrain) && Number.isNaN(none.contrast));
  assert.equal(CHEST_RULES.find((r) => r.name === 'contrast')!.refuses(none), false);
  // Deterministic: the same picture, the same figures and verdict.
  assert.deepEqual(checkChest(findLungs(flatPhantom(384)).seg), checkChest(findLungs(flatPhantom(384)).seg));
});

test('shipped default: a refused picture is NotCT with its reason; the CT-like phantom reads as without the check', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-chest-'));
  const engine = await loadEngine(path.join(REPO, 'models/default'), 'onnx');
  try {
    const write = async (name: string, img: GreyImage) => {
      const file = path.join(dir, name);
      await writeFile(file, await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 1 } }).png().toBuffer());
      return file;
    };
    const ct = chest(6);
    const files = [await write('chest.png', ct), await write('drawing.png', flatPhantom(384)), await write('scene.png', smoothScene()), await write('xray.png', chest(6, 3, 175))];
    const [p, drawing, scene, xray] = await scoreFiles(engine, files);
    assert.notEqual(p.label, 'NotCT', p.reason);
    assert.equal(p.reason, undefined);
    // The reading of a slice that passes is the reading without the check: the findings of the segmentation alone.
    const { seg, findings } = findLungs(ct);
    const [reading] = await engine.read([ct]);
    assert.equal(reading.label, p.label);
    const without = { ...findings, found: seg.found };
    assert.deepEqual(readSlice(reading.pattern, without, engine.threshold, engine.json.reading), reading);
    assert.match(xray.reason ?? '', /as in a radiograph \(a projection\)/);
    for (const [name, r] of [['drawing', drawing], ['scene', scene], ['xray', xray]] as const) {
      assert.equal(r.label, 'NotCT', name);
      assert.match(r.reason ?? '', /^not like a CT slice: /, name);
      assert.equal(typeof r.probability, 'number', `${name}: the raw P is kept for research`);
    }
  } finally {
    engine.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
