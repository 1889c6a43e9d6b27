import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Binary } from '../src/types.js';
import { Rng } from '../src/util/prng.js';
import {
  UndefinedMetricError,
  accuracy,
  binaryMetrics,
  chooseThreshold,
  confusionMatrix,
  f1,
  metricValues,
  precision,
  predict,
  rocAuc,
  rocCurve,
  sensitivity,
  specificity,
} from '../src/eval/metrics.js';

const close = (actual: number, expected: number, eps = 1e-12): void =>
  assert.ok(Math.abs(actual - expected) <= eps, `expected ${expected}, got ${actual}`);

// A hand-worked case used by several tests.
//   COVID (1) scores:    0.9 0.8 0.6 0.3
//   NonCOVID (0) scores: 0.7 0.4 0.2 0.1 0.05 0.5
// At threshold 0.5 (COVID when score >= 0.5; note 0.5 itself is predicted COVID):
//   tp = 3 (0.9 0.8 0.6), fn = 1 (0.3), fp = 2 (0.7 0.5), tn = 4 (0.4 0.2 0.1 0.05)
//   accuracy    = (3 + 4) / 10      = 0.7
//   sensitivity = 3 / (3 + 1)       = 0.75
//   specificity = 4 / (4 + 2)       = 0.666...
//   precision   = 3 / (3 + 2)       = 0.6
//   F1          = 2·3 / (2·3 + 2 + 1) = 6/9 = 0.666...
//   legacy F1 (NonCOVID positive: tp' = tn = 4, fp' = fn = 1, fn' = fp = 2) = 8 / (8 + 1 + 2) = 8/11
//   AUC: pairs (COVID > NonCOVID) out of 4·6 = 24:
//     0.9 beats 6, 0.8 beats 6, 0.6 beats 5 (not 0.7), 0.3 beats 3 (0.2 0.1 0.05) → 20/24 = 0.8333...
const HAND_Y: Binary[] = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
const HAND_S = [0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1, 0.05, 0.5];

test('confusionMatrix matches the sklearn documented binary example', () => {
  // sklearn: tn, fp, fn, tp = confusion_matrix([0, 1, 0, 1], [1, 1, 1, 0]).ravel() → (0, 2, 1, 1)
  assert.deepEqual(confusionMatrix([0, 1, 0, 1], [1, 1, 1, 0]), { tp: 1, fp: 2, tn: 0, fn: 1 });
});

test('predict uses score >= threshold', () => {
  assert.deepEqual(predict([0.49, 0.5, 0.51], 0.5), [0, 1, 1]);
});

test('thresholded metrics on the hand-worked case', () => {
  const yPred = predict(HAND_S, 0.5);
  assert.deepEqual(confusionMatrix(HAND_Y, yPred), { tp: 3, fp: 2, tn: 4, fn: 1 });
  close(accuracy(HAND_Y, yPred), 0.7);
  close(sensitivity(HAND_Y, yPred), 0.75);
  close(specificity(HAND_Y, yPred), 4 / 6);
  close(precision(HAND_Y, yPred), 0.6);
  close(f1(HAND_Y, yPred), 6 / 9);
});

test('binaryMetrics on the hand-worked case', () => {
  const m = binaryMetrics(HAND_Y, HAND_S, 0.5);
  close(m.accuracy, 0.7);
  close(m.sensitivity, 0.75);
  close(m.specificity, 4 / 6);
  close(m.precision, 0.6);
  close(m.f1, 6 / 9);
  close(m.legacy_f1_noncovid, 8 / 11);
  close(m.auc, 20 / 24);
  assert.deepEqual(m.confusion, { tp: 3, fp: 2, tn: 4, fn: 1 });
});

test('zero_division = 0: undefined ratios are 0 in the metric functions, null in metricValues', () => {
  // No predicted COVID: precision = 0/0 → 0.
  assert.equal(precision([1, 0], [0, 0]), 0);
  // sklearn doc: f1_score([0]*6, [0]*6) → 0.0 with zero_division=0 (tp + fp + fn = 0).
  assert.equal(f1([0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]), 0);
  // No COVID image: sensitivity = 0/0 → 0.
  assert.equal(sensitivity([0, 0], [1, 0]), 0);
  // F1 is defined (0, not undefined) when tp = 0 but fp + fn > 0: 0 / (0 + 1 + 1).
  assert.equal(f1([1, 0], [0, 1]), 0);
  // Threshold above every score: nothing predicted COVID.
  const v = metricValues([1, 0, 1], [0.2, 0.1, 0.3], 0.9);
  assert.equal(v.precision, null);
  assert.equal(v.sensitivity, 0); // 0 / 2 is defined
  assert.equal(v.f1, 0); // 0 / (0 + 0 + 2) is defined
  close(v.auc ?? NaN, 1);
  assert.equal(binaryMetrics([1, 0, 1], [0.2, 0.1, 0.3], 0.9).precision, 0);
});

test('rocAuc: sklearn documented example with ties between classes', () => {
  // sklearn doc: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.75
  // pairs: 0.35 > 0.1, 0.35 < 0.4, 0.8 > both → 3/4.
  close(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 0.75);
});

