/**
 * The compressed transfer syntaxes decoded with npm's wasm codecs (frame-codec.ts): JPEG-LS (.80, .81), JPEG 2000
 * (.90, .91) and lossy JPEG (.50 8-bit, .51 12-bit). The compressed files are made here by independent encoders,
 * dcmtk's dcmcjpeg / dcmcjpls and GDCM's gdcmconv (Debian dcmtk and libgdcm-tools, installed by .ci/run), from an
 * uncompressed reference written by dicom-writer.ts; the decoded pixels must equal the reference exactly for the
 * lossless syntaxes and stay within the stated error for the lossy ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import { DicomDecodeError, decodeDicom } from '../src/data/dicom.js';
import { decodeFrame } from '../src/data/frame-codec.js';
import { decodeInput } from '../src/data/inputs.js';
import { writeDicom, type DicomSpec } from './dicom-writer.js';
import { encodeDicom, encodersMissing, type Encoder } from './dicom-encoders.js';
import { dicomHu } from './dicom-hu.js';
import { REPO, lungPhantom, runCli } from './helpers.js';

const skip = encodersMissing();

/** A 128x128 chest-CT-like slice in HU (the lung phantom's grey levels read back through the lung window), stored as value + 1024. */
function phantomCodes(size = 128): number[] {
  const p = lungPhantom(size);
  // Air below -1024 HU is clipped, as scanners do; a little texture so that the codecs have detail to keep.
  return Array.from(p.data, (g, i) => Math.max(0, Math.round(g * (1500 / 255) - 1350) + 1024 + ((i * 7) % 5)));
}

const SIZE = 128;
const codes = phantomCodes(SIZE);

function referenceSpec(uid: string, extra: Partial<DicomSpec> = {}): DicomSpec {
  return { rows: SIZE, columns: SIZE, modality: 'CT', bitsStored: 12, rescaleIntercept: -1024, rescaleSlope: 1, pixels: codes,
    seriesUid: uid, instanceNumber: 1, imageOrientation: [1, 0, 0, 0, 1, 0], imagePosition: [0, 0, 0], ...extra };
}

const dir = mkdtempSync(path.join(tmpdir(), 'covid-ct-codecs-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Writes the reference, runs the encoder on it, returns the compressed file's path. */
function compress(name: string, spec: DicomSpec, tool: Encoder, args: string[]): string {
  const out = path.join(dir, `${name}.dcm`);
  writeFileSync(out, encodeDicom(spec, tool, args));
  return out;
}

const tsOf = (bytes: Uint8Array) => dicomParser.parseDicom(bytes).string('x00020010')?.replace(/\0/g, '').trim();

/** The stored pixel codes of a one-frame file, as the decoder returns them (little-endian samples of BitsAllocated). */
async function storedCodes(file: string): Promise<number[]> {
  const bytes = readFileSync(file);
  const ds = dicomParser.parseDicom(bytes);
  const pixel = ds.elements.x7fe00010;
  const ts = tsOf(bytes)!;
  const ba = ds.uint16('x00280100') as 8 | 16;
  const frame = dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, pixel.fragments!.length);
  const raw = await decodeFrame(ts, frame, { rows: ds.uint16('x00280010')!, columns: ds.uint16('x00280011')!, samplesPerPixel: (ds.uint16('x00280002') ?? 1) as 1 | 3, bitsAllocated: ba, bitsStored: ds.uint16('x00280101')!, signed: ds.uint16('x00280103') === 1 });
  const mask = 2 ** ds.uint16('x00280101')! - 1;
  const out: number[] = [];
  for (let i = 0; i < raw.length; i += ba / 8) out.push((ba === 16 ? raw[i] | (raw[i + 1] << 8) : raw[i]) & mask);
  return out;
}

/** Hounsfield units of a one-frame file from its decoded codes and its own rescale (signed when PixelRepresentation says so). */
async function huOf(file: string): Promise<number[]> {
  const ds = dicomParser.parseDicom(readFileSync(file));
  const bits = ds.uint16('x00280101')!, signed = ds.uint16('x00280103') === 1;
  const slope = ds.floatString('x00281053') ?? 1, intercept = ds.floatString('x00281052') ?? 0;
  return (await storedCodes(file)).map((c) => (signed && c >= 2 ** (bits - 1) ? c - 2 ** bits : c) * slope + intercept);
}

const referenceHu = codes.map((c) => c - 1024);

function errors(a: ArrayLike<number>, b: ArrayLike<number>, peak: number): { max: number; psnr: number } {
  let max = 0, se = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    max = Math.max(max, e);
    se += e * e;
  }
  return { max, psnr: se === 0 ? Infinity : 10 * Math.log10((peak * peak) / (se / a.length)) };
}

