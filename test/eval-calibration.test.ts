/**
 * Expected calibration error and the reliability diagram (issue 12.3): checked against a hand-computed value,
 * and the report writer's Calibration section with its PNG.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { Binary } from '../src/types.js';
import { basicInterval, biasCorrected, calibration, expectedCalibrationError, reliabilityBins } from '../src/eval/calibration.js';
import { Rng } from '../src/util/prng.js';
import { calibrationLine } from '../src/web/app.js';
import { evaluateScoresWithBootstrap } from '../src/eval/evaluation.js';
import { formatTable, writeMarkdownReport } from '../src/eval/report.js';

// By hand, 10 bins of width 0.1:
//   [0.0, 0.1): P 0.05, not COVID            -> n 1, mean P 0.05, fraction 0   -> gap 0.05
//   [0.1, 0.2): P 0.15, COVID                -> n 1, mean P 0.15, fraction 1   -> gap 0.85
//   [0.7, 0.8): P 0.72 COVID, 0.78 not COVID -> n 2, mean P 0.75, fraction 0.5 -> gap 0.25
//   [0.9, 1.0]: P 1.0 (the last bin holds 1), COVID -> n 1, mean P 1, fraction 1 -> gap 0
// ECE = (1 * 0.05 + 1 * 0.85 + 2 * 0.25 + 1 * 0) / 5 = 1.40 / 5 = 0.28
const Y: Binary[] = [0, 1, 1, 0, 1];
const S = [0.05, 0.15, 0.72, 0.78, 1.0];

test('ECE matches the hand-computed value; the bins hold what the hand computation says', () => {
  assert.ok(Math.abs(expectedCalibrationError(Y, S) - 0.28) < 1e-12, `${expectedCalibrationError(Y, S)}`);
  const bins = reliabilityBins(Y, S);
  assert.equal(bins.length, 10);
  assert.deepEqual(bins.map((b) => b.n), [1, 1, 0, 0, 0, 0, 0, 2, 0, 1]);
  assert.ok(Math.abs((bins[7].meanScore as number) - 0.75) < 1e-12);
  assert.equal(bins[7].fractionCovid, 0.5);
  assert.equal(bins[2].meanScore, null);
  // 5 bins: [0, 0.2) holds 0.05 and 0.15 (mean 0.1, fraction 0.5: gap 0.4), [0.6, 0.8) 0.72 and 0.78 (gap 0.25), [0.8, 1] P 1 (gap 0).
  assert.ok(Math.abs(expectedCalibrationError(Y, S, 5) - (2 * 0.4 + 2 * 0.25) / 5) < 1e-12);
  // Perfectly calibrated: four images at P 0.25, one of them COVID.
  assert.equal(expectedCalibrationError([1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]), 0);
  assert.throws(() => expectedCalibrationError([1], [0.5, 0.2]), /same length/);
});

test('basic bootstrap interval and bias correction: known values, clipped to [0, 1]', () => {
  // 101 draws 0.00, 0.01, ..., 1.00: q2.5 = 0.025, q97.5 = 0.975 (numpy 'linear').
  const grid = Array.from({ length: 101 }, (_, i) => i / 100);
  const [lo, hi] = basicInterval(0.5, grid, 0.95);
  assert.ok(Math.abs(lo - 0.025) < 1e-12 && Math.abs(hi - 0.975) < 1e-12, `${lo}, ${hi}`);
  // The official model's test report: measured 0.0542, resampled ECEs with q2.5 = 0.0553 and q97.5 = 0.1328
  // (41 draws, so these are order statistics 1 and 39). Percentile [0.0553, 0.1328] misses 0.0542; the basic
  // interval is [2 * 0.0542 - 0.1328, 2 * 0.0542 - 0.0553] = [-0.0244, 0.0531], clipped to [0, 0.0531].
  const draws = Array.from({ length: 41 }, (_, i) => 0.0553 + ((i - 1) * (0.1328 - 0.0553)) / 38);
  const official = basicInterval(0.0542, draws, 0.95);
  assert.equal(official[0], 0);
  assert.ok(Math.abs(official[1] - 0.0531) < 1e-12, `${official[1]}`);
  // Upper clip: a point far above its draws.
  assert.deepEqual(basicInterval(0.9, [0.1, 0.2, 0.3], 0.5), [1, 1]);
  assert.throws(() => basicInterval(0.1, [0.1], 1), /level/);
  // 2 * 0.05 - mean(0.06, 0.08, 0.10) = 0.02; below 0 it is clipped.
  assert.ok(Math.abs(biasCorrected(0.05, [0.06, 0.08, 0.1]) - 0.02) < 1e-12);
  assert.equal(biasCorrected(0.01, [0.06, 0.08, 0.1]), 0);
  assert.throws(() => biasCorrected(0.1, []), /no draw/);
});

test('calibration: the resampled ECEs sit above the measured one; the basic interval holds the bias-corrected value', () => {
  // Perfectly calibrated in expectation: COVID with probability P. The measured ECE is then all bias.
  const rng = new Rng(1);
  const y: Binary[] = [];
  const s: number[] = [];
  for (let i = 0; i < 200; i++) { const p = rng.next(); s.push(p); y.push(rng.next() < p ? 1 : 0); }
  const a = calibration(y, s, { draws: 500, seed: 1 });
  assert.deepEqual(a, calibration(y, s, { draws: 500, seed: 1 }));
  assert.equal(a.ece.interval, 'basic');
  assert.ok(a.ece.bias_corrected < a.ece.value, `the correction lowers the upward-biased ECE: ${JSON.stringify(a.ece)}`);
  assert.ok(a.ece.ci !== null && a.ece.ci[0] <= a.ece.bias_corrected && a.ece.bias_corrected <= a.ece.ci[1], JSON.stringify(a.ece));
  assert.ok(a.ece.ci[0] >= 0 && a.ece.ci[0] < a.ece.ci[1]);
  assert.equal(a.unit, 'image');
  const groups = y.map((_, i) => `p${Math.floor(i / 20)}`);
  const g = calibration(y, s, { draws: 500, seed: 1, groups });
  assert.equal(g.unit, 'patient');
  assert.equal(g.ece.value, a.ece.value);
  assert.notDeepEqual(g.ece.ci, a.ece.ci);
});

test('the model card names the measured and the bias-corrected ECE; an older report keeps its reading', () => {
  assert.equal(calibrationLine({ bins: 10, ece: { value: 0.0542, bias_corrected: 0.0101, ci: [0, 0.0531] } }),
    'Calibration on the test split: expected calibration error 0.054 measured; bias-corrected 0.010, 95% CI [0.000, 0.053] (10 bins).');
  assert.equal(calibrationLine({ bins: 10, ece: { value: 0.0542, ci: [0.0553, 0.1328] } }),
    'Calibration on the test split: expected calibration error 0.054 [0.055, 0.133] (10 bins).');
});

test('the report writer adds a Calibration section and the reliability diagram PNG beside the report', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-cal-'));
  try {
    const y: Binary[] = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
    const s = [0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1, 0.05, 0.5];
    const { result, bootstrap } = evaluateScoresWithBootstrap({ split: 'test', yTrue: y, scores: s, threshold: 0.5 });
    const cal = calibration(y, s, { draws: 200 });
    await writeMarkdownReport({ result, bootstrap, yTrue: y, scores: s, calibration: cal, file: path.join(dir, 'r.md') });
    const md = await readFile(path.join(dir, 'r.md'), 'utf8');
    assert.match(md, /## Calibration/);
    assert.ok(md.includes(`**Expected calibration error (ECE)**: ${cal.ece.value.toFixed(4)} measured; bias-corrected ${cal.ece.bias_corrected.toFixed(4)}, 95% CI [${cal.ece.ci![0].toFixed(4)}, ${cal.ece.ci![1].toFixed(4)}] (10 equal-width bins of P(COVID); basic bootstrap interval over images, stratified by class, 200 draws, seed 0).`));
    assert.match(md, /basic \(reverse percentile\) bootstrap interval/);
    assert.match(md, /P\(COVID\) is not a calibrated probability/);
    assert.match(md, /!\[Reliability diagram, ECE [\d.]+\]\(r-reliability\.png\)/);
    const meta = await sharp(path.join(dir, 'r-reliability.png')).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 640);
    assert.equal(meta.height, 820);
    assert.match(formatTable(result, undefined, cal), /expected calibration error \(10 bins\): [\d.]+ measured; bias-corrected [\d.]+, 95% CI \[[\d.]+, [\d.]+\] \(basic bootstrap;/);
    // Without a calibration, no section (older callers).
    await writeMarkdownReport({ result, yTrue: y, scores: s, file: path.join(dir, 'plain.md') });
    assert.doesNotMatch(await readFile(path.join(dir, 'plain.md'), 'utf8'), /## Calibration/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
