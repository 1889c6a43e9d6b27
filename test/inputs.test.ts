/**
 * The one decoding entry point (PNG, JPEG, DICOM, zip, anything else), the zip limits (a zip bomb is refused
 * quickly with bounded memory), series ordering and the scan aggregate, and `covid-ct predict` on a folder
 * holding a DICOM series.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { zipSync } from 'fflate';
import { checkLungWindow, decodeInput, DEFAULT_LUNG_WINDOW, noImageKind } from '../src/data/inputs.js';
import { DICOMDIR_CLASS, mediaStorageClass } from '../src/data/dicom.js';
import { decodeGrey } from '../src/data/decode.js';
import { crc32, readZip } from '../src/data/zip.js';
import { aggregateScan, orderForDisplay, scoreScans, sortSeries, topK, type ScoredSlice } from '../src/predict/series.js';
import { REPO, runCli } from './helpers.js';
import { TS, ctSlice, writeDicom, writeRawZip, zipBombStream } from './dicom-writer.js';

test('PNG and JPEG through decodeInput equal decodeGrey exactly, name unchanged', async () => {
  const raw = Buffer.from(Array.from({ length: 40 * 30 * 3 }, (_, i) => (i * 37) % 256));
  for (const enc of [(s: Sharp) => s.png(), (s: Sharp) => s.jpeg({ quality: 80 })]) {
    const bytes = await enc(sharp(raw, { raw: { width: 40, height: 30, channels: 3 } })).toBuffer();
    const slices = await decodeInput('slice.dat', bytes);
    assert.equal(slices.length, 1);
    assert.equal(slices[0].name, 'slice.dat');
    assert.equal(slices[0].dicom, undefined);
    assert.deepEqual(slices[0].image, await decodeGrey(bytes));
  }
});

test('DICOM: one slice per frame, named by frame, with an opaque series key and order info', async () => {
  const one = await decodeInput('IM0001', ctSlice(3));
  assert.equal(one.length, 1);
  assert.equal(one[0].name, 'IM0001');
  assert.match(one[0].dicom!.series, /^[0-9a-f]{12}$/);
  assert.equal(one[0].dicom!.instance, 3);
  assert.equal(one[0].dicom!.position, 15);
  assert.equal(one[0].dicom!.frame, undefined);
  const multi = await decodeInput('scan.dcm', writeDicom({ rows: 2, columns: 2, frames: 3, modality: 'CT', pixels: new Array(12).fill(1000) }));
  assert.deepEqual(multi.map((s) => s.name), ['scan.dcm [frame 1]', 'scan.dcm [frame 2]', 'scan.dcm [frame 3]']);
  assert.deepEqual(multi.map((s) => s.dicom!.frame), [1, 2, 3]);
  // no SeriesInstanceUID: the file is its own series (a hash, not the name)
  assert.match(multi[0].dicom!.series, /^[0-9a-f]{12}$/);
  // the window is an option; a bad one is a per-slice error
  const narrow = await decodeInput('IM', writeDicom({ rows: 1, columns: 2, modality: 'CT', pixels: [1000, 1100] }), { window: { width: 100, level: 1050 } });
  assert.deepEqual(Array.from(narrow[0].image!.data), [0, 255]);
  const bad = await decodeInput('IM', ctSlice(1), { window: { width: -5, level: 0 } });
  assert.match(bad[0].error!, /window width must be greater than 0/);
  assert.throws(() => checkLungWindow({ width: 'wide', level: 0 }), /window width must be a finite number/);
  assert.deepEqual(checkLungWindow({ width: 1500, level: -600 }), DEFAULT_LUNG_WINDOW);
});

test('bad content never throws: random bytes, empty files, a JPEG 2000 DICOM, a DICOM without pixels', async () => {
  const random = Uint8Array.from({ length: 500 }, (_, i) => (i * 7919 + 13) % 251);
  assert.deepEqual(await decodeInput('x.dcm', random), [{ name: 'x.dcm', error: 'not a PNG, JPEG, TIFF or DICOM image (starts with 0d 97 26 b0 3f c9 58 e2 "..&.?.X.")' }]);
  assert.match((await decodeInput('e', new Uint8Array(0)))[0].error!, /the file is empty/);
  const j2k = await decodeInput('j.dcm', writeDicom({ rows: 2, columns: 2, transferSyntax: TS.jpeg2000, fragments: [Uint8Array.of(1, 2, 3, 4)] }));
  // JPEG 2000 is decoded since issue 13; four bytes are no codestream.
  assert.equal(j2k[0].error, 'truncated or corrupt JPEG 2000 pixel data: not a JPEG 2000 codestream (no SOC and SIZ markers, FF4F FF51, at its start)');
  const sr = await decodeInput('sr.dcm', writeDicom({ rows: 2, columns: 2, noPixelData: true }));
  assert.match(sr[0].error!, /^this DICOM has no pixel data/);
  const bomb = await decodeInput('b.dcm', writeDicom({ rows: 60000, columns: 60000, pixels: [0, 0] }));
  assert.match(bomb[0].error!, /over the limit of 50 megapixels/);
});

test('zip: every image entry decoded, errors per entry; folders/__MACOSX/dot-files/DICOMDIR skipped silently, a README with a note; nested zips refused', async () => {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 90, g: 90, b: 90 } } }).png().toBuffer();
  const archive = zipSync({
    'series/': new Uint8Array(0),
    'series/IM0002': ctSlice(2),
    'series/IM0001': [ctSlice(1), { level: 0 }],
    'series/IM0003': ctSlice(3),
    'series/notes.txt': new TextEncoder().encode('not an image'),
    'DICOMDIR': writeDicom({ rows: 0, columns: 0, sopClass: DICOMDIR_CLASS, noPixelData: true }),
    'series/.DS_Store': new Uint8Array(10),
    '__MACOSX/series/._IM0001': new Uint8Array(10),
    'series/inner.zip': zipSync({ 'a.png': png }),
    'series/broken.dcm': ctSlice(4).subarray(0, 400),
    'photo.png': png,
  });
  const notes: string[] = [];
  const slices = await decodeInput('series.zip', archive, { onSkipped: (n) => notes.push(n) });
  assert.deepEqual(slices.map((s) => s.name), ['series.zip/series/IM0002', 'series.zip/series/IM0001', 'series.zip/series/IM0003',
    'series.zip/series/inner.zip', 'series.zip/series/broken.dcm', 'series.zip/photo.png']);
  assert.ok(slices.slice(0, 3).every((s) => s.image && s.dicom && s.image.width === 64));
  assert.equal(new Set(slices.slice(0, 3).map((s) => s.dicom!.series)).size, 1);
  // the text file is skipped with one note naming the zip and the member; the DICOMDIR (an index) without a word
  assert.deepEqual(notes, ['series.zip: skipped series/notes.txt (not a PNG, JPEG, TIFF, DICOM or NIfTI image)']);
  assert.match(slices[3].error!, /a zip inside a zip is not opened/);
  // a DICOM that fails to decode is still an error row: it was meant to be a slice
  assert.match(slices[4].error!, /truncated|cut short/);
  assert.deepEqual(slices[5].image, await decodeGrey(png));
  // the same slices as the files decoded one by one
  assert.deepEqual(slices[1].image, (await decodeInput('IM0001', ctSlice(1)))[0].image);
  const text = JSON.stringify(slices, (_k, v) => (v instanceof Uint8Array ? undefined : v));
  for (const secret of ['SECRET', 'ID-424242', '1.2.3.4.5.6.7']) assert.ok(!text.includes(secret), `${secret} leaked`);
  // content decides, never the name: a member called README.TXT that holds a PNG is read
  const named = await decodeInput('x.zip', zipSync({ 'README.TXT': png }));
  assert.deepEqual(named[0].image, await decodeGrey(png));
  // a zip with no image at all is one error row naming the zip
  const none = await decodeInput('docs.zip', zipSync({ 'README.TXT': new TextEncoder().encode('hello'), DICOMDIR: writeDicom({ rows: 0, columns: 0, sopClass: DICOMDIR_CLASS, noPixelData: true }) }));
  assert.deepEqual(none, [{ name: 'docs.zip', error: 'the zip archive holds no PNG, JPEG, TIFF, DICOM or NIfTI image (2 other file(s) skipped)' }]);
});

test('noImageKind and mediaStorageClass: a DICOMDIR by its SOP class, text by the absence of any image format', () => {
  assert.equal(mediaStorageClass(ctSlice(1)), '1.2.840.10008.5.1.4.1.1.2');
  assert.equal(mediaStorageClass(writeDicom({ rows: 0, columns: 0, sopClass: DICOMDIR_CLASS, noPixelData: true })), DICOMDIR_CLASS);
  assert.equal(mediaStorageClass(ctSlice(1).subarray(0, 140)), undefined);
  assert.equal(noImageKind(writeDicom({ rows: 0, columns: 0, sopClass: DICOMDIR_CLASS, noPixelData: true })), 'index');
  assert.equal(noImageKind(ctSlice(1)), undefined);
  assert.equal(noImageKind(new TextEncoder().encode('Exported by a viewer')), 'not an image');
  assert.equal(noImageKind(new Uint8Array(0)), 'not an image');
  assert.equal(noImageKind(Uint8Array.of(0x42, 0x4d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), undefined, 'a BMP is an image (its row says it is not supported)');
});

/** All entries of an archive (readZip is an async generator: it yields to the event loop while inflating). */
async function entries<T>(g: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const e of g) out.push(e);
  return out;
}