const greyOf = async (bytes: Uint8Array) => Array.from((await decodeDicom(bytes)).frames[0].image.data);

test('lossless: JPEG-LS (.80) and JPEG 2000 (.90) made by dcmcjpls and gdcmconv decode to exactly the reference, 12-bit unsigned and 16-bit signed', { skip }, async () => {
  const signedCodes = codes.map((c) => c - 1024); // HU stored as signed 16-bit, intercept 0
  const cases = [
    { name: 'ls12', spec: referenceSpec('1.2.3.80.12'), tool: 'dcmcjpls' as Encoder, args: ['--encode-lossless'], ts: '1.2.840.10008.1.2.4.80' },
    { name: 'ls16s', spec: referenceSpec('1.2.3.80.16', { bitsStored: 16, pixelRepresentation: 1, rescaleIntercept: 0, pixels: signedCodes }), tool: 'dcmcjpls' as Encoder, args: ['--encode-lossless'], ts: '1.2.840.10008.1.2.4.80' },
    { name: 'j2k12', spec: referenceSpec('1.2.3.90.12'), tool: 'gdcmconv' as Encoder, args: ['--j2k'], ts: '1.2.840.10008.1.2.4.90' },
    { name: 'j2k16s', spec: referenceSpec('1.2.3.90.16', { bitsStored: 16, pixelRepresentation: 1, rescaleIntercept: 0, pixels: signedCodes }), tool: 'gdcmconv' as Encoder, args: ['--j2k'], ts: '1.2.840.10008.1.2.4.90' },
  ];
  for (const c of cases) {
    const file = compress(c.name, c.spec, c.tool, c.args);
    const bytes = readFileSync(file);
    assert.equal(tsOf(bytes), c.ts, `${c.name}: the encoder wrote the expected transfer syntax`);
    assert.deepEqual(await huOf(file), referenceHu, `${c.name}: HU exactly as the reference`);
    assert.deepEqual(await greyOf(bytes), await greyOf(writeDicom(c.spec)), `${c.name}: the grey image the model sees is the reference's`);
  }
});

test('lossless colour: 8-bit RGB JPEG-LS with no interleave (planes one after the other) and JPEG 2000 give the reference RGB', { skip }, async () => {
  const rgb: number[] = [];
  for (let i = 0; i < 24 * 20; i++) rgb.push((i * 7) % 256, (i * 13 + 40) % 256, (i * 3) % 200);
  const spec: DicomSpec = { rows: 20, columns: 24, bitsAllocated: 8, samplesPerPixel: 3, pixels: rgb, modality: 'XC' };
  for (const [name, tool, args] of [['lsrgb', 'dcmcjpls', ['--encode-lossless', '--interleave-none']], ['j2krgb', 'gdcmconv', ['--j2k']]] as const) {
    const file = compress(name, spec, tool, [...args]);
    assert.deepEqual(await storedCodes(file), rgb, name);
    assert.deepEqual(await greyOf(readFileSync(file)), await greyOf(writeDicom(spec)), name);
  }
});

