/**
 * CT-MD's two raw DICOM series (P001 COVID, normal001 normal; 151 slices) with each slice's Hounsfield units
 * rebuilt exactly through the project's own decoder (src/data/dicom.ts), for the benches that re-export them
 * (bench/exports.bench.ts, bench/external-forms.ts).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeDicom } from '../src/data/dicom.js';

export interface DicomSlice {
  series: 'P001' | 'normal001';
  covid: boolean;
  /** labels.csv's infected_slice (P001 only; false for normal001). */
  infected: boolean;
  /** `series/file.dcm`. */
  file: string;
  bytes: Uint8Array;
  hu: Int16Array;
  width: number;
  height: number;
  position: number;
}

/**
 * The HU of a CT DICOM slice, exactly: decodeDicom only hands out windowed greys, and windows 255 HU wide map
 * HU lo..lo+254 to grey 0..254, one grey per HU (-1024 .. 3071).
 */
export async function huOf(bytes: Uint8Array): Promise<{ hu: Int16Array; width: number; height: number; position: number }> {
  let hu: Int16Array | undefined, set: Uint8Array | undefined, width = 0, height = 0, position = 0;
  for (let lo = -1024; lo < 3072; lo += 255) {
    const frame = (await decodeDicom(bytes, { window: { width: 255, level: lo + 127.5 } })).frames[0];
    ({ width, height } = frame.image);
    position = frame.position ?? 0;
    hu ??= new Int16Array(width * height).fill(3071);
    set ??= new Uint8Array(width * height);
    for (let i = 0; i < width * height; i++) if (!set[i] && frame.image.data[i] < 255) { hu[i] = lo + frame.image.data[i]; set[i] = 1; }
  }
  return { hu: hu!, width, height, position };
}

/** Both series, each in scan order (position along the slice normal), P001 first. */
export async function loadCtMdDicom(shared: string, progress = true): Promise<DicomSlice[]> {
  const dicomDir = path.join(shared, 'data', 'covid-ct-md-sample', 'dicom');
  const infected = new Set<string>();
  const lines = (await readFile(path.join(dicomDir, 'labels.csv'), 'utf8')).trim().split('\n').slice(1);
  for (const line of lines) {
    const [p, , , inf] = line.split(',');
    if (inf?.trim() === '1') infected.add(p.replace(/^dicom\//, ''));
  }
  const slices: DicomSlice[] = [];
  const started = performance.now();
  for (const [series, covid] of [['P001', true], ['normal001', false]] as const) {
    const dir = path.join(dicomDir, series);
    const read: DicomSlice[] = [];
    for (const f of (await readdir(dir)).filter((n) => n.endsWith('.dcm')).sort()) {
      const bytes = new Uint8Array(await readFile(path.join(dir, f)));
      const file = `${series}/${f}`;
      read.push({ series, covid, infected: infected.has(file), file, bytes, ...(await huOf(bytes)) });
      if (progress) process.stderr.write(`\rrebuilding HU: ${read.length + slices.length} slices (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
    slices.push(...read.sort((a, b) => a.position - b.position));
  }
  if (progress) process.stderr.write('\n');
  return slices;
}
