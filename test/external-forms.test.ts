/**
 * Forms in which other hospitals and public sets ship CT slices (docs/external-forms.md), on a synthetic chest in
 * HU (helpers.ts huPhantom): each must give the picture the scanner's own DICOM gives, with its lungs found.
 *   - a CT DICOM stored as MONOCHROME1 (its values are still HU: air black, as MONOCHROME2);
 *   - a signed 16-bit array saved as an unsigned PNG or TIFF, negatives wrapped to the top of the range (HU itself,
 *     or HU + 1024 with the scanner's padding outside its circular field at -2048 or -3024 HU);
 *   - an 8-bit export whose padding outside the field is white or grey, not black (fov-padding.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { assetTable } from '../src/server/assets.js';
import { decodeInput } from '../src/data/inputs.js';
import { greyOf16 } from '../src/data/grey16.js';
import { findLungs } from '../src/data/involvement.js';
import { SQUEEZED_REASON } from '../src/data/lungs.js';
import { fillFovPadding } from '../src/data/fov-padding.js';
import { readableSlice } from '../src/data/polarity.js';
import { DEFAULT_LUNG_WINDOW, huOfWindow, windowValue } from '../src/data/window.js';
import type { GreyImage } from '../src/types.js';
import { REPO, huPhantom, tiffBytes } from './helpers.js';
import { writeDicom } from './dicom-writer.js';

const SIZE = 256;
const lungWindow = (hu: ArrayLike<number>): Uint8Array => Uint8Array.from(hu, (v) => windowValue(v, DEFAULT_LUNG_WINDOW));

/** The phantom with CT's noise (+-20 HU): a real slice holds thousands of distinct values, the phantom alone a few dozen. */
function noisy(): Int16Array {
  const hu = huPhantom(SIZE);
  // Never below -1024 HU: a scanner's stored values start at 0 (HU + 1024).
  for (let i = 0; i < hu.length; i++) hu[i] = Math.max(-1024, hu[i] + ((i * 2654435761) >>> 0) % 41 - 20);
  return hu;
}

/** The noisy phantom with every pixel outside the inscribed circle (the scanner's field of view) at `pad` HU. */
function padded(pad: number): Int16Array {
  const hu = noisy(), c = (SIZE - 1) / 2;
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) if (Math.hypot(x - c, y - c) > SIZE / 2) hu[y * SIZE + x] = pad;
  return hu;
}

async function onlyImage(name: string, bytes: Uint8Array): Promise<GreyImage> {
  const slices = await decodeInput(name, bytes);
  assert.equal(slices.length, 1);
  assert.equal(slices[0].error, undefined, `${name}: ${slices[0].error}`);
  return slices[0].image!;
}

const png16 = async (values: Uint16Array): Promise<Uint8Array> =>
  new Uint8Array(await sharp(values, { raw: { width: SIZE, height: SIZE, channels: 1 } }).toColourspace('grey16').png().toBuffer());

test('a CT DICOM stored as MONOCHROME1 reads as its MONOCHROME2 twin: air black, lungs found in HU', async () => {
  const hu = huPhantom(SIZE);
  const spec = { rows: SIZE, columns: SIZE, modality: 'CT', bitsStored: 12, rescaleSlope: 1, rescaleIntercept: -1024, pixels: Uint16Array.from(hu, (v) => v + 1024) };
  const mono2 = await onlyImage('mono2.dcm', writeDicom(spec));
  const mono1 = await onlyImage('mono1.dcm', writeDicom({ ...spec, photometric: 'MONOCHROME1' }));
  assert.deepEqual(mono1.data, lungWindow(hu), 'the lung window of the HU, air black');
  assert.deepEqual(mono1, mono2);
  const { findings } = findLungs(mono1);
  assert.ok(findings.found, `lungs found (${findings.reason ?? ''})`);
  assert.ok(findings.involvement! > 0.05 && findings.involvement! < 0.2, `the ground-glass patch measured: ${findings.involvement}`);
  // Before: inverted while its HU mapping still rose, so the lung stage took the body for lungs (on CT-MD, 112 of 151
  // slices had no lungs at all): here 0.45 of the "lung" involved.
  const before = findLungs({ ...mono1, data: mono1.data.map((g) => 255 - g) }).findings;
  assert.ok(!before.found || Math.abs(before.involvement! - findings.involvement!) > 0.2, `the inverted reading: ${JSON.stringify(before)}`);
});

