/**
 * DICOM JPEG Lossless (1.2.840.10008.1.2.4.57 and .4.70): round trips through the test encoder
 * (jpegLosslessEncode in dicom-writer.ts), clear errors for corrupt streams, and the real CT-MD series in
 * ../shared (skipped with a message when that folder is absent).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import sharp from 'sharp';
import { DicomDecodeError, decodeDicom } from '../src/data/dicom.js';
import { decodeJpegLossless } from '../src/data/jpeg-lossless.js';
import { TS, jpegLosslessEncode, writeDicom, type DicomSpec, type JpegLosslessSpec } from './dicom-writer.js';
import { REPO, runCli } from './helpers.js';

/** Deterministic pseudo-random integers in [lo, hi]. */
function noise(n: number, lo: number, hi: number, seed = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (s % (hi - lo + 1));
  });
}

/** A CT-like 12-bit slice: air, a disc of tissue, noisy lung inside, a few extreme values. */
function ctCodes(w: number, h: number): number[] {
  const n = noise(w * h, 0, 120, 7);
  const out: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const r = Math.hypot(x - w / 2, y - h / 2);
      const hu = r < w * 0.4 ? (r < w * 0.3 ? -850 + n[y * w + x] : 40 + n[y * w + x]) : -1000;
      out.push(hu + 1024);
    }
  }
  out[0] = 0;
  out[1] = 4095;
  out[w + 1] = 0;
  return out;
}

const roundTrip = (samples: number[], spec: JpegLosslessSpec): number[] => {
  const jpeg = jpegLosslessEncode(samples, spec);
  return Array.from(decodeJpegLossless(jpeg, { width: spec.width, height: spec.height, components: spec.components ?? 1 }).samples);
};

const base: DicomSpec = { rows: 24, columns: 20, modality: 'CT', rescaleIntercept: -1024, rescaleSlope: 1 };

const greys = async (spec: DicomSpec) => (await decodeDicom(writeDicom(spec))).frames.map((f) => Array.from(f.image.data));

test('round trip: 12-bit samples, every predictor 1-7, with and without restart intervals, are decoded exactly', () => {
  const w = 20, h = 24;
  const codes = ctCodes(w, h);
  for (let predictor = 1; predictor <= 7; predictor++) {
    for (const restartInterval of [0, w, 3 * w]) {
      assert.deepEqual(roundTrip(codes, { width: w, height: h, precision: 12, predictor, restartInterval }), codes, `predictor ${predictor}, restart ${restartInterval}`);
    }
  }
  // more than 8 restart intervals: RST0..RST7 wrap around
  assert.deepEqual(roundTrip(codes, { width: w, height: h, precision: 12, restartInterval: w }), codes);
});

test('round trip: 16-bit signed patterns (category 16 included), point transform, 8-bit RGB', () => {
  const w = 17, h = 9;
  const signed = noise(w * h, -32768, 32767, 3).map((v) => v & 0xffff);
  signed[0] = 0x8000; signed[1] = 0x7fff; signed[2] = 0x8000; signed[3] = 0; // differences of 32768 (category 16)
  for (const predictor of [1, 4, 7]) assert.deepEqual(roundTrip(signed, { width: w, height: h, precision: 16, predictor, restartInterval: 2 * w }), signed);
  const shifted = noise(w * h, 0, 1023, 5).map((v) => v << 2);
  assert.deepEqual(roundTrip(shifted, { width: w, height: h, precision: 12, pointTransform: 2, predictor: 6 }), shifted);
  const rgb = noise(w * h * 3, 0, 255, 9);
  assert.deepEqual(roundTrip(rgb, { width: w, height: h, precision: 8, components: 3, predictor: 5 }), rgb);
});

