/** The shortcut audit's re-encodings do what they say, keeping the image's size. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { ALL_AUDIT_VARIANTS, AUDIT_VARIANTS, keptLungMask, type AuditContext } from '../src/eval/audit.js';
import { sniffFormat } from '../src/data/format.js';
import { decodeGrey } from '../src/data/decode.js';
import { lungPhantom } from './helpers.js';

async function makeImages(): Promise<{ png: Uint8Array; jpeg: Uint8Array }> {
  const w = 64, h = 48;
  const rgb = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = (x * 4 + ((y >> 3) & 1) * 60) & 255; // stripes and a step: something for JPEG to blur
    rgb.set([v, v, v], (y * w + x) * 3);
  }
  const raw = { raw: { width: w, height: h, channels: 3 as const } };
  return { png: new Uint8Array(await sharp(rgb, raw).png().toBuffer()), jpeg: new Uint8Array(await sharp(rgb, raw).jpeg({ quality: 90 }).toBuffer()) };
}

const variant = (name: string) => AUDIT_VARIANTS.find((v) => v.name === name)!;

test('audit variants: format changes, lossless round trips and sizes', async () => {
  const { png, jpeg } = await makeImages();
  assert.deepEqual(AUDIT_VARIANTS.map((v) => v.name), ['original', 'png-to-jpeg-q75', 'jpeg-to-png', 'grey', 'downscale-2x']);
  assert.equal(await variant('original').apply(png), png);

  const pj = await variant('png-to-jpeg-q75').apply(png);
  assert.equal(sniffFormat(pj), 'jpeg');
  assert.equal(await variant('png-to-jpeg-q75').apply(jpeg), jpeg, 'a JPEG is left as it is');

  const jp = await variant('jpeg-to-png').apply(jpeg);
  assert.equal(sniffFormat(jp), 'png');
  assert.deepEqual((await decodeGrey(jp)).data, (await decodeGrey(jpeg)).data, 'JPEG -> PNG keeps the pixels');

  const g = await variant('grey').apply(png);
  assert.equal((await sharp(g).metadata()).channels, 1);

  for (const src of [png, jpeg]) {
    const d = await variant('downscale-2x').apply(src);
    const [a, b] = await Promise.all([decodeGrey(src), decodeGrey(d)]);
    assert.deepEqual([b.width, b.height], [a.width, a.height]);
    assert.notDeepEqual(b.data, a.data, 'downscaling by 2 loses the 1-pixel detail');
  }
});

const outside = (name: string) => ALL_AUDIT_VARIANTS.find((v) => v.name === name)!;
const greyPng = async (img: { width: number; height: number; data: Uint8Array }) =>
  new Uint8Array(await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 1 } }).png().toBuffer());

/** A second synthetic slice of the same size whose surroundings differ everywhere from the phantom's: a diagonal ramp. */
function ramp(size: number): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) data[y * size + x] = 60 + ((x + 2 * y) % 150);
  return { width: size, height: size, data };
}

test('outside variants: names, and the file-level list is unchanged', () => {
  assert.deepEqual(ALL_AUDIT_VARIANTS.map((v) => v.name), [...AUDIT_VARIANTS.map((v) => v.name), 'outside-noise', 'outside-swap', 'marks-on-noncovid']);
  assert.ok(ALL_AUDIT_VARIANTS.filter((v) => v.perImage).every((v) => v.name.startsWith('outside') || v.name.startsWith('marks')));
});

test('outside-noise keeps the lung pixels exactly, changes the outside, and is deterministic', async () => {
  const phantom = lungPhantom(256);
  const bytes = await greyPng(phantom);
  const keep = keptLungMask(phantom)!;
  assert.ok(keep, 'the phantom\'s lungs are found');
  const out = await outside('outside-noise').apply(bytes);
  const img = await decodeGrey(out);
  assert.deepEqual([img.width, img.height], [256, 256]);
  let kept = 0, outsidePixels = 0, changed = 0;
  for (let i = 0; i < keep.length; i++) {
    if (keep[i]) { kept++; assert.equal(img.data[i], phantom.data[i], `lung pixel ${i} kept`); } else {
      outsidePixels++;
      if (img.data[i] !== phantom.data[i]) changed++;
    }
  }
  assert.ok(kept > 0.1 * keep.length && outsidePixels > 0.3 * keep.length, `kept ${kept}, outside ${outsidePixels}`);
  assert.ok(changed > 0.95 * outsidePixels, `outside changed: ${changed} of ${outsidePixels}`);
  assert.deepEqual(await outside('outside-noise').apply(new Uint8Array(bytes)), out, 'same bytes in, same bytes out');
  const other = await outside('outside-noise').apply(await greyPng(lungPhantom(256, false)));
  assert.notDeepEqual(other, out, 'another image gets other noise');
});

test('outside-swap takes the next image\'s outside (resized) and keeps its own lungs', async () => {
  const phantom = lungPhantom(256);
  const a = await greyPng(phantom), b = await greyPng(ramp(256)), small = await greyPng(ramp(128));
  const ctx: AuditContext = { index: 0, all: [a, b], labels: [1, 0] };
  const out = await decodeGrey(await outside('outside-swap').apply(a, ctx));
  const keep = keptLungMask(phantom)!;
  const r = ramp(256).data;
  for (let i = 0; i < keep.length; i++) assert.equal(out.data[i], keep[i] ? phantom.data[i] : r[i], `pixel ${i}`);
  assert.deepEqual(await outside('outside-swap').apply(a, ctx), await outside('outside-swap').apply(new Uint8Array(a), ctx), 'deterministic');
  // A partner of another size is resized to this slice's size.
  const resized = await decodeGrey(await outside('outside-swap').apply(a, { index: 0, all: [a, small] }));
  assert.deepEqual([resized.width, resized.height], [256, 256]);
  for (let i = 0; i < keep.length; i++) if (keep[i]) assert.equal(resized.data[i], phantom.data[i]);
  // The last image pairs with the first; a lone image, or no context, is left alone.
  assert.notEqual(await outside('outside-swap').apply(b, { index: 1, all: [a, b] }), b);
  assert.equal(await outside('outside-swap').apply(a, { index: 0, all: [a] }), a);
  assert.equal(await outside('outside-swap').apply(a), a);
});

test('marks are pasted on non-COVID slices only, deterministically', async () => {
  const covid = await greyPng(lungPhantom(256)), non = await greyPng(lungPhantom(256, false));
  const ctx = (index: number): AuditContext => ({ index, all: [covid, non], labels: [1, 0] });
  assert.equal(await outside('marks-on-noncovid').apply(covid, ctx(0)), covid, 'a COVID slice is left alone');
  assert.equal(await outside('marks-on-noncovid').apply(non), non, 'no labels: left alone');
  const marked = await outside('marks-on-noncovid').apply(non, ctx(1));
  assert.notEqual(marked, non);
  assert.deepEqual(await outside('marks-on-noncovid').apply(new Uint8Array(non), ctx(1)), marked, 'same bytes in, same bytes out');
  const [a, b] = await Promise.all([decodeGrey(non), decodeGrey(marked)]);
  assert.deepEqual([b.width, b.height], [a.width, a.height]);
  let diff = 0, white = 0, black = 0;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) { diff++; if (b.data[i] >= 250) white++; if (b.data[i] <= 5) black++; }
  assert.ok(diff > 200 && diff < 0.2 * a.data.length, `marks cover ${diff} pixels`);
  assert.ok(white + black > 50, `the marks are white or black (${white} white, ${black} black of ${diff} changed pixels)`);
});
