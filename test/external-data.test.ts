/**
 * The shipped model on real external data: the COVID-CT-MD sample (6 patients, 768 slices; see ../shared/README.md)
 * through its manifest as it ships, scored with `covid-ct evaluate --data manifest.csv`. Skipped, saying so, when
 * ../shared is not beside the project.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO, runCli } from './helpers.js';

const MANIFEST = path.resolve(REPO, '../shared/data/covid-ct-md-sample/manifest.csv');
const skip = existsSync(MANIFEST) ? false : `the COVID-CT-MD sample is not at ${MANIFEST} (../shared absent): skipped`;

test('evaluate --data covid-ct-md-sample/manifest.csv: 768 slices, 6 patients, patient bootstrap and patient AUC', { skip }, async () => {
  const r = await runCli(['evaluate', '--data', '../shared/data/covid-ct-md-sample/manifest.csv', '--json', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(j), ['split', 'n', 'threshold', 'metrics', 'confusion', 'model', 'data', 'bootstrap', 'patients', 'calibration']);
  assert.equal(j.split, 'external');
  assert.equal(j.n, 768);
  assert.deepEqual(j.confusion.tp + j.confusion.fn, 148);
  // The scan ends without lungs are refused and still counted: the user is told how many, on stderr.
  assert.match(r.stderr, /note: \d+ of 768 slices were refused as NotCT \(no-lungs \d+\); the metrics count them with their raw P\(COVID\)/);
  assert.deepEqual(j.data, { kind: 'csv', path: '../shared/data/covid-ct-md-sample/manifest.csv', n_patients: 6, patients_from: 'patient_id column' });
  assert.deepEqual(j.bootstrap, { unit: 'patient' });
  assert.equal(j.patients.n, 6);
  assert.equal(j.patients.top_k, 5);
  assert.equal(typeof j.patients.auc.value, 'number');
  assert.ok(j.patients.auc.value >= 0 && j.patients.auc.value <= 1);
  assert.ok(j.patients.auc.ci === null || (j.patients.auc.ci[0] <= j.patients.auc.value && j.patients.auc.value <= j.patients.auc.ci[1]));
  assert.ok(j.metrics.auc.value > 0 && j.metrics.auc.value < 1);
  // Stratified patient bootstrap: both COVID patients are in every draw, so precision and F1 never reach 0 (they
  // did when draws without a COVID patient were allowed).
  assert.ok(j.metrics.precision.ci[0] > 0 && j.metrics.f1.ci[0] > 0, JSON.stringify([j.metrics.precision, j.metrics.f1]));
  assert.deepEqual(Object.keys(j.calibration.ece), ['value', 'bias_corrected', 'ci', 'interval']);
  assert.ok(j.calibration.ece.ci[0] <= j.calibration.ece.bias_corrected && j.calibration.ece.bias_corrected <= j.calibration.ece.ci[1]);
});
