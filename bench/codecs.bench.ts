/**
 * Decode time per slice for each DICOM codec, with uncompressed pixel data as the reference in the same run:
 * `npm run bench:codecs [-- --slices N --shared DIR]`. The slices are CT-MD P001's (512x512, 12-bit, JPEG lossless
 * as the scanner exported them), re-encoded here by dcmtk (dcmdjpeg, dcmcjpls, dcmcjpeg) and GDCM (gdcmconv), so
 * those must be installed (Debian dcmtk and libgdcm-tools). Timed: decodeDicom, the whole path from file bytes to
 * the lung-windowed grey image the model sees. "first" includes loading and compiling the codec's wasm.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { benchArgs } from './args.js';
import dicomParser from 'dicom-parser';
import { decodeDicom } from '../src/data/dicom.js';

const { values } = benchArgs(import.meta.url, { options: { slices: { type: 'string', default: '8' }, shared: { type: 'string', default: '../shared' } } });
const series = path.join(values.shared!, 'data/covid-ct-md-sample/dicom/P001');
const sources = readdirSync(series).filter((n) => n.endsWith('.dcm')).sort().slice(0, Number(values.slices)).map((n) => path.join(series, n));
const dir = mkdtempSync(path.join(tmpdir(), 'covid-ct-codecs-bench-'));

/** `make(reference, original, out)`: the uncompressed reference made first, the scanner's file. */
interface Variant { what: string; make: (ref: string, original: string, out: string) => void }
const run = (tool: string, args: string[]) => execFileSync(tool, args, { stdio: ['ignore', 'ignore', 'pipe'] });
const variants: Variant[] = [
  { what: 'uncompressed (explicit VR LE), reference', make: (_, s, o) => run('dcmdjpeg', [s, o]) },
  { what: 'JPEG lossless .70 (our decoder, as exported)', make: (_, s, o) => run('cp', [s, o]) },
  { what: 'JPEG-LS lossless .80 (CharLS)', make: (s, _, o) => run('dcmcjpls', ['--encode-lossless', s, o]) },
  { what: 'JPEG-LS near-lossless .81, NEAR 2 (CharLS)', make: (s, _, o) => run('dcmcjpls', ['--encode-nearlossless', s, o]) },
  { what: 'JPEG 2000 lossless .90 (OpenJPEG)', make: (s, _, o) => run('gdcmconv', ['--j2k', s, o]) },
  { what: 'JPEG baseline 8-bit .50, q 90 (libjpeg-turbo)', make: (s, _, o) => run('dcmcjpeg', ['--encode-baseline', s, o]) },
  { what: 'JPEG extended 12-bit .51, q 90 (dcmjs-codecs)', make: (s, _, o) => run('dcmcjpeg', ['--encode-extended', s, o]) },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pixelBytes = (b: Uint8Array) => {
  const ds = dicomParser.parseDicom(b);
  const el = ds.elements.x7fe00010;
  return el.encapsulatedPixelData ? (el.fragments ?? []).reduce((t, f) => t + f.length, 0) : el.length;
};

try {
  console.log(`${sources.length} slices of ${series}, ${process.arch}, Node ${process.versions.node}`);
  console.log('| transfer syntax (decoder) | pixel data per slice (KB) | vs uncompressed | first decode, incl. wasm load (ms) | decode per slice, median (ms) | x reference |');
  console.log('|---|---:|---:|---:|---:|---:|');
  let reference = 0;
  for (const [k, v] of variants.entries()) {
    const files = sources.map((s, i) => { const out = path.join(dir, `${k}-${i}.dcm`); v.make(path.join(dir, `0-${i}.dcm`), s, out); return new Uint8Array(readFileSync(out)); });
    const t0 = performance.now();
    await decodeDicom(files[0]);
    const first = performance.now() - t0;
    const times: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const f of files) {
        const t = performance.now();
        await decodeDicom(f);
        times.push(performance.now() - t);
      }
    }
    const perSlice = median(times);
    if (k === 0) reference = perSlice;
    const kb = files.reduce((t, f) => t + pixelBytes(f), 0) / files.length / 1024;
    const refKb = 512 * 512 * 2 / 1024;
    console.log(`| ${v.what} | ${kb.toFixed(0)} | ${(refKb / kb).toFixed(2)}:1 | ${first.toFixed(1)} | ${perSlice.toFixed(2)} | ${(perSlice / reference).toFixed(1)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
