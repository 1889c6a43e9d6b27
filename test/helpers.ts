/** Paths and a CLI runner shared by the tests that use the real data and the compiled command line. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { parseCsvTable } from '../src/data/labelled-set.js';
import { packageRoot } from '../src/cli/command.js';

/** The project's root (where package.json is). */
export const REPO = packageRoot();
export const DATA = path.resolve(REPO, '../shared/data/covid-ct');
export const WEIGHTS = path.resolve(REPO, '../shared/weights/mobilenetv2-12-int8.onnx');
export const CLI = path.join(REPO, 'dist/src/cli/main.js');

/** Fails (never skips) when the shared data is not beside the project, as in CI. */
export function requireShared(): void {
  assert.ok(existsSync(path.join(DATA, 'splits')), `the COVID-CT dataset is not at ${DATA} (../shared/data/covid-ct)`);
  assert.ok(existsSync(WEIGHTS), `the ImageNet MobileNetV2 is not at ${WEIGHTS}`);
}

export interface CliResult { code: number; stdout: string; stderr: string }

export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? REPO, env: { ...process.env, ...opts.env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The CSV files our own commands write, as objects keyed by the header (the project's CSV reader). */
export const readCsv = (text: string): Record<string, string>[] => parseCsvTable(text);

/**
 * A synthetic chest-CT-like slice (never a dataset image): a soft-tissue body ellipse on black air, two dark lungs,
 * vessels, and (when `opacity`) a patch of ground glass in the right lung. Grey bytes, `size` x `size`.
 */
export function lungPhantom(size = 384, opacity = true): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(size * size);
  const s = size / 384;
  const inEllipse = (x: number, y: number, cx: number, cy: number, rx: number, ry: number) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    let v = 0;
    if (inEllipse(x, y, 192 * s, 196 * s, 170 * s, 135 * s)) v = 150 + ((x * 7 + y * 13) % 9);
    const left = inEllipse(x, y, 120 * s, 190 * s, 58 * s, 95 * s), right = inEllipse(x, y, 264 * s, 190 * s, 58 * s, 95 * s);
    if (left || right) {
      v = 22 + ((x * 31 + y * 17) % 11);
      if (((x - 130 * s) ** 2 + (y - 160 * s) ** 2) < (3 * s) ** 2 || ((x - 250 * s) ** 2 + (y - 230 * s) ** 2) < (3 * s) ** 2) v = 140; // vessels
      if (opacity && right && inEllipse(x, y, 280 * s, 150 * s, 30 * s, 34 * s)) v = 95 + ((x * 3 + y * 5) % 13); // ground glass
    }
    if (inEllipse(x, y, 192 * s, 300 * s, 14 * s, 14 * s)) v = 235; // spine
    data[y * size + x] = v;
  }
  return { width: size, height: size, data };
}

/**
 * A grey picture as an RGB PNG: 'hues' paints it in colours that change across the picture (a colour drawing or
 * photo of the same shapes), 'cast' multiplies the channels by 1 / 0.8 / 0.6 (a warm cast, as a phone photo of a
 * monitor can have: still a grey picture).
 */
