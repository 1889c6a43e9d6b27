/**
 * 16-bit grey PNGs and TIFFs (src/data/grey16.ts, png16.ts, tiff.ts): a file of CT numbers (HU + 1024, HU + 32768,
 * or signed HU in a TIFF) reads
 * as a CT DICOM does (Hounsfield units through the lung window, the lungs found in HU); a display picture keeps
 * libvips' top byte as before; a lung-window picture stored with 12 bits is not taken for CT numbers. The page's
 * own decoder gives the server's samples, interlaced or not. On a CT-MD DICOM slice rebuilt as CT numbers, the
 * PNG's grey is the DICOM's, byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { decodeGrey } from '../src/data/decode.js';
import { decodeDicom } from '../src/data/dicom.js';
import { CT_NUMBER_OFFSETS, greyOf16, NARROW_SPAN } from '../src/data/grey16.js';
import { findLungs } from '../src/data/involvement.js';
import { decodePng16, png16Header } from '../src/data/png16.js';
import { DEFAULT_LUNG_WINDOW, huOfWindow, windowValue } from '../src/data/window.js';
import { REPO, huPhantom, tiffBytes } from './helpers.js';

/** A 16-bit grey PNG of the given samples (sharp: a Uint16Array input is 16-bit). */
async function png16(values: Uint16Array, width: number, height: number, opts: { interlaced?: boolean; alpha?: boolean } = {}): Promise<Buffer> {
  let input: Uint16Array = values, channels: 1 | 2 = 1;
  if (opts.alpha) {
    input = new Uint16Array(2 * values.length);
    for (let i = 0; i < values.length; i++) { input[2 * i] = values[i]; input[2 * i + 1] = 65535; }
    channels = 2;
  }
  const png = await sharp(input, { raw: { width, height, channels } }).toColourspace('grey16').png({ progressive: opts.interlaced ?? false }).toBuffer();
  const head = png16Header(png);
  assert.ok(head, 'sharp wrote a 16-bit grey PNG');
  assert.equal(head.interlaced, opts.interlaced ?? false);
  assert.equal(head.colourType, opts.alpha ? 4 : 0);
  return png;
}

const nodeInflate = async (z: Uint8Array): Promise<Uint8Array> =>
  new Uint8Array(await new Response(new Blob([new Uint8Array(z)]).stream().pipeThrough(new DecompressionStream('deflate'))).arrayBuffer());

test('CT numbers (HU + 1024 and HU + 32768) read as HU through the lung window, and the lungs are found in HU', async () => {
  const size = 256, hu = huPhantom(size);
  const expected = Uint8Array.from(hu, (v) => windowValue(v, DEFAULT_LUNG_WINDOW));
  for (const offset of CT_NUMBER_OFFSETS) {
    const values = Uint16Array.from(hu, (v) => v + offset);
    const { image, mapping } = greyOf16(values, size, size);
    assert.deepEqual(mapping, { kind: 'ct numbers', offset, window: DEFAULT_LUNG_WINDOW });
    assert.deepEqual(image.data, expected, `offset ${offset}: the lung window of the HU`);
    assert.deepEqual(image.hu, huOfWindow(DEFAULT_LUNG_WINDOW));
    // Through the decoder, as predict, the API and the page's server mode read a file.
    const decoded = await decodeGrey(await png16(values, size, size));
    assert.deepEqual(decoded.data, expected);
    assert.deepEqual(decoded.hu, huOfWindow(DEFAULT_LUNG_WINDOW));
    const { findings, involvement } = findLungs(decoded);
    assert.ok(findings.found, `offset ${offset}: lungs found (${findings.reason ?? ''})`);
    assert.ok(involvement && involvement.fraction > 0.03 && involvement.fraction < 0.3, `ground glass measured: ${involvement?.fraction}`);
  }
  // Another window moves the grey as it would for a DICOM.
  const soft = { width: 400, level: 40 };
  const { image } = greyOf16(Uint16Array.from(hu, (v) => v + 1024), size, size, soft);
  assert.deepEqual(image.data, Uint8Array.from(hu, (v) => windowValue(v, soft)));
  // The top byte (what libvips gives, and what this decoder gave before) is near black: no lungs to find.
  const topByte = { width: size, height: size, data: Uint8Array.from(hu, (v) => (v + 1024) >> 8) };
  assert.ok(!findLungs(topByte).findings.found, 'the top byte of CT numbers shows no lungs');
});