test('DICOM .70 and .57: 12-bit unsigned CT gives exactly the uncompressed file\'s grey image', async () => {
  const pixels = ctCodes(20, 24);
  const spec: DicomSpec = { ...base, pixels, bitsStored: 12, pixelRepresentation: 0 };
  const reference = await greys(spec);
  const jpeg = (predictor: number, restartInterval = 0) => [jpegLosslessEncode(pixels, { width: 20, height: 24, precision: 12, predictor, restartInterval })];
  const sv1 = await decodeDicom(writeDicom({ ...spec, transferSyntax: TS.jpegLosslessSV1, fragments: jpeg(1) }));
  assert.equal(sv1.mapping, 'lung window');
  assert.deepEqual(sv1.frames.map((f) => Array.from(f.image.data)), reference);
  assert.deepEqual(await greys({ ...spec, transferSyntax: TS.jpegLosslessSV1, fragments: jpeg(1, 40) }), reference);
  assert.deepEqual(await greys({ ...spec, transferSyntax: TS.jpegLossless, fragments: jpeg(7, 60) }), reference);
});

test('DICOM JPEG lossless: 16-bit signed, 12-bit signed, a slope, 8-bit RGB and multi-frame follow the native path', async () => {
  // 16-bit signed HU with slope 2: the rescale and sign are applied as for native data
  const hu = noise(20 * 24, -1100, 1500, 11);
  const signed16: DicomSpec = { ...base, pixels: hu, pixelRepresentation: 1, rescaleIntercept: 0, rescaleSlope: 2 };
  const jpeg16 = jpegLosslessEncode(hu.map((v) => v & 0xffff), { width: 20, height: 24, precision: 16, predictor: 4 });
  assert.deepEqual(await greys({ ...signed16, transferSyntax: TS.jpegLossless, fragments: [jpeg16] }), await greys(signed16));
  // 12-bit signed: the JPEG carries 12-bit two's complement patterns
  const hu12 = noise(20 * 24, -2048, 2047, 13);
  const signed12: DicomSpec = { ...base, pixels: hu12, bitsStored: 12, pixelRepresentation: 1, rescaleIntercept: 0 };
  const jpeg12 = jpegLosslessEncode(hu12.map((v) => v & 0xfff), { width: 20, height: 24, precision: 12 });
  assert.deepEqual(await greys({ ...signed12, transferSyntax: TS.jpegLosslessSV1, fragments: [jpeg12] }), await greys(signed12));
  // 8-bit RGB, interleaved scan
  const rgb = noise(5 * 4 * 3, 0, 255, 17);
  const rgbSpec: DicomSpec = { rows: 4, columns: 5, bitsAllocated: 8, samplesPerPixel: 3, pixels: rgb, modality: 'XC' };
  const rgbJpeg = jpegLosslessEncode(rgb, { width: 5, height: 4, precision: 8, components: 3 });
  assert.deepEqual(await greys({ ...rgbSpec, transferSyntax: TS.jpegLosslessSV1, fragments: [rgbJpeg] }), await greys(rgbSpec));
  // two frames, one fragment each (no offset table)
  const a = ctCodes(20, 24), b = a.map((v) => 4095 - v);
  const multi: DicomSpec = { ...base, frames: 2, pixels: [...a, ...b], bitsStored: 12 };
  const frames = [a, b].map((s) => jpegLosslessEncode(s, { width: 20, height: 24, precision: 12 }));
  assert.deepEqual(await greys({ ...multi, transferSyntax: TS.jpegLosslessSV1, fragments: frames }), await greys(multi));
});

