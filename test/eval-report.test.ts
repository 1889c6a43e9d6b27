import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { Binary } from '../src/types.js';
import { Rng } from '../src/util/prng.js';
import { evaluateScores, evaluateScoresWithBootstrap } from '../src/eval/evaluation.js';
import { LEGACY_F1_LABEL, formatTable, renderRocPng, rocSvg, writeFileAtomic, writeMarkdownReport } from '../src/eval/report.js';
import { rocCurve } from '../src/eval/metrics.js';

// The hand-worked case of eval-metrics.test.ts: tp 3, fp 2, tn 4, fn 1 at threshold 0.5;
// accuracy 0.7, sensitivity 0.75, specificity 4/6, precision 0.6, F1 6/9, legacy F1 8/11, AUC 20/24.
const HAND_Y: Binary[] = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
const HAND_S = [0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1, 0.05, 0.5];

function synthetic(n: number, seed: number): { y: Binary[]; s: number[] } {
  const rng = new Rng(seed);
  const y: Binary[] = [];
  const s: number[] = [];
  for (let i = 0; i < n; i++) {
    const c: Binary = i % 2 === 0 ? 1 : 0;
    y.push(c);
    s.push(1 / (1 + Math.exp(-((c ? 1.2 : -1.2) + rng.normal()))));
  }
  return { y, s };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-report-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('evaluateScores: the JSON form has exactly the documented keys, in order', () => {
  const r = evaluateScores({ split: 'test', yTrue: HAND_Y, scores: HAND_S, threshold: 0.5, draws: 200, seed: 1 });
  const json = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(json), ['split', 'n', 'threshold', 'metrics', 'confusion']);
  const metrics = json.metrics as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(metrics), ['accuracy', 'sensitivity', 'specificity', 'precision', 'f1', 'auc', 'legacy_f1_noncovid']);
  for (const [name, m] of Object.entries(metrics)) {
    assert.deepEqual(Object.keys(m), ['value', 'ci'], name);
    assert.equal(typeof m.value, 'number', name);
    assert.ok(Array.isArray(m.ci) && m.ci.length === 2 && m.ci.every((v) => typeof v === 'number'), `${name} ci is [lo, hi]`);
  }
  assert.deepEqual(Object.keys(json.confusion as object), ['tp', 'fp', 'tn', 'fn']);
  // Values: the hand-worked case, and a lossless round trip through JSON.
  assert.equal(json.split, 'test');
  assert.equal(json.n, 10);
  assert.equal(json.threshold, 0.5);
  assert.deepEqual(json.confusion, { tp: 3, fp: 2, tn: 4, fn: 1 });
  assert.equal(metrics.accuracy.value, 0.7);
  assert.equal(metrics.precision.value, 0.6);
  assert.equal(metrics.legacy_f1_noncovid.value, 8 / 11);
  assert.equal(metrics.auc.value, 20 / 24);
  assert.deepEqual(json, r);
});

test('evaluateScores is deterministic for a seed and rejects an infinite threshold', () => {
  const { y, s } = synthetic(80, 1);
  const a = evaluateScores({ split: 'val', yTrue: y, scores: s, threshold: 0.5, draws: 300, seed: 4 });
  assert.deepEqual(a, evaluateScores({ split: 'val', yTrue: y, scores: s, threshold: 0.5, draws: 300, seed: 4 }));
  assert.notDeepEqual(a, evaluateScores({ split: 'val', yTrue: y, scores: s, threshold: 0.5, draws: 300, seed: 5 }));
  assert.throws(() => evaluateScores({ split: 'val', yTrue: y, scores: s, threshold: Infinity }), /finite/);
});

test('formatTable shows values, intervals, the labelled legacy F1 and the confusion matrix', () => {
  const r = evaluateScores({ split: 'test', yTrue: HAND_Y, scores: HAND_S, threshold: 0.5, draws: 200, seed: 1 });
  const text = formatTable(r);
  const lines = text.split('\n');
  const row = (start: string): string => lines.find((l) => l.startsWith(start)) ?? assert.fail(`no line starting "${start}"`);
  assert.match(row('accuracy'), /^accuracy\s+0\.7000\s+\[\d\.\d{4}, \d\.\d{4}\]$/);
  assert.match(row('sensitivity (recall)'), /0\.7500/);
  assert.match(row('specificity'), /0\.6667/);
  assert.match(row('ROC AUC'), /0\.8333/);
  assert.ok(text.includes(`${LEGACY_F1_LABEL}: 0.7273`), 'legacy F1 (8/11) under its full label');
  assert.equal(LEGACY_F1_LABEL, 'legacy F1 (NonCOVID as positive, as printed by the original COVID-CT code)');
  assert.match(row('true COVID'), /^true COVID\s+3\s+1$/); // tp, fn
  assert.match(row('true NonCOVID'), /^true NonCOVID\s+2\s+4$/); // fp, tn
  assert.match(text, /n = 10 \(4 COVID, 6 NonCOVID\)/);
  // Columns line up: every metric row has its value ending at the same column.
  const ends = ['accuracy', 'specificity', 'F1', 'ROC AUC'].map((m) => row(m).indexOf(' ['));
  assert.equal(new Set(ends).size, 1);
});

