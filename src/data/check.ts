/**
 * The dataset check: does the folder hold what the split files promise, does every image decode, is the split
 * really by patient? Returns a typed report and prints nothing but progress (on stderr); the CLI formats it.
 *
 * Problems (make `ok` false): a listed name with no file, a file in no split, a file that does not decode, a
 * name listed twice, a patient in two splits, a listed image without a patient id, unreadable metadata.
 * Quirks (reported, not problems): extensions that lie about the format (34 in the real data), colour modes,
 * progressive JPEGs, sizes. They are the file properties a model must never see; the summary shows how many.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { LABELS, SPLITS, type Label, type Split } from '../types.js';
import { ImageDecodeError, UserError, errorMessage } from '../util/errors.js';
import { Progress } from '../util/progress.js';
import { decodeGrey } from './decode.js';
import { CLASS_DIRS, imageDir, loadDataset, splitFileName } from './dataset.js';
import { describeImage, extensionFormat, type ColourMode, type ImageDescription, type ImageFormat } from './format.js';
import { loadPatientIds } from './metadata.js';

/** An image file, by class folder and name. */
export interface FileRef {
  label: Label;
  name: string;
}

/** One listing of a name in a split file. */
export interface ListedRef extends FileRef {
  split: Split;
}

/** File properties of a set of images (all, or one class): information only. */
export interface FileSummary {
  files: number;
  formats: Record<ImageFormat, number>;
  colourModes: Partial<Record<ColourMode, number>>;
  bitDepths: Record<string, number>;
  progressiveJpeg: number;
  interlacedPng: number;
  /** Smallest and largest width and height (independently). Null when no file has a readable header. */
  width: { min: number; max: number } | null;
  height: { min: number; max: number } | null;
}

export interface DatasetCheckReport {
  dataDir: string;
  /** True when `problems` is empty. */
  ok: boolean;
  /** One line per problem, naming the file(s); the lists below hold the same findings as data. */
  problems: string[];
  /** Names listed in each split file (a name listed twice counts twice). */
  counts: Record<Split, Record<Label, number>>;
  totals: { listed: number; filesOnDisk: number; decoded: number; patients: number };
  /** Listed in a split file, but there is no such file in the class folder. */
  missingFiles: ListedRef[];
  /** In a class folder, but in no split file of that class. */
  unlistedFiles: FileRef[];
  /** Files (listed or not) that do not decode, with decodeGrey's reason. */
  undecodable: (FileRef & { splits: Split[]; reason: string })[];
  /** Names listed more than once for one class; `splits` has one element per listing. */
  duplicates: (FileRef & { splits: Split[] })[];
  /** Patients whose images are in more than one split, with every listed image of theirs. */
  crossSplitPatients: { patientId: string; splits: Split[]; files: ListedRef[] }[];
  /** Listed images the metadata gives no patient id for (the split by patient cannot be verified for them). */
  withoutPatientId: ListedRef[];
  /** A quirk, not a problem: files whose extension names another format than their bytes. */
  lyingExtensions: { count: number; files: (FileRef & { extension: string; format: ImageFormat; splits: Split[] })[] };
  /** File properties, for information. */
  summary: { all: FileSummary; byClass: Record<Label, FileSummary> };
  /** Hidden files and sub-folders in the image folders, which the check leaves alone. */
  ignored: string[];
}

export interface CheckOptions {
  /** Files decoded at once (default 4; sharp also uses threads of its own). */
  concurrency?: number;
  /** Show a progress line on stderr during the decode pass (default false). */
  progress?: boolean;
  /** Passed on to decodeGrey. */
  maxPixels?: number;
}

/** Result of reading one file on disk. */
interface FileResult {
  ref: FileRef;
  description: ImageDescription | null;
  error: string | null;
}

