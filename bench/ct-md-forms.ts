/**
 * What bench/external-forms.ts and bench/scanner-variation.ts share: CT-MD DICOM slices turned into the files other
 * hospitals send (windowed PNG, the scanner's DICOM), and the figures both report for a form read by the product.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { windowValue, type LungWindow } from '../src/data/window.js';
import { aucOrNull } from '../src/eval/metrics.js';
import { patientScores } from '../src/eval/patients.js';
import type { Prediction } from '../src/types.js';
import { writeDicom, TS } from '../test/dicom-writer.js';
import type { DicomSlice } from './ct-md-dicom.js';

export const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
export const windowed = (s: DicomSlice, w: LungWindow): Uint8Array => Uint8Array.from(s.hu, (v) => windowValue(v, w));
export const grey = (data: Uint8Array, w: number, h: number, channels: 1 | 3 = 1) => sharp(Buffer.from(data.buffer, data.byteOffset, data.length), { raw: { width: w, height: h, channels } });
export const LUNG: LungWindow = { width: 1500, level: -600 };

/** Pixels outside the scanner's circular field of view (radius half the side), as scanners pad them. */
export function outsideFov(s: DicomSlice): Uint8Array {
  const out = new Uint8Array(s.hu.length), c = (s.width - 1) / 2, r = s.width / 2;
  for (let y = 0; y < s.height; y++) for (let x = 0; x < s.width; x++) if (Math.hypot(x - c, y - c) > r) out[y * s.width + x] = 1;
  return out;
}
export const padded = (s: DicomSlice, pad: number): Int16Array => {
  const fov = outsideFov(s);
  return Int16Array.from(s.hu, (v, i) => (fov[i] ? pad : v));
};

/** 4-neighbour flood fill from every border pixel through pixels where `pass` holds. */
export function floodFromBorder(w: number, h: number, pass: (i: number) => boolean): Uint8Array {
  const seen = new Uint8Array(w * h), stack: number[] = [];
  const push = (i: number) => { if (!seen[i] && pass(i)) { seen[i] = 1; stack.push(i); } };
  for (let x = 0; x < w; x++) { push(x); push((h - 1) * w + x); }
  for (let y = 0; y < h; y++) { push(y * w); push(y * w + w - 1); }
  while (stack.length) {
    const i = stack.pop()!, x = i % w;
    if (x > 0) push(i - 1);
    if (x < w - 1) push(i + 1);
    if (i >= w) push(i - w);
    if (i < w * (h - 1)) push(i + w);
  }
  return seen;
}

/** A lung mask as segmented sets ship it: air below -400 HU not connected to the outside, holes (vessels) filled, grown 3 px. */
export function lungMask(s: { width: number; height: number; hu: ArrayLike<number> }): Uint8Array {
  const { width: w, height: h, hu } = s;
  const outside = floodFromBorder(w, h, (i) => hu[i] < -400);
  const lung = Uint8Array.from(hu, (v, i) => (v < -400 && !outside[i] ? 1 : 0));
  const reach = floodFromBorder(w, h, (i) => !lung[i]);
  let mask = Uint8Array.from(reach, (r) => (r ? 0 : 1));
  for (let step = 0; step < 3; step++) {
    const grown = mask.slice();
    for (let i = 0; i < w * h; i++) if (!mask[i]) {
      const x = i % w;
      if ((x > 0 && mask[i - 1]) || (x < w - 1 && mask[i + 1]) || (i >= w && mask[i - w]) || (i < w * (h - 1) && mask[i + w])) grown[i] = 1;
    }
    mask = grown;
  }
  return mask;
}