test('a display picture keeps its top byte (as libvips), a 12-bit lung-window picture is stretched, not read as HU', async () => {
  const size = 256, hu = huPhantom(size);
  const grey8 = Uint8Array.from(hu, (v) => windowValue(v, DEFAULT_LUNG_WINDOW));
  // An 8-bit picture scaled to 16 bits: the decoder returns the 8-bit picture, exactly as libvips' own conversion.
  const display = Uint16Array.from(grey8, (v) => v * 257);
  const png = await png16(display, size, size);
  const decoded = await decodeGrey(png);
  assert.deepEqual(decoded.data, grey8);
  assert.equal(decoded.hu, undefined);
  const libvips = await sharp(png).greyscale().raw({ depth: 'uchar' }).toBuffer();
  assert.deepEqual(decoded.data, new Uint8Array(libvips));
  // The same lung-window picture at 12 bits (0..4095): narrow, but its bright mode (tissue at 4095) is no tissue in HU.
  const twelve = Uint16Array.from(grey8, (v) => Math.round((v * 4095) / 255));
  const { image, mapping } = greyOf16(twelve, size, size);
  assert.ok(4095 < NARROW_SPAN);
  assert.equal(image.hu, undefined);
  if (mapping.kind !== 'stretched') assert.fail(`a 12-bit lung-window picture read as ${mapping.kind}`);
  // Its 0.1 and 99.9 percentiles are the air's grey and the spine's white.
  assert.deepEqual([mapping.low, mapping.high], [Math.round((grey8.reduce((a, b) => Math.min(a, b)) * 4095) / 255), 4095]);
  const stretched = Uint8Array.from(twelve, (v) => Math.max(0, Math.min(255, Math.round((255 * (v - mapping.low)) / (mapping.high - mapping.low)))));
  assert.deepEqual(image.data, stretched);
  assert.ok(findLungs(image).findings.found, 'the stretched picture still shows its lungs');
  // Flat: one value everywhere gives a black picture, not a division by zero.
  assert.deepEqual(greyOf16(new Uint16Array(64).fill(700), 8, 8).image.data, new Uint8Array(64));
});

test("the page's decoder gives the samples libvips gives: grey and grey + alpha, interlaced or not; damage is named", async () => {
  const w = 37, h = 23; // not multiples of 8: Adam7's partial passes
  const values = new Uint16Array(w * h);
  for (let i = 0; i < values.length; i++) values[i] = (i * 2654435761) % 65536 ^ (i << 3);
  for (const opts of [{}, { interlaced: true }, { alpha: true }, { alpha: true, interlaced: true }]) {
    const png = await png16(values, w, h, opts);
    const mine = await decodePng16(new Uint8Array(png), nodeInflate);
    assert.equal(mine.width, w);
    assert.equal(mine.height, h);
    assert.deepEqual(mine.values, values, JSON.stringify(opts));
  }
  const png = await png16(values, w, h);
  assert.equal(png16Header(new Uint8Array(await sharp(new Uint8Array(w * h), { raw: { width: w, height: h, channels: 1 } }).png().toBuffer())), null, 'an 8-bit PNG is not one');
  await assert.rejects(decodePng16(new Uint8Array(png.subarray(0, 60)), nodeInflate), /truncated or corrupt PNG/);
});

