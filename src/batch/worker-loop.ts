/**
 * The worker's loop: takes jobs from the model's queue, reads the job's files (checking each against its
 * sha256), scores them with the prediction code (scoreSources, as predict's scoreFiles), and stores the result under the job's content hash
 * and the model's hash. At least once: a worker that dies mid-job loses its lock, BullMQ gives the job to another
 * worker, and the result is the same bytes whoever stores it, so a job scored twice still gives one answer.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Engine } from '../model/engine.js';
import { readImageBytes } from '../data/decode.js';
import { scoreSources } from '../predict/score-files.js';
import { errorMessage } from '../util/errors.js';
import { parseScoreJob, toStored, unitHash } from './job.js';
import { QUEUE_PREFIX, queueName, resultKey } from './names.js';
import { ResultStore } from './redis.js';

export interface WorkerOptions {
  connection: Redis;
  engine: Engine;
  modelHash: string;
  /** Jobs scored at once by this process. */
  concurrency: number;
  /** How long a job stays with this worker without a sign of life before another worker may take it over. */
  lockMs: number;
  /** Results expire after this many seconds (0 = kept). */
  resultTtlSeconds: number;
  /** One line per job event (started, done, failed); worker start and stop are always logged. */
  log: (line: string) => void;
  verbose: boolean;
}

export type JobOutcome = 'scored' | 'already stored';

/** Reads a job's files; a file that cannot be read is a transient failure (retried), one that changed is final. */
async function readJobFiles(files: { path: string; sha256: string }[]): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const f of files) {
    let bytes: Buffer;
    try {
      bytes = await readImageBytes(f.path);
    } catch (e) {
      // Often a mount missing on this machine: retrying (here or on another worker) may succeed.
      throw new Error(`${f.path}: ${errorMessage(e)} on this worker (is the archive mounted at the same path on every worker?)`);
    }
    if (createHash('sha256').update(bytes).digest('hex') !== f.sha256) {
      throw new UnrecoverableError(`${f.path} changed after it was submitted (its content hash differs); submit it again`);
    }
    out.set(f.path, bytes);
  }
  return out;
}

/** Scores one job and stores its result (unless stored already). Exported for the worker and its tests. */
export async function processJob(job: Pick<Job, 'id' | 'data'>, engine: Engine, store: ResultStore, modelHash: string): Promise<JobOutcome> {
  let data;
  try {
    data = parseScoreJob(job.data);
  } catch (e) {
    throw new UnrecoverableError(`job ${job.id}: ${errorMessage(e)}`);
  }
  // The id is the key of the result: a job whose id is not its content's hash would store a wrong answer there.
  if (job.id !== unitHash(data.files.map((f) => f.sha256), data.window)) throw new UnrecoverableError(`job ${job.id}: its id is not the hash of its content`);
  const key = resultKey(modelHash, job.id);
  if (await store.has(key)) return 'already stored';
  const bytes = await readJobFiles(data.files);
  const paths = data.files.map((f) => f.path);
  const preds = await scoreSources(engine, paths.map((p) => ({ name: p, read: async () => bytes.get(p)! })), { input: { window: data.window } });
  await store.put(key, JSON.stringify(toStored(preds, paths)));
  return 'scored';
}

/** A line a minute while jobs come in (so that a log shows the worker is alive and how fast it goes). */
const REPORT_MS = 60_000;

/** Starts taking jobs; `close()` waits for the jobs in hand to finish (SIGTERM from systemd or Kubernetes). */
export function startWorker(opts: WorkerOptions): Worker {
  const store = new ResultStore(opts.connection, opts.resultTtlSeconds);
  let jobs = 0, files = 0, since = Date.now();
  const report = setInterval(() => {
    if (jobs > 0) opts.log(`${jobs} jobs (${files} files) in the last ${Math.round((Date.now() - since) / 1000)} s`);
    jobs = 0; files = 0; since = Date.now();
  }, REPORT_MS);
  report.unref();
  const worker = new Worker(queueName(opts.modelHash), async (job: Job) => {
    const t0 = Date.now();
    const n = (job.data as { files?: unknown[] }).files?.length ?? 0;
    if (opts.verbose) opts.log(`job ${job.id} started (${n} files, attempt ${job.attemptsStarted})`);
    const outcome = await processJob(job, opts.engine, store, opts.modelHash);
    if (opts.verbose) opts.log(`job ${job.id} done: ${outcome} in ${Date.now() - t0} ms`);
    jobs++; files += n;
    return outcome;
  }, {
    connection: opts.connection,
    prefix: QUEUE_PREFIX,
    concurrency: opts.concurrency,
    lockDuration: opts.lockMs,
    // Look for jobs of dead workers as often as a lock can expire.
    stalledInterval: opts.lockMs,
    // A job whose worker died is given again; a job that kills three workers in a row is failed (a poison input).
    maxStalledCount: 2,
    autorun: true,
  });
  worker.on('failed', (job, err) => opts.log(`job ${job?.id ?? '?'} failed: ${err.message}`));
  worker.on('error', (err) => opts.log(`queue error: ${err.message}`));
  worker.on('closed', () => clearInterval(report));
  return worker;
}
