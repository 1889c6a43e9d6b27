/**
 * DICOM decoding on files written by test/dicom-writer.ts: values checked against hand computation of the
 * rescale and window, every supported transfer syntax against the uncompressed result, and every refusal
 * (compression, no pixels, truncation, pixel bombs) for a clear message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import sharp from 'sharp';
import { DicomDecodeError, decodeDicom, isDicom } from '../src/data/dicom.js';
import { decodeGrey } from '../src/data/decode.js';
import { ImageDecodeError } from '../src/util/errors.js';
import { windowValue, lungWindowProblem } from '../src/data/window.js';
import { decodeRle } from '../src/data/rle.js';
import { TS, concat, packBits, writeDicom, type DicomSpec } from './dicom-writer.js';

// HU values and their grey levels in the default lung window (width 1500, level -600), by hand:
// grey = round(255 * clamp((HU + 1350) / 1500, 0, 1)).
// -600 -> 750/1500 = 0.5 -> 127.5 -> 128; -1350 -> 0; 150 -> 1 -> 255; -2000 -> 0 (clamped); 1000 -> 255;
// -975 -> 375/1500 = 0.25 -> 63.75 -> 64; 40 -> 1390/1500 * 255 = 236.3 -> 236; -1230 -> 120/1500 * 255 = 20.4 -> 20.
const HU = [-600, -1350, 150, -2000, 1000, -975, 40, -1230];
const GREY = [128, 0, 255, 0, 255, 64, 236, 20];

const ct = (extra: Partial<DicomSpec> = {}): DicomSpec => ({
  rows: 2, columns: 4, modality: 'CT', pixelRepresentation: 1, rescaleIntercept: -1024, rescaleSlope: 1,
  pixels: HU.map((h) => h + 1024), seriesUid: '1.2.826.0.1.3680043.2.1125.1.99', instanceNumber: 7,
  imagePosition: [-100, -120, -42.5], imageOrientation: [1, 0, 0, 0, 1, 0], ...extra,
});

const grey = async (spec: DicomSpec, opts = {}) => Array.from((await decodeDicom(writeDicom(spec), opts)).frames[0].image.data);

test('CT: stored values -> HU (slope, intercept) -> lung window, checked against hand computation', async () => {
  const d = await decodeDicom(writeDicom(ct()));
  assert.equal(d.frames.length, 1);
  assert.deepEqual(d.frames[0].image, { width: 4, height: 2, data: Uint8Array.from(GREY) });
  assert.equal(d.mapping, 'lung window');
  for (let i = 0; i < HU.length; i++) assert.equal(windowValue(HU[i], { width: 1500, level: -600 }), GREY[i], `HU ${HU[i]}`);
  // slope 2, intercept -1000: stored 200 -> -600 HU -> 128; -175 -> -1350 -> 0; 575 -> 150 -> 255;
  // 512 -> 24 HU -> 1374/1500 * 255 = 233.58 -> 234; 13 -> -974 HU -> 376/1500 * 255 = 63.92 -> 64
  assert.deepEqual(await grey(ct({ rescaleSlope: 2, rescaleIntercept: -1000, pixels: [200, -175, 575, 512, 13, 200, 200, 200] })),
    [128, 0, 255, 234, 64, 128, 128, 128]);
  // unsigned 16-bit with the usual -1024 intercept; stored 0 -> -1024 HU -> 326/1500 * 255 = 55.4 -> 55
  assert.deepEqual(await grey(ct({ pixelRepresentation: 0, pixels: [424, 0, 1174, 2048, 2024, 49, 1064, 0] })), [128, 55, 255, 255, 255, 64, 236, 55]);
  // signed, no rescale at all: the stored values are HU
  assert.deepEqual(await grey(ct({ rescaleIntercept: undefined, rescaleSlope: undefined, pixels: HU })), GREY);
});

test('the window is settable: width 400, level 40 (mediastinum)', async () => {
  // lo = 40 - 200 = -160: -160 -> 0, 40 -> 0.5 -> 128, 240 -> 255, -60 -> 100/400 = 0.25 -> 63.75 -> 64
  const pixels = [-160, 40, 240, -60, -1000, 1000, 40, 40].map((h) => h + 1024);
  assert.deepEqual(await grey(ct({ pixels }), { window: { width: 400, level: 40 } }), [0, 128, 255, 64, 0, 255, 128, 128]);
  assert.match(lungWindowProblem({ width: 0, level: 0 }) ?? '', /width must be greater than 0/);
  assert.match(lungWindowProblem({ width: 100, level: NaN }) ?? '', /level must be a finite number/);
  assert.equal(lungWindowProblem({ width: 1, level: -5000 }), null);
});

test('implicit VR, big endian, deflated and RLE give exactly the explicit little-endian pixels', async () => {
  const reference = await grey(ct());
  for (const ts of [TS.implicit, TS.big, TS.deflate, TS.rle]) {
    assert.deepEqual(await grey(ct({ transferSyntax: ts })), reference, ts);
  }
  // 8-bit through RLE and big endian too
  const eight = { rows: 3, columns: 3, bitsAllocated: 8 as const, modality: 'OT', pixels: [0, 10, 20, 30, 40, 50, 60, 70, 80] };
  const ref8 = await grey(eight);
  assert.deepEqual(await grey({ ...eight, transferSyntax: TS.rle }), ref8);
  assert.deepEqual(await grey({ ...eight, transferSyntax: TS.big }), ref8);
});

test('BitsStored: bits above HighBit are masked and 12-bit values are sign-extended', async () => {
  // 12-bit signed: 0xFFF is -1, 0x800 is -2048; garbage in bits 12-15 (overlay planes in old files) is ignored.
  const codes = [0x258 /* 600 */, 0xfff /* -1 */, 0x800 /* -2048 */, 0x7ff /* 2047 */, 0, 0, 0, 0];
  const clean = await grey(ct({ bitsStored: 12, rescaleIntercept: 0, pixels: codes }));
  const dirty = await grey(ct({ bitsStored: 12, rescaleIntercept: 0, pixels: codes.map((c) => c | 0xf000) }));
  const w = { width: 1500, level: -600 };
  assert.deepEqual(clean, [windowValue(600, w), windowValue(-1, w), windowValue(-2048, w), windowValue(2047, w), windowValue(0, w), windowValue(0, w), windowValue(0, w), windowValue(0, w)]);
  assert.deepEqual(dirty, clean);
  // HighBit below BitsAllocated - 1 with a shifted field: bits 4..15 hold the value.
  const shifted = await grey(ct({ bitsStored: 12, highBit: 15, rescaleIntercept: 0, pixels: codes.map((c) => (c << 4) | 0x5) }));
  assert.deepEqual(shifted, clean);
});

