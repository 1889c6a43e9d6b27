/**
 * Labelled images to evaluate on, from any of three layouts, told apart by what `--data` points at:
 *
 * - `official`: a folder with `splits/` (the COVID-CT layout, src/data/dataset.ts); one split of it (val by default).
 * - `folder`: a folder with class subfolders (the ImageFolder convention): `covid/` and `noncovid/` in any case,
 *   `non-covid/` and `non_covid/` accepted too, each optionally after `CT_` or `CT-` (COVID-CT ships its images as
 *   `CT_COVID/` and `CT_NonCOVID/`); every non-hidden file found recursively inside a class folder is an image of
 *   that class (nothing is silently dropped: a file that cannot be scored stops the evaluation and is listed).
 *   Any other non-hidden subfolder is an error that names it: its images would otherwise be silently left out,
 *   and a name such as `normal/` or `positive/` could be either class. When every image lies in a subfolder of its
 *   class folder (`covid/<patient>/...`, as a PACS export is laid out), that subfolder's name is the image's patient
 *   id (the same name under both class folders is one patient, whose slices differ in label); when only some do,
 *   there are no patient ids and the set says why (`warning`).
 * - `csv`: a CSV manifest (RFC 4180) whose header has `path` and `label`, optionally `patient_id` (other columns
 *   are ignored); paths are relative to the CSV's folder (absolute paths are kept), labels `covid`/`noncovid` in
 *   any case (`non-covid`, `non_covid` too). When the `patient_id` column exists every row must have one.
 *
 * The parsing is pure (parseManifest, classOfName, parseLabel); the file system is touched only by
 * `loadLabelledSet` and the helpers it calls. Errors are UserErrors that name the file, and the line for a bad
 * CSV row (the line the record starts on, counting the header as line 1).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Label, Split } from '../types.js';
import { UserError } from '../util/errors.js';
import { entriesOf, loadDataset } from './dataset.js';

export type DataKind = 'official' | 'folder' | 'csv';
/** A CSV's patient_id column, or the folder under each class folder. */
export type PatientSource = 'patient_id column' | 'folder under the class folder';

export interface LabelledImage {
  /** Absolute path of the image file. */
  path: string;
  /** How the image is named in outputs: the file name (official), the path under the root folder, or the CSV's path. */
  name: string;
  label: Label;
  /** Patient id, when the data gives one (CSV `patient_id`, or the folder under its class folder). */
  patient?: string;
}

export interface LabelledSet {
  kind: DataKind;
  /** Absolute path of the folder or CSV file. */
  path: string;
  /** The split scored (official layout only). */
  split?: Split;
  images: LabelledImage[];
  /** True when every image has a patient id. */
  hasPatients: boolean;
  /** Where the patient ids come from, when there are any. */
  patientsFrom?: PatientSource;
  /** Something the user should know about what is scored (e.g. every split of COVID-CT at once), for stderr. */
  warning?: string;
}

/** The class a folder name or label stands for: covid / noncovid / non-covid / non_covid in any case, else null. */
export function parseLabel(text: string): Label | null {
  const t = text.trim().toLowerCase();
  if (t === 'covid') return 'COVID';
  if (t === 'noncovid' || t === 'non-covid' || t === 'non_covid') return 'NonCOVID';
  return null;
}

/** What a class folder may be called, for errors. */
export const CLASS_FOLDER_NAMES = 'covid, noncovid, non-covid or non_covid (any case), optionally after CT_ or CT- (e.g. CT_COVID, CT_NonCOVID)';

/**
 * The class a folder name stands for: a label (parseLabel), optionally after a `CT_` / `CT-` prefix as COVID-CT
 * names its folders; else null. No trimming (a folder named " covid" is not a class folder) and no partial match:
 * `covid19`, `covid_and_noncovid` or `normal` are not classes.
 */
export function classOfName(name: string): Label | null {
  return name === name.trim() ? parseLabel(name.replace(/^ct[_-]/i, '')) : null;
}

/** One CSV record with the line it starts on (1-based; a quoted field may span lines). */
export interface CsvRecord { fields: string[]; line: number }

/**
 * RFC 4180 CSV with line numbers: comma-separated, fields optionally in double quotes with "" for a quote inside
 * (which may then hold commas and newlines); LF or CRLF line ends; a leading BOM is dropped; blank lines skipped.
 * An unterminated quote is an error.
 */
export function parseCsvRecords(text: string, file = 'CSV'): CsvRecord[] {
  const records: CsvRecord[] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let quoteLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRow = () => {
    row.push(field);
    field = '';
    if (!(row.length === 1 && row[0] === '')) records.push({ fields: row, line: start });
    row = [];
  };
  for (; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\n') line++;
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') { field += '"'; i++; }
      else quoted = false;
    } else if (c === '"') { quoted = true; quoteLine = line; }
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n') { endRow(); line++; start = line; }
    else if (c === '\r') { if (text[i + 1] !== '\n') { endRow(); line++; start = line; } }
    else field += c;
  }
  if (quoted) throw new UserError(`${file}:${quoteLine}: a quoted field is never closed`);
  if (field !== '' || row.length > 0) endRow();
  return records;
}

