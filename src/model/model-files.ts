/**
 * The model folder: model.json (the card: what it is, how it was trained, its threshold and val metrics),
 * backbone.bin (the 52 convolutions; int8 + per-channel scale where the source was int8, which dequantises
 * exactly, else float32), head.bin (the standardisation and the logistic unit, float32), ood.bin when the reading has a not-CT distance
 * (ood.ts; described in model.json reading.ood), and ATTRIBUTION.md.
 * Written into a temporary sibling folder and renamed into place, so an interrupted save never leaves a
 * half-written model.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ConvLayer, ConvKind } from './mobilenetv2.js';
import type { LinearHead } from './head.js';
import type { InputNormalisation } from './backbone.js';
import type { WorkingFit } from '../data/preprocess.js';
import type { LungFraming } from '../data/lung-view.js';
import type { ReadingDesign } from './reading.js';
import { packOod, unpackOod, type OodModel } from './ood.js';
import { UserError } from '../util/errors.js';

export const MODEL_FORMAT = 'covid-ct-model';
export const MODEL_FORMAT_VERSION = 1;

interface LayerEntry {
  name: string; kind: ConvKind; kernel: number; stride: number; cin: number; cout: number; relu6: boolean; padding?: 'symmetric' | 'keras';
  weight: { dtype: 'int8'; offset: number; length: number; scaleOffset: number } | { dtype: 'float32'; offset: number; length: number };
  bias: { offset: number; length: number };
}

/** What model.json says; `card` holds the descriptive part, free-form but documented in README. */
export interface ModelJson {
  format: typeof MODEL_FORMAT;
  formatVersion: number;
  backbone: {
    architecture: 'mobilenetv2-1.0';
    taps: string[];
    inputSize: number;
    pooling: 'mean';
    layers: LayerEntry[];
    file: string;
    sha256: string;
  };
  head: { type: 'logistic'; dim: number; bias: number; file: string; sha256: string };
  preprocessing: {
    colour: 'grey';
    workingSize: number;
    /** How the slice was fitted into the square working image. */
    fit: WorkingFit;
    inputSize: number;
    /** Grey is replicated to RGB, then: see InputNormalisation. */
    normalisation: InputNormalisation;
    /** Test-time views averaged: 1 = identity only, 2 = identity + horizontal flip. */
    views: number;
    /**
     * Gaussian blur of the working image (sigma in its pixels; src/data/band-limit.ts) before the views are
     * rendered; absent = none. It band-limits what the model sees so that a sharper or blurrier file of the
     * same anatomy looks the same.
     */
    blurSigma?: number;
    /** When set, the model sees the lungs only, framed so (src/data/lung-view.ts); absent = the whole slice. */
    lungs?: LungFraming;
  };
  threshold: number;
  /** The lungs design's combination (reading.ts); absent for a whole-slice model, whose P is its own. */
  reading?: ReadingDesign;
  card: Record<string, unknown>;
}

