/**
 * The onnxruntime engine: the model folder's model.onnx (see onnx-export.ts) run by onnxruntime-node, several
 * times faster than tfjs-wasm on a CPU. It renders the same views as the tfjs engine and also returns class
 * activation maps.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ort } from './ort-node.js';
import type { GreyImage } from '../types.js';
import { loadModel, type LoadedModel, type ModelJson } from './model-files.js';
import { exportOnnx } from './onnx-export.js';
import { readOnnxGraph } from './onnx-proto.js';
import { EngineBase, prepareSlice, type EngineOptions, type PreparedSlice } from './engine.js';
import { gateOf, readSlice, type SliceReading } from './reading.js';
import { sigmoid } from './head.js';
import { oodDistance, type OodModel } from './ood.js';
import { UserError } from '../util/errors.js';
import { meanViewMap } from '../explain/cam-overlay.js';
import { gateEvidence, heatFullScale, logitsOfCams, mapMethodFor, occlusionEvidence, type MapMethod } from '../explain/lung-evidence.js';

export const ONNX_FILE = 'model.onnx';

/**
 * A map of evidence over the square the model saw (grid x grid cells; positive = towards COVID). `cam` (or no
 * method): the class activation map, logit contributions whose mean is the logit; `occlusion`: the logit's drop
 * when each cell is hidden (lung-evidence.ts).
 */
export interface ActivationMap {
  grid: number;
  values: Float32Array;
  method?: MapMethod;
  /**
   * The value drawn in full colour, the same for every slice so that colours compare across slices (heatFullScale):
   * for a map of the fall of P, the model's threshold. Absent: each picture is scaled to its own maximum.
   */
  fullScale?: number;
}

export interface Explanation {
  probability: number;
  /** Mean of the views' maps, each mapped back to the unflipped image. */
  cam: ActivationMap;
}

/** Reads the folder's model.onnx, checking that it was exported from this very model; exports in memory if absent. */
async function onnxBytes(model: LoadedModel): Promise<Uint8Array> {
  const file = path.join(model.dir, ONNX_FILE);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch {
    return exportOnnx(model);
  }
  const meta = readOnnxGraph(bytes).metadata;
  if (meta.get('covid_ct_backbone_sha256') !== model.json.backbone.sha256 || meta.get('covid_ct_head_sha256') !== model.json.head.sha256) {
    throw new UserError(`${file} was not exported from this model folder's weights: run covid-ct export --model ${model.dir} --out ${file}`);
  }
  return bytes;
}

export class OnnxClassifier extends EngineBase {
  readonly name = 'onnx' as const;
  private constructor(readonly model: LoadedModel, private readonly session: ort.InferenceSession) {
    super();
  }

  /**
   * `threads`: onnxruntime's intra-op threads (default: its own choice, one per core). COVID_CT_THREADS, when set,
   * overrides both.
   */
  static async load(dir: string, opts: EngineOptions = {}): Promise<OnnxClassifier> {
    const model = await loadModel(dir);
    const threads = Number(process.env.COVID_CT_THREADS ?? opts.threads ?? 0);
    const options = { graphOptimizationLevel: 'all' as const, ...(threads > 0 ? { intraOpNumThreads: threads } : {}) };
    let session = await ort.InferenceSession.create(await onnxBytes(model), options);
    if (model.ood && !session.outputNames.includes('features')) {
      // A model.onnx exported before the "features" output existed, in a folder with a not-CT distance fit:
      // export again in memory (the sha checks above tie the file to these weights; only the output is missing).
      await session.release();
      session = await ort.InferenceSession.create(exportOnnx(model), options);
    }
    return new OnnxClassifier(model, session);
  }

  get json(): ModelJson {
    return this.model.json;
  }


  get ood(): OodModel | undefined {
    return this.model.ood;
  }