test('lossy: JPEG-LS near-lossless (.81) within NEAR, JPEG 2000 (.91), JPEG baseline (.50) and 12-bit extended (.51) close to the reference', { skip }, async (t) => {
  // .81: JPEG-LS guarantees |error| <= NEAR on every stored value; dcmcjpls --max-deviation 3.
  const nl = compress('nl', referenceSpec('1.2.3.81'), 'dcmcjpls', ['--encode-nearlossless', '--max-deviation', '3']);
  assert.equal(tsOf(readFileSync(nl)), '1.2.840.10008.1.2.4.81');
  const nlErr = errors(await huOf(nl), referenceHu, 4095);
  t.diagnostic(`.81 near-lossless (NEAR 3): max ${nlErr.max} HU, PSNR ${nlErr.psnr.toFixed(1)} dB`);
  assert.ok(nlErr.max <= 3 && nlErr.max >= 1, `near-lossless max error ${nlErr.max} HU (NEAR 3, and lossy at all)`);
  // Tolerances in HU over the 12-bit range (peak 4095), measured with margin: .91 at 8:1, .50 at IJG quality 90
  // (8-bit: a step of 8 HU after dcmcjpeg rescales 12 bits into 8), .51 at quality 90.
  const lossy = [
    { name: 'j2klossy', tool: 'gdcmconv' as Encoder, args: ['--j2k', '--lossy', '-r', '8'], ts: '1.2.840.10008.1.2.4.91', maxHu: 120, psnr: 45 },
    { name: 'base8', tool: 'dcmcjpeg' as Encoder, args: ['--encode-baseline', '--quality', '90'], ts: '1.2.840.10008.1.2.4.50', maxHu: 160, psnr: 40 },
    { name: 'ext12', tool: 'dcmcjpeg' as Encoder, args: ['--encode-extended', '--quality', '90'], ts: '1.2.840.10008.1.2.4.51', maxHu: 120, psnr: 45 },
  ];
  for (const c of lossy) {
    const file = compress(c.name, referenceSpec(`1.2.3.${c.name.length}`), c.tool, c.args);
    assert.equal(tsOf(readFileSync(file)), c.ts, c.name);
    const e = errors(await huOf(file), referenceHu, 4095);
    assert.ok(e.max > 0, `${c.name} is lossy`);
    t.diagnostic(`${c.ts} ${c.name}: max ${e.max.toFixed(1)} HU, PSNR ${e.psnr.toFixed(1)} dB over 4095`);
    assert.ok(e.max <= c.maxHu && e.psnr >= c.psnr, `${c.name}: max error ${e.max.toFixed(1)} HU (<= ${c.maxHu}), PSNR ${e.psnr.toFixed(1)} dB (>= ${c.psnr})`);
    // And the grey image the model sees (lung window, 5.9 HU a level).
    const g = errors(await greyOf(readFileSync(file)), await greyOf(writeDicom(referenceSpec('x'))), 255);
    t.diagnostic(`${c.ts} ${c.name}: lung-window grey max ${g.max}, PSNR ${g.psnr.toFixed(1)} dB`);
    assert.ok(g.psnr >= 35, `${c.name}: grey PSNR ${g.psnr.toFixed(1)} dB`);
  }
});

test('a frame cut short, garbled, or larger than the header says gives a clear error; the other files of the input still decode', { skip }, async () => {
  const sources = [
    { name: 'JPEG-LS lossless', file: compress('c-ls', referenceSpec('1.2.3.c1'), 'dcmcjpls', ['--encode-lossless']) },
    { name: 'JPEG 2000 (lossless)', file: compress('c-j2k', referenceSpec('1.2.3.c2'), 'gdcmconv', ['--j2k']) },
    { name: 'JPEG baseline (8-bit lossy)', file: compress('c-50', referenceSpec('1.2.3.c3'), 'dcmcjpeg', ['--encode-baseline']) },
    { name: 'JPEG extended (12-bit lossy)', file: compress('c-51', referenceSpec('1.2.3.c4'), 'dcmcjpeg', ['--encode-extended']) },
  ];
  for (const s of sources) {
    const bytes = readFileSync(s.file);
    const ds = dicomParser.parseDicom(bytes);
    const pixel = ds.elements.x7fe00010;
    const frame = dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, pixel.fragments!.length);
    const ts = tsOf(bytes)!;
    const spec = ts === '1.2.840.10008.1.2.4.50' ? { ...referenceSpec('y'), bitsAllocated: 8 as const, bitsStored: 8 } : referenceSpec('y');
    const file = (fragment: Uint8Array, extra: Partial<DicomSpec> = {}) => writeDicom({ ...spec, pixels: undefined, transferSyntax: ts, fragments: [fragment], ...extra });
    const rejects = async (b: Uint8Array, message: RegExp, what: string) => {
      await assert.rejects(decodeDicom(b), (e: Error) => {
        assert.ok(e instanceof DicomDecodeError, `${s.name}, ${what}: ${e.name} ${e.message}`);
        assert.ok(e.message.startsWith(`truncated or corrupt ${s.name} pixel data: `), `${s.name}, ${what}: ${e.message}`);
        assert.match(e.message, message, `${s.name}, ${what}`);
        assert.ok(!/\n\s+at /.test(e.message), 'no stack in the message');
        return true;
      });
    };
    await rejects(file(frame.subarray(0, Math.floor(frame.length / 2))), /no end marker|cut short/, 'cut in half');
    await rejects(file(frame.subarray(0, 20)), /cut short|ends before|ends inside/, 'cut in the header');
    await rejects(file(Uint8Array.of(0x12, 0x34, 0x56, 0x78, 0, 0)), /does not start with|not a JPEG 2000 codestream/, 'not a codestream');
    // The DICOM header promises half the rows: the frame would decode to twice what may be allocated.
    await rejects(file(frame, { rows: SIZE / 2 }), new RegExp(`image is ${SIZE}x${SIZE} with 1 component\\(s\\), the DICOM header says ${SIZE}x${SIZE / 2} with 1`), 'larger than the header');
    // Garbage in the middle of the entropy-coded data: an error, or (the decoders resynchronise) an image; never a crash.
    const garbled = Uint8Array.from(frame);
    for (let i = Math.floor(frame.length / 3); i < frame.length - 40; i += 5) garbled[i] ^= 0x5a;
    try { await decodeDicom(file(garbled)); } catch (e) { assert.ok(e instanceof DicomDecodeError, `${s.name} garbled: ${(e as Error).message}`); }
  }
  // Through decodeInput (what predict and the server use): the bad file gets an error row, the good one its slice.
  const good = readFileSync(sources[1].file);
  const dsBad = dicomParser.parseDicom(good);
  const frame = dicomParser.readEncapsulatedPixelDataFromFragments(dsBad, dsBad.elements.x7fe00010, 0, 1);
  const bad = writeDicom({ ...referenceSpec('z'), pixels: undefined, transferSyntax: '1.2.840.10008.1.2.4.90', fragments: [frame.subarray(0, 500)] });
  const [badRow] = await decodeInput('bad.dcm', bad);
  assert.match(badRow.error ?? '', /^truncated or corrupt JPEG 2000 \(lossless\) pixel data: the JPEG 2000 stream has no end marker/);
  const [goodRow] = await decodeInput('good.dcm', good);
  assert.equal(goodRow.error, undefined);
  assert.equal(goodRow.image?.width, SIZE);
});

