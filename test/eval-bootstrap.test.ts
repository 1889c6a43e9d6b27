import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Binary } from '../src/types.js';
import { Rng } from '../src/util/prng.js';
import { METRIC_NAMES, binaryMetrics } from '../src/eval/metrics.js';
import { bootstrapIntervals, drawStratified, pairedAucDifferenceInterval, quantileSorted, strataOf } from '../src/eval/bootstrap.js';
import { rocAuc } from '../src/eval/metrics.js';

/** A realistic synthetic test set: n images, ~45% COVID, logistic scores with AUC around 0.9. */
function synthetic(n: number, seed: number): { y: Binary[]; s: number[] } {
  const rng = new Rng(seed);
  const y: Binary[] = [];
  const s: number[] = [];
  for (let i = 0; i < n; i++) {
    const c: Binary = rng.next() < 0.45 ? 1 : 0;
    y.push(c);
    s.push(1 / (1 + Math.exp(-((c ? 1.3 : -1.3) + rng.normal()))));
  }
  return { y, s };
}

test('quantileSorted interpolates linearly like numpy.percentile', () => {
  // numpy.percentile([1, 2, 3, 4], 50) = 2.5; [0..100] at 2.5% → 2.5; ends are the min and max.
  assert.equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantileSorted(Array.from({ length: 101 }, (_, i) => i), 0.025), 2.5);
  assert.equal(quantileSorted([3, 7], 0), 3);
  assert.equal(quantileSorted([3, 7], 1), 7);
  assert.equal(quantileSorted([5], 0.975), 5);
});

