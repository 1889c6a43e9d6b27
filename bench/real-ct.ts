/**
 * The real CT slices the not-CT benches must keep: every COVID-CT file with its official split, and every CT-MD
 * sample PNG with its patient. Shared by bench/notct-structure.ts and bench/notct-rules3.ts.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseCsvTable } from '../src/data/labelled-set.js';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { decodeInput } from '../src/data/inputs.js';
import type { GreyImage } from '../src/types.js';

export interface RealCtFile {
  file: string;
  /** 'covid-ct' or 'ct-md'. */
  set: 'covid-ct' | 'ct-md';
  /** The row it belongs to: "COVID-CT train" (its official split, or "no split") or "CT-MD P001" (its patient). */
  group: string;
  /** COVID-CT's official split ('train', 'val', 'test', 'no split'); null for CT-MD. */
  split: string | null;
}

/** The files, sorted by name within each class folder, then CT-MD in manifest order; a missing set is said on stderr. */
export async function realCtFiles(data: string, md: string): Promise<RealCtFile[]> {
  const split = new Map<string, string>();
  for (const s of ['train', 'val', 'test']) for (const c of ['COVID', 'NonCOVID']) {
    const f = path.join(data, 'splits', `${s}CT_${c}.txt`);
    if (existsSync(f)) for (const n of (await readFile(f, 'utf8')).split(/\r?\n/).map((x) => x.trim()).filter(Boolean)) split.set(n, s);
  }
  const out: RealCtFile[] = [];
  for (const cls of ['CT_COVID', 'CT_NonCOVID']) {
    const dir = path.join(data, 'images', cls);
    if (!existsSync(dir)) { process.stderr.write(`missing ${dir}: COVID-CT ${cls} left out\n`); continue; }
    for (const n of (await readdir(dir)).filter((n) => !n.startsWith('.')).sort()) {
      const s = split.get(n) ?? 'no split';
      out.push({ file: path.join(dir, n), set: 'covid-ct', group: `COVID-CT ${s}`, split: s });
    }
  }
  const manifest = path.join(md, 'manifest.csv');
  if (!existsSync(manifest)) process.stderr.write(`missing ${manifest}: CT-MD left out\n`);
  else {
    for (const r of parseCsvTable(await readFile(manifest, 'utf8'))) {
      out.push({ file: path.join(md, r.path), set: 'ct-md', group: `CT-MD ${r.patient_id.replace(/^COVIDCTMD_/, '')}`, split: null });
    }
  }
  return out;
}

/** The slices a file holds: every decoded slice of a DICOM file (`dicom`), else the one picture. */
export async function sliceImages(file: string, dicom: boolean): Promise<GreyImage[]> {
  if (!dicom) return [await readAndDecodeGrey(file)];
  return (await decodeInput(file, new Uint8Array(await readFile(file)))).flatMap((s) => (s.image ? [s.image] : []));
}