export async function checkDataset(dataDir: string, opts: CheckOptions = {}): Promise<DatasetCheckReport> {
  const root = path.resolve(dataDir);
  const entries = await loadDataset(root); // throws a UserError naming what is missing from the layout
  const problems: string[] = [];
  const rel = (r: FileRef) => `images/${CLASS_DIRS[r.label]}/${r.name}`;
  const key = (r: FileRef) => `${r.label}/${r.name}`;

  const counts = Object.fromEntries(SPLITS.map((s) => [s, { COVID: 0, NonCOVID: 0 }])) as Record<Split, Record<Label, number>>;
  const listings = new Map<string, ListedRef[]>(); // key -> every listing, in split-file order
  for (const e of entries) {
    counts[e.split][e.label]++;
    const ref: ListedRef = { label: e.label, name: e.name, split: e.split };
    const list = listings.get(key(ref));
    if (list) list.push(ref);
    else listings.set(key(ref), [ref]);
  }
  const splitsOf = (r: FileRef): Split[] => (listings.get(key(r)) ?? []).map((l) => l.split);

  // Files on disk, sorted so that the report does not depend on the file system's order.
  const onDisk: FileRef[] = [];
  const ignored: string[] = [];
  for (const label of LABELS) {
    const dirents = await readdir(imageDir(root, label), { withFileTypes: true });
    for (const d of dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (d.name.startsWith('.') || !d.isFile()) ignored.push(`images/${CLASS_DIRS[label]}/${d.name}`);
      else onDisk.push({ label, name: d.name });
    }
  }
  const onDiskKeys = new Set(onDisk.map(key));

  const duplicates: DatasetCheckReport['duplicates'] = [];
  for (const list of listings.values()) {
    if (list.length < 2) continue;
    const splits = list.map((l) => l.split);
    duplicates.push({ label: list[0].label, name: list[0].name, splits });
    problems.push(`listed ${list.length} times: ${rel(list[0])} (in ${list.map((l) => splitFileName(l.split, l.label)).join(', ')})`);
  }

  const missingFiles: ListedRef[] = [];
  for (const list of listings.values()) {
    if (onDiskKeys.has(key(list[0]))) continue;
    for (const l of list) {
      missingFiles.push(l);
      problems.push(`missing file: ${rel(l)} is listed in ${splitFileName(l.split, l.label)} but does not exist`);
    }
  }

  const unlistedFiles = onDisk.filter((f) => !listings.has(key(f)));
  for (const f of unlistedFiles) problems.push(`unlisted file: ${rel(f)} is in no split file of ${f.label}`);

  // The decode pass: every file on disk, listed or not, since a corrupt unlisted file is still worth knowing about.
  const progress = new Progress(onDisk.length, 'checked', { enabled: opts.progress === true });
  const results = await mapLimit(onDisk, opts.concurrency ?? 4, async (ref): Promise<FileResult> => {
    try {
      return await inspectFile(path.join(imageDir(root, ref.label), ref.name), ref, opts.maxPixels);
    } finally {
      progress.tick();
    }
  });
  progress.done();

  const undecodable: DatasetCheckReport['undecodable'] = [];
  const lying: DatasetCheckReport['lyingExtensions']['files'] = [];
  for (const r of results) {
    if (r.error !== null) {
      undecodable.push({ ...r.ref, splits: splitsOf(r.ref), reason: r.error });
      problems.push(`does not decode: ${rel(r.ref)}: ${r.error}`);
    }
    const actual = r.description?.format;
    if (actual && extensionFormat(r.ref.name) !== actual) {
      lying.push({ ...r.ref, extension: path.extname(r.ref.name), format: actual, splits: splitsOf(r.ref) });
    }
  }

  // Patients: every distinct listed image, grouped by patient id.
  let patientIds: Map<string, string> | null = null;
  try {
    patientIds = await loadPatientIds(root);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    problems.push(`cannot check the split by patient: ${e.message}`);
  }
  const withoutPatientId: ListedRef[] = [];
  const crossSplitPatients: DatasetCheckReport['crossSplitPatients'] = [];
  const patientsSeen = new Set<string>();
  if (patientIds) {
    const byPatient = new Map<string, ListedRef[]>();
    for (const list of listings.values()) {
      for (const l of list) {
        const id = patientIds.get(l.name);
        if (id === undefined) {
          withoutPatientId.push(l);
          problems.push(`no patient id: ${rel(l)} (listed in ${splitFileName(l.split, l.label)}) is not in the metadata`);
          continue;
        }
        patientsSeen.add(id);
        const files = byPatient.get(id);
        if (files) files.push(l);
        else byPatient.set(id, [l]);
      }
    }
    for (const [patientId, files] of byPatient) {
      const splits = SPLITS.filter((s) => files.some((f) => f.split === s));
      if (splits.length < 2) continue;
      crossSplitPatients.push({ patientId, splits, files });
      const where = splits.map((s) => {
        const inSplit = files.filter((f) => f.split === s);
        const shown = inSplit.slice(0, 3).map((f) => f.name).join(', ') + (inSplit.length > 3 ? `, ... (${inSplit.length} files)` : '');
        return `${s}: ${shown}`;
      });
      problems.push(`patient ${patientId} is in ${splits.length} splits: ${where.join('; ')}`);
    }
  }

  const described = results.filter((r): r is FileResult & { description: ImageDescription } => r.description !== null);
  return {
    dataDir: root,
    ok: problems.length === 0,
    problems,
    counts,
    totals: { listed: entries.length, filesOnDisk: onDisk.length, decoded: results.filter((r) => r.error === null).length, patients: patientsSeen.size },
    missingFiles,
    unlistedFiles,
    undecodable,
    duplicates,
    crossSplitPatients,
    withoutPatientId,
    lyingExtensions: { count: lying.length, files: lying },
    summary: {
      all: summarise(described.map((r) => r.description)),
      byClass: {
        COVID: summarise(described.filter((r) => r.ref.label === 'COVID').map((r) => r.description)),
        NonCOVID: summarise(described.filter((r) => r.ref.label === 'NonCOVID').map((r) => r.description)),
      },
    },
    ignored,
  };
}