/** The rows of a CSV with a header line, as objects keyed by the header's names (a missing field is ''). */
export function parseCsvTable(text: string, file = 'CSV'): Record<string, string>[] {
  const [head, ...body] = parseCsvRecords(text, file);
  if (!head) return [];
  return body.map((r) => Object.fromEntries(head.fields.map((h, i) => [h, r.fields[i] ?? ''])));
}

/** One row of a manifest: the path as written, its label, the patient id when the column exists. */
export interface ManifestRow { path: string; label: Label; patient?: string; line: number }

/**
 * The rows of a CSV manifest (see the module comment). Throws a UserError naming `file` (and the line) for a
 * missing column, a bad label, an empty path or patient id, or a manifest with no rows.
 */
export function parseManifest(text: string, file: string): { rows: ManifestRow[]; hasPatients: boolean } {
  const records = parseCsvRecords(text, file);
  if (records.length === 0) throw new UserError(`${file}: empty CSV (expected a header with path,label[,patient_id])`);
  const header = records[0].fields.map((h) => h.trim().toLowerCase());
  const col = (name: string) => header.indexOf(name);
  const [pathCol, labelCol, patientCol] = [col('path'), col('label'), col('patient_id')];
  const missing = [pathCol < 0 ? 'path' : '', labelCol < 0 ? 'label' : ''].filter(Boolean);
  if (missing.length) {
    throw new UserError(`${file}:${records[0].line}: the header has no ${missing.map((m) => `"${m}"`).join(' or ')} column ` +
      `(expected path,label and optionally patient_id; got ${records[0].fields.join(',')})`);
  }
  const rows: ManifestRow[] = [];
  for (const { fields, line } of records.slice(1)) {
    const p = (fields[pathCol] ?? '').trim();
    const rawLabel = fields[labelCol] ?? '';
    if (!p) throw new UserError(`${file}:${line}: empty path`);
    const label = parseLabel(rawLabel);
    if (!label) throw new UserError(`${file}:${line}: label "${rawLabel}" is neither covid nor noncovid (any case)`);
    const row: ManifestRow = { path: p, label, line };
    if (patientCol >= 0) {
      const id = (fields[patientCol] ?? '').trim();
      if (!id) throw new UserError(`${file}:${line}: empty patient_id (the column exists, so every row needs one)`);
      row.patient = id;
    }
    rows.push(row);
  }
  if (rows.length === 0) throw new UserError(`${file}: the manifest lists no image`);
  return { rows, hasPatients: patientCol >= 0 };
}

const isFile = async (p: string) => (await stat(p).catch(() => undefined))?.isFile() ?? false;

/** Every non-hidden file under `dir`, recursively, sorted by name at each level. */
async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walkFiles(p)));
    else if (e.isFile()) out.push(p);
    else if (e.isSymbolicLink()) {
      const s = await stat(p).catch(() => undefined);
      if (s?.isDirectory()) out.push(...(await walkFiles(p)));
      else if (s?.isFile()) out.push(p);
    }
  }
  return out;
}

/**
 * The class subfolders of `dir` (name -> label) and its other non-hidden subfolders; throws when two class folders
 * are the same class.
 */
async function classFolders(dir: string): Promise<{ classes: { name: string; label: Label }[]; others: string[] }> {
  const entries = await readdir(dir, { withFileTypes: true });
  const found: { name: string; label: Label }[] = [];
  const others: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const s = await stat(path.join(dir, e.name)).catch(() => undefined);
    if (!s?.isDirectory()) continue;
    const label = classOfName(e.name);
    if (label) found.push({ name: e.name, label });
    else others.push(e.name);
  }
  found.sort((a, b) => (a.label === b.label ? 0 : a.label === 'COVID' ? -1 : 1));
  for (let i = 1; i < found.length; i++) {
    if (found[i].label === found[i - 1].label) {
      throw new UserError(`${dir}: two folders hold class ${found[i].label}: ${found[i - 1].name}/ and ${found[i].name}/`);
    }
  }
  return { classes: found, others: others.sort() };
}

const EXPECTED = 'expected a CSV manifest (header path,label[,patient_id]), a COVID-CT data folder (with splits/), ' +
  `or a folder with covid/ and noncovid/ class subfolders (named ${CLASS_FOLDER_NAMES})`;

/**
 * Loads the labelled images at `dataPath` (see the module comment). `split` applies to the official layout only
 * (default val: the test split is scored once, to report, and only when asked for by name); passing it for other data is an error, so nobody believes they scored a split they did not.
 */
