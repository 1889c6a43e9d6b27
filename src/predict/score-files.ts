/**
 * Scores image files with a classifier: reads each file, decodes it by content into slices (PNG, JPEG, DICOM
 * frames, zip entries: see data/inputs.ts), batches the model passes over slices, and turns every failure into
 * a per-slice error so that one bad file never stops the rest.
 */
import { open, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Prediction } from '../types.js';
import { refusalFields } from '../model/reading.js';
import type { Engine, EngineOptions, ScorableSlice } from '../model/engine.js';
import { PrepareThread, type SlicePreparer } from './prepare-thread.js';
import { decodeInput, noImageKind, type InputOptions, type InputSlice } from '../data/inputs.js';
import { readImageBytes } from '../data/decode.js';
import { errorMessage } from '../util/errors.js';
import { tiltField } from '../data/tilt.js';

/** Bytes read from the start of a file found in a folder to tell whether it is an image at all (noImageKind). */
const HEAD_BYTES = 8192;

/** Names that promise an image: such a file is kept whatever it holds, so that its row says it is not one. */
const IMAGE_NAME = /\.(png|jpe?g|tiff?|dcm|dicom|ima|nii|nii\.gz|zip|gif|webp|bmp)$/i;

async function headOf(file: string): Promise<Uint8Array | undefined> {
  const fh = await open(file, 'r').catch(() => undefined);
  if (!fh) return undefined; // unreadable: kept, so that its row says why
  try {
    const buf = new Uint8Array(HEAD_BYTES);
    const { bytesRead } = await fh.read(buf, 0, HEAD_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Expands files and folders (recursively, sorted, hidden entries skipped) into a list of files. Files found by
 * walking a folder that hold no image format at all and whose name does not promise one (a DICOM CD's README or
 * DICOMDIR, a labels.csv beside the slices) are left out and listed in `skipped` (DICOMDIR indexes silently); a
 * file named on the command line, or called .png, .dcm and the like, is kept, so that its row says what is wrong.
 */
export async function expandPaths(paths: string[]): Promise<{ files: string[]; missing: string[]; skipped: string[] }> {
  const files: string[] = [];
  const missing: string[] = [];
  const skipped: string[] = [];
  // Folders by their real path: a symbolic link back up the tree (a loop) is walked once, not until the path is too long.
  const seen = new Set<string>();
  const walk = async (p: string, named: boolean): Promise<void> => {
    const s = await stat(p).catch(() => undefined);
    if (!s) { missing.push(p); return; }
    if (s.isDirectory()) {
      const real = await realpath(p).catch(() => p);
      if (seen.has(real)) return;
      seen.add(real);
      const names = (await readdir(p)).filter((n) => !n.startsWith('.')).sort();
      for (const n of names) await walk(path.join(p, n), false);
    } else if (s.isFile()) {
      const head = named || IMAGE_NAME.test(p) ? undefined : await headOf(p);
      const kind = head ? noImageKind(head) : undefined;
      if (kind === 'not an image') skipped.push(p);
      else if (kind !== 'index') files.push(p);
    }
  };
  for (const p of paths) await walk(p, true);
  return { files, missing, skipped };
}

/** One line naming the files a folder walk left out as no image (the first five, then how many more). */
export function skippedNote(skipped: readonly string[]): string {
  const shown = skipped.slice(0, 5).join(', ');
  const more = skipped.length > 5 ? ` and ${skipped.length - 5} more` : '';
  return `skipped ${skipped.length} file(s) found in the folders that are not PNG, JPEG, TIFF, DICOM or NIfTI images: ${shown}${more}`;
}

export interface ScoreOptions {
  /** Images (slices) per model call; also how many files are read and decoded at once. */
  batchSize?: number;
  /** Called with the number of files fully scored so far. */
  onProgress?: (done: number) => void;
  /** Lung window and limits for DICOM and zip inputs. */
  input?: InputOptions;
  /**
   * Where slices are prepared for the model (polarity, orientation, lungs, views): 'inline' (default) on this
   * thread, between the model's calls; 'thread' on a worker started for this call (prepare-thread.ts; pays for
   * many slices, costs its start-up for a few); or a preparer the caller keeps (a PrepareThread reused across calls).
   * The same outputs either way.
   */
  prepareOn?: 'inline' | 'thread' | SlicePreparer;
}

type Slice = InputSlice & { fileIndex: number };

/** One input to score that is not necessarily a local file (e.g. an instance fetched from a PACS): its name and how to get its bytes. */
export interface ScoreSource {
  name: string;
  read(): Promise<Uint8Array>;
}

/** Reads one source into slices; an unreadable source is one slice with the reason. */
async function readInput(source: ScoreSource, input: InputOptions | undefined): Promise<InputSlice[]> {
  let bytes: Uint8Array;
  try {
    bytes = await source.read();
  } catch (e) {
    return [{ name: source.name, error: errorMessage(e) }];
  }
  return decodeInput(source.name, bytes, input);
}

/** Slices of all sources in order; `batchSize` sources are read and decoded concurrently. */
async function* slicesOf(files: ScoreSource[], batchSize: number, input: InputOptions | undefined): AsyncGenerator<Slice> {
  for (let s = 0; s < files.length; s += batchSize) {
    const decoded = await Promise.all(files.slice(s, s + batchSize).map((f) => readInput(f, input)));
    for (let i = 0; i < decoded.length; i++) for (const slice of decoded[i]) yield { ...slice, fileIndex: s + i };
  }
}

interface Prepared {
  slices: Slice[];
  prepared: ScorableSlice[];
  /** No slice is left after this batch. */
  last: boolean;
}

interface Taken {
  slices: Slice[];
  last: boolean;
}

/** Takes slices until `batchSize` of them have an image (error slices ride along). */
async function take(source: AsyncGenerator<Slice>, batchSize: number): Promise<Taken> {
  const slices: Slice[] = [];
  let images = 0;
  let last = false;
  while (images < batchSize) {
    const r = await source.next();
    if (r.done) { last = true; break; }
    slices.push(r.value);
    if (r.value.image) images++;
  }
  return { slices, last };
}

/** Prepares a batch's images (polarity, orientation, lungs, views). */
async function prepare(preparer: SlicePreparer, taken: Taken): Promise<Prepared> {
  const imgs = taken.slices.flatMap((s) => (s.image ? [s.image] : []));
  return { ...taken, prepared: imgs.length ? await preparer.prepare(imgs) : [] };
}

/**
 * Files from which a command prepares their slices on a thread. Its start-up (a worker loading the data modules) took
 * 0.3-0.4 s here; the overlap saves at most the lung stage's time, about 9 ms a slice, and nothing while another
 * process holds the second core: it pays from some 40 slices, so from 64 with a margin (docs/speed5.md).
 */
export const THREAD_MIN_FILES = 64;

/** Where a command scoring `files` files prepares their slices: on a thread from THREAD_MIN_FILES files, else inline. */
export function prepareOnFor(files: number): 'inline' | 'thread' {
  return files >= THREAD_MIN_FILES ? 'thread' : 'inline';
}

/** The model's threads beside that choice: one when the prepare thread takes the other core (measured: docs/speed5.md). */
export function modelThreadsFor(prepareOn: 'inline' | 'thread'): EngineOptions {
  return prepareOn === 'thread' ? { threads: 1 } : {};
}

/**
 * One Prediction per slice, in file order: one per PNG/JPEG file (`file` is the path as given), one per frame of
 * a DICOM, one per image of a zip. Pipelined: the next batch is read and decoded (sharp: libuv's threads) while
 * the model runs the current one; with `prepareOn: 'thread'` the next batches are also prepared (the lung stage
 * and the views) on a second thread meanwhile, since the model blocks this one.
 */
export async function scoreFiles(classifier: Engine, files: string[], opts: ScoreOptions = {}): Promise<Prediction[]> {
  return scoreSources(classifier, files.map((file) => ({ name: file, read: () => readImageBytes(file) })), opts);
}

/** scoreFiles for inputs held elsewhere than in local files (same pipeline, same numbers); `file` is the source's name. */
export async function scoreSources(classifier: Engine, files: ScoreSource[], opts: ScoreOptions = {}): Promise<Prediction[]> {
  if (files.length === 0) return [];
  const on = opts.prepareOn ?? 'inline';
  const thread = on === 'thread' ? PrepareThread.start(classifier.json) : undefined;
  const preparer: SlicePreparer = thread ?? (typeof on === 'string' ? classifier : on);
  try {
    return await scoreWith(classifier, preparer, files, opts);
  } finally {
    await thread?.close();
  }
}

async function scoreWith(classifier: Engine, preparer: SlicePreparer, files: ScoreSource[], opts: ScoreOptions): Promise<Prediction[]> {
  const batchSize = opts.batchSize ?? 8;
  const out: Prediction[] = [];
  const source = slicesOf(files, batchSize, opts.input);
  // Batches taken and handed to the preparer ahead of the model: one inline (its preparation runs on this thread
  // between the model's calls), two with a thread, so that it has the next batch in hand as it finishes one.
  const ahead = preparer === classifier ? 1 : 2;
  let taking: Promise<Taken | undefined> = Promise.resolve(undefined);
  const queue: Promise<Prepared>[] = [];
  let ended = false;
  const fill = (): void => {
    while (!ended && queue.length < ahead) {
      // Takes are chained (one reader of the source at a time); each batch goes to the preparer once taken.
      const t = taking.then(() => take(source, batchSize));
      taking = t;
      const p = t.then((taken) => { if (taken.last) ended = true; return prepare(preparer, taken); });
      p.catch(() => {}); // awaited in turn below; a batch left unawaited after an earlier failure is not an unhandled rejection
      queue.push(p);
    }
  };
  fill();
  while (queue.length) {
    const current: Prepared = await queue.shift()!;
    const scoring = current.prepared.length ? classifier.readPrepared(current.prepared) : Promise.resolve([]);
    fill();
    const readings = await scoring;
    let k = 0;
    for (const s of current.slices) {
      const dicom = s.dicom ? { dicom: s.dicom } : {};
      if (s.image) {
        const { orientation: turned, polarity, tilt } = current.prepared[k];
        const r = readings[k++];
        out.push({
          file: s.name, probability: r.probability, label: r.label, involvement: r.involvement, lungPixels: r.lungPixels, pattern: r.pattern, category: r.category,
          ...refusalFields(r), ...(turned !== 'as-sent' ? { orientation: turned } : {}),
          ...(polarity !== 'as-sent' ? { polarity } : {}), ...tiltField(tilt), ...dicom,
        });
      } else {
        out.push({ file: s.name, probability: null, label: null, error: s.error ?? 'not decoded', ...dicom });
      }
    }
    // Files before the last one touched are complete; the last one may have slices in the next batch.
    const lastFile = current.slices.length ? current.slices[current.slices.length - 1].fileIndex : 0;
    opts.onProgress?.(current.last ? files.length : lastFile);
  }
  return out;
}