test('zip limits: entry count, total size, truncated archive, corrupt entry', async () => {
  const three = zipSync({ a: ctSlice(1), b: ctSlice(2), c: ctSlice(3) });
  assert.deepEqual(await decodeInput('s.zip', three, { zipLimits: { maxEntries: 2, maxEntryBytes: 1e6, maxTotalBytes: 1e7 } }),
    [{ name: 's.zip', error: 'the archive has 3 entries, over the limit of 2' }]);
  const total = await decodeInput('s.zip', three, { zipLimits: { maxEntries: 10, maxEntryBytes: 1e6, maxTotalBytes: 2.5 * 8700 } });
  assert.equal(total.length, 3, 'two entries read, then the archive error');
  assert.match(total[2].error!, /^the archive inflates to more than 0 MB in total, over the limit; the remaining entries were not read$/);
  assert.match((await decodeInput('s.zip', three.subarray(0, three.length - 30)))[0].error!, /truncated or corrupt zip: no end of central directory record/);
  assert.match((await decodeInput('s.zip', three, { maxTotalPixels: 64 * 64 * 2 })).at(-1)!.error!, /add up to more than 0 megapixels/);
  // a flipped byte in a stored entry: the CRC catches it
  const data = ctSlice(1);
  const stored = writeRawZip([{ name: 'IM1', data: data.map((b, i) => (i === 600 ? b ^ 1 : b)), method: 0, crc: crc32(data), declaredSize: data.length }]);
  assert.deepEqual(await entries(readZip(stored)), [{ name: 'IM1', error: 'corrupt zip entry: its checksum (CRC-32) does not match' }]);
  const good = writeRawZip([{ name: 'IM1', data, method: 0, crc: crc32(data), declaredSize: data.length }]);
  assert.deepEqual((await entries(readZip(good)))[0].bytes, data);
});