export async function loadLabelledSet(dataPath: string, opts: { split?: Split } = {}): Promise<LabelledSet> {
  const root = path.resolve(dataPath);
  const s = await stat(root).catch(() => undefined);
  if (!s) throw new UserError(`data folder not found: ${root} (--data takes a data folder or a CSV manifest)`);
  if (s.isFile()) {
    if (opts.split) throw new UserError(`--split applies only to the COVID-CT layout; ${root} is a CSV manifest`);
    return loadManifest(root);
  }
  if (!s.isDirectory()) throw new UserError(`${root}: not a file or folder; ${EXPECTED}`);
  if (await stat(path.join(root, 'splits')).then((x) => x.isDirectory(), () => false)) {
    const split = opts.split ?? 'val';
    const entries = entriesOf(await loadDataset(root), split);
    return {
      kind: 'official', path: root, split, hasPatients: false,
      images: entries.map((e) => ({ path: e.path, name: e.name, label: e.label })),
    };
  }
  const { classes, others } = await classFolders(root);
  const named = others.map((o) => `${o}/`).join(', ');
  if (classes.length === 0) {
    throw new UserError(`${root}: not a labelled data set${others.length ? ` (its folders ${named} are not class folders)` : ''}: ${EXPECTED}`);
  }
  if (others.length) {
    throw new UserError(`${root}: folder${others.length > 1 ? 's' : ''} ${named} ${others.length > 1 ? 'are' : 'is'} not a class folder ` +
      `(a class folder is named ${CLASS_FOLDER_NAMES}); rename ${others.length > 1 ? 'them' : 'it'}, or move ${others.length > 1 ? 'them' : 'it'} out of ${root}`);
  }
  if (opts.split) throw new UserError(`--split applies only to the COVID-CT layout; ${root} is a folder of class subfolders`);
  const images: LabelledImage[] = [];
  for (const { name, label } of classes) {
    for (const file of await walkFiles(path.join(root, name))) {
      images.push({ path: file, name: path.relative(root, file).split(path.sep).join('/'), label });
    }
  }
  const patients = patientFolders(images.map((im) => im.name));
  if (patients.ids) images.forEach((im, i) => { im.patient = patients.ids![i]; });
  // COVID-CT's own images/ folder holds all three splits: scoring it mixes test into what may be a tuning run.
  const parent = path.dirname(root);
  const warnings = [
    await stat(path.join(parent, 'splits')).then((x) => x.isDirectory(), () => false)
      ? `${root} holds every split of the COVID-CT layout at ${parent} (train, val and test together); ` +
        `to score one split: --data ${parent} --split val`
      : undefined,
    patients.why,
  ].filter((w): w is string => w !== undefined);
  return {
    kind: 'folder', path: root, hasPatients: patients.ids !== undefined, images,
    ...(patients.ids ? { patientsFrom: 'folder under the class folder' as const } : {}),
    ...(warnings.length ? { warning: warnings.join('\nnote: ') } : {}),
  };
}

/**
 * Patient ids of a class-folder layout from the images' names (`class/rest`, '/'-separated): the first folder under
 * the class folder, when every image lies in one. When some images lie in the class folder itself and others in
 * subfolders, no ids (a loose image belongs to no patient we can name) and `why` says so; with no subfolders at all,
 * neither (images one by one is then the plain reading of the layout).
 */
export function patientFolders(names: readonly string[]): { ids?: string[]; why?: string } {
  const parts = names.map((n) => n.split('/'));
  const loose = parts.filter((p) => p.length <= 2).length;
  if (loose === 0 && names.length > 0) return { ids: parts.map((p) => p[1]) };
  if (loose === names.length) return {};
  return {
    why: `${names.length - loose} images lie in folders under their class folder and ${loose} directly in it ` +
      '(e.g. ' + names.find((n) => n.split('/').length <= 2) + '), so no patient ids are taken from the folders and the ' +
      'intervals are drawn over images; put every image in its patient\'s folder (covid/<patient>/...) to draw them over patients',
  };
}

/** A CSV manifest: parsed, then every listed file checked; all missing files are named in one error. */
async function loadManifest(file: string): Promise<LabelledSet> {
  const { rows, hasPatients } = parseManifest(await readFile(file, 'utf8'), file);
  const dir = path.dirname(file);
  const images: LabelledImage[] = rows.map((r) => ({
    path: path.resolve(dir, r.path), name: r.path, label: r.label, ...(r.patient !== undefined ? { patient: r.patient } : {}),
  }));
  const exists = await Promise.all(images.map((im) => isFile(im.path)));
  const missing = rows.filter((_, i) => !exists[i]);
  if (missing.length) {
    const shown = missing.slice(0, 20).map((r) => `  ${file}:${r.line}: ${r.path} (${path.resolve(dir, r.path)})`);
    if (missing.length > 20) shown.push(`  ... and ${missing.length - 20} more`);
    throw new UserError(`${file}: ${missing.length} listed file(s) not found:\n${shown.join('\n')}`);
  }
  return { kind: 'csv', path: file, hasPatients, images, ...(hasPatients ? { patientsFrom: 'patient_id column' as const } : {}) };
}
