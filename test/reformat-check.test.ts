/**
 * Coronal and sagittal reformats (src/data/reformat-check.ts): a picture whose lungs' detail is coarser down the
 * picture than across it, as a reformat's slice spacing makes it, is refused as `not-axial`; axial slices are not.
 * All pictures are synthetic: a chest drawn in a coronal plane (lungs over the diaphragm's domes, the liver below,
 * grain and vessels), sampled finely (as an axial slice would be) and then at a coarse "slice spacing" with the rows
 * between interpolated (linear, nearest slice, smoothed), as viewers export reformats.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findLungs } from '../src/data/involvement.js';
import { segmentLungs } from '../src/data/lungs.js';
import { planeFigures, reformatRefusal, REFORMAT_LIMITS } from '../src/data/reformat-check.js';
import { windowValue } from '../src/data/window.js';
import { readSlice, REFUSAL_HEADINGS, type ReadingDesign } from '../src/model/reading.js';
import { transposeImage } from '../src/data/orientation.js';
import { Rng } from '../src/util/prng.js';
import type { GreyImage } from '../src/types.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { drawnChest, huPhantom, lungPhantom, readCsv, runCli } from './helpers.js';

const SIZE = 320;

/**
 * A coronal plane through a chest in HU on a fine isotropic grid: the torso fills the picture from top to bottom (the
 * scan's range), two tall lungs whose lower borders are domes over the liver and spleen, the mediastinum between,
 * grain everywhere and vessels in the lungs.
 */
function coronalHu(seed = 7): Float64Array {
  const rng = new Rng(seed);
  const hu = new Float64Array(SIZE * SIZE);
  const vessels = Array.from({ length: 90 }, () => [rng.uniform(40, 280), rng.uniform(30, 260), rng.uniform(1, 2.5)]);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      let v = Math.abs(x - 160) < 140 ? 40 : -1000; // torso, air beside it
      for (const cx of [95, 225]) {
        const dx = (x - cx) / 55;
        const dome = 250 - 45 * (1 - dx * dx); // the diaphragm: highest in the lung's middle
        if (Math.abs(dx) <= 1 && y > 40 + 60 * dx * dx && y < dome) v = -850;
      }
      if (v === -850) for (const [vx, vy, r] of vessels) if ((x - vx) ** 2 + (y - vy) ** 2 < r * r) v = 30;
      hu[y * SIZE + x] = v + 25 * rng.normal();
    }
  }
  return hu;
}

/** The HU plane as a reformat exports it: only every `spacing`-th row is a slice; rows between are interpolated. */
function resampleRows(hu: Float64Array, spacing: number, mode: 'linear' | 'nearest' | 'smooth'): Float64Array {
  const out = new Float64Array(hu.length);
  for (let y = 0; y < SIZE; y++) {
    const k = Math.min(Math.floor(y / spacing), Math.floor((SIZE - 1) / spacing) - 1), t = y / spacing - k;
    const a = k * spacing, b = (k + 1) * spacing, tt = mode === 'nearest' ? Math.round(t) : t;
    for (let x = 0; x < SIZE; x++) out[y * SIZE + x] = (1 - tt) * hu[a * SIZE + x] + tt * hu[b * SIZE + x];
  }
  if (mode !== 'smooth') return out;
  const s = new Float64Array(out.length); // a [1 2 1]/4 filter down the picture, as some viewers smooth
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) s[y * SIZE + x] = (out[Math.max(0, y - 1) * SIZE + x] + 2 * out[y * SIZE + x] + out[Math.min(SIZE - 1, y + 1) * SIZE + x]) / 4;
  return s;
}

const lungWindow = (hu: ArrayLike<number>): GreyImage => ({ width: SIZE, height: SIZE, data: Uint8Array.from(hu, (v) => windowValue(v, { width: 1500, level: -600 })) });

test('the figure: isotropic grain gives about 1, rows interpolated between slices far less, only down the picture', () => {
  const fine = lungWindow(coronalHu());
  const f = planeFigures(segmentLungs(fine));
  assert.ok(f.pixels >= REFORMAT_LIMITS.minPixels, `enough lung measured (${f.pixels})`);
  assert.ok(f.ratio > 0.9 && f.ratio < 1.1, `fine sampling: ${f.ratio}`);
  assert.ok(f.tissuePixels >= REFORMAT_LIMITS.minPixels && f.tissueRatio > 0.9 && f.tissueRatio < 1.1, `fine sampling, tissue: ${f.tissueRatio}`);
  for (const mode of ['linear', 'nearest', 'smooth'] as const) {
    const coarse = lungWindow(resampleRows(coronalHu(), 5, mode));
    const c = planeFigures(segmentLungs(coarse));
    assert.ok(c.ratio < REFORMAT_LIMITS.maxRatio && c.tissueRatio < REFORMAT_LIMITS.maxRatio, `${mode} rows: ${c.ratio}, tissue ${c.tissueRatio}`);
    // Turned by 90 degrees the coarse direction runs across the picture: the figure rises above 1, never refused.
    const t = planeFigures(segmentLungs(transposeImage(coarse)));
    assert.ok(t.ratio > 1, `${mode}, turned: ${t.ratio}`);
    assert.equal(reformatRefusal(t), undefined);
  }
});

