/**
 * A loaded covid-ct model as one object: grey images in, P(COVID) out, with the same working-image resize and
 * test-time views as training used for val and test.
 */
import type { GreyImage, Label } from '../types.js';
import { loadModel, type LoadedModel } from './model-files.js';
import { mobileNetV2Backbone, type Backbone } from './backbone.js';
import { headProbability } from './head.js';
import type { ModelJson } from './model-files.js';
import { labelAt, modelViews, type Engine } from './engine.js';

/** The tfjs engine: the same network as training, on the wasm backend. */
export class Classifier implements Engine {
  readonly name = 'tfjs' as const;
  private constructor(readonly model: LoadedModel, private readonly backbone: Backbone) {}

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

  get threshold(): number {
    return this.model.json.threshold;
  }

  labelOf(p: number): Label {
    return labelAt(this.threshold, p);
  }

  /** P(COVID) of each image (mean over the model's test-time views). */
  async probabilities(images: GreyImage[]): Promise<number[]> {
    return this.probabilitiesOfViews(await this.viewsOf(images));
  }

  async viewsOf(images: GreyImage[]): Promise<Float32Array[]> {
    const views: Float32Array[] = [];
    for (const img of images) views.push(...(await modelViews(this.model.json, img)));
    return views;
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
