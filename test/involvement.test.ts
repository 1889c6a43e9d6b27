/** Lung involvement (involvement.ts) and the reading (reading.ts) on synthetic phantoms with known answers. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { findLungs, scanInvolvement, VESSEL_RADIUS } from '../src/data/involvement.js';
import { addedBlur, edgeBlur } from '../src/data/edge-blur.js';
import { segmentLungs } from '../src/data/lungs.js';
import { gaussianBlur } from '../src/data/band-limit.js';
import { resample } from '../src/data/working-image.js';
import { scanHow, scoreScans } from '../src/predict/series.js';
import { readSlice, gateOf, DEFAULT_GATE, REFUSAL_HEADINGS, type ReadingDesign } from '../src/model/reading.js';
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

/** The phantom with 80 round vessels (radius 1.33 px at 256 px, grey 150, as dense as soft tissue) over both lungs. */
function vesselPhantom(size: number, opacity: boolean): { width: number; height: number; data: Uint8Array } {
  const img = lungPhantom(size, opacity);
  const s = size / 384, r = (1.33 * size) / 256;
  for (let k = 0; k < 80; k++) {
    const cx = (70 + ((k * 37) % 260)) * s, cy = (110 + ((k * 53) % 170)) * s;
    for (let y = Math.floor(cy - r); y <= cy + r; y++) {
      for (let x = Math.floor(cx - r); x <= cx + r; x++) {
        const i = y * size + x;
        // Only on aerated lung (grey 22-32): never over the ground-glass patch, the body or the outside air.
        if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r && img.data[i] >= 15 && img.data[i] < 40) img.data[i] = 150;
      }
    }
  }
  return img;
}

test('edge blur: a sharp phantom carries no added blur; a Gaussian blur of 1.2 px reads about that, 0.9 px less', () => {
  const sharp = vesselPhantom(256, true);
  const read = (img: typeof sharp) => addedBlur(edgeBlur(segmentLungs(img)));
  const b0 = read(sharp), b09 = read(gaussianBlur(sharp, 0.9)), b12 = read(gaussianBlur(sharp, 1.2));
  assert.ok(b0 < 0.25, `sharp phantom reads ${b0} px of added blur`);
  // Blur below what an ideal step on the pixel grid shows counts as sharp, so 0.9 px on this very sharp phantom
  // reads less than 0.9 (about 0.6), but more than nothing.
  assert.ok(b09 > 0.3 && b09 < b12, `0.9 px reads ${b09}, between the sharp ${b0} and 1.2 px ${b12}`);
  assert.ok(Math.abs(b12 - 1.2) < 0.25, `1.2 px reads ${b12}`);
  assert.equal(addedBlur(null), 0);
  assert.equal(findLungs(sharp).involvement!.vesselRadius, VESSEL_RADIUS);
  assert.ok(findLungs(gaussianBlur(sharp, 1.2)).involvement!.vesselRadius > VESSEL_RADIUS + 1.5);
});

