/**
 * Batch scoring on the Redis queue against predict, in one run on this machine:
 *   - predict's scoring (scoreFiles, 8 images per model call, in this process), and predict one file per call
 *     (what a worker does with single-image jobs), as references;
 *   - `covid-ct batch` with 1 and 2 `covid-ct worker` processes (one model each) on a redis-server started here;
 *   - the queue's overhead per job, measured alone: the same jobs through the same queue, client and result
 *     store, with a processor (in this process) that stores the job's precomputed result instead of scoring;
 *     and, as a difference of totals, (batch time - predict-one-file-per-call time) / jobs;
 *   - Redis memory per waiting job (1 image, and a 64-slice series) and per stored result, from INFO memory.
 * Model loading and process start-up are outside the timings (workers are started and warmed up first). Each
 * configuration runs 3 times, the median is shown, and the machine's load average is printed with the table.
 *
 *   npm run bench:batch [-- --images N]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { benchArgs } from './args.js';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { packageRoot } from '../src/cli/command.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { scoreFiles } from '../src/predict/score-files.js';
import { modelKey, readModelJson } from '../src/model/model-files.js';
import { runBatch } from '../src/batch/submit.js';
import { QUEUE_PREFIX, queueName, resultKey } from '../src/batch/names.js';
import { JOB_VERSION, toStored, unitHash, type ScoreJob } from '../src/batch/job.js';
import { ResultStore } from '../src/batch/redis.js';
import { DEFAULT_LUNG_WINDOW } from '../src/data/window.js';
import { startRedis } from '../test/redis-server.js';

const { values } = benchArgs(import.meta.url, { options: { images: { type: 'string' }, data: { type: 'string' } } });
const root = packageRoot();
const CLI = path.join(root, 'dist/src/cli/main.js');
const modelDir = path.join(root, 'models/default');
const imagesDir = path.resolve(values.data ?? path.join(root, '../shared/data/covid-ct-md-sample/images'));
const N = Number(values.images ?? 96);
const WARM = 16;
/** Runs of each configuration; the median is reported (other processes may share the CPU). */
const RUNS = 3;
const all = (await readdir(imagesDir)).filter((n) => n.endsWith('.png')).sort().map((n) => path.join(imagesDir, n));
if (all.length < N + WARM) throw new Error(`need ${N + WARM} PNGs in ${imagesDir}, found ${all.length}`);
// Every 7th file: patients and slices spread over the set; the warm-up files are others.
const files = Array.from({ length: N }, (_, i) => all[(i * 7) % all.length]);
const warm = all.filter((f) => !files.includes(f)).slice(0, WARM);
const window = DEFAULT_LUNG_WINDOW;
const hash = modelKey(await readModelJson(modelDir));
const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Median wall time of RUNS runs of fn (each preceded by `reset`). */
async function timed(fn: () => Promise<unknown>, reset: () => Promise<unknown> = async () => {}): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    await reset();
    const t = process.hrtime.bigint();
    await fn();
    times.push(seconds(t));
  }
  return median(times);
}

interface Row { what: string; jobs: number; images: number; seconds: number }
const rows: Row[] = [];

// References first, in this process, while no worker runs.
const engine = await OnnxClassifier.load(modelDir);
await scoreFiles(engine, warm);
const reference = await scoreFiles(engine, files);
rows.push({ what: 'predict (8 images per model call)', jobs: 0, images: N, seconds: await timed(() => scoreFiles(engine, files)) });
rows.push({ what: 'predict, one file per call', jobs: 0, images: N, seconds: await timed(async () => { for (const f of files) await scoreFiles(engine, [f]); }) });

const redis = await startRedis();
const client = new Redis(redis.url, { maxRetriesPerRequest: null });
const workers: ChildProcess[] = [];

