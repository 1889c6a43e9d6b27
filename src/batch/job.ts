/**
 * A batch job and its stored result. A job is a unit of work: one image file, or a run of files of one DICOM
 * series. Its id is the unit's content hash, so submitting the same bytes twice makes no second job, and its
 * result is stored under that hash and the model's: path-free, so the same bytes under another path reuse it.
 */
import { createHash } from 'node:crypto';
import type { Prediction } from '../types.js';
import type { LungWindow } from '../data/window.js';
import { lungWindowProblem } from '../data/window.js';
import { opaqueKey } from '../data/dicom.js';

export const JOB_VERSION = 1;

/** One file of a job: where the workers read it (absolute, the same on every machine) and its sha256. */
export interface JobFile {
  path: string;
  sha256: string;
}

/** The payload of a scoring job (BullMQ job data). */
export interface ScoreJob {
  v: typeof JOB_VERSION;
  files: JobFile[];
  /** The lung window of CT DICOMs (it changes the pixels the model sees, so it is part of the content hash). */
  window: LungWindow;
}

/**
 * The content hash of a unit: its files' hashes in order and the window. Paths are left out on purpose: the
 * result depends on bytes only (the one name-dependent value, a series key for DICOMs without a series UID,
 * is recomputed from the name by the reader: see StoredSlice.seriesFromName).
 */
export function unitHash(sha256s: string[], window: LungWindow): string {
  return createHash('sha256').update(JSON.stringify({ v: JOB_VERSION, files: sha256s, window: [window.width, window.level] })).digest('hex');
}

/** The job's data checked (it comes from Redis, written by any client): throws an Error saying what is wrong. */
export function parseScoreJob(data: unknown): ScoreJob {
  const d = data as Partial<ScoreJob> | null;
  if (!d || typeof d !== 'object' || d.v !== JOB_VERSION) throw new Error(`not a covid-ct scoring job of version ${JOB_VERSION}`);
  if (!Array.isArray(d.files) || d.files.length === 0) throw new Error('the job has no files');
  for (const f of d.files) {
    if (!f || typeof f.path !== 'string' || !f.path.startsWith('/') || typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) {
      throw new Error('a file of the job has no absolute path or no sha256');
    }
  }
  const problem = d.window ? lungWindowProblem(d.window) : 'the job has no window';
  if (problem) throw new Error(problem);
  return { v: JOB_VERSION, files: d.files.map((f) => ({ path: f.path, sha256: f.sha256 })), window: { width: d.window!.width, level: d.window!.level } };
}

/** A slice's prediction without its path: `suffix` follows the file's name (' [frame 3]', '/IM0001', or ''). */
export type StoredSlice = Omit<Prediction, 'file'> & {
  suffix: string;
  /** Set when the series key was made from the decoded name (no SeriesInstanceUID): the part after the file's name. */
  seriesFromName?: string;
};

/** What a worker stores for a job: the slices of each of its files, in the job's file order. */
export interface StoredResult {
  v: typeof JOB_VERSION;
  files: StoredSlice[][];
}

const FRAME = / \[frame \d+\]$/;

/** Does a slice name come from this file (the file itself, one of its frames, or an entry of a zip)? */
const fromFile = (name: string, file: string): boolean =>
  name === file || (name.startsWith(file) && (FRAME.test(name.slice(file.length)) || name[file.length] === '/'));

/**
 * Splits scoreFiles' predictions of `files` (in file order, at least one slice each) per file and strips the
 * paths. Pure.
 */
export function toStored(preds: Prediction[], files: string[]): StoredResult {
  const out: StoredSlice[][] = files.map(() => []);
  let i = 0;
  for (const p of preds) {
    // Move on to the next file once this one has its slices and the slice is not one of them.
    while (i < files.length - 1 && out[i].length > 0 && !fromFile(p.file, files[i])) i++;
    if (!fromFile(p.file, files[i])) throw new Error(`slice "${p.file}" does not belong to any file of the job`);
    const { file, ...rest } = p;
    const slice: StoredSlice = { ...rest, suffix: file.slice(files[i].length) };
    if (p.dicom) {
      const decodedName = file.replace(FRAME, '');
      if (p.dicom.series === opaqueKey(`file:${decodedName}`)) slice.seriesFromName = decodedName.slice(files[i].length);
    }
    out[i].push(slice);
  }
  if (out.some((s) => s.length === 0)) throw new Error('a file of the job has no slice');
  return { v: JOB_VERSION, files: out };
}

/** The predictions of one file from its stored slices, named after the path the user gave (as predict names them). Pure. */
export function fromStored(slices: StoredSlice[], given: string): Prediction[] {
  return slices.map(({ suffix, seriesFromName, ...rest }) => {
    const p: Prediction = { file: given + suffix, ...rest };
    if (p.dicom && seriesFromName !== undefined) p.dicom = { ...p.dicom, series: opaqueKey(`file:${given}${seriesFromName}`) };
    return p;
  });
}

/** A stored result read back from Redis, checked against the job it answers. */
export function parseStoredResult(text: string, files: number): StoredResult {
  const r = JSON.parse(text) as StoredResult;
  if (!r || r.v !== JOB_VERSION || !Array.isArray(r.files) || r.files.length !== files) throw new Error('the stored result does not match its job');
  return r;
}
