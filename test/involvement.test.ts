/** Lung involvement (involvement.ts) and the reading (reading.ts) on synthetic phantoms with known answers. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { findLungs, scanInvolvement } from '../src/data/involvement.js';
import { scoreScans } from '../src/predict/series.js';
import { readSlice, gateOf, DEFAULT_GATE, type ReadingDesign } from '../src/model/reading.js';
import { windowValue, DEFAULT_LUNG_WINDOW } from '../src/data/window.js';
import { huOfWindow } from '../src/data/inputs.js';
import { lungPhantom } from './helpers.js';

test('a ground-glass patch of known size gives about its share of the lung; vessels and a clear lung give ~0', () => {
  const withPatch = findLungs(lungPhantom(384, true));
  const clear = findLungs(lungPhantom(384, false));
  assert.ok(withPatch.seg.found && clear.seg.found);
  // Patch: ellipse 30 x 34 px in lungs of 2 x (58 x 95) px: 3204 / 34620 = 0.093 of the lung.
  const f = withPatch.involvement!.fraction;
  assert.ok(f > 0.06 && f < 0.13, `involvement with the patch ${f}`);
  assert.ok(clear.involvement!.fraction < 0.01, `clear lung ${clear.involvement!.fraction}`);
  assert.equal(withPatch.involvement!.scale, 'calibrated');
  // The involved pixels are where the patch is: in the right-hand lung (x > 192 of 384), upper half.
  const { width: W } = withPatch.seg.analysis;
  let inPatch = 0, total = 0;
  withPatch.involvement!.mask.forEach((m, i) => { if (!m) return; total++; const x = (i % W) / W, y = Math.floor(i / W) / W; if (x > 0.6 && y < 0.55) inPatch++; });
  assert.ok(inPatch / total > 0.95, `${inPatch} of ${total} involved pixels in the patch`);
});

test('thin vessel-like lines are not involvement (the opening removes them)', () => {
  const img = lungPhantom(384, false);
  for (let k = 0; k < 6; k++) {
    const y0 = 120 + 25 * k;
    for (let x = 80; x < 160; x++) for (let t = 0; t < 2; t++) img.data[(y0 + t) * 384 + x] = 140;
  }
  const r = findLungs(img);
  assert.ok(r.involvement!.fraction < 0.01, `lines counted as ${r.involvement!.fraction}`);
});

test('in Hounsfield units: -850 HU lung, -500 HU ground glass, the same share as the calibrated scale', () => {
  const size = 384;
  const base = lungPhantom(size, true);
  // The phantom's grey classes as HU, then through the lung window as a DICOM would be.
  const hu = (v: number) => (v === 0 ? -1000 : v < 40 ? -850 : v < 120 && v >= 95 ? -500 : v >= 140 && v < 160 ? 40 : v >= 200 ? 700 : 40);
  const data = new Uint8Array(base.data.length);
  for (let i = 0; i < data.length; i++) data[i] = windowValue(hu(base.data[i]), DEFAULT_LUNG_WINDOW);
  const r = findLungs({ width: size, height: size, data, hu: huOfWindow(DEFAULT_LUNG_WINDOW) });
  assert.equal(r.involvement!.scale, 'hu');
  const f = r.involvement!.fraction;
  assert.ok(f > 0.06 && f < 0.13, `HU involvement ${f}`);
});

test('no lungs: no involvement; a scan weighs slices by lung area', () => {
  const blank = findLungs({ width: 64, height: 64, data: new Uint8Array(64 * 64).fill(128) });
  assert.equal(blank.seg.found, false);
  assert.equal(blank.involvement, null);
  assert.equal(scanInvolvement([]), null);
  assert.equal(scanInvolvement([{ fraction: 0.1, lungPixels: 300 }, { fraction: 0.4, lungPixels: 100 }]), (0.1 * 300 + 0.4 * 100) / 400);
  // A DICOM series' involvement (series.ts) is that weighted mean; its NotCT slices are left out.
  const dicom = (instance: number) => ({ series: 's', instance });
  const [scan] = scoreScans([
    { name: 'a', probability: 0.2, involvement: 0.1, lungPixels: 300, dicom: dicom(1) },
    { name: 'b', probability: 0.6, involvement: 0.4, lungPixels: 100, dicom: dicom(2) },
    { name: 'c', probability: 0.9, involvement: 0.9, lungPixels: 5, label: 'NotCT', dicom: dicom(3) },
  ], 0.5);
  assert.equal(scan.involvement, (0.1 * 300 + 0.4 * 100) / 400);
  assert.equal(scan.notCt, 1);
  assert.equal(scan.slices, 2);
});

const DESIGN: ReadingDesign = { gate: { ...DEFAULT_GATE }, pattern: { threshold: 0.6, band: 0.1 } };

test('reading: P = gate x pattern, categories, NotCT, and the whole-slice model untouched', () => {
  assert.equal(gateOf(0, DESIGN.gate), 0);
  assert.ok(Math.abs(gateOf(0.05, DESIGN.gate) - (1 - Math.exp(-1))) < 1e-12);
  const lungs = (involvement: number | null, found = true) => ({ found, involvement, consolidation: 0, lungPixels: involvement === null ? null : 1000, ...(found ? {} : { reason: 'no lungs' }) });
  const clear = readSlice(0.9, lungs(0), 0.3, DESIGN);
  assert.equal(clear.probability, 0);
  assert.equal(clear.category, 'negative for pneumonia');
  assert.equal(clear.label, 'NonCOVID');
  const typical = readSlice(0.9, lungs(0.3), 0.3, DESIGN);
  assert.ok(Math.abs(typical.probability - 0.9 * (1 - Math.exp(-6))) < 1e-12);
  assert.equal(typical.category, 'typical');
  assert.equal(typical.label, 'COVID');
  assert.equal(readSlice(0.62, lungs(0.3), 0.3, DESIGN).category, 'indeterminate');
  assert.equal(readSlice(0.2, lungs(0.3), 0.3, DESIGN).category, 'atypical');
  const notCt = readSlice(0.99, lungs(null, false), 0.3, DESIGN);
  assert.equal(notCt.label, 'NotCT');
  assert.equal(notCt.reason, 'no lungs');
  assert.equal(notCt.category, 'not a chest CT');
  const whole = readSlice(0.7, lungs(0.2), 0.5);
  assert.deepEqual([whole.probability, whole.label, whole.category], [0.7, 'COVID', null]);
});