test('a zip bomb (1 GB of zeros declared as 1 KB) is refused with bounded memory, and the next entry read', async () => {
  const stream = zipBombStream();
  assert.ok(stream.length < 2e6, `${stream.length} bytes of compressed data`);
  const zip = writeRawZip([{ name: 'IM0001', data: stream, method: 8, crc: 0, declaredSize: 1000 }, { name: 'IM0002', data: ctSlice(2), method: 0, crc: crc32(ctSlice(2)), declaredSize: ctSlice(2).length }]);
  const before = process.memoryUsage();
  const slices = await decodeInput('bomb.zip', zip);
  const after = process.memoryUsage();
  assert.equal(slices[0].name, 'bomb.zip/IM0001');
  assert.equal(slices[0].error, 'the entry inflates to more than 50 MB, over the limit (declared 1000 bytes): refused');
  assert.ok(slices[1].image, 'the next entry is still read');
  assert.ok(after.arrayBuffers - before.arrayBuffers < 120e6 && after.rss - before.rss < 300e6, `memory grew by ${((after.rss - before.rss) / 1e6).toFixed(0)} MB`);
});

test('series order: position along the normal, else instance, else frame, else name', () => {
  const s = (name: string, dicom: ScoredSlice['dicom'], probability = 0.5): ScoredSlice => ({ name, probability, dicom });
  const byPos = [s('a', { series: 'x', position: 10, instance: 1 }), s('b', { series: 'x', position: -5, instance: 3 }), s('c', { series: 'x', position: 2.5, instance: 2 })];
  assert.deepEqual(sortSeries(byPos).map((x) => x.name), ['b', 'c', 'a']);
  const byInstance = [s('a', { series: 'x', position: 10, instance: 3 }), s('b', { series: 'x', instance: 1 }), s('c', { series: 'x', instance: 2 })];
  assert.deepEqual(sortSeries(byInstance).map((x) => x.name), ['b', 'c', 'a']);
  const byFrame = [s('f [frame 10]', { series: 'x', frame: 10 }), s('f [frame 2]', { series: 'x', frame: 2 })];
  assert.deepEqual(sortSeries(byFrame).map((x) => x.name), ['f [frame 2]', 'f [frame 10]']);
  const byName = [s('IM3', { series: 'x' }), s('IM1', { series: 'x', instance: 4 })];
  assert.deepEqual(sortSeries(byName).map((x) => x.name), ['IM1', 'IM3']);
  // display order: non-DICOM rows stay, each series gathers at its first slice
  const mixed = [s('p.png', undefined), s('a', { series: 'x', position: 3 }), s('q.png', undefined), s('z', { series: 'y', instance: 1 }), s('b', { series: 'x', position: 1 })];
  assert.deepEqual(orderForDisplay(mixed).map((x) => x.name), ['p.png', 'b', 'a', 'q.png', 'z']);
});

