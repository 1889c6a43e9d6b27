/**
 * What every inference engine offers (tfjs for training and as a reference, onnxruntime for speed), and the
 * view rendering they share so that both see exactly the same pixels.
 */
import type { GreyImage, Label } from '../types.js';
import type { ModelJson } from './model-files.js';
import { renderViews, TTA_PLAN } from '../data/views.js';

export type EngineName = 'onnx' | 'tfjs';

export interface Engine {
  readonly name: EngineName;
  readonly json: ModelJson;
  readonly threshold: number;
  labelOf(p: number): Label;
  /** P(COVID) of each image: the mean over the model's test-time views. */
  probabilities(images: GreyImage[]): Promise<number[]>;
  /**
   * The same in two steps, so that a caller can prepare the next batch (CPU work on this thread) while the
   * model runs the current one: views of each image, then P(COVID) of each image from its views.
   */
  viewsOf(images: GreyImage[]): Promise<Float32Array[]>;
  probabilitiesOfViews(views: Float32Array[]): Promise<number[]>;
  dispose(): void;
}

/** The test-time views of one image (identity, mirror, then TTA_PLAN's fixed draws), size x size in [0, 1]. */
export async function modelViews(json: ModelJson, img: GreyImage): Promise<Float32Array[]> {
  const { workingSize, fit, views, inputSize, blurSigma } = json.preprocessing;
  return renderViews(img, '', { ...TTA_PLAN, views }, { workingSize, fit, inputSize, blurSigma });
}

export const labelAt = (threshold: number, p: number): Label => (p >= threshold ? 'COVID' : 'NonCOVID');

/** What both engines share: the threshold, labels, and views -> probabilities in two steps. */
export abstract class EngineBase implements Engine {
  abstract readonly name: EngineName;
  abstract readonly json: ModelJson;
  abstract probabilitiesOfViews(views: Float32Array[]): Promise<number[]>;
  abstract dispose(): void;

  get threshold(): number {
    return this.json.threshold;
  }

  labelOf(p: number): Label {
    return labelAt(this.threshold, p);
  }

  async probabilities(images: GreyImage[]): Promise<number[]> {
    return this.probabilitiesOfViews(await this.viewsOf(images));
  }

  async viewsOf(images: GreyImage[]): Promise<Float32Array[]> {
    // Concurrently: sharp resizes on its own threads while this one renders views.
    return (await Promise.all(images.map((img) => modelViews(this.json, img)))).flat();
  }
}