test('rocSvg plots one vertex per ROC point and marks the operating point', () => {
  const { y, s } = synthetic(50, 2);
  const svg = rocSvg(y, s, { threshold: 0.5 });
  const poly = /<polyline points="([^"]+)"/.exec(svg)?.[1] ?? assert.fail('no polyline');
  assert.equal(poly.trim().split(' ').length, rocCurve(y, s).fpr.length);
  assert.match(svg, /ROC \(AUC = 0\.\d{3}\)/);
  assert.match(svg, /threshold 0\.500: sens/);
  assert.equal(rocSvg(y, s).includes('threshold 0.500'), false, 'no operating point without a threshold');
});

test('renderRocPng writes a real PNG of the requested size', async () => {
  await withTempDir(async (dir) => {
    const { y, s } = synthetic(60, 3);
    const out = path.join(dir, 'sub', 'roc.png');
    const r = await renderRocPng(y, s, out, { width: 500, height: 420, threshold: 0.5 });
    const bytes = await readFile(out);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
    const meta = await sharp(out).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 500);
    assert.equal(meta.height, 420);
    assert.deepEqual({ width: r.width, height: r.height }, { width: 500, height: 420 });
    // Not a blank canvas: the blue curve and the red operating point are drawn.
    const { data, info } = await sharp(out).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    let blue = 0;
    let red = 0;
    for (let i = 0; i < data.length; i += info.channels) {
      const [R, G, B] = [data[i], data[i + 1], data[i + 2]];
      if (B > 150 && R < 80 && G < 140) blue++;
      if (R > 180 && G < 80 && B < 80) red++;
    }
    assert.ok(blue > 200, `curve pixels: ${blue}`);
    assert.ok(red > 30, `operating point pixels: ${red}`);
  });
});

test('writeMarkdownReport writes the report and its ROC PNG beside it, referenced relatively', async () => {
  await withTempDir(async (dir) => {
    const { y, s } = synthetic(100, 4);
    const { result, bootstrap } = evaluateScoresWithBootstrap({ split: 'test', yTrue: y, scores: s, threshold: 0.5, draws: 300, seed: 2 });
    const file = path.join(dir, 'reports', 'eval-test.md');
    const written = await writeMarkdownReport({
      result,
      yTrue: y,
      scores: s,
      file,
      model: { name: 'mobilenetv2-default', description: ['recipe: default', 'threshold chosen on val (Youden)'] },
      command: 'covid-ct evaluate --split test --report reports/eval-test.md',
      bootstrap,
    });
    assert.equal(written.roc, path.join(dir, 'reports', 'eval-test-roc.png'));
    const md = await readFile(file, 'utf8');
    // The command comes right under the title: which split (or data) was scored is the first thing to check.
    assert.ok(md.startsWith('# COVID-CT evaluation: test split\n\n## Command\n\n```sh\ncovid-ct evaluate --split test --report reports/eval-test.md\n```\n\n## What was evaluated\n'), md.slice(0, 200));
    assert.match(md, /!\[[^\]]*\]\(eval-test-roc\.png\)/, 'relative image link');
    const meta = await sharp(written.roc).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 640, 640]);
    assert.ok(md.includes('mobilenetv2-default') && md.includes('threshold chosen on val (Youden)'));
    assert.ok(md.includes('```sh\ncovid-ct evaluate --split test --report reports/eval-test.md\n```'));
    assert.ok(md.includes(LEGACY_F1_LABEL));
    const acc = result.metrics.accuracy;
    const ci = acc.ci ?? assert.fail('accuracy has an interval');
    assert.ok(md.includes(`| accuracy | ${acc.value.toFixed(4)} | [${ci[0].toFixed(4)}, ${ci[1].toFixed(4)}] |`));
    assert.ok(md.includes(`| **true COVID** | ${result.confusion.tp} (TP) | ${result.confusion.fn} (FN) |`));
    assert.match(md, /300 draws with seed 2/);
    assert.match(md, /bootstrap/);
    // Only the two files: no temp file left behind.
    assert.deepEqual((await readdir(path.dirname(file))).sort(), ['eval-test-roc.png', 'eval-test.md']);
  });
});

test('writeMarkdownReport rejects labels and scores that are not the ones of the result', async () => {
  await withTempDir(async (dir) => {
    const result = evaluateScores({ split: 'test', yTrue: HAND_Y, scores: HAND_S, threshold: 0.5, draws: 50 });
    await assert.rejects(
      writeMarkdownReport({ result, yTrue: HAND_Y.slice(1), scores: HAND_S.slice(1), file: path.join(dir, 'r.md') }),
      /result\.n = 10, yTrue has 9/,
    );
    assert.deepEqual(await readdir(dir), []);
  });
});

test('writeFileAtomic replaces a file whole and leaves no temp file when it fails', async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, 'a.txt');
    await writeFileAtomic(file, 'first');
    await writeFileAtomic(file, 'second');
    assert.equal(await readFile(file, 'utf8'), 'second');
    // The target is a non-empty folder: the rename fails, the error surfaces, the temp file is removed.
    const blocked = path.join(dir, 'blocked');
    await mkdir(path.join(blocked, 'inside'), { recursive: true });
    await assert.rejects(writeFileAtomic(blocked, 'x'));
    assert.ok((await stat(blocked)).isDirectory());
    assert.deepEqual((await readdir(dir)).sort(), ['a.txt', 'blocked']);
  });
});
