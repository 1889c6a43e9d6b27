/**
 * Test helper: compressed DICOM files made by independent encoders from an uncompressed file written by
 * dicom-writer.ts: dcmtk's dcmcjpeg (JPEG baseline/extended/lossless) and dcmcjpls (JPEG-LS), GDCM's gdcmconv
 * (JPEG 2000). Debian packages dcmtk and libgdcm-tools; .ci/run installs them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeDicom, type DicomSpec } from './dicom-writer.js';

export const ENCODERS = ['dcmcjpeg', 'dcmcjpls', 'gdcmconv'] as const;
export type Encoder = (typeof ENCODERS)[number];

/** A skip message when an encoder is not installed, else false (CI installs them, so there it never skips). */
export function encodersMissing(): string | false {
  const missing = ENCODERS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  return missing.length ? `${missing.join(', ')} not installed (Debian dcmtk and libgdcm-tools; .ci/run installs them): codec tests skipped` : false;
}

let scratch: string | undefined;
function scratchDir(): string {
  if (!scratch) {
    const made = mkdtempSync(path.join(tmpdir(), 'covid-ct-encode-'));
    scratch = made;
    process.on('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  return scratch;
}

let count = 0;
/** The DICOM file `tool args in out` makes from writeDicom(spec). */
export function encodeDicom(spec: DicomSpec, tool: Encoder, args: string[]): Uint8Array {
  const n = ++count;
  const src = path.join(scratchDir(), `${n}.in.dcm`), out = path.join(scratchDir(), `${n}.out.dcm`);
  writeFileSync(src, writeDicom(spec));
  execFileSync(tool, [...args, src, out], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Uint8Array(readFileSync(out));
}
