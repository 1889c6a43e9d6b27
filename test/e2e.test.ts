/**
 * End to end on a small subset of the real data: train (quick recipe) -> evaluate -> predict through the
 * compiled CLI, checking that the outputs agree with each other and that training is reproducible.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI, DATA, WEIGHTS, requireShared, runCli, readCsv } from './helpers.js';
import { rocAuc } from '../src/eval/metrics.js';
import type { Binary } from '../src/types.js';

const PER_CLASS = 8;
let dir = '';
let data = '';

/** A data folder with the first PER_CLASS images of each split and class (same layout, real files). */
async function makeSubset(): Promise<void> {
  data = path.join(dir, 'data');
  await mkdir(path.join(data, 'splits'), { recursive: true });
  for (const f of ['COVID-CT-MetaInfo.xlsx', 'NonCOVID-CT-MetaInfo.csv']) await cp(path.join(DATA, f), path.join(data, f));
  for (const cls of ['CT_COVID', 'CT_NonCOVID']) {
    await mkdir(path.join(data, 'images', cls), { recursive: true });
    for (const split of ['train', 'val', 'test']) {
      const names = (await readFile(path.join(DATA, 'splits', `${split}${cls}.txt`), 'utf8')).split('\n').map((s) => s.trim()).filter(Boolean).slice(0, PER_CLASS);
      await writeFile(path.join(data, 'splits', `${split}${cls}.txt`), names.join('\n') + '\n');
      for (const n of names) await cp(path.join(DATA, 'images', cls, n), path.join(data, 'images', cls, n));
    }
  }
}

before(async () => {
  requireShared();
  dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-e2e-'));
  await makeSubset();
});
after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

const train = (out: string, extra: string[] = []) => runCli(['train', '--data', data, '--pretrained', WEIGHTS, '--out', out, '--recipe', 'quick', '--seed', '3', '--quiet', ...extra]);

test('train -> evaluate -> predict agree, and the same seed gives the same model', async () => {
  const modelA = path.join(dir, 'model-a');
  const t = await train(modelA, ['--cache', path.join(dir, 'cache')]);
  assert.equal(t.code, 0, t.stderr);
  const card = JSON.parse(await readFile(path.join(modelA, 'model.json'), 'utf8'));
  assert.equal(card.format, 'covid-ct-model');
  assert.ok(card.threshold > 0 && card.threshold < 1, `threshold ${card.threshold}`);
  assert.equal(card.card.seed, 3);
  assert.equal(Object.keys(card.card.data.splitFiles).length, 6);

  // Same seed, no cache: bit-identical weights (the hashes cover backbone and head).
  const modelB = path.join(dir, 'model-b');
  const t2 = await train(modelB, ['--no-cache']);
  assert.equal(t2.code, 0, t2.stderr);
  const cardB = JSON.parse(await readFile(path.join(modelB, 'model.json'), 'utf8'));
  assert.equal(cardB.head.sha256, card.head.sha256);
  assert.equal(cardB.backbone.sha256, card.backbone.sha256);
  assert.equal(cardB.threshold, card.threshold);

  // The val AUC that training chose with equals what evaluate measures on val with the saved model.
  const ev = await runCli(['evaluate', '--data', data, '--model', modelA, '--split', 'val', '--json', '--quiet']);
  assert.equal(ev.code, 0, ev.stderr);
  const valResult = JSON.parse(ev.stdout);
  assert.ok(Math.abs(valResult.metrics.auc.value - card.card.val.auc) < 1e-12, `${valResult.metrics.auc.value} vs ${card.card.val.auc}`);

  // evaluate on test, with per-image scores; predict on the same files gives the same probabilities and AUC.
  const scoresCsv = path.join(dir, 'scores.csv');
  const et = await runCli(['evaluate', '--data', data, '--model', modelA, '--split', 'test', '--json', '--quiet', '--scores', scoresCsv]);
  assert.equal(et.code, 0, et.stderr);
  const testResult = JSON.parse(et.stdout);
  assert.deepEqual(Object.keys(testResult), ['split', 'n', 'threshold', 'metrics', 'confusion', 'model', 'data', 'bootstrap', 'calibration']);
  assert.deepEqual(testResult.bootstrap, { unit: 'image' });
  assert.equal(testResult.data.kind, 'official');
  assert.equal(testResult.data.n_patients, null);
  assert.equal(testResult.n, 2 * PER_CLASS);
  const c = testResult.confusion;
  assert.equal(c.tp + c.fp + c.tn + c.fn, 2 * PER_CLASS);

  const pr = await runCli(['predict', path.join(data, 'images'), '--model', modelA, '--format', 'csv', '--quiet']);
  assert.equal(pr.code, 0, pr.stderr);
  const predicted = new Map(readCsv(pr.stdout).map((r) => [path.basename(r.file), r]));
  const scored = readCsv(await readFile(scoresCsv, 'utf8'));
  assert.equal(scored.length, 2 * PER_CLASS);
  const y: Binary[] = [];
  const p: number[] = [];
  for (const r of scored) {
    const row = predicted.get(r.file);
    assert.ok(row, `predict has no row for ${r.file}`);
    assert.equal(Number(row.probability), Number(r.probability));
    assert.equal(row.label, Number(row.probability) >= card.threshold ? 'COVID' : 'NonCOVID');
    y.push(r.label === 'COVID' ? 1 : 0);
    p.push(Number(row.probability));
  }
  assert.equal(rocAuc(y, p), testResult.metrics.auc.value);
});