export async function colourPng(img: { width: number; height: number; data: Uint8Array }, paint: 'hues' | 'cast'): Promise<Buffer> {
  const { width, height, data } = img;
  const rgb = new Uint8Array(3 * width * height);
  for (let i = 0; i < data.length; i++) {
    const v = data[i], t = (i % width) / width;
    const [r, g, b] = paint === 'cast' ? [v, 0.8 * v, 0.6 * v] : [v, v * t, v * (1 - t)];
    rgb[3 * i] = Math.round(r); rgb[3 * i + 1] = Math.round(g); rgb[3 * i + 2] = Math.round(b);
  }
  return sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/**
 * A model folder for plumbing tests of the lungs design: a copy of the shipped whole-slice model (models/official) whose model.json
 * gains `preprocessing.lungs` (the model then sees lungs-only views) and a `reading` design (gate x pattern,
 * categories, NotCT). The ONNX graph is the same size, so it runs; its numbers mean nothing clinically (the
 * weights were trained on whole slices): it tests that the lungs path is carried through, not how well it reads.
 */
export async function lungsModelVariant(): Promise<string> {
  const { cp, mkdtemp, readFile, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-lungs-variant-'));
  await cp(path.join(REPO, 'models/official'), dir, { recursive: true });
  const file = path.join(dir, 'model.json');
  const json = JSON.parse(await readFile(file, 'utf8'));
  json.preprocessing.lungs = { margin: 0.06, dilate: 4, lungGrey: 40, tissueGrey: 200 };
  json.reading = { gate: { scale: 0.05 }, pattern: { threshold: json.threshold, band: 0.1 } };
  await writeFile(file, JSON.stringify(json, null, 2));
  return dir;
}

type Inside = (x: number, y: number) => boolean;
const ellipse = (cx: number, cy: number, rx: number, ry: number): Inside => (x, y) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;

/**
 * A drawn axial chest slice, upright (anterior at the top), 320 x 320: black air, a soft-tissue body, two lungs whose
 * anterior middle is taken by the heart, a vertebral body (bone, brighter than soft tissue) on the midline behind the
 * lungs, and (when `table`) the scanner's table, a thin bright line under the body. `spine: false` and
 * `table: false` with `heart: false` leave nothing that tells front from back.
 */
export function drawnChest(opts: { table?: boolean; spine?: boolean; heart?: boolean } = {}): { width: number; height: number; data: Uint8Array } {
  const { table = true, spine = true, heart = true } = opts;
  const size = 320;
  // The back (spine and muscles) is thick, the anterior chest wall thin: the body reaches further behind the lungs.
  const body = ellipse(160, 165, 140, 115);
  const lungs = [ellipse(100, 150, 50, 75), ellipse(220, 150, 50, 75)];
  const heartShape = ellipse(160, 105, 60, 55);
  const bone = ellipse(160, 215, 16, 16);
  const data = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 0;
      if (body(x, y)) v = 140 + ((x * 7 + y * 13) % 9);
      if (lungs.some((l) => l(x, y))) v = 22 + ((x * 31 + y * 17) % 11);
      if (heart && heartShape(x, y)) v = 150 + ((x * 5 + y * 3) % 7);
      if (spine && bone(x, y)) v = 245;
      if (table && y >= 290 && y < 293 && x > 40 && x < 280) v = 200;
      data[y * size + x] = v;
    }
  }
  return { width: size, height: size, data };
}

/**
 * Paints under a drawn slice (320 wide) the mattress the patient lies on and the table under it: a thin bright cover
 * at row `top` (2 px), air-dark foam below it (10 px), then a thick bright table, with side walls that close the foam.
 * The cover is all that parts the air between the body and the mattress from the foam's air.
 */
export function paintMattress(img: { width: number; height: number; data: Uint8Array }, top: number): void {
  const { width: w, data } = img;
  for (let y = top; y < top + 22; y++) {
    for (let x = 20; x < w - 20; x++) {
      const wall = x < 24 || x >= w - 24;
      let v = (x * 11 + y * 7) % 5; // foam: as dark as air
      if (y < top + 2 || wall) v = 120; // the cover and the side walls: barely above the lung threshold
      if (y >= top + 12) v = 210 + ((x * 3 + y) % 5); // the table
      data[y * w + x] = v;
    }
  }
}

/**
 * A drawn slice at the neck, upright, 320 x 320, with no lung: black air, the neck (soft tissue, a vertebra, the
 * trachea as a small dark disc on the midline) between the two shoulders, all lying on a mattress (paintMattress)
 * whose cover touches the shoulders, so that the air between the back of the neck and the mattress is enclosed by
 * tissue and the cover, as in CT-MD's neck slices. `trachea: false` leaves the trachea out.
 */
export function drawnNeck(opts: { trachea?: boolean } = {}): { width: number; height: number; data: Uint8Array } {
  const { trachea = true } = opts;
  const size = 320;
  const neck = ellipse(160, 140, 62, 70), shoulders = [ellipse(58, 175, 58, 58), ellipse(262, 175, 58, 58)];
  const airway = ellipse(160, 110, 10, 10), bone = ellipse(160, 160, 14, 14);
  const data = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 0;
      if (neck(x, y) || shoulders.some((s) => s(x, y))) v = 140 + ((x * 7 + y * 13) % 9);
      if (trachea && airway(x, y)) v = 22 + ((x * 31 + y * 17) % 11);
      if (bone(x, y)) v = 245;
      data[y * size + x] = v;
    }
  }
  const img = { width: size, height: size, data };
  paintMattress(img, 228);
  return img;
}

