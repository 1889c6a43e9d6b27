/**
 * Scores image files with a classifier: reads and decodes each (by content), batches the model passes, and
 * turns every failure into a per-file error so that one bad file never stops the rest.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { GreyImage, Prediction } from '../types.js';
import type { Engine } from '../model/engine.js';
import { readAndDecodeGrey } from '../data/decode.js';
import { errorMessage } from '../util/errors.js';

/** Expands files and folders (recursively, sorted, hidden entries skipped) into a list of files. */
export async function expandPaths(paths: string[]): Promise<{ files: string[]; missing: string[] }> {
  const files: string[] = [];
  const missing: string[] = [];
  const walk = async (p: string): Promise<void> => {
    const s = await stat(p).catch(() => undefined);
    if (!s) { missing.push(p); return; }
    if (s.isDirectory()) {
      const names = (await readdir(p)).filter((n) => !n.startsWith('.')).sort();
      for (const n of names) await walk(path.join(p, n));
    } else if (s.isFile()) {
      files.push(p);
    }
  };
  for (const p of paths) await walk(p);
  return { files, missing };
}

export interface ScoreOptions {
  /** Images per model call. */
  batchSize?: number;
  onProgress?: (done: number) => void;
}

interface Prepared {
  files: string[];
  errors: (string | undefined)[];
  views: Float32Array[];
}

/** Reads, decodes and renders the views of one batch; failures become per-file errors. */
async function prepare(engine: Engine, files: string[]): Promise<Prepared> {
  const decoded = await Promise.all(files.map(async (f) => {
    try {
      return { image: await readAndDecodeGrey(f) } as { image: GreyImage; error?: undefined };
    } catch (e) {
      return { error: errorMessage(e) } as { image?: undefined; error: string };
    }
  }));
  const images = decoded.flatMap((d) => (d.image ? [d.image] : []));
  return { files, errors: decoded.map((d) => d.error), views: images.length ? await engine.viewsOf(images) : [] };
}

/**
 * One Prediction per file, in order; `file` is the path as given. Pipelined: the next batch is read, decoded
 * and rendered on this thread while the model runs the current one.
 */
export async function scoreFiles(classifier: Engine, files: string[], opts: ScoreOptions = {}): Promise<Prediction[]> {
  const batchSize = opts.batchSize ?? 8;
  const out: Prediction[] = [];
  const batches: string[][] = [];
  for (let s = 0; s < files.length; s += batchSize) batches.push(files.slice(s, s + batchSize));
  let next: Promise<Prepared> | undefined = batches.length ? prepare(classifier, batches[0]) : undefined;
  for (let b = 0; b < batches.length; b++) {
    const current = await next!;
    const scoring = current.views.length ? classifier.probabilitiesOfViews(current.views) : Promise.resolve([]);
    next = b + 1 < batches.length ? prepare(classifier, batches[b + 1]) : undefined;
    const probs = await scoring;
    let k = 0;
    current.files.forEach((file, i) => {
      const error = current.errors[i];
      if (error === undefined) {
        const p = probs[k++];
        out.push({ file, probability: p, label: classifier.labelOf(p) });
      } else {
        out.push({ file, probability: null, label: null, error });
      }
    });
    opts.onProgress?.(Math.min(files.length, (b + 1) * batchSize));
  }
  return out;
}
