/**
 * The shipped models (models/default, the lungs design, and models/official, the whole-slice model) reproduce
 * their reports exactly: reports/NAME.json on the official test split and reports/NAME-ctmd.json on the CT-MD
 * external check, and the Markdown reports show the same AUC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO, DATA, requireShared, runCli } from './helpers.js';

const CTMD = path.resolve(REPO, '../shared/data/covid-ct-md-sample/manifest.csv');

for (const name of ['default', 'official']) {
  for (const [suffix, args] of [['', ['--data', DATA, '--split', 'test']], ['-ctmd', ['--data', CTMD]]] as const) {
    test(`evaluate on models/${name} reproduces reports/${name}${suffix} exactly`, async () => {
      requireShared();
      const expected = JSON.parse(await readFile(path.join(REPO, `reports/${name}${suffix}.json`), 'utf8'));
      const r = await runCli(['evaluate', ...args, '--model', path.join(REPO, 'models', name), '--json', '--quiet']);
      assert.equal(r.code, 0, r.stderr);
      const got = JSON.parse(r.stdout);
      // The report records the data path as given on its command line; compare everything else exactly.
      assert.deepEqual({ ...got, data: { ...got.data, path: null } }, { ...expected, data: { ...expected.data, path: null } });
      assert.equal(got.n, suffix ? 768 : 203);
      const md = await readFile(path.join(REPO, `reports/${name}${suffix}.md`), 'utf8');
      assert.ok(md.includes(got.metrics.auc.value.toFixed(4)), `reports/${name}${suffix}.md does not show AUC ${got.metrics.auc.value.toFixed(4)}`);
      const card = JSON.parse(await readFile(path.join(REPO, `models/${name}/model.json`), 'utf8'));
      assert.equal(got.threshold, card.threshold);
    });
  }
}
