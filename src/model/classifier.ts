/**
 * A loaded covid-ct model as one object: grey images in, P(COVID) out, with the same working-image resize and
 * test-time views as training used for val and test.
 */
import { loadModel, type LoadedModel } from './model-files.js';
import { mobileNetV2Backbone, type Backbone } from './backbone.js';
import { headProbability } from './head.js';
import type { ModelJson } from './model-files.js';
import { EngineBase } from './engine.js';

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





  async probabilitiesOfViews(views: Float32Array[]): Promise<number[]> {
    const v = this.model.json.preprocessing.views;
    const feats = await this.backbone.extract(views);
    const dim = this.backbone.dim;
    return Array.from({ length: views.length / v }, (_, i) => {
      const f = new Float32Array(v * dim);
      for (let k = 0; k < v; k++) f.set(feats[i * v + k], k * dim);
      return headProbability(this.model.head, f, v);
    });
  }

  dispose(): void {
    this.backbone.dispose();
  }
}
