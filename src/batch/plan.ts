/**
 * Turns the files of a batch into jobs: reads each file once (a few at a time) for its sha256 and, for a DICOM,
 * its series, and groups consecutive files of one series into a unit (at most `maxFiles`), so that a series is
 * scored together and small files do not each pay a queue round trip. A file the client cannot read gets its
 * error row here, exactly as predict words it, and never reaches the queue.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import type { Prediction } from '../types.js';
import type { LungWindow } from '../data/window.js';
import { readImageBytes } from '../data/decode.js';
import { isDicom, opaqueKey } from '../data/dicom.js';
import { errorMessage } from '../util/errors.js';
import { unitHash } from './job.js';

/** One file of a unit: the path as given (for the output), the absolute path (for the workers), its hash. */
export interface UnitFile {
  index: number;
  given: string;
  path: string;
  sha256: string;
}

export type PlannedUnit =
  | { kind: 'job'; hash: string; files: UnitFile[] }
  /** A file scored without the queue: its rows are known (it could not be read). */
  | { kind: 'local'; index: number; preds: Prediction[] };

/** The series key of a DICOM (as dicom.ts makes it), from its header only; undefined when there is none. */
function seriesOf(bytes: Uint8Array): string | undefined {
  if (!isDicom(bytes)) return undefined;
  try {
    const ds = dicomParser.parseDicom(bytes, { untilTag: 'x7fe00010' });
    const uid = ds.string('x0020000e')?.replace(/\0/g, '').trim();
    return uid ? opaqueKey(uid) : undefined;
  } catch {
    return undefined; // a broken header: the file is its own unit, and the worker reports the problem
  }
}

interface Read { index: number; given: string; sha256?: string; series?: string; error?: string }

async function readOne(given: string, index: number): Promise<Read> {
  try {
    const bytes = await readImageBytes(given);
    return { index, given, sha256: createHash('sha256').update(bytes).digest('hex'), series: seriesOf(bytes) };
  } catch (e) {
    return { index, given, error: errorMessage(e) };
  }
}

/** Units in file order; `readAhead` files are read at once. */
export async function* planUnits(files: string[], window: LungWindow, opts: { maxFiles?: number; readAhead?: number } = {}): AsyncGenerator<PlannedUnit> {
  const maxFiles = opts.maxFiles ?? 64;
  const readAhead = opts.readAhead ?? 8;
  let run: { series: string; files: UnitFile[] } | undefined;
  const flush = (): PlannedUnit | undefined => {
    if (!run) return undefined;
    const unit: PlannedUnit = { kind: 'job', hash: unitHash(run.files.map((f) => f.sha256), window), files: run.files };
    run = undefined;
    return unit;
  };
  for (let s = 0; s < files.length; s += readAhead) {
    const reads = await Promise.all(files.slice(s, s + readAhead).map((f, k) => readOne(f, s + k)));
    for (const r of reads) {
      if (r.error !== undefined) {
        const done = flush();
        if (done) yield done;
        yield { kind: 'local', index: r.index, preds: [{ file: r.given, probability: null, label: null, error: r.error }] };
        continue;
      }
      const file: UnitFile = { index: r.index, given: r.given, path: path.resolve(r.given), sha256: r.sha256! };
      if (run && r.series === run.series && run.files.length < maxFiles) { run.files.push(file); continue; }
      const done = flush();
      if (done) yield done;
      if (r.series) run = { series: r.series, files: [file] };
      else yield { kind: 'job', hash: unitHash([file.sha256], window), files: [file] };
    }
  }
  const done = flush();
  if (done) yield done;
}