export interface LoadedModel {
  dir: string;
  json: ModelJson;
  layers: ConvLayer[];
  head: LinearHead;
  /** The not-CT distance (ood.ts), when model.json has reading.ood (its vectors are in ood.bin). */
  ood?: OodModel;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function packBackbone(layers: ConvLayer[]): { bin: Uint8Array; entries: LayerEntry[] } {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const push = (a: Uint8Array): number => {
    const pad = (4 - (offset % 4)) % 4; // keep float32 arrays aligned
    if (pad) { chunks.push(new Uint8Array(pad)); offset += pad; }
    const at = offset;
    chunks.push(a);
    offset += a.byteLength;
    return at;
  };
  const bytes = (a: Float32Array | Int8Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const entries = layers.map((l): LayerEntry => {
    const weight: LayerEntry['weight'] = l.quant
      ? { dtype: 'int8', offset: push(bytes(l.quant.q)), length: l.quant.q.length, scaleOffset: push(bytes(l.quant.scale)) }
      : { dtype: 'float32', offset: push(bytes(l.weight)), length: l.weight.length };
    const bias = { offset: push(bytes(l.bias)), length: l.bias.length };
    return { name: l.name, kind: l.kind, kernel: l.kernel, stride: l.stride, cin: l.cin, cout: l.cout, relu6: l.relu6, padding: l.padding ?? 'symmetric', weight, bias };
  });
  const bin = new Uint8Array(offset);
  let o = 0;
  for (const c of chunks) { bin.set(c, o); o += c.byteLength; }
  return { bin, entries };
}

function unpackBackbone(bin: Uint8Array, entries: LayerEntry[]): ConvLayer[] {
  const f32 = (offset: number, length: number): Float32Array => {
    if (offset + length * 4 > bin.byteLength) throw new Error('backbone.bin is shorter than model.json says');
    return new Float32Array(bin.buffer.slice(bin.byteOffset + offset, bin.byteOffset + offset + length * 4));
  };
  return entries.map((e) => {
    const bias = f32(e.bias.offset, e.bias.length);
    if (e.weight.dtype === 'float32') return { ...e, weight: f32(e.weight.offset, e.weight.length), bias };
    const q = new Int8Array(bin.buffer.slice(bin.byteOffset + e.weight.offset, bin.byteOffset + e.weight.offset + e.weight.length));
    const scale = f32(e.weight.scaleOffset, e.cout);
    const weight = new Float32Array(q.length);
    for (let k = 0; k < q.length; k++) weight[k] = scale[k % e.cout] * q[k]; // same product as ONNX dequantisation
    return { ...e, weight, bias, quant: { q, scale } };
  });
}

export interface SaveModelInput {
  layers: ConvLayer[];
  head: LinearHead;
  /** A not-CT distance fit (ood.ts), written as ood.bin and described in model.json reading.ood. */
  ood?: OodModel;
  json: Omit<ModelJson, 'backbone' | 'head' | 'format' | 'formatVersion'> & {
    backbone: Omit<ModelJson['backbone'], 'layers' | 'file' | 'sha256'>;
  };
  attribution: string;
}

/** Writes a model folder atomically (replacing an existing one only once the new one is complete). */
export async function saveModel(dir: string, m: SaveModelInput): Promise<ModelJson> {
  const { bin, entries } = packBackbone(m.layers);
  const dim = m.head.weight.length;
  const headBin = new Float32Array(3 * dim);
  headBin.set(m.head.mean, 0);
  headBin.set(m.head.std, dim);
  headBin.set(m.head.weight, 2 * dim);
  const headBytes = new Uint8Array(headBin.buffer);
  const oodBytes = m.ood ? packOod(m.ood) : undefined;
  if (m.ood && !m.json.reading) throw new Error('saveModel: an ood fit needs a reading design');
  const reading = m.json.reading ? { ...m.json.reading, ...(m.ood ? { ood: { file: 'ood.bin', sha256: sha256(oodBytes!), ...m.ood.design } } : {}) } : undefined;
  const json: ModelJson = {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    backbone: { ...m.json.backbone, layers: entries, file: 'backbone.bin', sha256: sha256(bin) },
    head: { type: 'logistic', dim, bias: m.head.bias, file: 'head.bin', sha256: sha256(headBytes) },
    preprocessing: m.json.preprocessing,
    threshold: m.json.threshold,
    ...(reading ? { reading } : {}),
    card: m.json.card,
  };
  const target = path.resolve(dir);
  const tmp = `${target}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeFile(path.join(tmp, 'backbone.bin'), bin);
  await writeFile(path.join(tmp, 'head.bin'), headBytes);
  if (oodBytes) await writeFile(path.join(tmp, 'ood.bin'), oodBytes);
  await writeFile(path.join(tmp, 'model.json'), JSON.stringify(json, null, 2) + '\n');
  await writeFile(path.join(tmp, 'ATTRIBUTION.md'), m.attribution);
  const old = `${target}.old-${process.pid}`;
  const exists = await stat(target).then(() => true, () => false);
  if (exists) await rename(target, old);
  await rename(tmp, target);
  if (exists) await rm(old, { recursive: true, force: true });
  return json;
}

/** A model folder's model.json, its format checked, without reading the weights; problems are UserErrors naming the folder. */
export async function readModelJson(dir: string): Promise<ModelJson> {
  const where = path.resolve(dir);
  let json: ModelJson;
  try {
    json = JSON.parse(await readFile(path.join(where, 'model.json'), 'utf8')) as ModelJson;
  } catch (e) {
    throw new UserError(`${where} is not a covid-ct model folder: cannot read model.json (${(e as Error).message})`);
  }
  if (json.format !== MODEL_FORMAT || json.formatVersion !== MODEL_FORMAT_VERSION) {
    throw new UserError(`${where}/model.json is not a ${MODEL_FORMAT} v${MODEL_FORMAT_VERSION} model`);
  }
  return json;
}

/**
 * What identifies a model's numbers: its weight hashes, threshold, preprocessing and reading design (16 hex
 * digits). The PACS output's derived UIDs and the batch queue's names and result keys are built on it.
 */
export function modelKey(json: ModelJson): string {
  const what = JSON.stringify([json.backbone.sha256, json.head.sha256, json.threshold, json.preprocessing, json.reading ?? null]);
  return createHash('sha256').update(what).digest('hex').slice(0, 16);
}

/** Reads a model folder, checking format, hashes and sizes; problems are UserErrors naming the folder. */
export async function loadModel(dir: string): Promise<LoadedModel> {
  const where = path.resolve(dir);
  const json = await readModelJson(where);
  const read = async (file: string, hash: string): Promise<Uint8Array> => {
    const b = new Uint8Array(await readFile(path.join(where, file)).catch(() => { throw new UserError(`${where}: ${file} is missing`); }));
    if (sha256(b) !== hash) throw new UserError(`${where}: ${file} does not match the sha256 in model.json (corrupt or replaced)`);
    return b;
  };
  const bin = await read(json.backbone.file, json.backbone.sha256);
  const headBytes = await read(json.head.file, json.head.sha256);
  const dim = json.head.dim;
  const h = new Float32Array(headBytes.buffer.slice(headBytes.byteOffset, headBytes.byteOffset + headBytes.byteLength));
  if (h.length !== 3 * dim) throw new UserError(`${where}: head.bin has ${h.length} values, expected ${3 * dim}`);
  const head: LinearHead = { mean: h.slice(0, dim), std: h.slice(dim, 2 * dim), weight: h.slice(2 * dim), bias: json.head.bias };
  const oodDesign = json.reading?.ood;
  let ood: OodModel | undefined;
  if (oodDesign) {
    const bytes = await read(oodDesign.file, oodDesign.sha256);
    try { ood = unpackOod(bytes, oodDesign); } catch (e) { throw new UserError(`${where}: ${(e as Error).message}`); }
    if (oodDesign.dim !== dim) throw new UserError(`${where}: ${oodDesign.file} is for ${oodDesign.dim} features, the head has ${dim}`);
  }
  return { dir: where, json, layers: unpackBackbone(bin, json.backbone.layers), head, ...(ood ? { ood } : {}) };
}
