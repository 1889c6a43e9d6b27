/**
 * The shipped model (models/default) on the real test split reproduces reports/default.json exactly, and the
 * Markdown report shows the same AUC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO, DATA, requireShared, runCli } from './helpers.js';

test('evaluate on the shipped model reproduces reports/default exactly', async () => {
  requireShared();
  const expected = JSON.parse(await readFile(path.join(REPO, 'reports/default.json'), 'utf8'));
  const r = await runCli(['evaluate', '--data', DATA, '--split', 'test', '--json', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.deepEqual(got, expected);
  assert.equal(got.n, 203);
  const md = await readFile(path.join(REPO, 'reports/default.md'), 'utf8');
  assert.ok(md.includes(got.metrics.auc.value.toFixed(4)), `reports/default.md does not show AUC ${got.metrics.auc.value.toFixed(4)}`);
  const card = JSON.parse(await readFile(path.join(REPO, 'models/default/model.json'), 'utf8'));
  assert.equal(got.threshold, card.threshold);
});