test('rocAuc counts a tied pair as 1/2', () => {
  // All scores equal: every pair tied → 1/2.
  close(rocAuc([0, 1, 0, 1, 1], [0.3, 0.3, 0.3, 0.3, 0.3]), 0.5);
  // COVID {0.5, 0.8}, NonCOVID {0.5, 0.2}: 0.5~0.5 → 1/2, 0.5>0.2 → 1, 0.8 beats both → 2; 3.5/4.
  close(rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.8]), 0.875);
  // Perfectly inverted ranking → 0.
  close(rocAuc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]), 0);
});

test('rocAuc equals the brute-force pair count and the trapezoidal area of rocCurve on random tied data', () => {
  const rng = new Rng(11);
  for (let rep = 0; rep < 20; rep++) {
    const n = 5 + rng.int(60);
    const y: Binary[] = [];
    const s: number[] = [];
    for (let i = 0; i < n; i++) {
      const c: Binary = i === 0 ? 1 : i === 1 ? 0 : rng.next() < 0.4 ? 1 : 0;
      y.push(c);
      s.push(Math.round((rng.next() + 0.3 * c) * 10) / 10); // one decimal → many ties
    }
    let pairs = 0;
    let wins = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++)
        if (y[i] === 1 && y[j] === 0) {
          pairs++;
          wins += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
        }
    const auc = rocAuc(y, s);
    close(auc, wins / pairs, 1e-12);
    for (const dropIntermediate of [true, false]) {
      const { fpr, tpr } = rocCurve(y, s, { dropIntermediate });
      let area = 0;
      for (let k = 1; k < fpr.length; k++) area += ((fpr[k] - fpr[k - 1]) * (tpr[k] + tpr[k - 1])) / 2;
      close(area, auc, 1e-12);
    }
  }
});

test('rocCurve matches the sklearn documented example', () => {
  // sklearn doc (pos_label=2 on [1, 1, 2, 2]): fpr [0, 0, .5, .5, 1], tpr [0, .5, .5, 1, 1], thresholds [inf, .8, .4, .35, .1]
  const r = rocCurve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]);
  assert.deepEqual(r, { fpr: [0, 0, 0.5, 0.5, 1], tpr: [0, 0.5, 0.5, 1, 1], thresholds: [Infinity, 0.8, 0.4, 0.35, 0.1] });
});

test('rocCurve on a hand-worked case: ties give a diagonal step, collinear points are dropped', () => {
  // Descending: 0.9 {COVID, NonCOVID} tied, 0.7 C, 0.6 N, 0.5 C, 0.1 N; 3 COVID, 3 NonCOVID.
  // Cumulative (tp, fp) at each distinct score: (1,1) (2,1) (2,2) (3,2) (3,3) — every point is a corner.
  const r = rocCurve([1, 0, 1, 0, 1, 0], [0.9, 0.9, 0.7, 0.6, 0.5, 0.1]);
  assert.deepEqual(r.thresholds, [Infinity, 0.9, 0.7, 0.6, 0.5, 0.1]);
  assert.deepEqual(r.fpr, [0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1]);
  assert.deepEqual(r.tpr, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1]);

  // 3 COVID above 2 NonCOVID: (tp, fp) = (1,0) (2,0) (3,0) (3,1) (3,2).
  // (2,0) lies between (1,0) and (3,0) and (3,1) between (3,0) and (3,2): dropped like sklearn's drop_intermediate.
  const y: Binary[] = [1, 1, 1, 0, 0];
  const s = [0.9, 0.8, 0.7, 0.3, 0.2];
  assert.deepEqual(rocCurve(y, s), { fpr: [0, 0, 0, 1], tpr: [0, 1 / 3, 1, 1], thresholds: [Infinity, 0.9, 0.7, 0.2] });
  assert.deepEqual(rocCurve(y, s, { dropIntermediate: false }), {
    fpr: [0, 0, 0, 0, 0.5, 1],
    tpr: [0, 1 / 3, 2 / 3, 1, 1, 1],
    thresholds: [Infinity, 0.9, 0.8, 0.7, 0.3, 0.2],
  });
});

test('one-class input: AUC and ROC curve throw a clear error, never NaN', () => {
  assert.throws(() => rocAuc([1, 1, 1], [0.2, 0.5, 0.9]), { name: 'UndefinedMetricError', message: 'AUC is undefined: yTrue contains only COVID (1) samples' });
  assert.throws(() => rocAuc([0, 0], [0.2, 0.5]), { message: 'AUC is undefined: yTrue contains only NonCOVID (0) samples' });
  assert.throws(() => binaryMetrics([1, 1], [0.2, 0.5], 0.5), UndefinedMetricError);
  assert.throws(() => rocCurve([1, 1], [0.2, 0.5]), /only COVID \(1\) samples/);
  assert.equal(metricValues([1, 1], [0.2, 0.5], 0.5).auc, null);
});

