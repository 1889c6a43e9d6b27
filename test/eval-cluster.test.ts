/**
 * The cluster (patient) bootstrap of src/eval/bootstrap.ts and the patient-level evaluation of src/eval/patients.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Binary } from '../src/types.js';
import { Rng } from '../src/util/prng.js';
import { bootstrapIntervals, groupIndices } from '../src/eval/bootstrap.js';
import { evaluateScoresWithBootstrap } from '../src/eval/evaluation.js';
import { evaluatePatients, patientScores, topKMean } from '../src/eval/patients.js';

/** `patients` patients of `slices` slices each; every slice of a patient has the patient's label and score. */
function correlated(patients: number, slices: number, seed: number): { y: Binary[]; s: number[]; g: string[] } {
  const rng = new Rng(seed);
  const y: Binary[] = [];
  const s: number[] = [];
  const g: string[] = [];
  for (let p = 0; p < patients; p++) {
    const c: Binary = p % 2 === 0 ? 1 : 0;
    const score = 1 / (1 + Math.exp(-((c ? 0.8 : -0.8) + rng.normal())));
    for (let k = 0; k < slices; k++) { y.push(c); s.push(score); g.push(`P${p}`); }
  }
  return { y, s, g };
}

test('groupIndices: groups in order of first appearance, images in order', () => {
  assert.deepEqual(groupIndices(['b', 'a', 'b', 'c', 'a']), [[0, 2], [1, 4], [3]]);
});

test('cluster bootstrap: deterministic for a seed, different for another, checks the group count', () => {
  const { y, s, g } = correlated(20, 4, 1);
  const a = bootstrapIntervals(y, s, 0.5, { draws: 300, seed: 7, groups: g });
  assert.deepEqual(a, bootstrapIntervals(y, s, 0.5, { draws: 300, seed: 7, groups: g }));
  assert.notDeepEqual(a.intervals.auc.ci, bootstrapIntervals(y, s, 0.5, { draws: 300, seed: 8, groups: g }).intervals.auc.ci);
  assert.throws(() => bootstrapIntervals(y, s, 0.5, { groups: g.slice(1) }), /groups has 79 ids for 80 images/);
  // Without groups the result is the image bootstrap, unchanged.
  assert.deepEqual(bootstrapIntervals(y, s, 0.5, { draws: 300, seed: 7 }), bootstrapIntervals(y, s, 0.5, { draws: 300, seed: 7, groups: undefined }));
});

test('cluster bootstrap keeps each group together', () => {
  // COVID group A: 3 images predicted COVID; COVID group B: 1 image predicted NonCOVID; NonCOVID group C: 2 images
  // predicted NonCOVID, and so is D (two NonCOVID groups: with one, no interval is given). Stratified, each draw takes
  // 2 COVID groups (AA: sensitivity 1, AB or BA: 3/4, BB: 0, with probabilities 1/4, 1/2, 1/4) and 2 NonCOVID ones, so the 95% interval of sensitivity is exactly [0, 1]. Resampling the
  // 4 COVID images one by one instead gives k/4 with k ~ Binomial(4, 3/4): P(k = 0) = 0.4% < 2.5% < P(k <= 1), so [0.25, 1].
  const y: Binary[] = [1, 1, 1, 1, 0, 0, 0, 0];
  const s = [0.9, 0.9, 0.9, 0.2, 0.1, 0.1, 0.1, 0.1];
  const groups = ['A', 'A', 'A', 'B', 'C', 'C', 'D', 'D'];
  const draws = 2000;
  const cluster = bootstrapIntervals(y, s, 0.5, { draws, seed: 3, groups });
  assert.deepEqual(cluster.intervals.sensitivity.ci, [0, 1]);
  assert.deepEqual(cluster.intervals.specificity.ci, [1, 1]);
  // Precision is undefined when BB is drawn (no predicted COVID): about a quarter of the draws, skipped.
  const bb = cluster.intervals.precision.skipped;
  assert.ok(bb > 0.2 * draws && bb < 0.3 * draws, `about a quarter of the draws are BB, got ${bb}`);
  assert.equal(cluster.intervals.auc.skipped, 0);
  const image = bootstrapIntervals(y, s, 0.5, { draws, seed: 3 });
  assert.deepEqual(image.intervals.sensitivity.ci, [0.25, 1]);
});

test('perfectly correlated slices: the patient bootstrap is much wider than the image bootstrap', () => {
  // 40 patients of 20 identical slices: 40 independent cases, not 800; the image bootstrap pretends 800.
  const { y, s, g } = correlated(40, 20, 2);
  const width = (ci: [number, number] | null) => (ci ? ci[1] - ci[0] : NaN);
  const img = bootstrapIntervals(y, s, 0.5, { draws: 1000, seed: 1 });
  const clu = bootstrapIntervals(y, s, 0.5, { draws: 1000, seed: 1, groups: g });
  for (const m of ['auc', 'accuracy'] as const) {
    const wi = width(img.intervals[m].ci);
    const wc = width(clu.intervals[m].ci);
    assert.ok(wc > 3 * wi, `${m}: patient width ${wc} vs image width ${wi} (expected about sqrt(20) = 4.5x)`);
  }
  // And it matches the bootstrap of one image per patient (same cases, same spread), to sampling error.
  const one = correlated(40, 1, 2);
  const wOne = width(bootstrapIntervals(one.y, one.s, 0.5, { draws: 1000, seed: 1 }).intervals.auc.ci);
  assert.ok(Math.abs(width(clu.intervals.auc.ci) - wOne) < 0.35 * wOne, `${width(clu.intervals.auc.ci)} vs ${wOne}`);
});