test('non-CT monochrome: the file window if given, else min-max; MONOCHROME1 is inverted (not CT in HU)', async () => {
  const base: DicomSpec = { rows: 1, columns: 3, bitsAllocated: 8, modality: 'MR', pixels: [10, 20, 30] };
  const d = await decodeDicom(writeDicom(base));
  assert.equal(d.mapping, 'min-max');
  // min-max: level 20, width 20 -> 10 -> 0, 20 -> 0.5 -> 128, 30 -> 255
  assert.deepEqual(Array.from(d.frames[0].image.data), [0, 128, 255]);
  const win = await decodeDicom(writeDicom({ ...base, windowCenter: 20, windowWidth: 40 }));
  assert.equal(win.mapping, 'file window');
  // lo = 0: 10 -> 0.25 -> 64, 20 -> 128, 30 -> 0.75 -> 191.25 -> 191
  assert.deepEqual(Array.from(win.frames[0].image.data), [64, 128, 191]);
  assert.deepEqual(await grey({ ...base, photometric: 'MONOCHROME1' }), [255, 127, 0]);
  // CT in HU: MONOCHROME1 is how a viewer shows it; the values are HU, so air stays black as in MONOCHROME2.
  assert.deepEqual(await grey(ct({ photometric: 'MONOCHROME1' })), GREY);
  // a flat image has no contrast: black, not NaN
  assert.deepEqual(await grey({ ...base, pixels: [7, 7, 7] }), [0, 0, 0]);
});

test('RGB: both planar configurations give the luminance an RGB PNG of the same pixels gets', async () => {
  const rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 128, 128, 128, 10, 200, 30, 0, 0, 0];
  const spec: DicomSpec = { rows: 2, columns: 3, bitsAllocated: 8, samplesPerPixel: 3, pixels: rgb, modality: 'XC' };
  const png = await sharp(Buffer.from(rgb), { raw: { width: 3, height: 2, channels: 3 } }).png().toBuffer();
  const expected = Array.from((await decodeGrey(png)).data);
  const interleaved = await decodeDicom(writeDicom(spec));
  assert.equal(interleaved.mapping, 'RGB luminance');
  assert.deepEqual(Array.from(interleaved.frames[0].image.data), expected);
  assert.deepEqual(await grey({ ...spec, planarConfiguration: 1 }), expected);
  assert.deepEqual(await grey({ ...spec, transferSyntax: TS.rle }), expected);
  assert.equal(expected[9 / 3], 128, 'grey stays grey');
});

