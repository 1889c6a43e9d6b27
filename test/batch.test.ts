/**
 * Batch scoring on a real Redis (redis-server started here on a free loopback port, persistence off) with real
 * `covid-ct worker` processes: the output is byte for byte predict's, re-submitting adds no job, and a worker
 * killed with SIGKILL mid-job loses nothing and duplicates nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { zipSync } from 'fflate';
import { Redis } from 'ioredis';
import { CLI, REPO, lungPhantom, readCsv, runCli } from './helpers.js';
import { ctSlice } from './dicom-writer.js';
import { redisBinary, startRedis, type TestRedis } from './redis-server.js';
import { fromStored, parseScoreJob, toStored, unitHash } from '../src/batch/job.js';
import { opaqueKey } from '../src/data/dicom.js';
import type { Prediction } from '../src/types.js';

const W = { width: 1500, level: -600 };

describe('batch job results (pure)', () => {
  test('stored results carry no path, and read back under another path they are what predict names', () => {
    const dir = '/mnt/archive/x';
    const preds: Prediction[] = [
      { file: `${dir}/a.png`, probability: 0.25, label: 'NonCOVID', involvement: 0.01, lungPixels: 900, pattern: 0.5, category: 'negative for pneumonia' },
      { file: `${dir}/multi.dcm [frame 1]`, probability: 0.75, label: 'COVID', dicom: { series: opaqueKey(`file:${dir}/multi.dcm`), frame: 1 } },
      { file: `${dir}/multi.dcm [frame 2]`, probability: 0.5, label: 'COVID', dicom: { series: opaqueKey(`file:${dir}/multi.dcm`), frame: 2 } },
      { file: `${dir}/s.zip/IM1`, probability: 0.1, label: 'NonCOVID', dicom: { series: 'abcdef012345', instance: 1 } },
      { file: `${dir}/s.zip/IM2`, probability: null, label: null, error: 'broken', dicom: { series: opaqueKey(`file:${dir}/s.zip/IM2`) } },
      { file: `${dir}/bad.txt`, probability: null, label: null, error: 'not a PNG, JPEG, TIFF or DICOM image' },
    ];
    const files = ['a.png', 'multi.dcm', 's.zip', 'bad.txt'].map((f) => `${dir}/${f}`);
    const stored = toStored(preds, files);
    assert.deepEqual(stored.files.map((f) => f.length), [1, 2, 2, 1]);
    assert.ok(!JSON.stringify(stored).includes('/mnt/archive'), 'no path in the stored result');
    const back = stored.files.flatMap((s, i) => fromStored(JSON.parse(JSON.stringify(s)), `in/${path.basename(files[i])}`));
    assert.deepEqual(back.map((p) => p.file), ['in/a.png', 'in/multi.dcm [frame 1]', 'in/multi.dcm [frame 2]', 'in/s.zip/IM1', 'in/s.zip/IM2', 'in/bad.txt']);
    // A series without a UID is keyed by its name: the key follows the new name; a UID's key stays.
    assert.equal(back[1].dicom!.series, opaqueKey('file:in/multi.dcm'));
    assert.equal(back[3].dicom!.series, 'abcdef012345');
    assert.equal(back[4].dicom!.series, opaqueKey('file:in/s.zip/IM2'));
    assert.deepEqual({ ...back[0], file: preds[0].file }, preds[0]);
  });

  test('the content hash depends on the bytes and the window, not on paths; bad job data is refused', () => {
    const a = 'a'.repeat(64), b = 'b'.repeat(64);
    assert.equal(unitHash([a, b], W), unitHash([a, b], { ...W }));
    assert.notEqual(unitHash([a, b], W), unitHash([b, a], W));
    assert.notEqual(unitHash([a], W), unitHash([a], { width: 1500, level: -500 }));
    assert.throws(() => parseScoreJob({ v: 1, files: [{ path: 'relative.png', sha256: a }], window: W }), /absolute path/);
    assert.throws(() => parseScoreJob({ v: 1, files: [], window: W }), /no files/);
    assert.throws(() => parseScoreJob({ v: 1, files: [{ path: '/x.png', sha256: a }], window: { width: -1, level: 0 } }), /width/);
    assert.deepEqual(parseScoreJob({ v: 1, files: [{ path: '/x.png', sha256: a, extra: 1 }], window: W }).files, [{ path: '/x.png', sha256: a }]);
  });
});

const noRedis = redisBinary() ? false : 'redis-server is not installed (apt-get install redis-server; .ci/run does it)';

interface Worker { proc: ChildProcess; log: () => string; exited: Promise<number | null> }

function startWorker(url: string, extra: string[] = []): Worker {
  const proc = spawn(process.execPath, [CLI, 'worker', '--redis', url, '--verbose', '--lock-seconds', '2', ...extra], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d) => { log += d; });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, log: () => log, exited };
}

async function waitFor(what: string, f: () => boolean, ms = 120_000): Promise<void> {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('covid-ct batch and worker on a real redis-server', { skip: noRedis }, () => {
  let redis: TestRedis;
  let dir: string;
  let inputs: string[];
  const reference: Record<string, { code: number; stdout: string }> = {};

  before(async () => {
    redis = await startRedis();
    dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-batch-'));
    const png = async (name: string, opacity: boolean) => {
      const p = lungPhantom(256, opacity);
      await writeFile(path.join(dir, name), await sharp(Buffer.from(p.data), { raw: { width: p.width, height: p.height, channels: 1 } }).png().toBuffer());
    };
    await png('phantom-a.png', true);
    await png('phantom-b.png', false);
    await writeFile(path.join(dir, 'same-as-a.png'), await readFile(path.join(dir, 'phantom-a.png'))); // same bytes, another name
    // Named like an image, so it gets an error row; a README is left out of the walk with a note (both as predict does).
    await writeFile(path.join(dir, 'notes.png'), 'not an image\n');
    await writeFile(path.join(dir, 'README.txt'), 'exported by a viewer\n');
    // A series of 24 slices in a folder, named out of scan order; a DICOM without a series UID; a zipped series.
    await mkdir(path.join(dir, 'series'));
    for (let k = 1; k <= 24; k++) await writeFile(path.join(dir, 'series', `IM${String((k * 7) % 25).padStart(2, '0')}`), ctSlice(k));
    await writeFile(path.join(dir, 'no-uid.dcm'), ctSlice(30, { seriesUid: undefined }));
    await writeFile(path.join(dir, 'zipped.zip'), zipSync({ 'b/IM2': ctSlice(2, { seriesUid: '1.2.3.9' }), 'b/IM1': ctSlice(1, { seriesUid: '1.2.3.9' }) }));
    inputs = [dir, path.join(dir, 'missing.png')];
    for (const format of ['csv', 'json']) reference[format] = await runCli(['predict', ...inputs, '--format', format, '--quiet']);
    assert.equal(reference.csv.code, 2, 'predict reports the bad file and the missing path');
  });

  after(async () => {
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('writes byte for byte what predict writes (CSV and JSON); submitting again adds no job', async () => {
    const worker = startWorker(redis.url);
    try {
      const out = path.join(dir, '..', `${path.basename(dir)}-out.csv`);
      const first = await runCli(['batch', ...inputs, '--redis', redis.url, '--out', out]);
      assert.equal(first.code, reference.csv.code, first.stderr);
      assert.equal(await readFile(out, 'utf8'), reference.csv.stdout);
      await rm(out);
      assert.match(first.stderr, /scored 30\/30/, 'progress on stderr');
      assert.match(first.stderr, /note: skipped 1 file\(s\) .*README\.txt/);
      // 30 files, 6 jobs: the 24 slices of the series are one, and same-as-a.png shares phantom-a.png's (same bytes).
      assert.match(first.stderr, /6 jobs submitted .*, 0 results already stored/);
      const again = await runCli(['batch', ...inputs, '--redis', redis.url, '--format', 'json']);
      assert.equal(again.stdout, reference.json.stdout);
      assert.match(again.stderr, /0 jobs submitted .*, \d+ results already stored/);
    } finally {
      worker.proc.kill('SIGTERM');
    }
    assert.equal(await worker.exited, 0, 'SIGTERM stops a worker cleanly');
    assert.match(worker.log(), /SIGTERM: finishing the jobs in hand/);
  });

  test('a worker killed with SIGKILL mid-job loses nothing and no input gets two rows', async () => {
    const client = new Redis(redis.url);
    await client.flushall();
    const a = startWorker(redis.url);
    let b: Worker | undefined;
    try {
      const batch = runCli(['batch', ...inputs, '--redis', redis.url, '--format', 'csv', '--in-flight', '2']);
      // The 24-slice series is the longest job: kill worker A as soon as it has started it.
      let jobId = '';
      await waitFor('worker A to start the series job', () => {
        const m = /job ([0-9a-f]{64}) started \(24 files/.exec(a.log());
        if (m) jobId = m[1];
        return Boolean(m);
      });
      a.proc.kill('SIGKILL');
      await a.exited;
      assert.ok(!a.log().includes(`job ${jobId} done`), 'A was killed before it finished the job');
      b = startWorker(redis.url);
      const r = await batch;
      assert.equal(r.code, reference.csv.code, r.stderr);
      assert.equal(r.stdout, reference.csv.stdout, 'every input once, as predict gives it');
      assert.match(b.log(), new RegExp(`job ${jobId} started .*attempt`), 'B took over the job A held');
      const left = await client.keys('covid-ct:score-*:active');
      for (const k of left) assert.equal(await client.llen(k), 0, 'no job left active');
    } finally {
      a.proc.kill('SIGKILL');
      b?.proc.kill('SIGTERM');
      if (b) await b.exited;
      client.disconnect();
    }
    assert.deepEqual(await redis.leftovers(), [], 'no persistence files');
  });

  test('a file changed after it was submitted gets an error row, and the rest goes on', async () => {
    const client = new Redis(redis.url);
    await client.flushall();
    const sub = await mkdtemp(path.join(tmpdir(), 'covid-ct-batch-changed-'));
    let worker: Worker | undefined;
    try {
      const p = lungPhantom(128, true);
      const png = (v: number) => sharp(Buffer.from(p.data.map((x) => Math.min(255, x + v))), { raw: { width: 128, height: 128, channels: 1 } }).png().toBuffer();
      await writeFile(path.join(sub, 'a.png'), await png(0));
      await writeFile(path.join(sub, 'b.png'), await png(1));
      const batch = runCli(['batch', sub, '--redis', redis.url]);
      // No worker yet: the jobs wait in Redis; then a.png is overwritten before a worker reads it.
      const t0 = Date.now();
      while ((await client.keys('covid-ct:score-*:wait')).length === 0 || (await client.llen((await client.keys('covid-ct:score-*:wait'))[0])) < 2) {
        if (Date.now() - t0 > 60_000) throw new Error('the batch did not queue its jobs');
        await new Promise((r) => setTimeout(r, 50));
      }
      await writeFile(path.join(sub, 'a.png'), await png(2));
      worker = startWorker(redis.url);
      const r = await batch;
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout.split('\n')[0], 'file,probability,label,involvement,pattern,category,refusal,reason,orientation,polarity,tilt,error,series');
      const [a, b] = readCsv(r.stdout);
      assert.equal(a.file, path.join(sub, 'a.png'));
      assert.equal(a.probability, '', 'no score for the changed file');
      assert.match(a.error, /^scoring failed on the worker after 1 attempt\(s\): .*a\.png changed after it was submitted/);
      assert.equal(b.file, path.join(sub, 'b.png'));
      assert.match(b.probability, /^0\.\d+$/, 'the other file is scored');
      assert.equal(b.error, '');
    } finally {
      worker?.proc.kill('SIGTERM');
      if (worker) await worker.exited;
      client.disconnect();
      await rm(sub, { recursive: true, force: true });
    }
  });

  test('a wrong Redis is one clear line, no stack trace', async () => {
    const r = await runCli(['batch', dir, '--redis', 'redis://127.0.0.1:1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^(note: skipped .*\n)?covid-ct: cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(.*ECONNREFUSED/);
    assert.ok(!/\n\s+at /.test(r.stderr), r.stderr);
  });
});
