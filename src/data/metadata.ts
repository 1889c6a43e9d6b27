/**
 * Patient ids of the COVID-CT images, from the two metadata files shipped with the dataset. The split is meant to
 * be by patient; these ids are how the dataset check verifies it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readSheet } from 'read-excel-file/node';
import { UserError, errorMessage } from '../util/errors.js';

export const COVID_METADATA = 'COVID-CT-MetaInfo.xlsx';
export const COVID_METADATA_SHEET = 'positive_captions';
export const NONCOVID_METADATA = 'NonCOVID-CT-MetaInfo.csv';

/**
 * Both sources number their patients independently ("Patient 1" in the xlsx could clash with an id in the csv
 * some day), so every id carries its class as a prefix.
 */
export const COVID_PREFIX = 'COVID:';
export const NONCOVID_PREFIX = 'NonCOVID:';

/**
 * Image file name -> patient id (prefixed "COVID:" or "NonCOVID:"), for every image the metadata names.
 * 83 names in the xlsx lack their ".png" (all COVID images are named .png): those are keyed with ".png" added,
 * so that the map is keyed by the names the split files and image folder use.
 * Throws a UserError naming the file when a metadata file is missing, unreadable, lacks a column, or gives one
 * image two patient ids.
 */
export async function loadPatientIds(dataDir: string): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  const add = (name: string, id: string, source: string) => {
    const known = ids.get(name);
    if (known !== undefined && known !== id) throw new UserError(`${source}: image ${name} has two patient ids, ${known} and ${id}`);
    ids.set(name, id);
  };
  for (const [name, id] of await readCovidPatients(path.join(dataDir, COVID_METADATA))) add(name, COVID_PREFIX + id, COVID_METADATA);
  for (const [name, id] of await readNonCovidPatients(path.join(dataDir, NONCOVID_METADATA))) add(name, NONCOVID_PREFIX + id, NONCOVID_METADATA);
  return ids;
}

/** [image name, patient id] pairs from the xlsx (unprefixed); names without an extension get ".png". */
async function readCovidPatients(file: string): Promise<[string, string][]> {
  if (!existsSync(file)) throw new UserError(`metadata file not found: ${file}`);
  let rows: unknown[][];
  try {
    rows = await readSheet(file, COVID_METADATA_SHEET);
  } catch (e) {
    throw new UserError(`${file}: cannot read sheet "${COVID_METADATA_SHEET}": ${errorMessage(e)}`);
  }
  const header = (rows[0] ?? []).map((c) => String(c ?? '').trim().toLowerCase());
  const nameCol = header.indexOf('file name');
  const idCol = header.indexOf('patient id');
  if (nameCol < 0 || idCol < 0) throw new UserError(`${file}: sheet "${COVID_METADATA_SHEET}" lacks a "File name" or "Patient ID" column`);
  const out: [string, string][] = [];
  for (const row of rows.slice(1)) {
    const name = cellText(row[nameCol]);
    const id = cellText(row[idCol]);
    // The sheet ends with caption-only rows (a footnote), which have neither.
    if (!name || !id) continue;
    out.push([/\.(png|jpe?g)$/i.test(name) ? name : `${name}.png`, id]);
  }
  return out;
}

/** [image name, patient id] pairs from the csv, whose header is ",image name,patient id". */
async function readNonCovidPatients(file: string): Promise<[string, string][]> {
  if (!existsSync(file)) throw new UserError(`metadata file not found: ${file}`);
  const rows = parseCsv(await readFile(file, 'utf8'));
  const header = (rows[0] ?? []).map((c) => c.trim().toLowerCase());
  const nameCol = header.indexOf('image name');
  const idCol = header.indexOf('patient id');
  if (nameCol < 0 || idCol < 0) throw new UserError(`${file}: no "image name" or "patient id" column in the header`);
  const out: [string, string][] = [];
  for (const row of rows.slice(1)) {
    const name = (row[nameCol] ?? '').trim();
    const id = (row[idCol] ?? '').trim();
    if (name && id) out.push([name, id]);
  }
  return out;
}

function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  return String(v).trim();
}

/**
 * RFC 4180 CSV: comma-separated, fields optionally in double quotes with "" for a quote inside, which may then
 * hold commas and newlines; LF or CRLF line ends; a leading BOM is dropped. Blank lines are skipped.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRow = () => {
    row.push(field);
    field = '';
    if (!(row.length === 1 && row[0] === '')) rows.push(row);
    row = [];
  };
  for (; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') { field += '"'; i++; }
      else quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n') endRow();
    else if (c === '\r') { if (text[i + 1] !== '\n') endRow(); }
    else field += c;
  }
  if (field !== '' || row.length > 0) endRow();
  return rows;
}