test('evaluateScoresWithBootstrap passes the groups to the bootstrap; point estimates do not change', () => {
  const { y, s, g } = correlated(20, 5, 4);
  const a = evaluateScoresWithBootstrap({ split: 'external', yTrue: y, scores: s, threshold: 0.5, draws: 200, seed: 1 });
  const b = evaluateScoresWithBootstrap({ split: 'external', yTrue: y, scores: s, threshold: 0.5, draws: 200, seed: 1, groups: g });
  assert.equal(b.result.split, 'external');
  assert.deepEqual(b.bootstrap, bootstrapIntervals(y, s, 0.5, { draws: 200, seed: 1, groups: g }));
  for (const m of Object.keys(a.result.metrics) as (keyof typeof a.result.metrics)[]) assert.equal(a.result.metrics[m].value, b.result.metrics[m].value);
  assert.notDeepEqual(a.result.metrics.auc.ci, b.result.metrics.auc.ci);
});

test('topKMean: the mean of the k largest, or of all when fewer', () => {
  assert.equal(topKMean([0.1, 0.9, 0.5, 0.7], 2), 0.8);
  assert.equal(topKMean([0.2, 0.4], 5), (0.2 + 0.4) / 2);
  assert.throws(() => topKMean([], 5), /no value/);
});

test('patientScores: one score and label per patient; a patient with any COVID slice is COVID', () => {
  const y: Binary[] = [0, 1, 0, 0, 0, 0];
  const s = [0.1, 0.9, 0.2, 0.3, 0.6, 0.5];
  const g = ['mixed', 'mixed', 'mixed', 'neg', 'neg', 'neg'];
  const p = patientScores(y, s, g, 2);
  assert.deepEqual(p.ids, ['mixed', 'neg']);
  assert.deepEqual(p.yTrue, [1, 0]);
  assert.deepEqual(p.sizes, [3, 3]);
  assert.ok(Math.abs(p.scores[0] - 0.55) < 1e-12 && Math.abs(p.scores[1] - 0.55) < 1e-12);
  assert.throws(() => patientScores(y, s, g, 0), /top-k/);
});

test('evaluatePatients: AUC over patients with a bootstrap over patients; null when one class only', () => {
  const { y, s, g } = correlated(30, 7, 5);
  const r = evaluatePatients({ yTrue: y, scores: s, groups: g, topK: 5, draws: 500, seed: 0 });
  assert.deepEqual(Object.keys(r.result), ['n', 'top_k', 'auc']);
  assert.equal(r.result.n, 30);
  assert.equal(r.result.top_k, 5);
  // Identical slices: the patient scores are the slice scores, so the patient AUC is the slice AUC.
  const slice = evaluateScoresWithBootstrap({ split: 'external', yTrue: y, scores: s, threshold: 0.5, draws: 10 }).result.metrics.auc.value;
  assert.ok(Math.abs((r.result.auc.value as number) - slice) < 1e-12);
  const ci = r.result.auc.ci as [number, number];
  assert.ok(ci[0] < slice && slice < ci[1]);
  assert.deepEqual(r, evaluatePatients({ yTrue: y, scores: s, groups: g, topK: 5, draws: 500, seed: 0 }));
  const neg = evaluatePatients({ yTrue: [0, 0, 0], scores: [0.1, 0.2, 0.3], groups: ['a', 'b', 'b'] });
  assert.deepEqual(neg.result, { n: 2, top_k: 5, auc: { value: null, ci: null } });
});

test('formatTable and the Markdown report say which data was scored, the bootstrap unit and the patient AUC', async () => {
  const { formatTable, markdownReport } = await import('../src/eval/report.js');
  const { y, s, g } = correlated(6, 3, 6);
  const { result, bootstrap } = evaluateScoresWithBootstrap({ split: 'external', yTrue: y, scores: s, threshold: 0.5, draws: 100, groups: g });
  const context = {
    data: { kind: 'csv' as const, path: 'ext/manifest.csv', n_patients: 6, patients_from: 'patient_id column' as const },
    bootstrap: { unit: 'patient' as const },
    patients: { n: 6, top_k: 5, auc: { value: null, ci: null } },
  };
  const t = formatTable(result, context);
  assert.match(t, /^split: external /);
  assert.match(t, /\ndata: CSV manifest ext\/manifest\.csv, 6 patients \(from its patient_id column\)\nbootstrap: over patients/);
  assert.match(t, /\npatient-level ROC AUC \(6 patients; patient score = mean of its top 5 slice scores\): n\/a \(all patients are of one class, so AUC is undefined\)\n/);
  // Without a context, the table is as before (no data or patient line).
  assert.doesNotMatch(formatTable(result), /data:|bootstrap:|patient-level/);
  const md = markdownReport({ result, yTrue: y, scores: s, bootstrap, context }, 'r-roc.png');
  assert.match(md, /^# COVID-CT evaluation: external data\n/);
  assert.match(md, /\n- Data: CSV manifest ext\/manifest\.csv, 6 patients \(from its patient_id column\)\n- Bootstrap: over patients/);
  assert.match(md, /\n### Patient level\n/);
  assert.match(md, /cluster-bootstrap intervals, stratified by class: in each draw the\nCOVID patients are resampled with replacement from the COVID patients and the other patients from the others/);
  assert.match(md, /choice of the 6 evaluated patients only/);
  const folder = formatTable(result, { data: { kind: 'folder', path: 'x', n_patients: null }, bootstrap: { unit: 'image' } });
  assert.match(folder, /\ndata: folder of class subfolders x, no patient ids\nbootstrap: over images, stratified by class \(each draw resamples the COVID images from the COVID images and the others from the others\)\n/);
});
