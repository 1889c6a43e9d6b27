/**
 * A recipe's views of dataset entries through a backbone (the frozen taps, or the frozen lower blocks of a
 * fine-tuning run): cached on disk (features.ts), with progress on stderr, and one unreadable file logged and
 * skipped rather than stopping the run. Shared by train.ts and finetune-run.ts so that both frame, band-limit
 * and key their caches the same way.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { DatasetEntry } from '../types.js';
import type { Backbone } from '../model/backbone.js';
import { readAndDecodeGrey } from '../data/decode.js';
import { WORKING_IMAGE_VERSION } from '../data/working-image.js';
import { LUNGS_VERSION } from '../data/lungs.js';
import { INVOLVEMENT_VERSION } from '../data/involvement.js';
import { LUNG_VIEW_VERSION, type LungFraming } from '../data/lung-view.js';
import { extractFeatures, TTA_PLAN, type ImageSource, type ViewPlan } from './features.js';
import type { Recipe } from './recipe.js';
import { Progress } from '../util/progress.js';
import { errorMessage } from '../util/errors.js';

export interface SkippedFile { file: string; error: string }

export interface RecipeFeatureRun {
  recipe: Recipe;
  backbone: Backbone;
  /** Cache folder; undefined disables the cache. */
  cacheDir?: string;
  /** What identifies the backbone's output besides the framing and the plan (weights, taps, lower blocks). */
  key: Record<string, unknown>;
  quiet?: boolean;
  log: (line: string) => void;
  /** Files that could not be read are appended here. */
  skipped: SkippedFile[];
}

export async function sources(entries: DatasetEntry[]): Promise<ImageSource[]> {
  return Promise.all(entries.map(async (e) => {
    const bytes = new Uint8Array(await readFile(e.path).catch(() => new Uint8Array(0)));
    return { name: e.name, bytes, decode: () => readAndDecodeGrey(e.path) };
  }));
}

/** The band-limiting blur, recorded only when used (older recipes keep their cache keys and cards). */
export function bandLimitOf(recipe: Recipe): { blurSigma?: number } {
  return recipe.blurSigma ? { blurSigma: recipe.blurSigma } : {};
}

/** The lungs-only framing, recorded only when used (whole-slice recipes keep their cache keys and cards). */
export function lungFramingOf(recipe: Recipe): { lungs?: LungFraming } {
  return recipe.lungs ? { lungs: recipe.lungs } : {};
}

export function trainPlanOf(recipe: Recipe, seed: number): ViewPlan {
  return {
    views: recipe.trainViews, augment: recipe.augment, jpegProbability: recipe.jpegProbability,
    rescaleProbability: recipe.rescaleProbability, ...(recipe.rescaleFactor ? { rescaleFactor: recipe.rescaleFactor } : {}), seed,
  };
}

export function evalPlanOf(recipe: Recipe): ViewPlan {
  return { ...TTA_PLAN, views: recipe.evalViews };
}

/** result[i]: every view's output for entries[i] (view-major), or null when the file was skipped. */
export async function recipeFeatures(run: RecipeFeatureRun, entries: DatasetEntry[], plan: ViewPlan, what: string): Promise<(Float32Array | null)[]> {
  const { recipe } = run;
  const bandLimit = bandLimitOf(recipe);
  const fingerprint = JSON.stringify({
    v: 1, resampler: WORKING_IMAGE_VERSION, ...run.key,
    inputSize: recipe.inputSize, workingSize: recipe.workingSize, fit: recipe.fit, ...bandLimit, plan,
    ...(recipe.lungs ? { lungs: recipe.lungs, segmentation: LUNGS_VERSION, view: LUNG_VIEW_VERSION, calibration: INVOLVEMENT_VERSION } : {}),
    // Downscaled views made before the one-channel fix (docs/robustness-experiments.md) must not be reused.
    ...(recipe.rescaleProbability > 0 ? { rescaler: 'grey-v2' } : {}),
  });
  const progress = new Progress(entries.length, what, { enabled: !run.quiet });
  const byName = new Map(entries.map((e) => [e.name, e.path]));
  const feats = await extractFeatures(await sources(entries), {
    backbone: run.backbone, plan, workingSize: recipe.workingSize, fit: recipe.fit, ...bandLimit, ...lungFramingOf(recipe),
    cache: run.cacheDir ? { dir: run.cacheDir, fingerprint } : undefined,
    onImage: (done) => progress.tick(done - progress.completed),
    onError: (src, e) => {
      const file = byName.get(src.name) ?? src.name;
      run.skipped.push({ file, error: errorMessage(e) });
      run.log(`skipping ${file}: ${errorMessage(e)}`);
    },
  });
  progress.done();
  return feats;
}

/** The cache folder of a fine-tuning run's lower-block maps, beside the frozen features. */
export function lowerCacheDir(cacheDir: string | undefined): string | undefined {
  return cacheDir ? path.join(cacheDir, 'lower') : undefined;
}
