/**
 * The page's modules (src/server/assets.ts): every module the page's scripts import, directly or through others, is
 * served. A module left out makes the page hang before it is ready (its import fails in the browser only), which the
 * browser tests catch slowly and without naming the file; this names it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { assetTable } from '../src/server/assets.js';
import { REPO } from './helpers.js';

test('every module the page imports, directly or not, is served', async () => {
  const table = assetTable(REPO, path.join(REPO, 'models/default'));
  const dist = path.join(REPO, 'dist/src');
  const seen = new Set<string>();
  const missing: string[] = [];
  const visit = async (rel: string, from: string): Promise<void> => {
    if (seen.has(rel)) return;
    seen.add(rel);
    if (!table.has(`/js/${rel}`)) missing.push(`${rel} (imported by ${from})`);
    const source = await readFile(path.join(dist, rel), 'utf8');
    // Static and dynamic imports of relative paths (type-only imports are gone from the emitted JS).
    for (const m of source.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+\.js)'/g)) {
      await visit(path.posix.normalize(path.posix.join(path.posix.dirname(rel), m[1])), rel);
    }
  };
  for (const entry of ['web/app.js', 'web/on-device.js']) await visit(entry, 'the page');
  assert.ok(seen.has('data/healthy-anchor.js') && seen.has('data/flood.js') && seen.size > 30, `walked ${seen.size} modules`);
  assert.deepEqual(missing, [], `not served: ${missing.join(', ')}`);
});