test('a signed array saved unsigned (negatives wrapped) reads as HU: HU itself, and HU + 1024 with FOV padding', async () => {
  const cases: { what: string; hu: Int16Array; offset: number }[] = [
    { what: 'HU itself', hu: noisy(), offset: 0 },
    { what: 'HU + 1024, padding -2048', hu: padded(-2048), offset: 1024 },
    { what: 'HU + 1024, padding -3024', hu: padded(-3024), offset: 1024 },
  ];
  for (const { what, hu, offset } of cases) {
    const wrapped = Uint16Array.from(hu, (v) => (v + offset) & 0xffff);
    const expected = lungWindow(hu);
    const { mapping } = greyOf16(wrapped, SIZE, SIZE);
    assert.deepEqual(mapping, { kind: 'ct numbers', offset, window: DEFAULT_LUNG_WINDOW, wrapped: true }, what);
    for (const [name, bytes] of [['slice.png', await png16(wrapped)], ['slice.tif', tiffBytes(SIZE, SIZE, wrapped)]] as const) {
      const image = await onlyImage(name, bytes);
      assert.deepEqual(image.data, expected, `${what}, ${name}: the lung window of the HU`);
      assert.deepEqual(image.hu, huOfWindow(DEFAULT_LUNG_WINDOW));
      const { findings } = findLungs(image);
      assert.ok(findings.found, `${what}, ${name}: lungs found (${findings.reason ?? ''})`);
    }
    // Before: read as a display picture, its top byte: a handful of greys (body near black, white where values
    // wrapped), no lung texture left to read.
    const greys = new Set(Array.from(wrapped, (v) => v >> 8)).size;
    assert.ok(greys <= 17, `${what}: the top byte holds ${greys} grey levels`);
  }
});

test('a display picture that only looks wrapped stays a display picture: an 8-bit picture scaled up has <= 256 values', () => {
  // Black and near-white, scaled by 257: with the top bit flipped it would pass for tissue (0 HU) and air.
  const grey = new Uint8Array(SIZE * SIZE);
  for (let i = 0; i < grey.length; i++) grey[i] = i % 10 === 0 ? 250 : i % 7 === 0 ? 240 : 0;
  const { mapping, image } = greyOf16(Uint16Array.from(grey, (v) => v * 257), SIZE, SIZE);
  assert.deepEqual(mapping, { kind: 'display' });
  assert.deepEqual(image.data, grey);
});

/** The phantom through the lung window, with every pixel outside the inscribed disc (the scanner's field) at `fill`. */
function lungWindowPadded(fill: number | null): GreyImage {
  const data = lungWindow(noisy()), c = (SIZE - 1) / 2;
  if (fill !== null) for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) if (Math.hypot(x - c, y - c) > SIZE / 2) data[y * SIZE + x] = fill;
  return { width: SIZE, height: SIZE, data };
}

test('a bright fill outside the field of view (8-bit export) is read as air: the findings of the slice without it', () => {
  const plain = lungWindowPadded(null);
  const reference = findLungs(readableSlice(plain).image).findings;
  assert.ok(reference.found);
  // Air's grey: the darkest the field measured (1st percentile of the disc), computed here by sorting.
  const inDisc = Array.from(plain.data).filter((_, i) => Math.hypot((i % SIZE) - (SIZE - 1) / 2, Math.floor(i / SIZE) - (SIZE - 1) / 2) < 0.97 * SIZE / 2).sort((a, b) => a - b);
  const air = inDisc[Math.floor(0.01 * inDisc.length)];
  const asAir = lungWindowPadded(air);
  for (const fill of [255, 180]) {
    const padded = lungWindowPadded(fill);
    assert.deepEqual(fillFovPadding(padded).data, asAir.data, `fill ${fill}: set to air's grey ${air}`);
    // The polarity stage's first step: what the lung stage and the model see.
    assert.deepEqual(readableSlice(padded).image.data, asAir.data);
    const found = findLungs(readableSlice(padded).image).findings;
    assert.deepEqual(found, findLungs(asAir).findings);
    assert.ok(found.found && Math.abs(found.involvement! - reference.involvement!) < 0.01, `fill ${fill}: involvement ${found.involvement} for ${reference.involvement}`);
  }
  // A black fill is as scanners export it: untouched (the same object).
  const black = lungWindowPadded(0);
  assert.equal(fillFovPadding(black), black);
  // Through a JPEG the fill wobbles by a few greys: still one flat fill.
  const wobbly = lungWindowPadded(250);
  for (let i = 0; i < wobbly.data.length; i += 7) if (wobbly.data[i] === 250) wobbly.data[i] = 253;
  assert.notEqual(fillFovPadding(wobbly), wobbly);
});