test('scan aggregate: mean of the top ceil(n/10) probabilities, labelled at the slice threshold', () => {
  assert.deepEqual([1, 9, 10, 11, 20, 21, 300].map(topK), [1, 1, 1, 2, 2, 3, 30]);
  assert.deepEqual(aggregateScan([0.2, 0.9, 0.1]), { probability: 0.9, k: 1 });
  const probs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.05]; // n = 11 -> k = 2 -> (0.95 + 0.9) / 2
  assert.deepEqual(aggregateScan(probs), { probability: (0.95 + 0.9) / 2, k: 2 });
  assert.throws(() => aggregateScan([]), /no slice probabilities/);
  const slices: ScoredSlice[] = [
    ...probs.map((p, i) => ({ name: `s${i}`, probability: p, dicom: { series: 'aaa', instance: i } })),
    { name: 'bad', probability: null, dicom: { series: 'aaa' } },
    { name: 'alone', probability: 0.99, dicom: { series: 'bbb' } },
    { name: 'x.png', probability: 0.99 },
  ];
  assert.deepEqual(scoreScans(slices, 0.93), [{ series: 'aaa', kind: 'DICOM series', slices: 11, probability: 0.925, method: 'mean of top k', k: 2, label: 'NonCOVID', labelRule: 'score at the slice threshold', involvementPresent: null, pattern: null, category: null, involvement: null, notCt: 0 }]);
  assert.equal(scoreScans(slices, 0.92)[0].label, 'COVID');
  // the slices of a NIfTI volume make a scan named as one
  const volume = probs.map((p, i) => ({ name: `v [slice ${i + 1}]`, probability: p, dicom: { series: 'ccc', frame: i + 1, volume: true as const } }));
  assert.equal(scoreScans(volume, 0.93)[0].kind, 'NIfTI volume');
});