/**
 * The phantom drawn in a few flat greys (its fine texture quantised away): the lungs are still found, but the
 * picture has areas of one exact grey and no scanner grain, so the chest check (src/data/chest-check.ts) refuses it.
 */
export function flatPhantom(size = 384): { width: number; height: number; data: Uint8Array } {
  const p = lungPhantom(size, true);
  p.data = p.data.map((v) => (v === 0 ? 0 : v < 60 ? 30 : v < 120 ? 100 : v < 200 ? 150 : 235));
  return p;
}

/** The phantom with its lungs' interior replaced by stripes: the lungs are still found, the texture is unlike any CT. */
export function stripedLungsPhantom(size = 384): { width: number; height: number; data: Uint8Array } {
  const p = lungPhantom(size, false);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    const i = y * size + x;
    if (p.data[i] < 40) p.data[i] = (Math.floor(x / 3) + Math.floor(y / 5)) % 2 ? 0 : 70;
  }
  return p;
}

/**
 * Gives a model folder (e.g. a lungsModelVariant) a not-CT feature distance (ood.ts) fitted on 16 lung phantoms
 * (sizes 320-448, with and without ground glass; 384 is left out), threshold 3x the largest out-of-fold
 * distance, saved atomically with saveModel, and a model.onnx with the "features" output.
 */
export async function fitPhantomOod(dir: string): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  const { loadModel, saveModel } = await import('../src/model/model-files.js');
  const { exportOnnx } = await import('../src/model/onnx-export.js');
  const { OnnxClassifier } = await import('../src/model/onnx-engine.js');
  const { prepareSlice } = await import('../src/model/engine.js');
  const { fitOod } = await import('../src/model/ood.js');
  const model = await loadModel(dir);
  await writeFile(path.join(dir, 'model.onnx'), exportOnnx(model));
  const engine = await OnnxClassifier.load(dir);
  const rows: Float32Array[] = [];
  try {
    for (const size of [320, 336, 352, 368, 400, 416, 432, 448]) for (const opacity of [true, false]) {
      const prep = await prepareSlice(engine.json, lungPhantom(size, opacity));
      const { features, dim } = await engine.runViews([prep.views[0]]);
      rows.push(features!.slice(0, dim));
    }
  } finally { engine.dispose(); }
  const ood = fitOod(rows, { mean: model.head.mean, std: model.head.std, k: 3, quantile: 1, folds: 4, taps: model.json.backbone.taps });
  ood.design.threshold *= 3; // headroom: 16 phantoms are a tiny fitting set
  await saveModel(dir, { layers: model.layers, head: model.head, ood, json: model.json, attribution: 'test\n' });
  await writeFile(path.join(dir, 'model.onnx'), exportOnnx(await loadModel(dir)));
}

/** A chest phantom in HU: air, a body of soft tissue, two lungs with vessels and a patch of ground glass in one, a spine. */
export function huPhantom(size = 256): Int16Array {
  const hu = new Int16Array(size * size);
  const s = size / 256;
  const inE = (x: number, y: number, cx: number, cy: number, rx: number, ry: number) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    const noise = ((x * 7 + y * 13) % 9) * 4 - 16;
    let v = -1000 + noise;
    if (inE(x, y, 128 * s, 130 * s, 113 * s, 90 * s)) v = 40 + noise;
    const left = inE(x, y, 80 * s, 127 * s, 39 * s, 63 * s), right = inE(x, y, 176 * s, 127 * s, 39 * s, 63 * s);
    if (left || right) {
      v = -850 + 3 * noise;
      if ((x - 87 * s) ** 2 + (y - 107 * s) ** 2 < (2 * s) ** 2) v = 40;
      if (right && inE(x, y, 187 * s, 100 * s, 20 * s, 23 * s)) v = -500 + noise;
    }
    if (inE(x, y, 128 * s, 200 * s, 10 * s, 10 * s)) v = 700;
    hu[y * size + x] = v;
  }
  return hu;
}

/**
 * A minimal uncompressed little-endian TIFF of one strip (`pages` copies of the picture chained), for the decoder's
 * tests: 8-, 16- or 32-bit integers (signed or not) or 32-bit floats, 1 or 3 samples per pixel.
 */