/** Starts the CLI and SIGKILLs it as soon as `ready()` holds (polled); resolves when it has exited. */
async function killWhen(args: string[], ready: () => Promise<boolean>): Promise<{ killed: boolean }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let finished = false;
  void exited.then(() => { finished = true; });
  while (!finished) {
    if (await ready()) { child.kill('SIGKILL'); break; }
    await sleep(20);
  }
  const code = await exited;
  return { killed: code === null };
}

async function filesUnder(root: string, ext: string): Promise<string[]> {
  const all = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  return all.filter((f) => f.endsWith(ext));
}

const hashesOf = async (dir: string) => {
  const j = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'));
  return { head: j.head.sha256 as string, backbone: j.backbone.sha256 as string, threshold: j.threshold as number };
};

test('train killed while caching features resumes from its cache and writes the same model', async () => {
  const cache = path.join(dir, 'cache-killed');
  const out = path.join(dir, 'model-killed');
  const k = await killWhen(
    ['train', '--data', data, '--pretrained', WEIGHTS, '--out', out, '--recipe', 'quick', '--seed', '3', '--quiet', '--cache', cache],
    async () => (await filesUnder(cache, '.f32')).length > 0,
  );
  assert.ok(k.killed, 'the run was killed before it finished');
  assert.ok(!existsSync(path.join(out, 'model.json')), 'a killed run leaves no model folder');
  const partial = (await filesUnder(cache, '.f32')).length;
  assert.ok(partial > 0 && partial < 4 * PER_CLASS, `${partial} of ${4 * PER_CLASS} train+val images cached when killed`);
  const t = await train(out, ['--cache', cache]);
  assert.equal(t.code, 0, t.stderr);
  assert.equal((await filesUnder(cache, '.f32')).length, 4 * PER_CLASS);
  assert.deepEqual(await hashesOf(out), await hashesOf(path.join(dir, 'model-a')));
});