test('covid-ct predict: a folder with a DICOM series (no extensions, names out of order), a PNG, a JPEG 2000 DICOM and a zipped series', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-dicom-'));
  try {
    // file names sort opposite to the slice positions: the output follows the positions
    for (const seed of [1, 2, 3, 4]) await writeFile(path.join(dir, `IM${5 - seed}`), ctSlice(seed));
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 60, g: 60, b: 60 } } }).png().toBuffer();
    await writeFile(path.join(dir, 'a.png'), png);
    await writeFile(path.join(dir, 'j2k'), writeDicom({ rows: 2, columns: 2, transferSyntax: TS.jpeg2000, fragments: [Uint8Array.of(1, 2)] }));
    // a zip holding a second series (another SeriesInstanceUID), entries stored out of order
    const other = { seriesUid: '1.2.3.4.5.6.8' };
    await writeFile(path.join(dir, 'z.zip'), zipSync({ S2: ctSlice(9, other), S1: ctSlice(8, other) }));
    const json = await runCli(['predict', dir, '--format', 'json', '--quiet']);
    assert.equal(json.code, 2, json.stderr);
    const out = JSON.parse(json.stdout);
    const names = out.predictions.map((p: { file: string }) => path.basename(p.file));
    // expandPaths sorts IM1..IM4 before a.png; the series is shown in position order where IM1 was
    assert.deepEqual(names, ['IM4', 'IM3', 'IM2', 'IM1', 'a.png', 'j2k', 'S1', 'S2']);
    assert.deepEqual(out.predictions.slice(6).map((p: { file: string }) => path.relative(dir, p.file)), ['z.zip/S1', 'z.zip/S2']);
    const dicomRows = out.predictions.slice(0, 4);
    assert.ok(dicomRows.every((p: { probability: number; series: string }) => p.probability > 0 && p.probability < 1 && /^[0-9a-f]{12}$/.test(p.series)));
    assert.equal(out.predictions[5].error, 'truncated or corrupt JPEG 2000 pixel data: not a JPEG 2000 codestream (no SOC and SIZ markers, FF4F FF51, at its start)');
    assert.equal(out.scans.length, 2);
    assert.equal(out.scans[1].slices, 2);
    assert.notEqual(out.scans[1].series, out.scans[0].series);
    const scan = out.scans[0];
    assert.equal(scan.slices, 4);
    assert.equal(scan.k, 1);
    assert.equal(scan.method, 'mean of top k');
    assert.equal(scan.probability, Math.max(...dicomRows.map((p: { probability: number }) => p.probability)));
    // The shipped default has the lungs design: its scan label is read from involvement and the top slices' pattern.
    const card = JSON.parse(await readFile(path.join(REPO, 'models/default/model.json'), 'utf8'));
    assert.equal(scan.labelRule, 'involvement and pattern');
    assert.equal(scan.label, scan.involvementPresent >= 0.5 && scan.pattern >= card.reading.pattern.threshold ? 'COVID' : 'NonCOVID');
    assert.ok(['negative for pneumonia', 'typical', 'indeterminate', 'atypical'].includes(scan.category));
    // the PNG's probability is what predict gives for it alone (unchanged PNG path)
    const alone = JSON.parse((await runCli(['predict', path.join(dir, 'a.png'), '--format', 'json', '--quiet'])).stdout);
    assert.equal(alone.predictions[0].probability, out.predictions[4].probability);
    assert.deepEqual(alone.scans, []);

    const table = await runCli(['predict', dir, '--quiet', '--window-level', '-500', '--window-width', '1200']);
    assert.equal(table.code, 2);
    assert.match(table.stdout, /scan \(DICOM series\)/);
    assert.match(table.stdout, new RegExp(`scan ${scan.series} \\(mean of top 1 of 4 slices\\)\\s+\\d\\.\\d{4}\\s+\\d+\\.\\d%\\s+(COVID|NonCOVID)`));
    assert.match(table.stdout, /not calibrated for whole scans/);
    for (const secret of ['SECRET', 'ID-424242', '1.2.3.4.5.6.']) {
      assert.ok(!json.stdout.includes(secret) && !table.stdout.includes(secret) && !table.stderr.includes(secret), `${secret} leaked`);
    }
    const bad = await runCli(['predict', dir, '--window-width', '0']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^covid-ct: the window width must be greater than 0 \(--window-width "0"\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