export function tiffBytes(width: number, height: number, samples: ArrayLike<number>, opts: { bits?: 8 | 16 | 32; signed?: boolean; float?: boolean; channels?: 1 | 3; pages?: number } = {}): Uint8Array {
  const { bits = 16, signed = false, float = false, channels = 1, pages = 1 } = opts;
  const data = new Uint8Array(width * height * channels * (bits / 8));
  const dv = new DataView(data.buffer);
  for (let i = 0; i < samples.length; i++) {
    if (bits === 8) data[i] = samples[i];
    else if (bits === 16) (signed ? dv.setInt16(2 * i, samples[i], true) : dv.setUint16(2 * i, samples[i], true));
    else if (float) dv.setFloat32(4 * i, samples[i], true);
    else (signed ? dv.setInt32(4 * i, samples[i], true) : dv.setUint32(4 * i, samples[i], true));
  }
  const entries = (dataOffset: number, bpsOffset: number): [number, number, number, number][] => [
    [256, 3, 1, width], [257, 3, 1, height], [258, 3, channels, channels === 1 ? bits : bpsOffset], [259, 3, 1, 1],
    [262, 3, 1, channels === 1 ? 1 : 2], [273, 4, 1, dataOffset], [277, 3, 1, channels], [278, 3, 1, height],
    [279, 4, 1, data.length], [339, 3, 1, float ? 3 : signed ? 2 : 1],
  ];
  const ifdSize = 2 + 12 * 10 + 4, pageSize = ifdSize + 6 + data.length;
  const out = new Uint8Array(8 + pages * pageSize);
  const o = new DataView(out.buffer);
  out.set([0x49, 0x49, 42, 0]);
  o.setUint32(4, 8, true);
  for (let p = 0; p < pages; p++) {
    const ifd = 8 + p * pageSize, bps = ifd + ifdSize, at = bps + 6;
    o.setUint16(ifd, 10, true);
    entries(at, bps).forEach(([tag, type, count, value], k) => {
      const e = ifd + 2 + 12 * k;
      o.setUint16(e, tag, true); o.setUint16(e + 2, type, true); o.setUint32(e + 4, count, true);
      if (type === 3 && count === 1) o.setUint16(e + 8, value, true); else o.setUint32(e + 8, value, true);
    });
    o.setUint32(ifd + 2 + 120, p + 1 < pages ? ifd + pageSize : 0, true);
    for (let c = 0; c < 3; c++) o.setUint16(bps + 2 * c, bits, true);
    out.set(data, at);
  }
  return out;
}

/**
 * A single-file NIfTI-1 volume (little-endian int16, HU) of nz slices of w x h, voxel (i, j, k) = hu[(k * h + j) * w + i],
 * with the affine given as an sform (rows of 3 x 4) or as a qform (quaternion b, c, d; offsets; qfac) when `qform`.
 */
export function niftiBytes(w: number, h: number, nz: number, hu: ArrayLike<number>, orient: { sform?: number[][]; qform?: { b: number; c: number; d: number; qfac: 1 | -1 } }, pixdim = [0.7, 0.7, 5]): Uint8Array {
  const offset = 352;
  const out = new Uint8Array(offset + 2 * w * h * nz);
  const dv = new DataView(out.buffer);
  dv.setInt32(0, 348, true);
  [3, w, h, nz, 1, 1, 1, 1].forEach((v, k) => dv.setInt16(40 + 2 * k, v, true));
  dv.setInt16(70, 4, true); // int16
  dv.setInt16(72, 16, true);
  [orient.qform?.qfac ?? 1, ...pixdim].forEach((v, k) => dv.setFloat32(76 + 4 * k, v, true));
  dv.setFloat32(108, offset, true);
  dv.setFloat32(112, 1, true);
  if (orient.sform) {
    dv.setInt16(254, 1, true);
    orient.sform.forEach((row, r) => row.forEach((v, c) => dv.setFloat32(280 + 16 * r + 4 * c, v, true)));
  } else if (orient.qform) {
    dv.setInt16(252, 1, true);
    [orient.qform.b, orient.qform.c, orient.qform.d].forEach((v, k) => dv.setFloat32(256 + 4 * k, v, true));
  }
  out.set([0x6e, 0x2b, 0x31, 0], 344); // "n+1\0"
  for (let i = 0; i < w * h * nz; i++) dv.setInt16(offset + 2 * i, hu[i], true);
  return out;
}