test('multi-frame: one image per frame, in stored order, for native and RLE data', async () => {
  const frames = 3;
  const pixels = [...new Array(8).fill(-600 + 1024), ...new Array(8).fill(-1350 + 1024), ...new Array(8).fill(150 + 1024)];
  for (const ts of [TS.explicit, TS.rle]) {
    const d = await decodeDicom(writeDicom(ct({ frames, pixels, transferSyntax: ts })));
    assert.equal(d.frames.length, 3, ts);
    assert.deepEqual(d.frames.map((f) => f.image.data[0]), [128, 0, 255]);
    assert.ok(d.frames.every((f) => f.image.data.every((v) => v === f.image.data[0]) && f.image.width === 4 && f.image.height === 2));
    // the one ImagePositionPatient of the file cannot place three frames: no per-frame position is invented
    assert.deepEqual(d.frames.map((f) => f.position), [undefined, undefined, undefined]);
  }
});

test('enhanced multi-frame: per-frame positions and the shared rescale come from the functional groups', async () => {
  const pixels = [...new Array(8).fill(424), ...new Array(8).fill(-326), ...new Array(8).fill(1174)];
  const d = await decodeDicom(writeDicom({
    rows: 2, columns: 4, frames: 3, modality: 'CT', pixelRepresentation: 1, pixels,
    perFramePositions: [[0, 0, 30], [0, 0, 25], [0, 0, 20]],
    shared: { orientation: [1, 0, 0, 0, 1, 0], slope: 1, intercept: -1024 },
  }));
  assert.deepEqual(d.frames.map((f) => f.position), [30, 25, 20]);
  assert.deepEqual(d.frames.map((f) => f.image.data[0]), [128, 0, 255]); // -600, -1350, 150 HU: the shared intercept was applied
  // a per-frame rescale wins over the shared one: same stored 424 in every frame, intercepts -1024, -1774, -274 (-600, -1350, 150 HU)
  const perFrame = await decodeDicom(writeDicom({
    rows: 2, columns: 4, frames: 3, modality: 'CT', pixels: new Array(24).fill(424),
    perFrameIntercepts: [-1024, -1774, -274], shared: { orientation: [1, 0, 0, 0, 1, 0], slope: 1, intercept: 0 },
  }));
  assert.deepEqual(perFrame.frames.map((f) => f.image.data[0]), [128, 0, 255]);
});

test('order info: position along the slice normal, instance number, opaque series key; no patient data out', async () => {
  const d = await decodeDicom(writeDicom(ct({ patientName: 'SMITH^ALICE', patientId: 'MRN-777' })));
  assert.equal(d.instance, 7);
  assert.equal(d.frames[0].position, -42.5); // axial: the normal is +z
  assert.match(d.series!, /^[0-9a-f]{12}$/);
  // sagittal slices (rows along y, columns along -z): the normal is y x -z = -x, so position = -x
  const sag = await decodeDicom(writeDicom(ct({ imagePosition: [30, 5, 7], imageOrientation: [0, 1, 0, 0, 0, -1] })));
  assert.equal(sag.frames[0].position, -30);
  const text = JSON.stringify(d, (_k, v) => (v instanceof Uint8Array ? undefined : v));
  for (const secret of ['SMITH', 'ALICE', 'MRN-777', '1.2.826.0.1.3680043']) assert.ok(!text.includes(secret), `${secret} leaked`);
  assert.equal((await decodeDicom(writeDicom(ct({ seriesUid: undefined, instanceNumber: undefined })))).series, undefined);
});

test('compressed transfer syntaxes we cannot decode are named in the error', async () => {
  const cases: [string, RegExp][] = [
    ['1.2.840.10008.1.2.4.93', /^this DICOM uses a compression we cannot decode: JPEG 2000 part 2 multi-component$/],
    ['1.2.840.10008.1.2.4.110', /cannot decode: JPEG XL \(lossless\)/],
    [TS.htj2k, /cannot decode: HTJ2K/],
    ['1.2.840.10008.1.2.4.102', /cannot decode: MPEG-4 AVC\/H.264 video/],
    ['1.2.840.10008.1.2.4.55', /cannot decode: JPEG \(retired process, transfer syntax 1\.2\.840\.10008\.1\.2\.4\.55\)/],
  ];
  for (const [ts, message] of cases) {
    const file = writeDicom(ct({ transferSyntax: ts, fragments: [Uint8Array.of(0xff, 0x4f, 0xff, 0x51, 1, 2)] }));
    await assert.rejects(decodeDicom(file), (e: Error) => e instanceof DicomDecodeError && e instanceof ImageDecodeError && message.test(e.message), ts);
  }
  await assert.rejects(decodeDicom(writeDicom(ct({ transferSyntax: '1.2.3.4.5.6', fragments: [Uint8Array.of(1, 2)] }))), /transfer syntax we do not know \(1\.2\.3\.4\.5\.6\)/);
});

