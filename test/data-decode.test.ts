/**
 * decodeGrey on every quirk of COVID-CT, with small synthetic images made here by sharp (the real images must not
 * be copied into the project). Each fixture's header is checked too, so that a test cannot pass on a fixture
 * that sharp silently wrote in another mode than intended.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeGrey, readAndDecodeGrey } from '../src/data/decode.js';
import { describeImage, extensionFormat, pngStructureProblem, sniffFormat } from '../src/data/format.js';
import { ImageDecodeError } from '../src/util/errors.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-decode-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const W = 4;
const H = 2;
/** Grey levels of the 4x2 test pattern, including both ends of the range. */
const GREYS = [0, 10, 37, 100, 128, 200, 254, 255];
/** The same pattern as RGB pixels (r = g = b), and a colourful one. */
const greyRgb = Buffer.from(GREYS.flatMap((g) => [g, g, g]));
const colourRgb = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 100, 100, 100, 0, 0, 0, 255, 255, 255, 37, 37, 37, 200, 200, 200]);

const raw = (data: Buffer | Uint16Array, channels: 1 | 2 | 3 | 4, width = W, height = H) => sharp(data, { raw: { width, height, channels } });

/** Writes bytes under the temp dir and decodes them through the file path, as the loaders do. */
async function decodeFile(name: string, bytes: Uint8Array) {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return readAndDecodeGrey(file);
}

/** A flat grey JPEG, big enough for real scan data; JPEG keeps a flat block's level to within 1. */
const flatJpeg = (level: number, progressive: boolean) =>
  raw(Buffer.alloc(32 * 32 * 3, level), 3, 32, 32).jpeg({ quality: 95, progressive }).toBuffer();