test('same seed → same intervals; different seed → different intervals', () => {
  const { y, s } = synthetic(150, 1);
  const a = bootstrapIntervals(y, s, 0.5, { draws: 300, seed: 42 });
  const b = bootstrapIntervals(y, s, 0.5, { draws: 300, seed: 42 });
  const c = bootstrapIntervals(y, s, 0.5, { draws: 300, seed: 43 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.intervals, c.intervals);
  assert.notDeepEqual(a.intervals.auc.ci, c.intervals.auc.ci);
});

test('defaults: 2000 draws, seed 0, level 0.95', () => {
  const { y, s } = synthetic(60, 2);
  const r = bootstrapIntervals(y, s, 0.5);
  assert.equal(r.draws, 2000);
  assert.equal(r.seed, 0);
  assert.equal(r.level, 0.95);
  assert.deepEqual(r, bootstrapIntervals(y, s, 0.5, { draws: 2000, seed: 0, level: 0.95 }));
});

test('intervals contain the point estimate on a realistic synthetic test set', () => {
  const { y, s } = synthetic(300, 3);
  const point = binaryMetrics(y, s, 0.5);
  const r = bootstrapIntervals(y, s, 0.5, { draws: 1000, seed: 7 });
  for (const m of METRIC_NAMES) {
    const iv = r.intervals[m];
    assert.ok(iv.ci, `${m} has an interval`);
    const [lo, hi] = iv.ci;
    assert.ok(lo < point[m] && point[m] < hi, `${m}: ${point[m]} in [${lo}, ${hi}]`);
    assert.ok(lo >= 0 && hi <= 1);
    assert.equal(iv.skipped, 0, `${m} never undefined with n = 300`);
    assert.equal(iv.defined, 1000);
  }
  // Sanity of the scale: with n = 300, an accuracy interval is a few points wide, not 0 and not 0.5.
  const [lo, hi] = r.intervals.accuracy.ci ?? [0, 0];
  assert.ok(hi - lo > 0.03 && hi - lo < 0.2, `accuracy interval width ${hi - lo}`);
});

test('intervals narrow as the test set grows', () => {
  const width = (n: number): number => {
    const { y, s } = synthetic(n, 4);
    const ci = bootstrapIntervals(y, s, 0.5, { draws: 500, seed: 1 }).intervals.auc.ci ?? [0, 1];
    return ci[1] - ci[0];
  };
  // The width shrinks like 1/sqrt(n): 16x the images → about 1/4 of the width.
  assert.ok(width(1600) < width(100) / 2);
});

test('a wider level gives a wider interval', () => {
  const { y, s } = synthetic(120, 5);
  const w = (level: number): number => {
    const ci = bootstrapIntervals(y, s, 0.5, { draws: 500, seed: 3, level }).intervals.accuracy.ci ?? [0, 0];
    return ci[1] - ci[0];
  };
  assert.ok(w(0.99) > w(0.5));
});

test('draws where a metric is undefined are skipped for that metric and counted', () => {
  // COVID images: index 0 predicted COVID (0.9), index 1 not (0.2); NonCOVID images 2 and 3 predicted NonCOVID.
  // Stratified, each draw takes 2 of {0, 1} and 2 of {2, 3}: a draw without index 0 (probability 1/4) has no
  // predicted COVID, so precision is 0/0 there and skipped; every other metric is defined in every draw.
  const draws = 400;
  const r = bootstrapIntervals([1, 1, 0, 0], [0.9, 0.2, 0.1, 0.3], 0.5, { draws, seed: 9 });
  const noPredicted = r.intervals.precision.skipped;
  assert.ok(noPredicted > 60 && noPredicted < 140, `about a quarter of the draws lack index 0, got ${noPredicted}`);
  for (const m of METRIC_NAMES) {
    assert.equal(r.intervals[m].defined + r.intervals[m].skipped, draws);
    if (m !== 'precision' && m !== 'f1') assert.equal(r.intervals[m].skipped, 0, m);
  }
  // Skipped draws are not zeros: precision is 1 whenever defined (no false positive can be drawn) ...
  assert.deepEqual(r.intervals.precision.ci, [1, 1]);
  // ... while sensitivity, defined everywhere, is 0 in exactly those draws.
  assert.deepEqual(r.intervals.sensitivity.ci, [0, 1]);
  assert.deepEqual(r.intervals.specificity.ci, [1, 1]);
});

/**
 * CT-MD's shape: 6 patients, 2 COVID. Each patient has 3 identical slices; the COVID slices score 0.9 (true
 * positives), the others 0.1 except patient n3's, which score 0.8 (false positives).
 */
function ctmdLike(): { y: Binary[]; s: number[]; g: string[] } {
  const patients: [string, Binary, number][] = [['c1', 1, 0.9], ['c2', 1, 0.9], ['n1', 0, 0.1], ['n2', 0, 0.1], ['n3', 0, 0.8], ['n4', 0, 0.1]];
  const y: Binary[] = [], s: number[] = [], g: string[] = [];
  for (const [id, label, score] of patients) for (let k = 0; k < 3; k++) { y.push(label); s.push(score); g.push(id); }
  return { y, s, g };
}

test('stratified draws: every draw holds as many COVID and NonCOVID units as the data; an unstratified one does not', () => {
  const { y, g } = ctmdLike();
  const strata = strataOf(y, g);
  assert.deepEqual(strata, { covid: [[0, 1, 2], [3, 4, 5]], noncovid: [[6, 7, 8], [9, 10, 11], [12, 13, 14], [15, 16, 17]] });
  // A group is COVID when any of its images is (the patient-level label); without groups every image is a unit.
  assert.deepEqual(strataOf([0, 1, 0], ['a', 'a', 'b']), { covid: [[0, 1]], noncovid: [[2]] });
  assert.deepEqual(strataOf([1, 0, 1]), { covid: [[0], [2]], noncovid: [[1]] });
  const rng = new Rng(0);
  const plain = new Rng(0);
  let withoutCovid = 0;
  for (let d = 0; d < 2000; d++) {
    const drawn = drawStratified(rng, strata);
    assert.equal(drawn.length % 3, 0);
    const covidPatients = drawn.filter((i) => y[i] === 1).length / 3;
    assert.equal(covidPatients, 2, 'two COVID patients in every draw');
    assert.equal(drawn.length / 3 - covidPatients, 4, 'four others in every draw');
    // The old, unstratified draw: 6 patients of 6; about (4/6)^6 = 8.8% of its draws hold no COVID patient.
    if (Array.from({ length: 6 }, () => plain.int(6)).every((p) => p >= 2)) withoutCovid++;
  }
  assert.ok(withoutCovid > 120 && withoutCovid < 240, `unstratified draws without a COVID patient: ${withoutCovid}`);
});

test('patient bootstrap on a CT-MD-like set: precision and F1 intervals no longer reach 0 (known values)', () => {
  // Stratified, both COVID patients' 6 slices are in every draw, so sensitivity is 1 and precision is
  // 6 / (6 + 3k), k = how often n3 is drawn among the 4 NonCOVID draws ~ Binomial(4, 1/4):
  // P(k >= 3) = 5.1% and P(k = 4) = 0.4%, so the 2.5th percentile is k = 3 (precision 6/15 = 0.4), the
  // 97.5th k = 0 (precision 1). Unstratified, 7% of draws held no COVID patient but n3 (precision 0): [0, 1].
  const { y, s, g } = ctmdLike();
  const r = bootstrapIntervals(y, s, 0.5, { draws: 2000, seed: 0, groups: g });
  assert.deepEqual(r.intervals.sensitivity.ci, [1, 1]);
  assert.deepEqual(r.intervals.precision.ci, [0.4, 1]);
  // F1 = 2 P R / (P + R) with R = 1: at P = 0.4, 0.8 / 1.4.
  assert.deepEqual(r.intervals.f1.ci?.map((v) => Math.round(v * 1e12) / 1e12), [Math.round((0.8 / 1.4) * 1e12) / 1e12, 1]);
  for (const m of METRIC_NAMES) assert.equal(r.intervals[m].skipped, 0, `${m}: no draw skipped`);
  assert.deepEqual(r.intervals.auc.ci, [1, 1]);
});

test('a metric undefined in every draw has no interval', () => {
  // Threshold above every score: nothing is ever predicted COVID, so precision is 0/0 in every draw.
  const { y, s } = synthetic(40, 6);
  const r = bootstrapIntervals(y, s, 2, { draws: 50, seed: 0 });
  assert.equal(r.intervals.precision.ci, null);
  assert.equal(r.intervals.precision.skipped, 50);
  assert.deepEqual(r.intervals.sensitivity.ci, [0, 0]);
});

test('bad options throw', () => {
  assert.throws(() => bootstrapIntervals([0, 1], [0.1, 0.9], 0.5, { draws: 0 }), /draws must be an integer >= 1/);
  assert.throws(() => bootstrapIntervals([0, 1], [0.1, 0.9], 0.5, { draws: 1.5 }), /draws/);
  assert.throws(() => bootstrapIntervals([0, 1], [0.1, 0.9], 0.5, { level: 1 }), /level must be in \(0, 1\)/);
  assert.throws(() => bootstrapIntervals([0, 1], [0.1, 0.9], 0.5, { seed: 0.5 }), /seed/);
  assert.throws(() => bootstrapIntervals([0, 1], [0.1], 0.5), /same length/);
});

test('paired AUC difference: zero for rank-preserving changes, antisymmetric, and covering a real change', () => {
  const { y, s } = synthetic(200, 5);
  // A monotone transform keeps every AUC, in every draw: the interval is exactly [0, 0].
  assert.deepEqual(pairedAucDifferenceInterval(y, s, s.map((v) => v * v)).ci, [0, 0]);
  // Noise that weakens the scores: the point change lies inside the interval, which excludes 0 ...
  const rng = new Rng(9);
  const noisy = s.map((v) => v + 0.6 * rng.normal());
  const delta = rocAuc(y, noisy) - rocAuc(y, s);
  const iv = pairedAucDifferenceInterval(y, s, noisy, { draws: 1000, seed: 1 });
  assert.ok(iv.ci && iv.ci[0] < delta && delta < iv.ci[1] && iv.ci[1] < 0, `${delta} in ${JSON.stringify(iv.ci)}, below 0`);
  assert.equal(iv.defined, 1000);
  // ... and swapping the two score sets negates it (same draws).
  const back = pairedAucDifferenceInterval(y, noisy, s, { draws: 1000, seed: 1 });
  assert.ok(back.ci && Math.abs(back.ci[0] + iv.ci[1]) < 1e-12 && Math.abs(back.ci[1] + iv.ci[0]) < 1e-12);
});

test('one unit in a class: no interval (every draw would take it again), two: intervals; the calibration interval alike', async () => {
  const { calibration } = await import('../src/eval/calibration.js');
  // Two patients of 20 slices each, one COVID: before the rule every interval had zero width.
  const y: Binary[] = [...Array(20).fill(1), ...Array(20).fill(0)];
  const s = y.map((v, i) => (v ? 0.3 + 0.02 * (i % 20) : 0.1 + 0.02 * (i % 20)));
  const groups = y.map((v) => (v ? 'covid-patient' : 'normal-patient'));
  const one = bootstrapIntervals(y, s, 0.5, { draws: 200, groups });
  assert.deepEqual(one.tooFew, { covid: 1, noncovid: 1 });
  for (const m of METRIC_NAMES) assert.deepEqual(one.intervals[m], { ci: null, defined: 0, skipped: 200 });
  assert.equal(calibration(y, s, { draws: 200, groups }).ece.ci, null);
  // The same slices by image, or split into two patients per class: intervals of non-zero width.
  const byImage = bootstrapIntervals(y, s, 0.5, { draws: 200 });
  assert.equal(byImage.tooFew, undefined);
  const two = bootstrapIntervals(y, s, 0.5, { draws: 200, groups: y.map((v, i) => `${v}-${i % 20 < 10}`) });
  assert.equal(two.tooFew, undefined);
  // (The COVID patients' first halves score 0.30-0.48, under the threshold, their second halves 0.50-0.68.)
  for (const r of [byImage, two]) assert.ok(r.intervals.sensitivity.ci && r.intervals.sensitivity.ci[0] < r.intervals.sensitivity.ci[1], JSON.stringify(r.intervals.sensitivity));
});