test('a reformat is refused as not-axial with a reason that says what to send; the same plane sampled finely is not', () => {
  const design: ReadingDesign = { gate: { scale: 0.05 }, pattern: { threshold: 0.5, band: 0.1 } };
  for (const mode of ['linear', 'nearest', 'smooth'] as const) {
    const r = findLungs(lungWindow(resampleRows(coronalHu(), 5, mode)));
    assert.ok(r.seg.found, `${mode}: the lungs are found, so the plane check is what decides`);
    assert.equal(r.findings.found, false, mode);
    assert.equal(r.findings.refusal, 'not-axial', `${mode}: ${r.findings.reason}`);
    assert.match(r.findings.reason!, /^a coronal or sagittal reformat \(the detail down the picture is \d+% of that across it in the lungs and \d+% in the tissue/);
    assert.match(r.findings.reason!, /send the series' axial slices$/);
    // What the user sees: NotCT under the heading "not an axial slice", with that reason.
    const reading = readSlice(0.9, r.findings, 0.5, design);
    assert.equal(reading.label, 'NotCT');
    assert.equal(reading.refusal, 'not-axial');
    assert.equal(REFUSAL_HEADINGS[reading.refusal!], 'not an axial slice');
  }
  const fine = findLungs(lungWindow(coronalHu()));
  assert.notEqual(fine.findings.refusal, 'not-axial', `fine sampling: ${fine.findings.reason}`);
});

test('axial phantoms are not refused as reformats', () => {
  const hu = huPhantom(256);
  const axial: [string, GreyImage][] = [
    ['lungPhantom', lungPhantom()], ['drawnChest', drawnChest()],
    ['huPhantom', { width: 256, height: 256, data: Uint8Array.from(hu, (v) => windowValue(v, { width: 1500, level: -600 })) }],
  ];
  for (const [name, img] of axial) {
    // Turned too, except huPhantom: its "grain" is a stripe pattern ((7x + 13y) mod 9) with steps of different sizes
    // across and down, which no scanner makes; turned, its figure is 0.70 (real axial CT stays at or above 0.84).
    const looks = name === 'huPhantom' ? [['as drawn', img]] as const : [['as drawn', img], ['turned', transposeImage(img)]] as const;
    for (const [look, pic] of looks) {
      const r = findLungs(pic);
      assert.ok(r.seg.found, `${name} ${look}: lungs found`);
      assert.notEqual(r.findings.refusal, 'not-axial', `${name} ${look}: ${r.findings.reason}`);
      assert.equal(reformatRefusal(planeFigures(r.seg)), undefined, `${name} ${look}`);
    }
  }
});

test('too little lung or tissue to measure, or only the lungs coarse: not refused', () => {
  assert.equal(reformatRefusal({ ratio: 0.3, pixels: REFORMAT_LIMITS.minPixels - 1, tissueRatio: 0.3, tissuePixels: 50_000 }), undefined);
  assert.equal(reformatRefusal({ ratio: NaN, pixels: 50_000, tissueRatio: 0.3, tissuePixels: 50_000 }), undefined);
  assert.equal(reformatRefusal({ ratio: 0.5, pixels: 50_000, tissueRatio: 0.5, tissuePixels: REFORMAT_LIMITS.minPixels - 1 }), undefined);
  // The lungs alone are not enough: the slice spacing coarsens the tissue too.
  assert.equal(reformatRefusal({ ratio: 0.5, pixels: 50_000, tissueRatio: 0.95, tissuePixels: 50_000 }), undefined);
  assert.match(reformatRefusal({ ratio: 0.5, pixels: REFORMAT_LIMITS.minPixels, tissueRatio: 0.6, tissuePixels: REFORMAT_LIMITS.minPixels })!, /50% of that across it in the lungs and 60% in the tissue/);
});

test('predict with the shipped model: the reformat is NotCT "not an axial slice" in the table and the CSV; the axial phantom is read', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'reformat-'));
  try {
    const png = (img: GreyImage) => sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 1 } }).png();
    await png(lungWindow(resampleRows(coronalHu(), 5, 'linear'))).toFile(path.join(dir, 'coronal.png'));
    await png(lungPhantom()).toFile(path.join(dir, 'axial.png'));
    const csv = await runCli(['predict', dir, '--format', 'csv']);
    assert.equal(csv.code, 0, csv.stderr);
    const rows = new Map(readCsv(csv.stdout).map((r) => [path.basename(r.file), r]));
    const cor = rows.get('coronal.png')!;
    assert.equal(cor.label, 'NotCT');
    assert.equal(cor.refusal, 'not-axial');
    assert.match(cor.reason, /^a coronal or sagittal reformat \(.*send the series' axial slices$/);
    assert.notEqual(rows.get('axial.png')!.refusal, 'not-axial');
    const table = await runCli(['predict', path.join(dir, 'coronal.png')]);
    assert.match(table.stdout, /not an axial slice: a coronal or sagittal reformat/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