test('fine-tuning killed after an epoch resumes from its checkpoint and writes the same model', async () => {
  const args = (out: string, cache: string[]) => ['train', '--data', data, '--pretrained', WEIGHTS, '--out', out, '--recipe', 'finetune-bl',
    '--finetune', '{"epochs":3,"patience":3}', '--seed', '1', '--quiet', ...cache];
  const cache = path.join(dir, 'cache-ft');
  const k = await killWhen(args(path.join(dir, 'ft-killed'), ['--cache', cache]), async () => (await filesUnder(cache, '.ckpt')).length > 0);
  assert.ok(k.killed, 'the run was killed before it finished');
  const resumed = await runCli(args(path.join(dir, 'ft-killed'), ['--cache', cache]));
  assert.equal(resumed.code, 0, resumed.stderr);
  const card = JSON.parse(await readFile(path.join(dir, 'ft-killed', 'model.json'), 'utf8'));
  assert.equal(typeof card.card.finetune.resumedFrom, 'number', 'the second run resumed from a checkpoint');
  const fresh = await runCli(args(path.join(dir, 'ft-fresh'), ['--no-cache']));
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.deepEqual(await hashesOf(path.join(dir, 'ft-killed')), await hashesOf(path.join(dir, 'ft-fresh')));
  // The fine-tuned model keeps the recipe's band limit, and inference frames images exactly as training did.
  assert.equal(card.preprocessing.blurSigma, 0.7);
  const ev = await runCli(['evaluate', '--data', data, '--model', path.join(dir, 'ft-killed'), '--split', 'val', '--json', '--quiet']);
  assert.equal(ev.code, 0, ev.stderr);
  assert.ok(Math.abs(JSON.parse(ev.stdout).metrics.auc.value - card.card.val.auc) < 1e-6, 'evaluate on val reproduces the val AUC of training');
});

test('predict: a bad file gets an error row and exit code 2, the others are still scored', async () => {
  const folder = path.join(dir, 'mixed');
  await mkdir(folder, { recursive: true });
  await cp(path.join(data, 'images', 'CT_COVID', (await readFile(path.join(data, 'splits', 'testCT_COVID.txt'), 'utf8')).split('\n')[0].trim()), path.join(folder, 'good.png'));
  await writeFile(path.join(folder, 'notes.png'), 'this is text, not an image\n');
  const r = await runCli(['predict', folder, '--model', path.join(dir, 'model-a'), '--format', 'json', '--quiet']);
  assert.equal(r.code, 2);
  const out = JSON.parse(r.stdout);
  const byName = new Map(out.predictions.map((x: { file: string }) => [path.basename(x.file), x]));
  const good = byName.get('good.png') as { probability: number; error: string | null };
  const bad = byName.get('notes.png') as { probability: number | null; error: string };
  assert.ok(good.probability > 0 && good.probability < 1 && good.error === null);
  assert.equal(bad.probability, null);
  assert.match(bad.error, /not a PNG, JPEG, TIFF or DICOM image/);
});

test('user errors are one clear line, not a stack trace', async () => {
  const r = await runCli(['evaluate', '--data', path.join(dir, 'nowhere'), '--model', path.join(dir, 'model-a')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^covid-ct: data folder not found: .*nowhere/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const m = await runCli(['predict', data, '--model', path.join(dir, 'no-model')]);
  assert.equal(m.code, 1);
  assert.match(m.stderr, /is not a covid-ct model folder/);
});

test('every command answers --help with its usage, and unknown options are clear errors', async () => {
  const top = await runCli(['--help']);
  assert.equal(top.code, 0);
  const commands = ['dataset check', 'train', 'evaluate', 'predict', 'explain', 'export', 'audit', 'serve'];
  for (const c of commands) assert.ok(top.stdout.includes(c), `top-level help lists ${c}`);
  for (const c of commands) {
    const r = await runCli([...c.split(' '), '--help']);
    assert.equal(r.code, 0, `${c} --help`);
    assert.match(r.stdout, new RegExp(`^Usage: covid-ct ${c}`), `${c} --help starts with its usage`);
  }
  const bad = await runCli(['evaluate', '--no-such-option']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^covid-ct: .*no-such-option/);
});
