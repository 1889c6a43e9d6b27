/**
 * The pictures a user sees are the slice they sent (issue 12.1): the API's preview and heatmap of slices wider than
 * their 512 px side used to come back as horizontal stripes (sharp's resize of one-channel raw data returns three
 * channels). For grey, RGB and RGBA files of several widths, the preview must match an independent downscale of
 * the original (correlation >= 0.95), and the heatmap's picture must keep the slice's structure.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import sharp from 'sharp';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { analyseFiles } from '../src/predict/analyse.js';
import { blurByRescale } from '../src/data/preprocess.js';
import { REPO } from './helpers.js';

let engine: OnnxClassifier;
before(async () => { engine = await OnnxClassifier.load(path.join(REPO, 'models/official')); });
after(() => engine.dispose());

/** A slice-like pattern: a bright disc, two dark ovals, a gradient and some blocks, so that stripes would show. */
function pattern(width: number, height: number): Uint8Array {
  const d = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const u = x / width - 0.5, v = y / height - 0.5;
    let g = 40 + 120 * (x / width);
    if (u * u / 0.2 + v * v / 0.16 < 1) g = 200;
    if (((u + 0.18) ** 2) / 0.01 + v * v / 0.05 < 1 || ((u - 0.18) ** 2) / 0.01 + v * v / 0.05 < 1) g = 30;
    if ((Math.floor(x / (width / 8)) + Math.floor(y / (height / 6))) % 5 === 0) g = 250;
    d[y * width + x] = g;
  }
  return d;
}

async function fileOf(width: number, height: number, channels: 1 | 3 | 4): Promise<Uint8Array> {
  const g = pattern(width, height);
  const px = new Uint8Array(width * height * channels);
  for (let i = 0; i < g.length; i++) for (let c = 0; c < channels; c++) px[i * channels + c] = c === 3 ? 255 : g[i];
  return new Uint8Array(await sharp(px, { raw: { width, height, channels } }).png().toBuffer());
}

/** Grey pixels of a PNG data URL, and the same size reference downscale of the original grey pattern. */
async function greyOf(dataUrl: string): Promise<{ width: number; height: number; data: Uint8Array }> {
  const { data, info } = await sharp(Buffer.from(dataUrl.split(',')[1], 'base64')).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, info.width * info.height) };
}

function correlation(a: Uint8Array, b: Uint8Array): number {
  let ma = 0, mb = 0;
  for (let i = 0; i < a.length; i++) { ma += a[i]; mb += b[i]; }
  ma /= a.length; mb /= b.length;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < a.length; i++) { const x = a[i] - ma, y = b[i] - mb; sab += x * y; saa += x * x; sbb += y * y; }
  return sab / Math.sqrt(saa * sbb);
}

const SIZES: [number, number][] = [[300, 240], [512, 400], [513, 400], [1000, 700], [1637, 1225]];

for (const [w, h] of SIZES) {
  test(`preview and heatmap of a ${w}x${h} slice (grey, RGB, RGBA) match the slice`, async () => {
    for (const channels of [1, 3, 4] as const) {
      const [r] = (await analyseFiles(engine, [{ name: `s${channels}.png`, bytes: await fileOf(w, h, channels) }], { preview: true, heatmap: true })).results;
      assert.ok(r.preview && r.heatmap, `preview and heatmap for ${channels} channels: ${r.error ?? ''}`);
      const shown = await greyOf(r.preview);
      const long = Math.max(w, h);
      assert.deepEqual([shown.width, shown.height], long <= 512 ? [w, h] : [Math.round((w * 512) / long), Math.round((h * 512) / long)]);
      const ref = await sharp(pattern(w, h), { raw: { width: w, height: h, channels: 1 } }).resize(shown.width, shown.height, { fit: 'fill' })
        .toColourspace('b-w').raw().toBuffer();
      const c = correlation(shown.data, new Uint8Array(ref.buffer, ref.byteOffset, shown.width * shown.height));
      assert.ok(c >= 0.95, `${w}x${h}, ${channels} channel(s): preview correlation ${c.toFixed(3)}`);
      const heat = await greyOf(r.heatmap);
      assert.ok(heat.width >= shown.width && heat.height >= shown.height, `heatmap ${heat.width}x${heat.height}`);
      const rows = (img: { width: number; height: number; data: Uint8Array }) => {
        // Mean row-to-row difference: stripes (every other row from another part of the image) make it large.
        let s = 0;
        for (let y = 1; y < shown.height; y++) for (let x = 0; x < shown.width; x++) s += Math.abs(img.data[y * img.width + x] - img.data[(y - 1) * img.width + x]);
        return s / ((shown.height - 1) * shown.width);
      };
      assert.ok(rows(heat) < 12, `${w}x${h}, ${channels}: the heatmap picture is striped (mean row difference ${rows(heat).toFixed(1)})`);
    }
  });
}

test('blurByRescale (training augmentation) returns the slice, blurred, not three channels read as one', async () => {
  const w = 400, h = 300;
  const img = { width: w, height: h, data: pattern(w, h) };
  const out = await blurByRescale(img, 2);
  assert.equal(out.data.length, w * h);
  assert.ok(correlation(out.data, img.data) > 0.9, `correlation ${correlation(out.data, img.data)}`);
});