test('a CT-MD DICOM slice rebuilt as a 16-bit PNG of CT numbers reads byte for byte as the DICOM', async (t) => {
  const dir = path.join(REPO, '..', 'shared', 'data', 'covid-ct-md-sample', 'dicom', 'P001');
  let files: string[];
  try { files = readdirSync(dir).filter((f) => f.endsWith('.dcm')).sort(); } catch { t.skip(`no ${dir}`); return; }
  const bytes = readFileSync(path.join(dir, files[Math.floor(files.length / 2)]));
  // The HU, one per grey level: windows 255 HU wide map HU lo..lo+254 to grey 0..254.
  let hu: Float64Array | undefined, w = 0, h = 0;
  for (let lo = -1024; lo < 3072; lo += 255) {
    const img = (await decodeDicom(bytes, { window: { width: 255, level: lo + 127.5 } })).frames[0].image;
    w = img.width; h = img.height;
    hu ??= new Float64Array(w * h).fill(NaN);
    for (let i = 0; i < w * h; i++) if (img.data[i] < 255 && Number.isNaN(hu[i])) hu[i] = lo + img.data[i];
  }
  const values = Uint16Array.from(hu!, (v) => (Number.isNaN(v) ? 4095 : v + 1024));
  const fromPng = await decodeGrey(await png16(values, w, h));
  const fromDicom = (await decodeDicom(bytes)).frames[0].image;
  assert.deepEqual(fromPng.data, fromDicom.data);
  assert.deepEqual(fromPng.hu, huOfWindow(DEFAULT_LUNG_WINDOW));
  assert.ok(findLungs(fromPng).findings.found);
});

test('TIFF: CT numbers (unsigned HU + 1024, signed HU) read as the PNG does; 8-bit grey and RGB as PNG; what is not read says why', async () => {
  const size = 128, hu = huPhantom(size);
  const expected = Uint8Array.from(hu, (v) => windowValue(v, DEFAULT_LUNG_WINDOW));
  for (const [name, tif] of [
    ['HU + 1024', tiffBytes(size, size, Uint16Array.from(hu, (v) => v + 1024))], ['signed HU', tiffBytes(size, size, hu, { signed: true })],
    ['32-bit HU + 1024', tiffBytes(size, size, Uint32Array.from(hu, (v) => v + 1024), { bits: 32 })], ['32-bit signed HU', tiffBytes(size, size, hu, { bits: 32, signed: true })],
  ] as const) {
    const img = await decodeGrey(tif);
    assert.deepEqual(img.data, expected, name);
    assert.deepEqual(img.hu, huOfWindow(DEFAULT_LUNG_WINDOW), name);
    assert.ok(findLungs(img).findings.found, name);
  }
  // 8-bit grey and RGB: the PNG's grey, and the colour share measured as for a colour PNG.
  const grey8 = expected;
  const asPng = await decodeGrey(await sharp(grey8, { raw: { width: size, height: size, channels: 1 } }).png().toBuffer());
  assert.deepEqual((await decodeGrey(tiffBytes(size, size, grey8, { bits: 8 }))).data, asPng.data);
  const rgb = new Uint8Array(3 * size * size);
  for (let i = 0; i < size * size; i++) rgb.set(i % size < size / 2 ? [255, 0, 0] : [grey8[i], grey8[i], grey8[i]], 3 * i);
  const fromTiff = await decodeGrey(tiffBytes(size, size, rgb, { bits: 8, channels: 3 }));
  const fromPng = await decodeGrey(await sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer());
  assert.deepEqual(fromTiff.data, fromPng.data);
  assert.equal(fromTiff.colourShare, fromPng.colourShare);
  assert.ok((fromTiff.colourShare ?? 0) > 0.4, `half the picture red: ${fromTiff.colourShare}`);
  // Refused with what to do: several pages, floats, BigTIFF, a damaged file.
  await assert.rejects(decodeGrey(tiffBytes(size, size, hu, { signed: true, pages: 3 })), /a TIFF of 3 pages: one slice per file is read/);
  await assert.rejects(decodeGrey(tiffBytes(size, size, hu, { bits: 32, float: true })), /a TIFF of 32-bit floating-point samples: not supported/);
  const big = tiffBytes(size, size, hu, { signed: true });
  big[2] = 43;
  await assert.rejects(decodeGrey(big), /a BigTIFF image: not supported/);
  await assert.rejects(decodeGrey(tiffBytes(size, size, hu, { signed: true }).subarray(0, 100)), /truncated or corrupt TIFF/);
});