  /**
   * Runs the network on rendered views: per-view logits and maps, and the pooled features of each view ([N x D]
   * row-major; null for a model.onnx exported before the "features" output existed).
   */
  async runViews(views: Float32Array[]): Promise<{ logits: Float64Array; cams: Float32Array; grid: number; features: Float32Array | null; dim: number }> {
    // Small chunks: on this CPU onnxruntime runs 4 views ~25% faster per view than 16 (cache-sized activations).
    const CHUNK = 4;
    const parts: Float32Array[] = [];
    const featureParts: Float32Array[] = [];
    const hasFeatures = this.session.outputNames.includes('features');
    let grid = 0;
    let dim = 0;
    for (let i = 0; i < views.length; i += CHUNK) {
      const out = await this.session.run({ views: this.viewsTensor(views.slice(i, i + CHUNK)) });
      grid = out.cam.dims[2];
      parts.push(out.cam.data as Float32Array);
      if (hasFeatures) { dim = out.features.dims[1]; featureParts.push(out.features.data as Float32Array); }
    }
    let features: Float32Array | null = null;
    if (hasFeatures) {
      features = new Float32Array(views.length * dim);
      let o = 0;
      for (const p of featureParts) { features.set(p, o); o += p.length; }
    }
    const cams = new Float32Array(views.length * grid * grid);
    let at = 0;
    for (const p of parts) { cams.set(p, at); at += p.length; }
    // The logit is the mean of the map, exactly; taking it from there keeps full precision at the extremes,
    // where the float32 sigmoid output would round to 0 or 1.
    const logits = logitsOfCams(cams, grid, views.length);
    return { logits, cams, grid, features, dim };
  }


  async scoreViews(views: Float32Array[]): Promise<{ patterns: number[]; features?: Float32Array[] }> {
    if (views.length === 0) return { patterns: [], features: [] };
    const v = this.model.json.preprocessing.views;
    const { logits, features, dim } = await this.runViews(views);
    const n = views.length / v;
    const patterns = Array.from({ length: n }, (_, i) => {
      let sum = 0;
      for (let k = 0; k < v; k++) sum += sigmoid(logits[i * v + k]);
      return sum / v;
    });
    return { patterns, ...(features ? { features: Array.from({ length: n }, (_, i) => features.slice(i * v * dim, (i * v + 1) * dim)) } : {}) };
  }

  private viewsTensor(views: Float32Array[]): ort.Tensor {
    const s = this.model.json.backbone.inputSize;
    const input = new Float32Array(views.length * s * s);
    views.forEach((x, i) => input.set(x, i * s * s));
    return new ort.Tensor('float32', input, [views.length, 1, s, s]);
  }

  /** P(COVID) (the reading's, as `probabilities` gives) and the map of evidence of one image (see explainPrepared). */
  async explain(image: GreyImage): Promise<Explanation> {
    const { reading, cam } = await this.explainPrepared(await prepareSlice(this.model.json, image));
    return { probability: reading.probability, cam };
  }

  /**
   * The reading of a prepared slice (engine.prepare) and its map of evidence, from the run of the network on the
   * slice's prepared views (the same P as readPrepared: same views, same sum order). The map is over the square the
   * model saw: the working image of the whole slice (its CAM), or the lung view (lung-view.ts) for a lungs model,
   * whose map is by occlusion (lung-evidence.ts; one more batch of views). `how.method` forces a map (measurements);
   * `skipNotCT`: a NotCT slice gets its plain CAM (cheap), for callers that show no heat over it.
   */
  async explainPrepared(prepared: PreparedSlice, how: { method?: MapMethod; skipNotCT?: boolean } = {}): Promise<{ reading: SliceReading; cam: ActivationMap }> {
    const { views } = prepared;
    const { logits, cams, grid, features, dim } = await this.runViews(views);
    let sum = 0;
    for (const l of logits) sum += sigmoid(l);
    const pattern = sum / logits.length;
    const distance = this.ood && features ? oodDistance(this.ood, features.subarray(0, dim)) : undefined;
    const reading = readSlice(pattern, prepared.lungs.findings, this.threshold, this.json.reading, distance);
    const chosen = how.method ?? (how.skipNotCT && reading.label === 'NotCT' ? 'cam' : mapMethodFor(this.json.preprocessing, prepared.lungs.seg));
    if (chosen === 'occlusion' && this.json.preprocessing.lungs) {
      const design = this.json.reading;
      const gate = gateEvidence(design && ((f: number) => gateOf(f, design.gate)), prepared.lungs, this.json.preprocessing.lungs);
      const map = await occlusionEvidence(views, logits, this.json.backbone.inputSize, this.json.preprocessing.lungs, async (v) => (await this.runViews(v)).logits, gate);
      const fullScale = heatFullScale(map.units, this.threshold);
      return { reading, cam: { grid: map.grid, values: map.values, method: chosen, ...(fullScale ? { fullScale } : {}) } };
    }
    return { reading, cam: { grid, values: meanViewMap(cams, grid, views.length), method: 'cam' } };
  }

  dispose(): void {
    void this.session.release();
  }
}