test('a blurred or halved copy gives the same involvement: blurred vessels do not become ground glass', () => {
  // The former fixed opening (involvement-v3in) read 0.13 for both copies of the patched phantom (sharp 0.10)
  // and 0.03-0.04 for both copies of the clear one (sharp 0.00).
  for (const opacity of [true, false]) {
    const sharp = vesselPhantom(256, opacity);
    const f0 = findLungs(sharp).involvement!.fraction;
    const copies = { 'blurred 1.2 px': gaussianBlur(sharp, 1.2), halved: resample(sharp, { x0: 0, y0: 0, w: 256, h: 256 }, 128, 128) };
    for (const [what, img] of Object.entries(copies)) {
      const f = findLungs(img).involvement!.fraction;
      assert.ok(Math.abs(f - f0) <= 0.015, `${opacity ? 'patched' : 'clear'} phantom ${what}: ${f.toFixed(3)} against ${f0.toFixed(3)} sharp`);
    }
    if (opacity) assert.ok(f0 > 0.06 && f0 < 0.13, `patch share ${f0}`);
    else assert.ok(f0 < 0.01, `clear lung with vessels ${f0}`);
  }
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
  assert.equal(blank.findings.reason, blank.seg.reason, 'an 8-bit picture: the segmentation\'s own reason');
  assert.equal(blank.findings.refusal, 'no-lungs');
  // In Hounsfield units the picture is a CT slice: the reason says it holds no air-filled lung (neck, abdomen).
  const abdomen = lungPhantom(192, false).data.map((v) => (v < 60 && v > 0 ? 150 : v));
  const ct = findLungs({ width: 192, height: 192, data: abdomen, hu: huOfWindow(DEFAULT_LUNG_WINDOW) });
  assert.equal(ct.findings.found, false);
  assert.match(ct.findings.reason ?? '', /^a CT slice with no air-filled lung found: above or below the lungs/);
  assert.equal(ct.findings.refusal, 'no-lungs');
  // A soft-tissue window hides the lungs: the reason names the window, not the anatomy.
  const soft = findLungs({ width: 192, height: 192, data: lungPhantom(192, false).data, hu: huOfWindow({ width: 400, level: 40 }) });
  assert.equal(soft.findings.found, false);
  assert.match(soft.findings.reason ?? '', /^the DICOM window \(-160 to 240 HU\) hides the lung tissue/);
  assert.equal(soft.findings.refusal, 'window', 'a CT slice in the wrong window, not a picture without lungs');
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

test('a scan of a lungs model is labelled by its involvement and the pattern of its top slices, not by its score alone', () => {
  // 20 slices (k = 2). Every scan below has two high-scoring slices, so the score alone (0.7 >= 0.3) calls all COVID.
  const scan = (involvement: number, topPattern: number, otherPattern = 0.9) => scoreScans(Array.from({ length: 20 }, (_, i) => ({
    name: `s${i}`, probability: i < 2 ? 0.7 : 0.1, pattern: i < 2 ? topPattern : otherPattern, involvement, lungPixels: 100, dicom: { series: 'x', instance: i },
  })), 0.3, 2, DESIGN)[0];
  // Involved lungs (5%: P(present) 0.63) and COVID-typical top slices.
  const covid = scan(0.05, 0.8);
  assert.deepEqual([covid.label, covid.category, covid.labelRule], ['COVID', 'typical', 'involvement and pattern']);
  assert.ok(Math.abs(covid.involvementPresent! - (1 - Math.exp(-1))) < 1e-12);
  assert.ok(Math.abs(covid.pattern! - 0.8) < 1e-12, 'the pattern of the top k slices by P, not of the others (0.9)');
  // A clean lung (1%: P(present) 0.18): negative for pneumonia whatever the pattern, though its score is the same.
  const clean = scan(0.01, 0.8);
  assert.deepEqual([clean.label, clean.category, clean.probability], ['NonCOVID', 'negative for pneumonia', covid.probability]);
  // Involved lungs with an atypical pattern (another pneumonia).
  assert.deepEqual([scan(0.05, 0.3).label, scan(0.05, 0.3).category], ['NonCOVID', 'atypical']);
  // Between the pattern's cuts: indeterminate, labelled by the pattern threshold.
  assert.deepEqual([scan(0.05, 0.65).label, scan(0.05, 0.65).category], ['COVID', 'indeterminate']);
  assert.deepEqual([scan(0.05, 0.55).label, scan(0.05, 0.55).category], ['NonCOVID', 'indeterminate']);
  // How it was decided, as the tables, the page and the structured report say it.
  assert.match(scanHow(covid), /top 2 of 20 .*involvement 5\.0% of the lung .*pattern of those slices 0\.80; typical/);
  // Without a design (the whole-slice model) the score at the slice threshold decides, as before.
  const plain = scoreScans([{ name: 'a', probability: 0.7, dicom: { series: 'y', instance: 1 } }, { name: 'b', probability: 0.1, dicom: { series: 'y', instance: 2 } }], 0.3)[0];
  assert.deepEqual([plain.label, plain.category, plain.labelRule], ['COVID', null, 'score at the slice threshold']);
  assert.match(scanHow(plain), /labelled at the slice threshold/);
});

test('reading: P = gate x pattern, categories, NotCT, and the whole-slice model untouched', () => {
  assert.equal(gateOf(0, DESIGN.gate), 0);
  assert.ok(Math.abs(gateOf(0.05, DESIGN.gate) - (1 - Math.exp(-1))) < 1e-12);
  const lungs = (involvement: number | null, found = true) => ({ found, involvement, consolidation: 0, lungPixels: involvement === null ? null : 1000, ...(found ? {} : { refusal: 'window' as const, reason: 'the DICOM window hides the lungs' }) });
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
  // A verdict never contradicts its category. In the test's design (pattern threshold 0.6, band 0.1; slice threshold
  // 0.3 = 0.5 x 0.6) these slices carry P over 0.3 with a category that would say otherwise: 3% of the lung with a
  // pattern of 0.9 (P 0.41, "negative for pneumonia" by extent), and 40% with a pattern of 0.45 (P 0.45, "atypical").
  for (const [pattern, involvement] of [[0.9, 0.03], [0.45, 0.4]] as const) {
    const r = readSlice(pattern, lungs(involvement), 0.3, DESIGN);
    assert.deepEqual([r.label, r.category], ['COVID', 'indeterminate'], `pattern ${pattern}, involvement ${involvement}`);
  }
  // Below P's cut the same categories stand.
  assert.deepEqual([readSlice(0.5, lungs(0.03), 0.3, DESIGN).category, readSlice(0.3, lungs(0.4), 0.3, DESIGN).category], ['negative for pneumonia', 'atypical']);
  // Over a grid, COVID only ever comes with typical or indeterminate, and NonCOVID never with typical.
  for (let p = 0; p <= 1.0001; p += 0.05) for (let inv = 0; inv <= 0.5; inv += 0.01) {
    const r = readSlice(p, lungs(inv), 0.3, DESIGN);
    if (r.label === 'COVID') assert.ok(r.category === 'typical' || r.category === 'indeterminate', `${p} ${inv} ${r.category}`);
    else assert.notEqual(r.category, 'typical', `${p} ${inv}`);
  }
  const notCt = readSlice(0.99, lungs(null, false), 0.3, DESIGN);
  assert.equal(notCt.label, 'NotCT');
  assert.deepEqual([notCt.refusal, notCt.reason], ['window', 'the DICOM window hides the lungs'], 'the lung stage\'s kind and words');
  assert.equal(notCt.category, null, 'no RSNA category for a slice that is not read');
  assert.equal(readSlice(0.99, { ...lungs(null, false), refusal: undefined }, 0.3, DESIGN).refusal, 'no-lungs', 'without a kind: no lungs');
  assert.equal(REFUSAL_HEADINGS[notCt.refusal!], 'lungs not readable in this window');
  const whole = readSlice(0.7, lungs(0.2), 0.5);
  assert.deepEqual([whole.probability, whole.label, whole.category], [0.7, 'COVID', null]);
});
