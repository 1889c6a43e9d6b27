/**
 * The covid-ct page, in the browser: the image is decoded, turned grey and framed here, and the model runs
 * here with onnxruntime-web (wasm, served by our own server), so the image never leaves this device.
 */
import { FLIP_VIEW, IDENTITY_VIEW, renderView } from '../data/render-view.js';

interface OrtTensor { data: Float32Array; dims: readonly number[] }
interface OrtSession { run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>> }
interface OrtModule {
  env: { wasm: { wasmPaths: string; numThreads: number } };
  InferenceSession: { create(url: string, opts?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}
interface ModelCard {
  name: string; threshold: number; intendedUse: string;
  preprocessing: { workingSize: number; inputSize: number; views: number; fit: 'cover' | 'fill' | 'contain' };
}
interface Grey { width: number; height: number; data: Uint8Array }

const ORT_URL = '/vendor/ort/ort.wasm.min.mjs';
let ready: Promise<{ ort: OrtModule; session: OrtSession; card: ModelCard }> | undefined;

function load() {
  ready ??= (async () => {
    const ort = (await import(ORT_URL)) as OrtModule;
    ort.env.wasm.wasmPaths = '/vendor/ort/';
    ort.env.wasm.numThreads = 1; // threads need cross-origin isolation; one is enough for one image
    const [session, card] = await Promise.all([
      ort.InferenceSession.create('/model/model.onnx', { executionProviders: ['wasm'] }),
      fetch('/api/model').then((r) => r.json() as Promise<ModelCard>),
    ]);
    return { ort, session, card };
  })();
  return ready;
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** P(COVID) of an image from its rendered views: mean of the views' probabilities (logit = mean of the map). */
export async function probabilityOfViews(views: Float32Array[]): Promise<number> {
  const { ort, session, card } = await load();
  const s = card.preprocessing.inputSize;
  const input = new Float32Array(views.length * s * s);
  views.forEach((v, i) => input.set(v, i * s * s));
  const out = await session.run({ views: new ort.Tensor('float32', input, [views.length, 1, s, s]) });
  const cam = out.cam;
  const g = cam.dims[2] * cam.dims[3];
  let p = 0;
  for (let i = 0; i < views.length; i++) {
    let sum = 0;
    for (let k = 0; k < g; k++) sum += cam.data[i * g + k];
    p += sigmoid(sum / g) / views.length;
  }
  return p;
}

const toLinear = (c: number) => (c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
const toSrgb = (c: number) => (c <= 0.0031308 ? c * 12.92 : 1.055 * Math.pow(c, 1 / 2.4) - 0.055);

/** The working image: the slice's centre square (cover), resized by the browser, as one grey channel. */
async function workingImage(file: Blob, size: number): Promise<Grey> {
  const bitmap = await createImageBitmap(file);
  const m = Math.min(bitmap.width, bitmap.height);
  const canvas = new OffscreenCanvas(size, size);
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, size, size);
  ctx.drawImage(bitmap, (bitmap.width - m) / 2, (bitmap.height - m) / 2, m, m, 0, 0, size, size);
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const data = new Uint8Array(size * size);
  for (let i = 0; i < data.length; i++) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    // Grey as the server computes it: luminance in linear light (equal channels stay exactly as they are).
    data[i] = r === g && g === b ? r : Math.round(255 * toSrgb(0.2126 * toLinear(r / 255) + 0.7152 * toLinear(g / 255) + 0.0722 * toLinear(b / 255)));
  }
  return { width: size, height: size, data };
}

export async function analyseOnDevice(file: Blob): Promise<{ probability: number; threshold: number }> {
  const { card } = await load();
  const { workingSize, inputSize, views } = card.preprocessing;
  const work = await workingImage(file, workingSize);
  const rendered = [renderView(work, IDENTITY_VIEW, inputSize), renderView(work, FLIP_VIEW, inputSize)].slice(0, views);
  return { probability: await probabilityOfViews(rendered), threshold: card.threshold };
}

function show(text: string, cls = ''): void {
  const out = document.querySelector<HTMLElement>('#result')!;
  out.textContent = text;
  out.className = cls;
}

async function onFile(file: File): Promise<void> {
  show(`analysing ${file.name} on this device...`);
  try {
    const { probability, threshold } = await analyseOnDevice(file);
    const label = probability >= threshold ? 'COVID' : 'NonCOVID';
    show(`${file.name}: P(COVID) = ${probability.toFixed(4)} -> ${label} (threshold ${threshold.toFixed(4)})`, label);
    document.querySelector<HTMLElement>('#result')!.dataset.probability = String(probability);
  } catch (e) {
    show(`${file.name} could not be analysed: ${(e as Error).message}`, 'error');
  }
}

// Wire the page (and expose the two entry points for tests and for other scripts).
(globalThis as Record<string, unknown>).covidCt = { probabilityOfViews, analyseOnDevice, load };
if (typeof document !== 'undefined') {
  const input = document.querySelector<HTMLInputElement>('#file');
  input?.addEventListener('change', () => { if (input.files?.[0]) void onFile(input.files[0]); });
  void load().then(({ card }) => {
    document.querySelector<HTMLElement>('#model')!.textContent = `${card.name}; threshold ${card.threshold.toFixed(4)}. ${card.intendedUse}.`;
  }, (e: Error) => show(`the model could not be loaded: ${e.message}`, 'error'));
}