test('bad inputs throw: mismatched lengths, empty, non-finite scores, bad labels, NaN threshold', () => {
  assert.throws(() => rocAuc([0, 1], [0.5]), /same length, got 2 and 1/);
  assert.throws(() => confusionMatrix([0, 1], [1]), /same length/);
  assert.throws(() => rocAuc([], []), /at least one sample/);
  assert.throws(() => rocAuc([0, 1], [0.5, NaN]), /scores\[1\] must be a finite number, got NaN/);
  assert.throws(() => binaryMetrics([0, 1], [Infinity, 0.5], 0.5), /scores\[0\] must be a finite number/);
  assert.throws(() => rocAuc([0, 2 as Binary], [0.1, 0.5]), /yTrue\[1\] must be 0 \(NonCOVID\) or 1 \(COVID\)/);
  assert.throws(() => binaryMetrics([0, 1], [0.1, 0.5], NaN), /threshold/);
  assert.throws(() => chooseThreshold([0, 1], [0.1, 0.5], 'f1' as 'youden'), /unknown threshold rule/);
});

test('chooseThreshold: separable scores → the midpoint of the gap between the classes', () => {
  // Cuts: 0.1|0.3 → tp 2, tn 1; 0.3|0.6 → tp 2, tn 2 (perfect); 0.6|0.9 → tp 1, tn 2. Midpoint of 0.3 and 0.6.
  for (const rule of ['youden', 'accuracy'] as const) close(chooseThreshold([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.9], rule), 0.45);
  // Input order does not matter.
  close(chooseThreshold([1, 0, 1, 0], [0.9, 0.3, 0.6, 0.1], 'youden'), 0.45);
});

test('chooseThreshold: youden and accuracy differ on imbalanced data', () => {
  // Scores 0.1..0.8 ascending, labels 0 0 0 1 0 0 0 0 (1 COVID, 7 NonCOVID).
  // Cut after 0.3 (threshold 0.35): tp 1, tn 3 → Youden 1 + 3/7 - 1 = 0.43 (best); accuracy 4/8.
  // Cut after 0.7 (threshold 0.75): tp 0, tn 6 → Youden -1/7; accuracy 6/8 (best).
  const y: Binary[] = [0, 0, 0, 1, 0, 0, 0, 0];
  const s = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
  close(chooseThreshold(y, s, 'youden'), 0.35);
  close(chooseThreshold(y, s, 'accuracy'), 0.75);
});

test('chooseThreshold: ties → the median of the equally good cuts, the lower one for an even count', () => {
  // Labels 0 1 0 1 0 1 at 0.1..0.6 (3 + 3). Correct counts after each cut:
  //   0.1|0.2: tp 3 tn 1 = 4; 0.2|0.3: tp 2 tn 1 = 3; 0.3|0.4: tp 2 tn 2 = 4; 0.4|0.5: 3; 0.5|0.6: tp 1 tn 3 = 4.
  // Three tied cuts (0.15, 0.35, 0.55) → the middle one, 0.35 (same ranking for Youden, as the classes are balanced).
  const s = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
  close(chooseThreshold([0, 1, 0, 1, 0, 1], s, 'accuracy'), 0.35);
  close(chooseThreshold([0, 1, 0, 1, 0, 1], s, 'youden'), 0.35);
  // Labels 0 0 1 0 1 1: correct counts 4, 5, 4, 5, 4 → two tied cuts 0.25 and 0.45 → the lower, 0.25.
  close(chooseThreshold([0, 0, 1, 0, 1, 1], s, 'accuracy'), 0.25);
  close(chooseThreshold([0, 0, 1, 0, 1, 1], s, 'youden'), 0.25);
});

test('chooseThreshold returns a midpoint that is optimal among all cuts on random data', () => {
  const rng = new Rng(5);
  for (let rep = 0; rep < 10; rep++) {
    const n = 30 + rng.int(40);
    const y: Binary[] = Array.from({ length: n }, (_, i) => (i < 3 ? 1 : i < 6 ? 0 : rng.next() < 0.3 ? 1 : 0));
    const s = y.map((c) => Math.round((rng.next() + 0.5 * c) * 20) / 20);
    const distinct = [...new Set(s)].sort((a, b) => a - b);
    const youden = (t: number): number => {
      const m = binaryMetrics(y, s, t);
      return m.sensitivity + m.specificity - 1;
    };
    const t = chooseThreshold(y, s, 'youden');
    assert.ok(!s.includes(t), 'the threshold never sits on a score');
    const k = distinct.findIndex((v) => v > t);
    assert.ok(k > 0, 'the threshold lies strictly inside the score range');
    close(t, (distinct[k - 1] + distinct[k]) / 2, 1e-15);
    for (let j = 1; j < distinct.length; j++) assert.ok(youden(t) >= youden((distinct[j - 1] + distinct[j]) / 2) - 1e-12);
  }
});

test('chooseThreshold throws when no cut exists', () => {
  assert.throws(() => chooseThreshold([0, 1, 1], [0.4, 0.4, 0.4], 'youden'), /all scores are equal/);
  assert.throws(() => chooseThreshold([1, 1], [0.1, 0.9], 'accuracy'), /only COVID \(1\) samples/);
});