/** Noise makes JPEG scan data long, so that cutting the file lands in the middle of it. */
function noise(n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

async function assertDecodeError(p: Promise<unknown>, pattern: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ImageDecodeError, `expected an ImageDecodeError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('grey PNG (L): every level comes back exactly', async () => {
  const png = await raw(Buffer.from(GREYS), 1).toColourspace('b-w').png().toBuffer();
  assert.equal(describeImage(png).colourMode, 'L');
  const img = await decodeFile('grey.png', png);
  assert.deepEqual([img.width, img.height], [W, H]);
  assert.ok(img.data instanceof Uint8Array && !Buffer.isBuffer(img.data), 'data is a plain Uint8Array');
  assert.deepEqual([...img.data], GREYS);
});

test('RGB PNG of grey pixels keeps the levels; colour becomes luminance', async () => {
  const png = await raw(greyRgb, 3).png().toBuffer();
  assert.equal(describeImage(png).colourMode, 'RGB');
  assert.deepEqual([...(await decodeGrey(png)).data], GREYS);
  const colour = await decodeGrey(await raw(colourRgb, 3).png().toBuffer());
  // Pure red, green and blue have different luminance, green the most; grey pixels are unchanged.
  const [r, g, b] = colour.data;
  assert.ok(g > r && r > b && b > 0, `luminance order of r, g, b: ${r}, ${g}, ${b}`);
  assert.deepEqual([...colour.data.subarray(3)], [100, 0, 255, 37, 200]);
});

test('RGBA PNG decodes to the same grey as its RGB (alpha is dropped, not blended)', async () => {
  const rgba = Buffer.alloc(W * H * 4);
  for (let i = 0; i < W * H; i++) {
    colourRgb.copy(rgba, i * 4, i * 3, i * 3 + 3);
    rgba[i * 4 + 3] = i % 2 ? 255 : 128;
  }
  const png = await raw(rgba, 4).png().toBuffer();
  assert.equal(describeImage(png).colourMode, 'RGBA');
  const fromRgba = await decodeFile('rgba.png', png);
  const fromRgb = await decodeGrey(await raw(colourRgb, 3).png().toBuffer());
  assert.deepEqual([...fromRgba.data], [...fromRgb.data]);
});

test('grey + alpha PNG (LA) keeps the grey levels', async () => {
  const la = Buffer.from(GREYS.flatMap((g) => [g, 200]));
  const png = await raw(la, 2).toColourspace('b-w').png().toBuffer();
  assert.equal(describeImage(png).colourMode, 'LA');
  assert.deepEqual([...(await decodeGrey(png)).data], GREYS);
});

test('16-bit PNG is scaled to 8 bits (65535 -> 255, 257*g -> g)', async () => {
  const png = await raw(new Uint16Array(GREYS.map((g) => g * 257)), 1).toColourspace('grey16').png().toBuffer();
  const d = describeImage(png);
  assert.deepEqual([d.colourMode, d.bitDepth], ['L', 16]);
  assert.deepEqual([...(await decodeFile('grey16.png', png)).data], GREYS);
  const rgb16 = await raw(new Uint16Array([...greyRgb].map((g) => g * 257)), 3).toColourspace('rgb16').png().toBuffer();
  assert.deepEqual([describeImage(rgb16).colourMode, describeImage(rgb16).bitDepth], ['RGB', 16]);
  assert.deepEqual([...(await decodeGrey(rgb16)).data], GREYS);
});

test('palette PNG decodes like the RGB image it indexes', async () => {
  const png = await raw(greyRgb, 3).png({ palette: true, colours: 16, dither: 0 }).toBuffer();
  assert.equal(describeImage(png).colourMode, 'palette');
  assert.deepEqual([...(await decodeFile('palette.png', png)).data], GREYS);
});

test('a JPEG named .png is decoded as the JPEG it is', async () => {
  const jpeg = await flatJpeg(120, false);
  assert.equal(sniffFormat(jpeg), 'jpeg');
  assert.equal(extensionFormat('slice.png'), 'png');
  const img = await decodeFile('really-a-jpeg.png', jpeg);
  assert.deepEqual([img.width, img.height], [32, 32]);
  assert.ok(img.data.every((v) => Math.abs(v - 120) <= 1), `levels ${Math.min(...img.data)}..${Math.max(...img.data)}`);
});

test('progressive JPEG (SOF2), colour and greyscale', async () => {
  const jpeg = await flatJpeg(77, true);
  const d = describeImage(jpeg);
  assert.deepEqual([d.format, d.progressive, d.colourMode, d.width, d.height], ['jpeg', true, 'RGB', 32, 32]);
  assert.equal(describeImage(await flatJpeg(77, false)).progressive, false);
  const img = await decodeFile('progressive.jpg', jpeg);
  assert.ok(img.data.every((v) => Math.abs(v - 77) <= 1));
  const greyJpeg = await raw(Buffer.alloc(16 * 16, 200), 1, 16, 16).toColourspace('b-w').jpeg({ progressive: true }).toBuffer();
  assert.equal(describeImage(greyJpeg).colourMode, 'L');
  assert.ok((await decodeGrey(greyJpeg)).data.every((v) => Math.abs(v - 200) <= 1));
});

test('a truncated PNG is an error, wherever it is cut', async () => {
  const png = await raw(noise(64 * 48 * 3), 3, 64, 48).png().toBuffer();
  await assertDecodeError(decodeFile('cut.png', png.subarray(0, Math.floor(png.length * 0.6))), /^truncated or corrupt PNG: file ends inside chunk IDAT/);
  // Only the 12-byte IEND chunk missing: libpng would decode this without a word.
  assert.match(pngStructureProblem(png.subarray(0, png.length - 12)) ?? '', /without an IEND chunk/);
  await assertDecodeError(decodeGrey(png.subarray(0, png.length - 12)), /^truncated or corrupt PNG: .*IEND/);
  await assertDecodeError(decodeGrey(png.subarray(0, 20)), /^truncated or corrupt PNG: only 20 bytes/);
  // Whole chunks but damaged pixel data: it is libpng that notices.
  const damaged = Buffer.from(png);
  damaged.fill(0, 60, 200);
  await assertDecodeError(decodeGrey(damaged), /^truncated or corrupt PNG: /);
});

test('a truncated JPEG is an error, baseline and progressive', async () => {
  for (const progressive of [false, true]) {
    const jpeg = await raw(noise(64 * 48 * 3), 3, 64, 48).jpeg({ progressive }).toBuffer();
    await assertDecodeError(decodeFile('cut.jpg', jpeg.subarray(0, Math.floor(jpeg.length * 0.6))), /^truncated or corrupt JPEG: premature end of JPEG/i);
    await assertDecodeError(decodeGrey(jpeg.subarray(0, jpeg.length - 2)), /^truncated or corrupt JPEG/); // no EOI
    await assertDecodeError(decodeGrey(jpeg.subarray(0, 100)), /^truncated or corrupt JPEG: the file ends .* before the frame header/);
  }
  // Whole file, but a stretch of scan data overwritten: libjpeg only warns, and that warning must be fatal.
  const jpeg = await raw(noise(64 * 48 * 3), 3, 64, 48).jpeg().toBuffer();
  const damaged = Buffer.from(jpeg);
  damaged.fill(0xff, jpeg.length - 400, jpeg.length - 300);
  await assertDecodeError(decodeGrey(damaged), /^truncated or corrupt JPEG: Corrupt JPEG data/);
});

test('a text file named .png and an empty file are refused with the reason', async () => {
  await assertDecodeError(decodeFile('text.png', Buffer.from('hello, I am not an image\n')), /^not a PNG or JPEG image \(starts with 68 65 6c 6c 6f 2c 20 49 "hello, I"\)$/);
  await assertDecodeError(decodeFile('empty.png', new Uint8Array(0)), /^not a PNG or JPEG image: the file is empty/);
  const gif = Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1');
  // Named, not dumped in hex (issue 12.5).
  await assertDecodeError(decodeGrey(gif), /^a GIF image: not supported; convert to PNG$/);
});

test('images over maxPixels are refused from the header, before decoding', async () => {
  const png = await raw(Buffer.from(GREYS), 1).png().toBuffer();
  await assertDecodeError(decodeGrey(png, { maxPixels: 7 }), /^image is 4x2 = .* megapixels, over the limit of/);
  assert.equal((await decodeGrey(png, { maxPixels: 8 })).data.length, 8);
  // A header claiming 20000x20000 (no pixel data at all): refused by the default limit, nothing allocated.
  const huge = Buffer.from(png);
  huge.writeUInt32BE(20000, 16);
  huge.writeUInt32BE(20000, 20);
  await assertDecodeError(decodeGrey(huge), /^image is 20000x20000 = 400 megapixels, over the limit of 50 megapixels$/);
});

test('readAndDecodeGrey: an unreadable file is an ImageDecodeError without the path', async () => {
  const missing = path.join(dir, 'no-such-file.png');
  await assertDecodeError(readAndDecodeGrey(missing), /^cannot read the file \(ENOENT: no such file or directory\)$/);
  await assertDecodeError(readAndDecodeGrey(dir), /^cannot read the file \(EISDIR/);
});

test('sniffFormat and extensionFormat', async () => {
  assert.equal(sniffFormat(await raw(Buffer.from(GREYS), 1).png().toBuffer()), 'png');
  assert.equal(sniffFormat(Buffer.from([0xff, 0xd8])), null);
  assert.equal(sniffFormat(new Uint8Array(0)), null);
  assert.equal(extensionFormat('a%1.JPG'), 'jpeg');
  assert.equal(extensionFormat('a.jpeg'), 'jpeg');
  assert.equal(extensionFormat('scan'), null);
});