test('corrupt or mismatched JPEG lossless streams give a clear DicomDecodeError', async () => {
  const pixels = ctCodes(20, 24);
  const good = jpegLosslessEncode(pixels, { width: 20, height: 24, precision: 12, restartInterval: 40 });
  const file = (fragment: Uint8Array, extra: Partial<DicomSpec> = {}) => writeDicom({ ...base, pixels, bitsStored: 12, transferSyntax: TS.jpegLosslessSV1, fragments: [fragment], ...extra });
  const rejects = (bytes: Uint8Array, message: RegExp, what: string) => assert.rejects(decodeDicom(bytes), (e: Error) => {
    assert.ok(e instanceof DicomDecodeError, `${what}: ${e.name}`);
    assert.match(e.message, /^truncated or corrupt JPEG lossless \(first-order prediction\) pixel data: /, what);
    assert.match(e.message, message, what);
    assert.ok(!/\n\s+at /.test(e.message), `${what}: no stack in the message`);
    return true;
  });
  const noRst = jpegLosslessEncode(pixels, { width: 20, height: 24, precision: 12 });
  await rejects(file(noRst.subarray(0, noRst.length - 200)), /ends at line \d+ of 24 \(cut short\?\)/, 'cut short');
  await rejects(file(good.subarray(0, good.length - 200)), /ends at line|restart marker|runs into a marker/, 'cut short with restarts');
  await rejects(file(good.subarray(0, 30)), /cut short|ends inside|ends before/, 'cut inside the header');
  await rejects(file(Uint8Array.of(1, 2, 3, 4)), /does not start with an SOI marker/, 'not JPEG');
  // the frame header says 21 columns, the DICOM 20
  const wrongSize = jpegLosslessEncode(ctCodes(21, 24), { width: 21, height: 24, precision: 12 });
  await rejects(file(wrongSize), /the JPEG image is 21x24 with 1 component\(s\), the DICOM header says 20x24 with 1/, 'size mismatch');
  // a lossy (baseline) frame header inside a lossless transfer syntax
  const sof0 = Uint8Array.from(noRst);
  sof0[sof0.indexOf(0xc3, 2)] = 0xc0;
  await rejects(file(sof0), /baseline DCT \(lossy\) \(SOF0\), not lossless process 14 \(SOF3\)/, 'SOF0');
  // a restart marker replaced by garbage
  const noMarker = Uint8Array.from(good);
  const rst = noMarker.findIndex((v, i) => v === 0xff && noMarker[i + 1] === 0xd0);
  noMarker[rst] = 0x12; noMarker[rst + 1] = 0x34;
  await rejects(file(noMarker), /corrupt|ends at line/, 'restart marker lost');
  // flipped bits in the entropy-coded data: either an invalid code or data running into a marker / over the end
  const flipped = Uint8Array.from(noRst);
  for (let i = flipped.length - 300; i < flipped.length - 2; i += 7) if (flipped[i] !== 0xff && flipped[i - 1] !== 0xff) flipped[i] = 0xff;
  await rejects(file(flipped), /corrupt|cut short/, 'garbled');
  // 16-bit JPEG samples cannot fill an 8-bit image
  const wide = jpegLosslessEncode(new Array(4).fill(300), { width: 2, height: 2, precision: 16 });
  await rejects(writeDicom({ rows: 2, columns: 2, bitsAllocated: 8, modality: 'OT', transferSyntax: TS.jpegLosslessSV1, fragments: [wide] }), /16-bit JPEG samples do not fit BitsAllocated 8/, 'precision');
});

// ---- the real CT-MD series in ../shared -------------------------------------------------------------------
const CTMD = path.resolve(REPO, '../shared/data/covid-ct-md-sample');
const SERIES = ['P001', 'normal001'];
const skip = existsSync(path.join(CTMD, 'dicom/P001')) ? false : `the CT-MD sample is not at ${CTMD} (../shared/data/covid-ct-md-sample): real-data JPEG lossless tests skipped`;

test('CT-MD: every file of both series decodes; HU inside the body and in the air corners are plausible', { skip }, async () => {
  let files = 0;
  for (const series of SERIES) {
    const dir = path.join(CTMD, 'dicom', series);
    for (const name of readdirSync(dir)) {
      const bytes = readFileSync(path.join(dir, name));
      const d = await decodeDicom(bytes);
      assert.equal(d.frames.length, 1, name);
      assert.equal(d.mapping, 'lung window', name);
      assert.equal(d.frames[0].image.width, 512, name);
      assert.equal(d.frames[0].image.height, 512, name);
      // HU from the decoder's samples and the file's own rescale
      const ds = dicomParser.parseDicom(bytes);
      assert.equal(ds.string('x00020010')?.replace(/\0/g, '').trim(), TS.jpegLosslessSV1, name);
      const pixel = ds.elements.x7fe00010;
      const frame = dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, pixel.fragments!.length);
      const { samples } = decodeJpegLossless(frame, { width: 512, height: 512, components: 1 });
      const slope = ds.floatString('x00281053') ?? 1, intercept = ds.floatString('x00281052') ?? 0;
      const mean = (x0: number, y0: number, size: number) => {
        let t = 0;
        for (let y = y0; y < y0 + size; y++) for (let x = x0; x < x0 + size; x++) t += samples[y * 512 + x] * slope + intercept;
        return t / size / size;
      };
      // Measured: the centre 64x64 lies between -424 and 160 HU (mediastinum, heart, spine, some lung); air -1024..-994.
      const centre = mean(224, 224, 64);
      assert.ok(centre > -600 && centre < 300, `${name}: centre ${centre.toFixed(0)} HU`);
      for (const [x, y] of [[0, 0], [496, 0], [0, 496], [496, 496]]) {
        const corner = mean(x, y, 16);
        assert.ok(corner > -1050 && corner < -950, `${name}: corner (${x},${y}) ${corner.toFixed(0)} HU`);
      }
      files++;
    }
  }
  assert.equal(files, 74 + 77);
});