test('what is not padding is left alone: a page running into the picture, a body filling the field, an oblong picture, HU', () => {
  // A slice on a white page: the white reaches inside the disc (a figure's margin), so it is no field padding.
  const page = lungWindowPadded(null);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) if (x < 20 || y < 20) page.data[y * SIZE + x] = 255;
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) if (Math.hypot(x - (SIZE - 1) / 2, y - (SIZE - 1) / 2) > SIZE / 2) page.data[y * SIZE + x] = 255;
  assert.equal(fillFovPadding(page), page);
  // Black corners round a body that fills the disc (COVID-CT's tight fields): black is air already.
  const tight = lungWindowPadded(0);
  for (let i = 0; i < tight.data.length; i++) if (tight.data[i] < 40 && Math.hypot((i % SIZE) - 127.5, Math.floor(i / SIZE) - 127.5) <= SIZE / 2) tight.data[i] = 120;
  assert.equal(fillFovPadding(tight), tight);
  // An oblong picture is no reconstruction grid.
  const wide = { width: SIZE + 40, height: SIZE, data: new Uint8Array((SIZE + 40) * SIZE).fill(255) };
  assert.equal(fillFovPadding(wide), wide);
  // A picture in HU went through a window: its padding is black by construction.
  const hu = { ...lungWindowPadded(255), hu: huOfWindow(DEFAULT_LUNG_WINDOW) };
  assert.equal(fillFovPadding(hu), hu);
});

test('CT numbers squeezed into a few greys (min-max over wrapped padding, no window) are refused naming the window to use', () => {
  // HU + 1024 with padding -2048 wrapped to 64512, then min-max to 8 bits: the body lands in greys 0..16, the
  // padding at 255 (then set to air's grey by the padding stage).
  const wrapped = Uint16Array.from(padded(-2048), (v) => (v + 1024) & 0xffff);
  let hi = 0;
  for (const v of wrapped) hi = Math.max(hi, v);
  const squeezed: GreyImage = { width: SIZE, height: SIZE, data: Uint8Array.from(wrapped, (v) => Math.round((255 * v) / hi)) };
  const up = readableSlice(squeezed);
  const { findings } = findLungs(up.image, up.seg);
  assert.equal(findings.found, false);
  assert.equal(findings.refusal, 'window');
  assert.equal(findings.reason, SQUEEZED_REASON);
  assert.match(findings.reason!, /lung window \(such as level -600, width 1500 HU\)/);
  // A blank picture is still just flat.
  const blank = findLungs({ width: SIZE, height: SIZE, data: new Uint8Array(SIZE * SIZE).fill(128) }).findings;
  assert.deepEqual([blank.refusal, blank.reason], ['no-lungs', 'the image is flat (no contrast)']);
});

test("the page is served every module the polarity stage imports (the padding stage runs on the device too)", async () => {
  const table = assetTable(REPO, path.join(REPO, 'models/default'));
  const source = await readFile(path.join(REPO, 'dist/src/data/polarity.js'), 'utf8');
  const imports = [...source.matchAll(/from '\.\/([\w-]+\.js)'/g)].map((m) => m[1]);
  assert.ok(imports.includes('fov-padding.js'));
  for (const f of imports) assert.ok(table.has(`/js/data/${f}`), `/js/data/${f} is served`);
});