async function startWorker(concurrency = 1): Promise<void> {
  const proc = spawn(process.execPath, [CLI, 'worker', '--redis', redis.url, '--concurrency', String(concurrency)], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  workers.push(proc);
  let log = '';
  await new Promise<void>((resolve, reject) => {
    proc.stderr!.on('data', (d) => { log += d; if (log.includes('taking jobs')) resolve(); });
    proc.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${log}`)));
  });
}

async function timeBatch(what: string): Promise<void> {
  // Warm each worker's model (onnxruntime's first runs), then forget the results so that every job is scored.
  await runBatch(warm, { connection: client, modelHash: hash, window, maxInFlight: 256 });
  let jobs = 0, same = true;
  const t = await timed(async () => {
    const out = await runBatch(files, { connection: client, modelHash: hash, window, maxInFlight: 256, pollMs: 20 });
    jobs = out.jobsSubmitted;
    same &&= JSON.stringify(out.predictions) === JSON.stringify(reference);
  }, () => client.flushall());
  rows.push({ what, jobs, images: N, seconds: t });
  if (!same) throw new Error(`${what}: the predictions differ from predict's`);
  await client.flushall();
}

try {
  const stopWorkers = async () => {
    for (const w of workers.splice(0)) { w.kill('SIGTERM'); await new Promise((r) => w.once('exit', r)); }
  };
  await startWorker();
  await timeBatch('batch, 1 worker');
  await stopWorkers();
  await startWorker(2);
  await timeBatch('batch, 1 worker --concurrency 2');
  await startWorker(2);
  await timeBatch('batch, 2 workers --concurrency 2');
  await stopWorkers();
  await startWorker();
  await startWorker();
  await timeBatch('batch, 2 workers');

  await stopWorkers();

  // The queue alone: same files, same client (hashing, enqueue, polling), a processor that only stores.
  const byJob = new Map(files.map((f, i) => [f, JSON.stringify(toStored([reference[i]], [f]))]));
  const store = new ResultStore(client);
  const workerConnection = client.duplicate({ maxRetriesPerRequest: null });
  const queueOnly = new Worker(queueName(hash), async (job) => {
    const data = job.data as ScoreJob;
    const key = resultKey(hash, job.id!);
    if (!(await store.has(key))) await store.put(key, byJob.get(data.files[0].path)!);
  }, { connection: workerConnection, prefix: QUEUE_PREFIX, concurrency: 1 });
  let queueJobs = 0;
  const queueSeconds = await timed(async () => {
    queueJobs = (await runBatch(files, { connection: client, modelHash: hash, window, maxInFlight: 256, pollMs: 20 })).jobsSubmitted;
  }, () => client.flushall());
  await queueOnly.close();
  workerConnection.disconnect();
  rows.push({ what: 'queue only (no scoring; results stored as given)', jobs: queueJobs, images: N, seconds: queueSeconds });

  // Memory: jobs waiting (no worker), then results stored.
  await client.flushall();
  const used = async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
  const queue = new Queue(queueName(hash), { connection: client, prefix: QUEUE_PREFIX });
  const K = 2000;
  const fakeFile = (i: number, k = 0) => ({ path: `/mnt/pacs-archive/2024/03/17/1.2.840.113619.2.55.3.${1000 + i}/IM${String(k).padStart(5, '0')}.dcm`, sha256: createHash('sha256').update(`${i}/${k}`).digest('hex') });
  const memoryOf = async (make: (i: number) => ScoreJob): Promise<number> => {
    const before = await used();
    for (let s = 0; s < K; s += 500) {
      await queue.addBulk(Array.from({ length: 500 }, (_, j) => {
        const data = make(s + j);
        return { name: 'score', data, opts: { jobId: unitHash(data.files.map((f) => f.sha256), window), attempts: 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: true, removeOnFail: false } };
      }));
    }
    const per = ((await used()) - before) / K;
    await client.flushall();
    return per;
  };
  const perImageJob = await memoryOf((i) => ({ v: JOB_VERSION, files: [fakeFile(i)], window }));
  const perSeriesJob = await memoryOf((i) => ({ v: JOB_VERSION, files: Array.from({ length: 64 }, (_, k) => fakeFile(i, k)), window }));
  await queue.close();
  // Results: real ones (one image; 64 slices) stored K times under distinct keys, as a worker stores them.
  const oneImage = JSON.stringify(toStored(reference.slice(0, 1), files.slice(0, 1)));
  const series64 = JSON.stringify(toStored(Array.from({ length: 64 }, (_, k) => ({ ...reference[k % N], file: `/s/IM${k}`, dicom: { series: 'abcdef012345', instance: k } })), Array.from({ length: 64 }, (_, k) => `/s/IM${k}`)));
  const memoryOfResults = async (value: string): Promise<number> => {
    const before = await used();
    for (let s = 0; s < K; s += 500) {
      const p = client.pipeline();
      for (let j = s; j < s + 500; j++) p.set(resultKey(hash, createHash('sha256').update(`r${j}`).digest('hex')), value, 'EX', 30 * 86400);
      await p.exec();
    }
    const per = ((await used()) - before) / K;
    await client.flushall();
    return per;
  };
  const perImageResult = await memoryOfResults(oneImage);
  const perSeriesResult = await memoryOfResults(series64);

  const predictRate = N / rows[0].seconds;
  const perCall = rows[1];
  const queueRow = rows[rows.length - 1];
  console.log(`\nBatch scoring, ${N} PNG slices (256x256, COVID-CT-MD sample), model ${path.relative(root, modelDir)}, ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, Node ${process.version}\n`);
  console.log('| run | jobs | images | seconds | images/s | vs predict | queue overhead per job (vs one file per call) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const overhead = r === queueRow ? `**${(1000 * r.seconds / r.jobs).toFixed(1)} ms** (measured alone)` : r.jobs ? `${(1000 * (r.seconds - perCall.seconds) / r.jobs).toFixed(1)} ms` : '';
    console.log(`| ${r.what} | ${r.jobs || ''} | ${r.images} | ${r.seconds.toFixed(2)} | ${(r.images / r.seconds).toFixed(2)} | ${((r.images / r.seconds) / predictRate).toFixed(2)}x | ${overhead} |`);
  }
  console.log(`\nRedis memory (INFO memory used_memory, ${K} of each, redis-server ${(await client.info('server')).match(/redis_version:(\S+)/)![1]}):\n`);
  console.log('| what | bytes each |');
  console.log('|---|---:|');
  console.log(`| waiting job, 1 image file | ${Math.round(perImageJob)} |`);
  console.log(`| waiting job, 64 files of a series | ${Math.round(perSeriesJob)} |`);
  console.log(`| stored result, 1 image (${oneImage.length} bytes of JSON) | ${Math.round(perImageResult)} |`);
  console.log(`| stored result, 64-slice series (${series64.length} bytes of JSON) | ${Math.round(perSeriesResult)} |`);
} finally {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGTERM');
  engine.dispose();
  client.disconnect();
  await redis.stop();
}
