/**
 * The hash that names a model in the queue and the result store: sha256 over every file of the model folder
 * (name and bytes, in name order) except documentation (*.md), so new weights, threshold or preprocessing give
 * new keys and stale results are never served, while editing the attribution does not invalidate them.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../util/errors.js';

export async function modelHash(dir: string): Promise<string> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    throw new UserError(`cannot read the model folder ${dir} (${e.code ?? e.message})`);
  });
  const names = entries.filter((e) => e.isFile() && !e.name.endsWith('.md') && !e.name.startsWith('.')).map((e) => e.name).sort();
  if (!names.includes('model.json')) throw new UserError(`${dir} is not a model folder (no model.json)`);
  const h = createHash('sha256');
  for (const n of names) {
    const bytes = await readFile(path.join(dir, n));
    h.update(`${n}\0${bytes.length}\0`).update(bytes);
  }
  return h.digest('hex');
}