test('no pixel data, unsupported pixel formats: clear errors', async () => {
  await assert.rejects(decodeDicom(writeDicom(ct({ noPixelData: true }))), /^DicomDecodeError: this DICOM has no pixel data/);
  await assert.rejects(decodeDicom(writeDicom(ct({ photometric: 'PALETTE COLOR' }))), /photometric interpretation PALETTE COLOR is not supported/);
  // a value that is not a code (a crafted file could hide a name there) is never echoed
  await assert.rejects(decodeDicom(writeDicom(ct({ photometric: 'Smith^John' }))), (e: Error) => /photometric interpretation \(an unreadable value\) is not supported/.test(e.message) && !/smith/i.test(e.message));
  await assert.rejects(decodeDicom(writeDicom(ct()), { window: { width: 0, level: -600 } }), RangeError);
  await assert.rejects(decodeDicom(writeDicom({ ...ct(), rows: 0 })), /no valid image size/);
});

test('truncated files: pixel data cut short, header cut short, RLE cut short', async () => {
  const full = writeDicom(ct());
  await assert.rejects(decodeDicom(full.subarray(0, full.length - 6)), /^DicomDecodeError: truncated or corrupt DICOM: the file ends before the data it announces \(cut short\?\)$/);
  // a whole file whose pixel data is shorter than Rows x Columns needs
  await assert.rejects(decodeDicom(writeDicom(ct({ pixels: [1, 2, 3, 4, 5] }))), /^DicomDecodeError: truncated or inconsistent DICOM: the pixel data has 10 bytes, 4x2, 16-bit needs 16$/);
  for (const cut of [140, 200, 300]) {
    await assert.rejects(decodeDicom(full.subarray(0, cut)), (e: Error) => e instanceof DicomDecodeError && /truncated|no pixel data|no valid image size/.test(e.message), `cut at ${cut}`);
  }
  const rle = writeDicom(ct({ transferSyntax: TS.rle, pixels: HU.map((h, i) => h * 7 + i * 13) }));
  await assert.rejects(decodeDicom(rle.subarray(0, rle.length - 14)), (e: Error) => e instanceof DicomDecodeError && /truncated/.test(e.message));
  assert.throws(() => decodeRle(new Uint8Array(10), 4, 1, 1), /64 bytes/);
});

test('pixel bombs are refused from the header, before any allocation', async () => {
  // 65535 x 65535 x 1000 frames promised by a 400-byte file.
  const bomb = writeDicom({ ...ct(), rows: 65535, columns: 65535, frames: 1000, pixels: new Array(8).fill(0) });
  assert.ok(bomb.length < 1000);
  const before = process.memoryUsage().arrayBuffers;
  await assert.rejects(decodeDicom(bomb), /image is 65535x65535 x 1000 frames = \d+ megapixels, over the limit of 50 megapixels/);
  assert.ok(process.memoryUsage().arrayBuffers - before < 50e6);
  await assert.rejects(decodeDicom(writeDicom(ct()), { maxPixels: 7 }), /over the limit/);
  // a deflated data set that inflates to 64 MB of zeros stops at the inflation limit of a small maxPixels
  const zeros = deflateRawSync(new Uint8Array(64 << 20));
  const meta = writeDicom(ct({ transferSyntax: TS.deflate, noPixelData: true }));
  const metaEnd = metaLength(meta);
  const deflateBomb = concat([meta.subarray(0, metaEnd), zeros]);
  await assert.rejects(decodeDicom(deflateBomb, { maxPixels: 1000 }), /inflates to more than 16 MB, over the limit/);
});

test('isDicom sniffs content: DICM at byte 128, nothing else', () => {
  assert.equal(isDicom(writeDicom(ct())), true);
  assert.equal(isDicom(new Uint8Array(132)), false);
  assert.equal(isDicom(Uint8Array.from(Buffer.from('DICM'))), false);
});

test('packBits (the test writer) and decodeRle (the decoder) agree on runs longer than 128 and literals', () => {
  const plane = Uint8Array.from([...new Array(300).fill(9), 1, 2, 3, 4, 4, 5, ...Array.from({ length: 200 }, (_, i) => i & 255)]);
  const seg = packBits(plane);
  const frame = new Uint8Array(64 + seg.length);
  new DataView(frame.buffer).setUint32(0, 1, true);
  new DataView(frame.buffer).setUint32(4, 64, true);
  frame.set(seg, 64);
  assert.deepEqual(decodeRle(frame, plane.length, 1, 1), plane);
});

/** Length of preamble + meta header (group 0002) of a file from writeDicom. */
function metaLength(file: Uint8Array): number {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  // (0002,0000) UL at 132: tag 4, VR 2, length 2, value 4 -> group length counts the bytes after it.
  return 132 + 12 + v.getUint32(140, true);
}
