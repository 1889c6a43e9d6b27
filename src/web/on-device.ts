/**
 * "Analyse on this device": the file is decoded by the browser, made grey, framed and rendered into views by
 * the same TypeScript modules the server uses (working-image.ts, render-view.ts; for a lungs model lungs.ts,
 * involvement.ts, lung-view.ts, reading.ts and the not-CT distance ood.ts), and the model runs here
 * with onnxruntime-web (wasm, served by our own server). The image never leaves the machine.
 */
import { renderView } from '../data/render-view.js';
import { TTA_PLAN, viewSpecs } from '../data/view-plan.js';
import { workingImage, type WorkingFit } from '../data/working-image.js';
import { meanViewMap } from '../explain/cam-overlay.js';
import { gateEvidence, heatFullScale, logitsOfCams, mapMethodFor, occlusionEvidence, type GateEvidence, type MapMethod } from '../explain/lung-evidence.js';
import { gaussianBlur } from '../data/band-limit.js';
import { findLungs } from '../data/involvement.js';
import { readableSlice } from '../data/polarity.js';
import { colourShare } from '../data/colour.js';
import { greyOf16 } from '../data/grey16.js';
import { decodePng16, png16Header } from '../data/png16.js';
import type { LungWindow } from '../data/window.js';
import type { HuMapping } from '../types.js';
import { lungView, type LungFraming } from '../data/lung-view.js';
import { gateOf, readSlice, type ReadingDesign, type SliceReading } from '../model/reading.js';
import { oodDistance, unpackOod, type OodDesign, type OodModel } from '../model/ood.js';

