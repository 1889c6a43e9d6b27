/**
 * Forms in which other hospitals and public sets ship CT slices (docs/external-forms.md), on a synthetic chest in
 * HU (helpers.ts huPhantom): each must give the picture the scanner's own DICOM gives, with its lungs found.
 *   - a CT DICOM stored as MONOCHROME1 (its values are still HU: air black, as MONOCHROME2);
 *   - a signed 16-bit array saved as an unsigned PNG or TIFF, negatives wrapped to the top of the range (HU itself,
 *     or HU + 1024 with the scanner's padding outside its circular field at -2048 or -3024 HU).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { decodeInput } from '../src/data/inputs.js';
import { greyOf16 } from '../src/data/grey16.js';
import { findLungs } from '../src/data/involvement.js';
import { DEFAULT_LUNG_WINDOW, huOfWindow, windowValue } from '../src/data/window.js';
import type { GreyImage } from '../src/types.js';
import { huPhantom, tiffBytes } from './helpers.js';
import { writeDicom } from './dicom-writer.js';

const SIZE = 256;
const lungWindow = (hu: ArrayLike<number>): Uint8Array => Uint8Array.from(hu, (v) => windowValue(v, DEFAULT_LUNG_WINDOW));

/** The phantom with CT's noise (+-20 HU): a real slice holds thousands of distinct values, the phantom alone a few dozen. */
function noisy(): Int16Array {
  const hu = huPhantom(SIZE);
  for (let i = 0; i < hu.length; i++) hu[i] += ((i * 2654435761) >>> 0) % 41 - 20;
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
