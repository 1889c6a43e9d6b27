/**
 * Which views of a slice are rendered, as pure data (no decoding, no I/O; also served to the browser): view 0 is
 * the slice, view 1 its mirror image, further views are draws of the augmentation from a stream seeded by
 * (seed, image name), or by the seed alone for test-time plans, so that a prediction depends on pixels only.
 */
import { DEFAULT_AUGMENT, FLIP_VIEW, IDENTITY_VIEW, sampleView, type AugmentConfig, type ViewParams } from './render-view.js';
import { Rng, deriveSeed } from '../util/prng.js';

export interface ViewPlan {
  views: number;
  augment: AugmentConfig;
  /** Probability that a random view starts from the original re-encoded as JPEG, at a quality in jpegQuality. */
  jpegProbability: number;
  jpegQuality?: [number, number];
  /** Probability that a random view starts from the original downscaled and enlarged back. */
  rescaleProbability: number;
  /** Range of that downscale factor, drawn uniformly per view (absent: exactly 2). */
  rescaleFactor?: [number, number];
  seed: number;
  /** Probability that a random view gets figure marks pasted (marks.ts); absent = never (and no draw). */
  marksProbability?: number;
  /** Test-time plans: views 2.. are the same draws for every image (the stream is keyed by the seed only). */
  sameForEveryImage?: boolean;
}

/** One view: its geometry and intensity change, and how the original is degraded first (training only). */
export interface ViewSpec {
  params: ViewParams;
  rescale: boolean;
  rescaleFactor: number;
  jpeg: boolean;
  jpegQuality: number;
  /** Seed of the pasted marks, when `marks`. */
  marks?: number;
}

/**
 * The views used at inference, averaged: the image, its mirror image, then (when a model asks for more) fixed
 * draws of the training augmentation, the same for every image.
 */
export const TTA_PLAN: ViewPlan = { views: 2, augment: DEFAULT_AUGMENT, jpegProbability: 0, rescaleProbability: 0, seed: 0, sameForEveryImage: true };

const PLAIN = { rescale: false, rescaleFactor: 1, jpeg: false, jpegQuality: 100 };

/** The plan's views for the image called `name`. The draw order is fixed (feature caches depend on it). */
export function viewSpecs(plan: ViewPlan, name: string): ViewSpec[] {
  const rng = new Rng(deriveSeed(plan.seed, plan.sameForEveryImage ? '' : name));
  const [qLo, qHi] = plan.jpegQuality ?? [60, 95];
  const out: ViewSpec[] = [];
  for (let v = 0; v < plan.views; v++) {
    if (v === 0) { out.push({ params: IDENTITY_VIEW, ...PLAIN }); continue; }
    if (v === 1) { out.push({ params: FLIP_VIEW, ...PLAIN }); continue; }
    const params = sampleView(rng, plan.augment);
    const rescale = rng.next() < plan.rescaleProbability;
    const jpeg = rng.next() < plan.jpegProbability;
    const jpegQuality = Math.round(rng.uniform(qLo, qHi));
    // Drawn only for a ranged factor, so that plans without one keep their random stream (and their caches).
    const rescaleFactor = plan.rescaleFactor ? rng.uniform(plan.rescaleFactor[0], plan.rescaleFactor[1]) : 2;
    // Drawn only for plans with marks, so that plans without keep their random stream (and their caches).
    const marks = plan.marksProbability !== undefined && rng.next() < plan.marksProbability ? Math.floor(rng.next() * 2 ** 31) : undefined;
    out.push({ params, rescale, rescaleFactor, jpeg, jpegQuality, ...(marks !== undefined ? { marks } : {}) });
  }
  return out;
}
