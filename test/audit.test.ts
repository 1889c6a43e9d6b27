/** The shortcut audit's re-encodings do what they say, keeping the image's size. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { AUDIT_VARIANTS } from '../src/eval/audit.js';
import { sniffFormat } from '../src/data/format.js';
import { decodeGrey } from '../src/data/decode.js';

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
