/**
 * The views of one slice that the backbone sees. View 0 is the slice itself (fitted into the working square),
 * view 1 its mirror image; further views are random training augmentations: a degraded copy of the ORIGINAL
 * image (JPEG re-encoding, downscaling by 2 and back, as a different scanner, export or website would do, so
 * that compression artefacts, which differ by source and so by label here, become an unreliable cue), then
 * a random resized crop, rotation, flip and brightness/contrast change. Deterministic for (seed, name).
 */
import type { GreyImage } from '../types.js';
import {
  blurByRescale, DEFAULT_AUGMENT, FLIP_VIEW, IDENTITY_VIEW, reencodeJpeg, renderView, sampleView, toWorkingImage,
  type AugmentConfig, type WorkingFit,
} from './preprocess.js';
import { gaussianBlur } from './band-limit.js';
import { Rng, deriveSeed } from '../util/prng.js';

export interface ViewPlan {
  views: number;
  augment: AugmentConfig;
  /** Probability that a random view starts from the original re-encoded as JPEG, at a quality in jpegQuality. */
  jpegProbability: number;
  jpegQuality?: [number, number];
  /** Probability that a random view starts from the original downscaled by 2 and back. */
  rescaleProbability: number;
  seed: number;
}

/** How the original becomes the backbone's input square. */
export interface Framing {
  workingSize: number;
  fit: WorkingFit;
  inputSize: number;
  /** Gaussian blur (sigma in working-image pixels) applied to every working image; absent or 0 = none. */
  blurSigma?: number;
}

/** The views used at inference: the image and its mirror image, averaged. */
export const TTA_PLAN: ViewPlan = { views: 2, augment: DEFAULT_AUGMENT, jpegProbability: 0, rescaleProbability: 0, seed: 0 };

export async function renderViews(original: GreyImage, name: string, plan: ViewPlan, framing: Framing): Promise<Float32Array[]> {
  const { workingSize, fit, inputSize } = framing;
  const sigma = framing.blurSigma ?? 0;
  const working = async (img: GreyImage) => gaussianBlur(await toWorkingImage(img, workingSize, fit), sigma);
  const work = await working(original);
  const rng = new Rng(deriveSeed(plan.seed, name));
  const [qLo, qHi] = plan.jpegQuality ?? [60, 95];
  const out: Float32Array[] = [];
  for (let v = 0; v < plan.views; v++) {
    if (v === 0) { out.push(renderView(work, IDENTITY_VIEW, inputSize)); continue; }
    if (v === 1) { out.push(renderView(work, FLIP_VIEW, inputSize)); continue; }
    const params = sampleView(rng, plan.augment);
    const rescale = rng.next() < plan.rescaleProbability;
    const jpeg = rng.next() < plan.jpegProbability;
    const quality = Math.round(rng.uniform(qLo, qHi));
    let src = original;
    if (rescale) src = await blurByRescale(src, 2);
    if (jpeg) src = await reencodeJpeg(src, quality);
    out.push(renderView(src === original ? work : await working(src), params, inputSize));
  }
  return out;
}
