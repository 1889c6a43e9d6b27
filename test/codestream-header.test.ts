/** codestream-header.ts: the size a JPEG, JPEG-LS or JPEG 2000 stream announces, read before any decoder runs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endsWithEndMarker, j2kCodestreamStart, j2kHeader, jpegHeader } from '../src/data/codestream-header.js';
import { jpegLosslessEncode } from './dicom-writer.js';

const seg = (marker: number, body: number[]) => [0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 255, ...body];

test('JPEG and JPEG-LS frame headers: size, components and precision, after APPn and tables; SOF55 for JPEG-LS', () => {
  const lossless = jpegLosslessEncode(new Array(20 * 7).fill(100), { width: 20, height: 7, precision: 12 });
  assert.deepEqual(jpegHeader(lossless), { precision: 12, height: 7, width: 20, components: 1, marker: 'SOF3' });
  const baseline = Uint8Array.from([0xff, 0xd8, ...seg(0xe0, [0x4a, 0x46, 0x49, 0x46, 0]), ...seg(0xdb, new Array(65).fill(1)), ...seg(0xc0, [8, 1, 2, 3, 4, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]), 0xff, 0xd9]);
  assert.deepEqual(jpegHeader(baseline), { precision: 8, height: 0x102, width: 0x304, components: 3, marker: 'SOF0' });
  const ls = Uint8Array.from([0xff, 0xd8, ...seg(0xf7, [16, 2, 0, 2, 0, 1, 1, 0x11, 0]), 0xff, 0xd9]);
  assert.deepEqual(jpegHeader(ls), { precision: 16, height: 512, width: 512, components: 1, marker: 'SOF55' });
  // A DHT (C4) is not a frame header, nor are DAC (CC) and JPG (C8).
  const dhtFirst = Uint8Array.from([0xff, 0xd8, ...seg(0xc4, [0, ...new Array(16).fill(0)]), ...seg(0xc1, [12, 0, 9, 0, 8, 1, 1, 0x11, 0])]);
  assert.equal(jpegHeader(dhtFirst).marker, 'SOF1');
  assert.throws(() => jpegHeader(Uint8Array.of(0, 1, 2, 3)), /does not start with an SOI marker/);
  assert.throws(() => jpegHeader(baseline.subarray(0, 30)), /cut short/);
  assert.throws(() => jpegHeader(Uint8Array.from([0xff, 0xd8, ...seg(0xda, [1, 1, 0, 0, 63, 0])])), /scan before its frame header/);
  assert.throws(() => jpegHeader(Uint8Array.from([0xff, 0xd8, 0xff, 0xd9])), /ends before its frame header/);
});

/** A JPEG 2000 main header: SOC, SIZ for the given size and component depths (bit 7: signed), EOC. */
function j2k(width: number, height: number, ssiz: number[], offset = 0): number[] {
  const u32 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  const siz = [0, 0, ...u32(width + offset), ...u32(height + offset), ...u32(offset), ...u32(offset), ...u32(width), ...u32(height), ...u32(0), ...u32(0), 0, ssiz.length, ...ssiz.flatMap((s) => [s, 1, 1])];
  return [0xff, 0x4f, ...seg(0x51, siz), 0xff, 0xd9];
}

test('JPEG 2000: SIZ of a bare codestream (image offset subtracted, signed depth) and of the codestream inside a JP2 file', () => {
  assert.deepEqual(j2kHeader(Uint8Array.from(j2k(512, 400, [0x0b]))), { width: 512, height: 400, components: 1, precision: 12, signed: false, marker: 'SIZ' });
  assert.deepEqual(j2kHeader(Uint8Array.from(j2k(30, 20, [0x8f], 7))), { width: 30, height: 20, components: 1, precision: 16, signed: true, marker: 'SIZ' });
  assert.equal(j2kHeader(Uint8Array.from(j2k(8, 8, [7, 7, 7]))).components, 3);
  const box = (type: string, body: number[]) => [0, 0, (body.length + 8) >> 8, (body.length + 8) & 255, ...Array.from(type, (c) => c.charCodeAt(0)), ...body];
  const jp2 = Uint8Array.from([...box('jP  ', [0x0d, 0x0a, 0x87, 0x0a]), ...box('ftyp', [0x6a, 0x70, 0x32, 0x20, 0, 0, 0, 0]), ...box('jp2c', j2k(64, 32, [7]))]);
  assert.equal(j2kCodestreamStart(jp2), 12 + 16 + 8);
  assert.equal(j2kHeader(jp2).width, 64);
  assert.throws(() => j2kHeader(Uint8Array.of(0xff, 0xd8, 0xff, 0xe0)), /not a JPEG 2000 codestream/);
  assert.throws(() => j2kHeader(Uint8Array.from(j2k(8, 8, [7])).subarray(0, 20)), /cut short|ends before/);
});

test('end markers: FFD9 last, or followed by DICOM padding; anything else is a stream cut short', () => {
  assert.ok(endsWithEndMarker(Uint8Array.of(1, 2, 0xff, 0xd9)));
  assert.ok(endsWithEndMarker(Uint8Array.of(1, 2, 0xff, 0xd9, 0)));
  assert.ok(!endsWithEndMarker(Uint8Array.of(1, 2, 0xff, 0xd8)));
  assert.ok(!endsWithEndMarker(Uint8Array.of(0xff, 0xd9, 1, 2, 3)));
  assert.ok(!endsWithEndMarker(new Uint8Array(0)));
});