// ---- covid-ct predict on a real slice: CT-MD P001 (COVID), in ../shared, re-encoded here ------------------------
const SLICE = path.resolve(REPO, '../shared/data/covid-ct-md-sample/dicom/P001/98C14734-ASSH_145.dcm');
const noSlice = existsSync(SLICE) ? false : `the CT-MD sample slice is not at ${SLICE}: the predict test is skipped`;

test('covid-ct predict scores compressed files like the uncompressed one (the same P when lossless) and names the corrupt one', { skip: skip || noSlice }, async (t) => {
  // The reference: the slice's HU (decoded from its JPEG lossless file) written uncompressed, 12 bits, 512x512.
  const { width, height, hu } = dicomHu(readFileSync(SLICE));
  const real = (uid: string): DicomSpec => ({ ...referenceSpec(uid), rows: height, columns: width, pixels: Array.from(hu, (v) => v + 1024) });
  const folder = mkdtempSync(path.join(dir, 'predict-'));
  const place = (name: string, from: string | Uint8Array) => writeFileSync(path.join(folder, name), typeof from === 'string' ? readFileSync(from) : from);
  place('a-reference.dcm', writeDicom(real('1.2.3.100')));
  place('b-jpegls.dcm', compress('p-ls', real('1.2.3.101'), 'dcmcjpls', ['--encode-lossless']));
  place('c-j2k.dcm', compress('p-j2k', real('1.2.3.102'), 'gdcmconv', ['--j2k']));
  place('d-jpegls-near.dcm', compress('p-nl', real('1.2.3.103'), 'dcmcjpls', ['--encode-nearlossless']));
  place('e-j2k-lossy.dcm', compress('p-j2kl', real('1.2.3.104'), 'gdcmconv', ['--j2k', '--lossy', '-r', '8']));
  place('f-baseline.dcm', compress('p-50', real('1.2.3.105'), 'dcmcjpeg', ['--encode-baseline']));
  place('g-extended.dcm', compress('p-51', real('1.2.3.106'), 'dcmcjpeg', ['--encode-extended']));
  const j2k = readFileSync(path.join(folder, 'c-j2k.dcm'));
  place('h-cut-short.dcm', j2k.subarray(0, j2k.length - 3000));
  // A whole DICOM structure around a JPEG 2000 frame cut in half.
  const ds = dicomParser.parseDicom(j2k);
  const frame = dicomParser.readEncapsulatedPixelDataFromFragments(ds, ds.elements.x7fe00010, 0, ds.elements.x7fe00010.fragments!.length);
  place('i-frame-cut.dcm', writeDicom({ ...real('1.2.3.107'), pixels: undefined, transferSyntax: '1.2.840.10008.1.2.4.90', fragments: [frame.subarray(0, frame.length >> 1)] }));
  const r = await runCli(['predict', folder, '--format', 'json']);
  assert.equal(r.code, 2, `exit code 2: files could not be read (${r.stderr})`);
  const out = JSON.parse(r.stdout) as { predictions: { file: string; probability: number | null; involvement: number | null; error: string | null }[] };
  assert.equal(out.predictions.length, 9, 'one row per file, the corrupt ones included');
  assert.equal(p2(out, 'i-frame-cut.dcm').error, 'truncated or corrupt JPEG 2000 (lossless) pixel data: the JPEG 2000 stream has no end marker (FFD9): the frame is cut short');
  const p = (name: string) => out.predictions.find((x) => x.file.endsWith(name))!;
  const ref = p('a-reference.dcm');
  assert.ok(typeof ref.probability === 'number' && ref.probability > 0.1, `a slice the model finds something on (P ${ref.probability})`);
  for (const f of ['b-jpegls.dcm', 'c-j2k.dcm']) {
    assert.equal(p(f).probability, ref.probability, `${f}: lossless, the same P`);
    assert.equal(p(f).involvement, ref.involvement, `${f}: lossless, the same involvement`);
  }
  for (const f of ['d-jpegls-near.dcm', 'e-j2k-lossy.dcm', 'f-baseline.dcm', 'g-extended.dcm']) {
    t.diagnostic(`${f}: P ${p(f).probability?.toFixed(4)} (uncompressed ${ref.probability.toFixed(4)})`);
    assert.ok(Math.abs(p(f).probability! - ref.probability) <= 0.03, `${f}: P ${p(f).probability} vs ${ref.probability} (lossy: within 0.03)`);
  }
  const cut = p('h-cut-short.dcm');
  assert.equal(cut.probability, null);
  assert.match(cut.error ?? '', /truncated or corrupt|cut short/);
  assert.ok(!/\n\s+at /.test(r.stdout + r.stderr), 'no stack trace');
});

