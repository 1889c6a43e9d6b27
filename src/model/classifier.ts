/**
 * A loaded covid-ct model as one object: grey images in, P(COVID) out, with the same working-image resize and
 * test-time views as training used for val and test.
 */
import { loadModel, type LoadedModel } from './model-files.js';
import { mobileNetV2Backbone, type Backbone } from './backbone.js';
import { headProbability } from './head.js';
import type { ModelJson } from './model-files.js';
import { EngineBase } from './engine.js';
import type { OodModel } from './ood.js';

/** The tfjs engine: the same network as training, on the wasm backend. */
export class Classifier extends EngineBase {
  readonly name = 'tfjs' as const;
  private constructor(readonly model: LoadedModel, private readonly backbone: Backbone) {
    super();
  }

  get json(): ModelJson {
    return this.model.json;
  }

  static async load(dir: string): Promise<Classifier> {
    const model = await loadModel(dir);
    const { taps, inputSize } = model.json.backbone;
    const backbone = await mobileNetV2Backbone(model.layers, { taps, inputSize, normalisation: model.json.preprocessing.normalisation });
    if (backbone.dim !== model.head.weight.length) throw new Error(`${dir}: head expects ${model.head.weight.length} features, backbone gives ${backbone.dim}`);
    return new Classifier(model, backbone);
  }





  get ood(): OodModel | undefined {
    return this.model.ood;
  }

  async scoreViews(views: Float32Array[]): Promise<{ patterns: number[]; features: Float32Array[] }> {
    const v = this.model.json.preprocessing.views;
    const feats = await this.backbone.extract(views);
    const dim = this.backbone.dim;
    const n = views.length / v;
    const patterns = Array.from({ length: n }, (_, i) => {
      const f = new Float32Array(v * dim);
      for (let k = 0; k < v; k++) f.set(feats[i * v + k], k * dim);
      return headProbability(this.model.head, f, v);
    });
    return { patterns, features: Array.from({ length: n }, (_, i) => Float32Array.from(feats[i * v])) };
  }

  dispose(): void {
    this.backbone.dispose();
  }
}
