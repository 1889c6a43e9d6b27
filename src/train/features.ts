/**
 * Frozen-backbone features of many views per image, computed once and cached on disk so that an interrupted
 * run resumes where it stopped and a re-run costs nothing. Cache files are content-addressed (file bytes,
 * image name, view plan, backbone) and written atomically.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { GreyImage } from '../types.js';
import type { Backbone } from '../model/backbone.js';
import { WORKING_SIZE, type WorkingFit } from '../data/preprocess.js';
import { renderViews, type ViewPlan } from '../data/views.js';
import type { LungFraming } from '../data/lung-view.js';

export { TTA_PLAN, renderViews, type ViewPlan } from '../data/views.js';

export interface ImageSource {
  /** Unique key, e.g. the dataset file name. */
  name: string;
  /** Raw file bytes (hashed for the cache key). */
  bytes: Uint8Array;
  decode(): Promise<GreyImage>;
}

export interface FeatureCache {
  dir: string;
  /** Identifies backbone + taps + plan; part of every key. */
  fingerprint: string;
}

function cachePath(cache: FeatureCache, src: ImageSource): string {
  const h = createHash('sha256').update(cache.fingerprint).update('\0').update(src.name).update('\0').update(src.bytes).digest('hex');
  return path.join(cache.dir, h.slice(0, 2), `${h.slice(2, 34)}.f32`);
}

async function readCached(file: string, expected: number): Promise<Float32Array | undefined> {
  try {
    const buf = await readFile(file);
    if (buf.byteLength !== expected * 4) return undefined; // a stale or foreign file: recompute
    return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  } catch {
    return undefined;
  }
}

async function writeAtomic(file: string, data: Float32Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  await rename(tmp, file);
}

export interface ExtractOptions {
  backbone: Backbone;
  plan: ViewPlan;
  cache?: FeatureCache;
  /** Views per backbone call. */
  batchSize?: number;
  /** Side of the working image views are sampled from, and how the slice is fitted into it. */
  workingSize?: number;
  fit?: WorkingFit;
  blurSigma?: number;
  lungs?: LungFraming;
  /** Called after each image with the number done so far. */
  onImage?: (done: number) => void;
  /** Called when an image cannot be decoded; the image gets no features. Without it, the error is thrown. */
  onError?: (src: ImageSource, e: unknown) => void;
}

/**
 * Features of every view of every image: result[i] has plan.views * backbone.dim values (view-major), or is
 * null when image i failed to decode and onError was given.
 */
export async function extractFeatures(sources: ImageSource[], opts: ExtractOptions): Promise<(Float32Array | null)[]> {
  const { backbone, plan } = opts;
  const batchSize = opts.batchSize ?? 16;
  const per = plan.views * backbone.dim;
  const result: (Float32Array | null)[] = new Array(sources.length).fill(null);
  let done = 0;
  // Images are processed in groups whose views fill about one backbone batch.
  const group = Math.max(1, Math.floor(batchSize / plan.views));
  for (let start = 0; start < sources.length; start += group) {
    const idx = Array.from({ length: Math.min(group, sources.length - start) }, (_, k) => start + k);
    const todo: { i: number; views: Float32Array[] }[] = [];
    await Promise.all(idx.map(async (i) => {
      const src = sources[i];
      const file = opts.cache ? cachePath(opts.cache, src) : undefined;
      const hit = file ? await readCached(file, per) : undefined;
      if (hit) { result[i] = hit; return; }
      try {
        const framing = { workingSize: opts.workingSize ?? WORKING_SIZE, fit: opts.fit ?? 'cover', inputSize: backbone.inputSize, blurSigma: opts.blurSigma, lungs: opts.lungs };
        todo.push({ i, views: await renderViews(await src.decode(), src.name, plan, framing) });
      } catch (e) {
        if (!opts.onError) throw e;
        opts.onError(src, e);
      }
    }));
    todo.sort((a, b) => a.i - b.i); // decode order is racy; batch order must not be
    const allViews = todo.flatMap((t) => t.views);
    const feats: Float32Array[] = [];
    for (let b = 0; b < allViews.length; b += batchSize) feats.push(...(await opts.backbone.extract(allViews.slice(b, b + batchSize))));
    let k = 0;
    for (const t of todo) {
      const f = new Float32Array(per);
      for (let v = 0; v < plan.views; v++) f.set(feats[k++], v * backbone.dim);
      result[t.i] = f;
      const file = opts.cache ? cachePath(opts.cache, sources[t.i]) : undefined;
      if (file) await writeAtomic(file, f);
    }
    done += idx.length;
    opts.onImage?.(done);
  }
  return result;
}