test('CT-MD: the decoded lung-window grey equals the dataset\'s own PNG of the same slice (correlation >= 0.99)', { skip }, async () => {
  const lines = readFileSync(path.join(CTMD, 'manifest.csv'), 'utf8').trim().split(/\r?\n/);
  const header = lines[0].split(',');
  const col = (name: string) => header.indexOf(name);
  let compared = 0;
  let worst = 1;
  for (const line of lines.slice(1)) {
    const row = line.split(',');
    const orig = row[col('orig_file')].split('/'); // "Sample data/COVID-19 subjects/P001/98C14734-ASSH_69.dcm"
    const dcm = path.join(CTMD, 'dicom', orig[orig.length - 2], orig[orig.length - 1]);
    if (!existsSync(dcm)) continue;
    const image = (await decodeDicom(readFileSync(dcm))).frames[0].image;
    const ours = await sharp(Buffer.from(image.data), { raw: { width: 512, height: 512, channels: 1 } }).resize(256, 256).extractChannel(0).raw().toBuffer();
    const png = await sharp(path.join(CTMD, row[col('path')])).extractChannel(0).raw().toBuffer();
    assert.equal(png.length, ours.length);
    const r = correlation(ours, png);
    worst = Math.min(worst, r);
    assert.ok(r >= 0.99, `${row[col('path')]} vs ${orig[orig.length - 1]}: correlation ${r.toFixed(4)}`);
    compared++;
  }
  // 41 of P001's infected slices and all 77 normal001 slices in the DICOM folder have a PNG (measured: worst r = 0.9997)
  assert.equal(compared, 118, 'PNGs matched to DICOM files');
  assert.ok(worst >= 0.99);
});

test('CT-MD: covid-ct predict on the P001 folder scores every slice, one row per slice in scan order, and gives one scan score', { skip }, async () => {
  const r = await runCli(['predict', path.join(CTMD, 'dicom/P001'), '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { predictions: { file: string; probability: number | null; label: string | null; error: string | null; series?: string }[]; scans: { series: string; slices: number; probability: number; k: number }[] };
  assert.equal(out.predictions.length, 74);
  // One row per slice in scan order: the slices' positions along the scan axis (z here, axial) strictly monotone.
  const z = out.predictions.map((p) => dicomParser.parseDicom(readFileSync(p.file)).floatString('x00200032', 2)!);
  assert.ok(z.every((v, i) => i === 0 || v > z[i - 1]) || z.every((v, i) => i === 0 || v < z[i - 1]), `rows in scan order: ${z.join(' ')}`);
  assert.equal(new Set(out.predictions.map((p) => p.file)).size, 74, 'each slice once');
  assert.ok(out.predictions.every((p) => p.error === null && typeof p.probability === 'number'), 'every slice scored');
  assert.equal(out.scans.length, 1);
  // The scan reads the slices that show lungs: 5 of the 74 (the five nearest the neck: the trachea, no lung) are NotCT,
  // and the scan skips them (measured; docs/neck-gap.md).
  const read = out.predictions.filter((p) => p.label !== 'NotCT').length;
  assert.equal(read, 69);
  assert.equal(out.scans[0].slices, read);
  assert.equal(out.scans[0].k, 7, 'the top 10% of 69 slices');
  assert.ok(out.scans[0].probability >= 0 && out.scans[0].probability <= 1);
  assert.ok(!/98C14734|ASSH/.test(out.scans[0].series), 'the series is an opaque key');
});

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
  ma /= n; mb /= n;
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i] - ma, y = b[i] - mb;
    ab += x * y; aa += x * x; bb += y * y;
  }
  return ab / Math.sqrt(aa * bb);
}
