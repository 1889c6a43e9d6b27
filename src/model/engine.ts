/**
 * What every inference engine offers (tfjs for training and as a reference, onnxruntime for speed), and the
 * view rendering they share so that both see exactly the same pixels.
 */
import type { GreyImage, Label } from '../types.js';
import type { ModelJson } from './model-files.js';
import { renderViews, TTA_PLAN } from '../data/views.js';
import { findLungs } from '../data/involvement.js';
import type { Orientation } from '../data/orientation.js';
import { readableSlice, type Polarity } from '../data/polarity.js';
import { tiltField } from '../data/tilt.js';
import type { LungSegmentation } from '../data/lungs.js';
import { readSlice, type SliceReading } from './reading.js';
import { oodDistance, type OodModel } from './ood.js';

export type EngineName = 'onnx' | 'tfjs';

export interface EngineOptions {
  /**
   * Threads the model may use (onnxruntime's intra-op threads; tfjs-wasm ignores it). 1 when another thread
   * prepares the slices (predict/prepare-thread.ts), so that the model does not take its core.
   */
  threads?: number;
}

export interface Engine {
  readonly name: EngineName;
  readonly json: ModelJson;
  readonly threshold: number;
  labelOf(p: number): Label;
  /** P(COVID) of each image (the reading's; for a whole-slice model the mean over its test-time views). */
  probabilities(images: GreyImage[]): Promise<number[]>;
  /** The full reading of each image: P, pattern, involvement, verdict (COVID, NonCOVID, NotCT), category. */
  read(images: GreyImage[]): Promise<SliceReading[]>;
  prepare(images: GreyImage[]): Promise<PreparedSlice[]>;
  readPrepared(slices: ScorableSlice[]): Promise<SliceReading[]>;
  /**
   * The same in two steps, so that a caller can prepare the next batch (CPU work on this thread) while the
   * model runs the current one: views of each image, then P(COVID) of each image from its views.
   */
  viewsOf(images: GreyImage[]): Promise<Float32Array[]>;
  probabilitiesOfViews(views: Float32Array[]): Promise<number[]>;
  dispose(): void;
}

/** The test-time views of one image (identity, mirror, then TTA_PLAN's fixed draws), size x size in [0, 1]. */
export async function modelViews(json: ModelJson, img: GreyImage, seg?: LungSegmentation): Promise<Float32Array[]> {
  const { workingSize, fit, views, inputSize, blurSigma, lungs } = json.preprocessing;
  return renderViews(img, '', { ...TTA_PLAN, views }, { workingSize, fit, inputSize, blurSigma, lungs }, seg);
}

/**
 * One slice made ready for the model: the slice brought upright (orientation.ts) and air black (polarity.ts; the
 * same object as the input when it is neither turned nor a negative), its lungs (segmentation, involvement) and its views, all of the upright
 * slice. Maps of evidence and lung outlines are drawn on `image`.
 */
export interface PreparedSlice {
  image: GreyImage;
  /** What the orientation stage did to the slice as sent. */
  orientation: Orientation;
  /** What the polarity stage did: 'negative' when the slice came air white and was read as its inverse (polarity.ts). */
  polarity: Polarity;
  /** Set when the slice came tilted and was turned level (tilt.ts): the tilt, degrees clockwise. */
  tilt?: number;
  lungs: ReturnType<typeof findLungs>;
  views: Float32Array[];
}

/**
 * The one place where a slice meets the lung stage and the model (the server's readings and maps; the page's
 * on-device reading does the same in on-device.ts): the polarity and orientation stages first (a negative read as
 * its inverse, a turned slice upright), then everything on their output.
 */
export async function prepareSlice(json: ModelJson, img: GreyImage): Promise<PreparedSlice> {
  const up = readableSlice(img);
  const lungs = findLungs(up.image, up.seg);
  return { image: up.image, orientation: up.orientation, polarity: up.polarity, ...tiltField(up.tilt), lungs, views: await modelViews(json, up.image, lungs.seg) };
}

/**
 * What a reading needs of a prepared slice: a PreparedSlice is one. Batch scoring's preparation thread
 * (predict/prepare-thread.ts) sends back only this, so the images and masks never cross between threads.
 */
export type ScorableSlice = Pick<PreparedSlice, 'orientation' | 'polarity' | 'tilt' | 'views'> & { lungs: Pick<PreparedSlice['lungs'], 'findings'> };

export const labelAt = (threshold: number, p: number): Label => (p >= threshold ? 'COVID' : 'NonCOVID');

/** What both engines share: the threshold, labels, and views -> probabilities in two steps. */
export abstract class EngineBase implements Engine {
  abstract readonly name: EngineName;
  abstract readonly json: ModelJson;
  /**
   * P(COVID) of each image from its views (json.preprocessing.views consecutive views an image) and, when the
   * engine has them, the pooled features (the head's input) of each image's identity view.
   */
  abstract scoreViews(views: Float32Array[]): Promise<{ patterns: number[]; features?: Float32Array[] }>;
  /** The not-CT distance fit (ood.ts) of the model, if any. */
  abstract readonly ood: OodModel | undefined;
  abstract dispose(): void;

  async probabilitiesOfViews(views: Float32Array[]): Promise<number[]> {
    return (await this.scoreViews(views)).patterns;
  }

  /** The feature distance of image i (undefined without a fit or without features). */
  protected distanceOf(features: Float32Array[] | undefined, i: number): number | undefined {
    return this.ood && features ? oodDistance(this.ood, features[i]) : undefined;
  }

  get threshold(): number {
    return this.json.threshold;
  }

  labelOf(p: number): Label {
    return labelAt(this.threshold, p);
  }

  /** P(COVID) of each image (the reading's, see reading.ts). */
  async probabilities(images: GreyImage[]): Promise<number[]> {
    return (await this.read(images)).map((r) => r.probability);
  }

  async read(images: GreyImage[]): Promise<SliceReading[]> {
    return this.readPrepared(await this.prepare(images));
  }

  async prepare(images: GreyImage[]): Promise<PreparedSlice[]> {
    return Promise.all(images.map((img) => prepareSlice(this.json, img)));
  }

  /** The reading of prepared slices: the pattern model on their views, then the design's combination. */
  async readPrepared(slices: ScorableSlice[]): Promise<SliceReading[]> {
    const { patterns, features } = await this.scoreViews(slices.flatMap((s) => s.views));
    return slices.map((s, i) => readSlice(patterns[i], s.lungs.findings, this.threshold, this.json.reading, this.distanceOf(features, i)));
  }

  async viewsOf(images: GreyImage[]): Promise<Float32Array[]> {
    return (await this.prepare(images)).flatMap((s) => s.views);
  }
}