interface OrtTensor { data: Float32Array; dims: readonly number[] }
interface OrtSession { run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>> }
interface OrtModule {
  env: { wasm: { wasmPaths: string; numThreads: number } };
  InferenceSession: { create(url: string, opts?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}
/** A decoded picture: its grey, and the share of strongly coloured pixels it had (colour.ts; the not-CT check reads it). */
export interface Grey { width: number; height: number; data: Uint8Array; colourShare?: number; hu?: HuMapping }
export interface Preprocessing { workingSize: number; inputSize: number; views: number; fit: WorkingFit; blurSigma?: number; lungs?: LungFraming }
/** What the device needs of the model card to read a slice as the server does. */
export interface DeviceModel { preprocessing: Preprocessing; threshold: number; reading?: ReadingDesign }

const ORT_URL = '/vendor/ort/ort.wasm.min.mjs';
let session: Promise<{ ort: OrtModule; session: OrtSession }> | undefined;

/** Loads onnxruntime-web and the model once (about 9 MB from our server). */
export function loadModel(): Promise<{ ort: OrtModule; session: OrtSession }> {
  session ??= (async () => {
    const ort = (await import(ORT_URL)) as OrtModule;
    ort.env.wasm.wasmPaths = '/vendor/ort/';
    ort.env.wasm.numThreads = 1; // threads need cross-origin isolation; one is enough for one image
    return { ort, session: await ort.InferenceSession.create('/model/model.onnx', { executionProviders: ['wasm'] }) };
  })();
  session.catch(() => { session = undefined; });
  return session;
}

let oodFit: { sha256: string; model: Promise<OodModel> } | undefined;

/** The model's not-CT distance fit (ood.ts): /model/ood.bin, fetched once and checked against the card's design. */
export function loadOod(design: OodDesign): Promise<OodModel> {
  if (oodFit?.sha256 !== design.sha256) {
    const model = (async () => {
      const res = await fetch('/model/ood.bin');
      if (!res.ok) throw new Error(`/model/ood.bin: HTTP ${res.status}`);
      return unpackOod(new Uint8Array(await res.arrayBuffer()), design);
    })();
    model.catch(() => { oodFit = undefined; });
    oodFit = { sha256: design.sha256, model };
  }
  return oodFit.model;
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

let busy: Promise<unknown> = Promise.resolve();

/** One run of the session at a time: a heatmap asked for while slices are being analysed waits its turn. */
function serial<T>(f: () => Promise<T>): Promise<T> {
  const next = busy.then(f, f);
  busy = next.catch(() => undefined);
  return next;
}

/** The model's outputs on views, run in chunks of 8 (an occlusion batch of ~100 views at once would need ~100s of MB). */
async function runChunks(views: Float32Array[], inputSize: number): Promise<{ cams: Float32Array; grid: number; features: Float32Array | null }> {
  const { ort, session: s } = await loadModel();
  const CHUNK = 8;
  const parts: Float32Array[] = [];
  let grid = 0;
  let features: Float32Array | null = null;
  for (let i = 0; i < views.length; i += CHUNK) {
    const chunk = views.slice(i, i + CHUNK);
    const input = new Float32Array(chunk.length * inputSize * inputSize);
    chunk.forEach((v, k) => input.set(v, k * inputSize * inputSize));
    const out = await serial(() => s.run({ views: new ort.Tensor('float32', input, [chunk.length, 1, inputSize, inputSize]) }));
    grid = out.cam.dims[2];
    parts.push(out.cam.data);
    if (i === 0 && out.features) features = out.features.data.slice(0, out.features.dims[1]);
  }
  const cams = new Float32Array(views.length * grid * grid);
  let at = 0;
  for (const p of parts) { cams.set(p, at); at += p.length; }
  return { cams, grid, features };
}

/**
 * P(COVID) of an image from its rendered views, its class activation map (mean over views, unflipped), the logits
 * of its views, and the pooled features of its identity view (null from a model.onnx exported before "features").
 */
export async function runViews(views: Float32Array[], inputSize: number): Promise<{ probability: number; grid: number; cam: Float32Array; logits: Float64Array; features: Float32Array | null }> {
  const { cams, grid, features } = await runChunks(views, inputSize);
  // The logit is the mean of the map (see onnx-engine.ts); the same sum order as the server.
  const logits = logitsOfCams(cams, grid, views.length);
  let probability = 0;
  for (const l of logits) probability += sigmoid(l) / views.length;
  return { probability, grid, cam: meanViewMap(cams, grid, views.length), logits, features };
}

/**
 * The map of evidence the heatmap shows, as the server's (onnx-engine.ts): for a lungs view the occlusion map
 * (lung-evidence.ts; one more batch of views through the model), else the CAM already computed.
 */
export async function evidenceMap(views: Float32Array[], run: { grid: number; cam: Float32Array; logits: Float64Array }, p: Preprocessing, method: MapMethod, gate?: GateEvidence, threshold = 0): Promise<{ grid: number; cam: Float32Array; fullScale?: number }> {
  if (method !== 'occlusion' || !p.lungs) return { grid: run.grid, cam: run.cam };
  const map = await occlusionEvidence(views, run.logits, p.inputSize, p.lungs, async (v) => {
    const r = await runChunks(v, p.inputSize);
    return logitsOfCams(r.cams, r.grid, v.length);
  }, gate);
  const fullScale = heatFullScale(map.units, threshold);
  return { grid: map.grid, cam: map.values, ...(fullScale ? { fullScale } : {}) };
}

const toLinear = (c: number) => (c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
const toSrgb = (c: number) => (c <= 0.0031308 ? c * 12.92 : 1.055 * Math.pow(c, 1 / 2.4) - 0.055);

/**
 * Decodes a PNG or JPEG with the browser's own decoder, as stored (no colour management, no EXIF rotation,
 * alpha dropped), into one grey channel computed as the server computes it (luminance in linear light;
 * equal channels keep their value exactly).
 */
export async function decodeInBrowser(file: Blob, window?: LungWindow): Promise<Grey> {
  // A 16-bit grey PNG (CT numbers, grey16.ts) needs all 16 bits of each sample; a canvas keeps 8.
  if (png16Header(new Uint8Array(await file.slice(0, 29).arrayBuffer()))) {
    const { width, height, values } = await decodePng16(new Uint8Array(await file.arrayBuffer()), inflateZlib);
    return greyOf16(values, width, height, window).image;
  }
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'none' } as ImageBitmapOptions);
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) {
    const r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
    data[i] = r === g && g === b ? r : Math.round(255 * toSrgb(0.2126 * toLinear(r / 255) + 0.7152 * toLinear(g / 255) + 0.0722 * toLinear(b / 255)));
  }
  // The server measures colour only in colour files; a grey file's share is 0 here, the same verdict.
  return { width, height, data, colourShare: colourShare(rgba, width, height, 4) };
}

/** The zlib stream of a PNG's image data, inflated by the browser. */
async function inflateZlib(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([new Uint8Array(data)]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * The model's test-time views of a grey slice (identity, mirror, then TTA_PLAN's fixed draws), as the server
 * renders them (engine.ts prepareSlice, views.ts): for a lungs model, of the lungs-only view of `seg`.
 */
export function viewsOf(grey: Grey, p: Preprocessing, seg?: ReturnType<typeof findLungs>['seg']): Float32Array[] {
  const shown = p.lungs ? lungView(seg ?? findLungs(grey).seg, grey, p.lungs) : grey;
  // The band limit the model was trained with (see band-limit.ts), exactly as the server applies it.
  const work = gaussianBlur(workingImage(shown, p.workingSize, p.fit), p.blurSigma ?? 0);
  return viewSpecs({ ...TTA_PLAN, views: p.views }, '').map((v) => renderView(work, v.params, p.inputSize));
}

/**
 * One slice read on this device as the server reads it: lungs found and measured (involvement.ts), views rendered,
 * the model run, and P combined by the model's reading design (reading.ts); `map()` makes its map of evidence.
 */
export async function analyseOnDevice(file: Blob, m: DeviceModel, window?: LungWindow) {
  // The polarity, orientation and tilt stages as on the server (engine.ts prepareSlice): the reading, the map and the
  // row's picture are all of the slice upright, level and air black.
  const up = readableSlice(await decodeInBrowser(file, window));
  const grey = up.image;
  const lungs = findLungs(grey, up.seg);
  const views = viewsOf(grey, m.preprocessing, lungs.seg);
  const { features, logits, ...run } = await runViews(views, m.preprocessing.inputSize);
  // The same not-CT distance as the server (engine.ts): on the identity view's features.
  const ood = m.reading?.ood;
  const distance = ood && features ? oodDistance(await loadOod(ood), features) : undefined;
  const reading: SliceReading = readSlice(run.probability, lungs.findings, m.threshold, m.reading, distance);
  // The map of evidence on request, once: a lungs model's occlusion runs ~80 more views (about a second here),
  // which a user who never opens a heatmap should not wait for.
  let made: Promise<{ grid: number; cam: Float32Array; fullScale?: number }> | undefined;
  const design = m.reading;
  const gate = gateEvidence(design && ((f: number) => gateOf(f, design.gate)), lungs, m.preprocessing.lungs);
  const map = () => (made ??= evidenceMap(views, { ...run, logits }, m.preprocessing, mapMethodFor(m.preprocessing, lungs.seg), gate, m.threshold));
  return { grey, orientation: up.orientation, polarity: up.polarity, tilt: up.tilt, lungs, reading, probability: reading.probability, map };
}
