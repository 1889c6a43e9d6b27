/**
 * The batch client's loop: plans units from the files, skips those whose result is stored already, adds a job
 * for each of the others (job id = content hash: a job that is already waiting or running is not added twice),
 * keeps at most `maxInFlight` jobs outstanding (back-pressure: a million files never become a million waiting
 * jobs at once), and collects results until every file has its rows. Interrupting it loses nothing: the jobs
 * stay queued and the results stored, and running the same batch again picks them up.
 */
import type { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import type { Prediction } from '../types.js';
import type { LungWindow } from '../data/window.js';
import { UserError, errorMessage } from '../util/errors.js';
import { JOB_VERSION, fromStored, parseStoredResult, type ScoreJob } from './job.js';
import { QUEUE_PREFIX, queueName, resultKey } from './names.js';
import { planUnits, type UnitFile } from './plan.js';
import { ResultStore } from './redis.js';

export interface BatchOptions {
  connection: Redis;
  modelHash: string;
  window: LungWindow;
  /** Jobs added and not finished, at most. */
  maxInFlight: number;
  /** Files of one DICOM series per job, at most. */
  maxFilesPerJob?: number;
  /** Milliseconds between two looks at the results. */
  pollMs?: number;
  /** Called with the number of files that have their rows. */
  onProgress?: (filesDone: number) => void;
  /** Warnings (no worker listening, a job that failed). */
  warn?: (line: string) => void;
}

export interface BatchOutcome {
  /** The slices of every file in the files' order, as scoreFiles gives them. */
  predictions: Prediction[];
  /** Jobs handed to the queue (one already waiting or running under the same id is not queued twice). */
  jobsSubmitted: number;
  /** Units whose result was stored before this run (or by another run of the same inputs). */
  alreadyStored: number;
}

interface InFlight {
  /** Units with this content (the same bytes given twice share a job). */
  units: UnitFile[][];
  addedAt: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How failed job attempts are retried: three tries, 1 s then 2 s apart. */
export const JOB_ATTEMPTS = 3;

export async function runBatch(files: string[], opts: BatchOptions): Promise<BatchOutcome> {
  const pollMs = opts.pollMs ?? 200;
  const warn = opts.warn ?? (() => {});
  const queue = new Queue(queueName(opts.modelHash), { connection: opts.connection, prefix: QUEUE_PREFIX });
  const store = new ResultStore(opts.connection);
  const perFile: (Prediction[] | undefined)[] = files.map(() => undefined);
  const inFlight = new Map<string, InFlight>();
  const retried = new Set<string>();
  let filesDone = 0, jobsSubmitted = 0, alreadyStored = 0, lastCheck = Date.now(), lastWorkerWarning = 0;

  const finish = (unit: UnitFile[], rows: (f: UnitFile, i: number) => Prediction[]) => {
    unit.forEach((f, i) => { perFile[f.index] = rows(f, i); });
    filesDone += unit.length;
    opts.onProgress?.(filesDone);
  };
  const finishStored = (unit: UnitFile[], text: string) => {
    const r = parseStoredResult(text, unit.length);
    finish(unit, (f, i) => fromStored(r.files[i], f.given));
  };
  const add = async (hash: string, unit: UnitFile[]) => {
    const data: ScoreJob = { v: JOB_VERSION, files: unit.map((f) => ({ path: f.path, sha256: f.sha256 })), window: opts.window };
    await queue.add('score', data, {
      jobId: hash, attempts: JOB_ATTEMPTS, backoff: { type: 'exponential', delay: 1000 },
      // The result store is the record of a finished job; a failed one stays until this client has reported it.
      removeOnComplete: true, removeOnFail: false,
    });
    jobsSubmitted++;
  };

  /** Collects stored results; now and then looks at jobs still missing one (failed, vanished) and at the workers. */
  const poll = async () => {
    const hashes = [...inFlight.keys()];
    const values = await store.getMany(hashes.map((h) => resultKey(opts.modelHash, h)));
    hashes.forEach((h, i) => {
      const v = values[i];
      if (v === null) return;
      for (const u of inFlight.get(h)!.units) finishStored(u, v);
      inFlight.delete(h);
    });
    if (Date.now() - lastCheck < 2000 || inFlight.size === 0) return;
    lastCheck = Date.now();
    for (const [h, f] of inFlight) {
      const job = await queue.getJob(h);
      if (!job) {
        // Finished between the two looks (its result is read next time), or removed by someone: add it again.
        if (!(await store.has(resultKey(opts.modelHash, h)))) await add(h, f.units[0]);
        continue;
      }
      if ((await job.getState()) !== 'failed') continue;
      // Failed before this run asked for it (an earlier batch died before reporting it): give it its attempts again,
      // once (the worker's clock may differ from ours).
      if (job.finishedOn !== undefined && job.finishedOn < f.addedAt && !retried.has(h)) {
        retried.add(h);
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        continue;
      }
      const reason = `scoring failed on the worker after ${job.attemptsMade} attempt(s): ${job.failedReason}`;
      warn(`job ${h.slice(0, 12)}: ${reason}`);
      for (const u of f.units) finish(u, (file) => [{ file: file.given, probability: null, label: null, error: reason }]);
      inFlight.delete(h);
      await job.remove().catch(() => {}); // so that submitting the files again retries them
    }
    if ((await queue.getWorkersCount()) === 0 && Date.now() - lastWorkerWarning > 30_000) {
      lastWorkerWarning = Date.now();
      warn(`no worker is taking jobs from queue ${queueName(opts.modelHash)} yet: start \`covid-ct worker --redis URL\` with the same model`);
    }
  };

  try {
    for await (const unit of planUnits(files, opts.window, { maxFiles: opts.maxFilesPerJob })) {
      if (unit.kind === 'local') { finish([{ index: unit.index, given: '', path: '', sha256: '' }], () => unit.preds); continue; }
      const same = inFlight.get(unit.hash);
      if (same) { same.units.push(unit.files); continue; }
      const stored = (await store.getMany([resultKey(opts.modelHash, unit.hash)]))[0];
      if (stored !== null) { alreadyStored++; finishStored(unit.files, stored); continue; }
      while (inFlight.size >= opts.maxInFlight) { await sleep(pollMs); await poll(); }
      await add(unit.hash, unit.files);
      inFlight.set(unit.hash, { units: [unit.files], addedAt: Date.now() });
    }
    while (inFlight.size > 0) { await sleep(pollMs); await poll(); }
  } catch (e) {
    // Redis gone or full, most likely: one clear line; what was queued and stored stays for the next run.
    throw new UserError(`batch stopped: ${errorMessage(e)} (queued jobs and stored results are kept: run the same command again)`);
  } finally {
    await queue.close();
  }
  return { predictions: perFile.flatMap((p) => p!), jobsSubmitted, alreadyStored };
}
