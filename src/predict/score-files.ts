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

/** One Prediction per file, in order; `file` is the path as given. */
export async function scoreFiles(classifier: Engine, files: string[], opts: ScoreOptions = {}): Promise<Prediction[]> {
  const batchSize = opts.batchSize ?? 8;
  const out: Prediction[] = [];
  for (let s = 0; s < files.length; s += batchSize) {
    const batch = files.slice(s, s + batchSize);
    const decoded = await Promise.all(batch.map(async (f) => {
      try {
        return { image: await readAndDecodeGrey(f) } as { image: GreyImage; error?: undefined };
      } catch (e) {
        return { error: errorMessage(e) } as { image?: undefined; error: string };
      }
    }));
    const ok = decoded.flatMap((d) => (d.image ? [d.image] : []));
    const probs = ok.length ? await classifier.probabilities(ok) : [];
    let k = 0;
    batch.forEach((file, i) => {
      const d = decoded[i];
      if (d.image) {
        const p = probs[k++];
        out.push({ file, probability: p, label: classifier.labelOf(p) });
      } else {
        out.push({ file, probability: null, label: null, error: d.error });
      }
    });
    opts.onProgress?.(Math.min(files.length, s + batchSize));
  }
  return out;
}