/** Reads a file once; describes its header and decodes it fully (which is what catches truncated data). */
async function inspectFile(file: string, ref: FileRef, maxPixels: number | undefined): Promise<FileResult> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    return { ref, description: null, error: `cannot read the file (${(e as NodeJS.ErrnoException).code ?? errorMessage(e)})` };
  }
  let description: ImageDescription | null = null;
  try {
    description = describeImage(bytes);
    await decodeGrey(bytes, { maxPixels });
    return { ref, description, error: null };
  } catch (e) {
    if (!(e instanceof ImageDecodeError)) throw e;
    return { ref, description, error: e.message };
  }
}

export function summarise(descriptions: readonly ImageDescription[]): FileSummary {
  const s: FileSummary = { files: descriptions.length, formats: { png: 0, jpeg: 0 }, colourModes: {}, bitDepths: {}, progressiveJpeg: 0, interlacedPng: 0, width: null, height: null };
  for (const d of descriptions) {
    s.formats[d.format]++;
    s.colourModes[d.colourMode] = (s.colourModes[d.colourMode] ?? 0) + 1;
    s.bitDepths[String(d.bitDepth)] = (s.bitDepths[String(d.bitDepth)] ?? 0) + 1;
    if (d.progressive) s.progressiveJpeg++;
    if (d.interlaced) s.interlacedPng++;
    s.width = { min: Math.min(s.width?.min ?? Infinity, d.width), max: Math.max(s.width?.max ?? 0, d.width) };
    s.height = { min: Math.min(s.height?.min ?? Infinity, d.height), max: Math.max(s.height?.max ?? 0, d.height) };
  }
  return s;
}

/** Runs fn over items with at most `limit` in flight; results keep the items' order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