/** The body's bounding box: the largest region above -500 HU, as a screenshot cropped tightly to the body keeps it. */
export function bodyBox(w: number, h: number, body: (i: number) => boolean): { left: number; top: number; width: number; height: number } {
  const outside = floodFromBorder(w, h, (i) => !body(i));
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let i = 0; i < w * h; i++) if (!outside[i] && body(i)) {
    const x = i % w, y = (i / w) | 0;
    if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
  }
  if (x1 < 0) return { left: 0, top: 0, width: w, height: h };
  return { left: x0, top: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

export const dicom = (s: DicomSlice, extra: Parameters<typeof writeDicom>[0]) => writeDicom({
  transferSyntax: TS.explicit, modality: 'CT', seriesUid: `1.2.826.0.1.3680043.9.${s.series === 'P001' ? 1 : 2}`,
  imageOrientation: [1, 0, 0, 0, 1, 0], imagePosition: [0, 0, s.position], ...extra,
});
export const png16 = async (s: DicomSlice, v: Uint16Array) => u8(await sharp(v, { raw: { width: s.width, height: s.height, channels: 1 } }).toColourspace('grey16').png().toBuffer());
export const png8 = async (s: DicomSlice, w: LungWindow) => u8(await grey(windowed(s, w), s.width, s.height).png().toBuffer());


// ---------- figures ----------
export const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
export const f3 = (x: number | null): string => (x === null || Number.isNaN(x) ? 'n/a' : x.toFixed(3));
export const sliceGroup = (s: DicomSlice): string => (s.series === 'normal001' ? 'normal001' : s.infected ? 'P001 infected' : 'P001 not infected');
export const isRead = (p: Prediction): boolean => !p.error && p.label !== 'NotCT';

/** "N (kind n, ...)" for the refused slices. */
export function refusedCell(preds: Prediction[]): string {
  const notCt = preds.filter((p) => p.label === 'NotCT');
  const kinds = new Map<string, number>();
  for (const p of notCt) kinds.set(p.refusal ?? '?', (kinds.get(p.refusal ?? '?') ?? 0) + 1);
  return `${notCt.length}${notCt.length ? ` (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`;
}

/** |P - P(reference)| on the slices both read. */
export const deltaP = (preds: Prediction[], reference: Prediction[]): number[] =>
  preds.map((p, i) => [p, reference[i]] as const).filter(([p, q]) => isRead(p) && q.label !== 'NotCT').map(([p, q]) => Math.abs((p.probability ?? 0) - (q.probability ?? 0)));

/** Slice AUC on the labelled DICOM slices: P001 infected against the rest (a refused slice keeps its raw P, an error scores 0). */
export const dicomAuc = (preds: Prediction[], slices: DicomSlice[]): number | null =>
  aucOrNull(slices.map((s) => (s.infected ? 1 : 0)), preds.map((p) => p.probability ?? 0));

/** Why slices were refused or failed, counted ("- form:\n    n x reason"), or '' if none. */
export function reasonLines(name: string, preds: Prediction[]): string {
  const why = new Map<string, number>();
  for (const p of preds.filter((q) => q.label === 'NotCT' || q.error)) {
    const k = (p.error ?? `${p.refusal}: ${p.reason}`).replace(/\d+(\.\d+)?%/g, 'N%');
    why.set(k, (why.get(k) ?? 0) + 1);
  }
  return why.size ? `- ${name}:\n${[...why].sort((a, b) => b[1] - a[1]).map(([k, n]) => `    ${n} x ${k}`).join('\n')}` : '';
}

// ---------- the 768 CT-MD PNGs ----------
export interface PngRow { path: string; covid: 0 | 1; patient: string }
/** Every Nth row of CT-MD's manifest, with its file's bytes. */
export async function ctMdPngRows(shared: string, every: number): Promise<{ rows: PngRow[]; bytes: Uint8Array[] }> {
  const md = path.join(shared, 'data', 'covid-ct-md-sample');
  const lines = (await readFile(path.join(md, 'manifest.csv'), 'utf8')).trim().split('\n');
  const head = lines[0].split(',');
  const col = (n: string) => head.indexOf(n);
  const rows = lines.slice(1).filter((_, i) => i % every === 0).map((l) => l.split(',')).map((c) => ({ path: c[col('path')], covid: (c[col('label')].toLowerCase() === 'covid' ? 1 : 0) as 0 | 1, patient: c[col('patient_id')] }));
  const bytes = await Promise.all(rows.map(async (r) => new Uint8Array(await readFile(path.join(md, r.path)))));
  return { rows, bytes };
}
export const PNG_TABLE_HEAD = ['| form | read | NotCT (kind) | errors | slice AUC | patient AUC (top-5 mean) | mean abs(P - P PNG), both read |', '|---|---:|---|---:|---:|---:|---:|'];
/** One PNG form's row: slice and patient AUC as `evaluate --data manifest.csv` computes them. */
export function pngTableRow(name: string, preds: Prediction[], reference: Prediction[], rows: PngRow[]): string {
  const y = rows.map((r) => r.covid), p = preds.map((q) => q.probability ?? 0);
  const pat = patientScores(y, p, rows.map((r) => r.patient));
  return `| ${name} | ${preds.filter(isRead).length} | ${refusedCell(preds)} | ${preds.filter((q) => q.error).length} | ${aucOrNull(y, p)?.toFixed(4) ?? 'n/a'} | ${aucOrNull(pat.yTrue, pat.scores)?.toFixed(3) ?? 'n/a'} | ${mean(deltaP(preds, reference)).toFixed(3)} |`;
}