const p2 = (out: { predictions: { file: string; error: string | null }[] }, name: string) => out.predictions.find((x) => x.file.endsWith(name))!;

test('multi-frame: a 3-frame JPEG-LS file and a 3-frame JPEG 2000 file decode frame by frame to the reference', { skip }, async () => {
  const frames = [codes, codes.map((c) => 4095 - c), codes.map((c, i) => (c + i) & 4095)];
  const spec: DicomSpec = { ...referenceSpec('1.2.3.300'), frames: 3, pixels: frames.flat() };
  const reference = (await decodeDicom(writeDicom(spec))).frames.map((f) => Array.from(f.image.data));
  for (const [name, tool, args] of [['mf-ls', 'dcmcjpls', ['--encode-lossless']], ['mf-j2k', 'gdcmconv', ['--j2k']]] as const) {
    const bytes = readFileSync(compress(name, spec, tool, [...args]));
    const fragments = dicomParser.parseDicom(bytes).elements.x7fe00010.fragments!.length;
    const d = await decodeDicom(bytes);
    assert.equal(d.frames.length, 3, name);
    assert.deepEqual(d.frames.map((f) => Array.from(f.image.data)), reference, `${name} (${fragments} fragments)`);
  }
});

test('the codecs load lazily: an uncompressed DICOM loads no wasm decoder, a JPEG-LS one loads CharLS only', { skip }, async () => {
  const plain = path.join(dir, 'lazy-plain.dcm');
  writeFileSync(plain, writeDicom(referenceSpec('1.2.3.400')));
  const ls = compress('lazy-ls', referenceSpec('1.2.3.401'), 'dcmcjpls', ['--encode-lossless']);
  // A fresh process: the CommonJS module cache says which decoder packages were loaded.
  const script = `
    import { readFileSync } from 'node:fs';
    import { createRequire } from 'node:module';
    const { decodeDicom } = await import(${JSON.stringify(path.join(REPO, 'dist/src/data/dicom.js'))});
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /@cornerstonejs|dcmjs/.test(k)).map((k) => k.replace(/.*node_modules\\//, ''));
    await decodeDicom(readFileSync(${JSON.stringify(plain)}));
    const afterPlain = loaded();
    await decodeDicom(readFileSync(${JSON.stringify(ls)}));
    console.log(JSON.stringify({ afterPlain, afterLs: loaded() }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' });
  const { afterPlain, afterLs } = JSON.parse(out) as { afterPlain: string[]; afterLs: string[] };
  assert.deepEqual(afterPlain, [], 'no decoder package after an uncompressed file');
  assert.ok(afterLs.length > 0 && afterLs.every((k) => k.startsWith('@cornerstonejs/codec-charls/')), `only CharLS after a JPEG-LS file: ${afterLs.join(', ')}`);
});
