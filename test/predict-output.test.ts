/**
 * What `covid-ct predict` writes for scans, as a user reads it: every CSV row has the header's columns, and a
 * `series` column joins each slice to its scan row; a NIfTI volume's scan is called a volume and has the same key
 * on the command line and through the API (the page); a zipped series with a README beside its slices is read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { zipSync } from 'fflate';
import { REPO, huPhantom, niftiBytes, runCli } from './helpers.js';
import { ctSlice } from './dicom-writer.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { analyseFiles } from '../src/predict/analyse.js';

/** RFC 4180 records, written here so that the check does not lean on the project's own reader. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; }
    else if (c === '"') throw new Error(`a bare quote inside an unquoted field at ${i}`);
    else field += c;
  }
  assert.equal(quoted, false, 'a quoted field is never closed');
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

/** A NIfTI volume of `nz` copies of the HU phantom (gzip), 128 x 128. */
function volume(nz: number): Uint8Array {
  const n = 128, one = huPhantom(n), hu = new Int16Array(n * n * nz);
  for (let k = 0; k < nz; k++) hu.set(one, k * n * n);
  return gzipSync(niftiBytes(n, n, nz, hu, { sform: [[-0.7, 0, 0, 0], [0, -0.7, 0, 0], [0, 0, 5, 0]] }));
}

test('predict --format csv: every row has the header\'s 12 columns; series joins slices to their scan row; a README in a zip is skipped with a note', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-csv-'));
  try {
    for (const seed of [1, 2, 3]) await writeFile(path.join(dir, `IM${seed}`), ctSlice(seed));
    await writeFile(path.join(dir, 'series.zip'), zipSync({
      'S/': new Uint8Array(0), 'S/b': ctSlice(5, { seriesUid: '9.8.7' }), 'S/a': ctSlice(6, { seriesUid: '9.8.7' }),
      'S/README.TXT': new TextEncoder().encode('Exported by a viewer, 2 images'), 'S/.DS_Store': new Uint8Array(8), '__MACOSX/S/._a': new Uint8Array(8),
    }));
    await writeFile(path.join(dir, 'ct.nii.gz'), volume(3));
    await writeFile(path.join(dir, 'photo.png'), await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 60, g: 60, b: 60 } } }).png().toBuffer());
    await writeFile(path.join(dir, 'z-broken.png'), 'not, an "image"');
    const r = await runCli(['predict', dir, '--format', 'csv', '--quiet']);
    assert.equal(r.code, 2, r.stderr); // the broken file
    const [head, ...rows] = parseCsv(r.stdout);
    assert.deepEqual(head, ['file', 'probability', 'label', 'involvement', 'pattern', 'category', 'refusal', 'reason', 'orientation', 'polarity', 'tilt', 'error', 'series']);
    for (const row of rows) assert.equal(row.length, head.length, `row ${row.join('|')}`);
    const at = (name: string) => head.indexOf(name);
    const byFile = (f: string) => rows.find((x) => path.basename(x[0]) === f)!;
    // 3 + 2 + 3 slices, the PNG, the broken file, 3 scan rows; the README is no row
    assert.equal(rows.length, 13);
    assert.ok(!rows.some((x) => /README/.test(x[0])));
    const scans = rows.filter((x) => x[0].startsWith('scan '));
    assert.equal(scans.length, 3);
    for (const s of scans) {
      const key = s[at('series')];
      assert.match(key, /^[0-9a-f]{12}$/);
      // the scan row names the same hash it carries in `series`
      assert.ok(s[0].startsWith(`scan ${key} (mean of top 1 of `), s[0]);
      // its slices: the rows that carry the same key
      const slices = rows.filter((x) => !x[0].startsWith('scan ') && x[at('series')] === key);
      assert.ok(slices.length >= 2, `scan ${key} has ${slices.length} slices`);
      assert.equal(s[at('refusal')] + s[at('reason')] + s[at('orientation')] + s[at('polarity')] + s[at('error')], '');
    }
    assert.deepEqual(rows.filter((x) => x[at('series')] === byFile('IM1')[at('series')]).map((x) => x[0].startsWith('scan ') ? 'scan' : path.basename(x[0])).sort(), ['IM1', 'IM2', 'IM3', 'scan']);
    assert.equal(rows.filter((x) => x[0].includes('ct.nii.gz [slice')).length, 3);
    assert.equal(new Set(rows.filter((x) => x[0].includes('ct.nii.gz')).map((x) => x[at('series')])).size, 1);
    assert.equal(byFile('photo.png')[at('series')], '', 'a lone picture belongs to no scan');
    // a field with commas and quotes comes back whole
    assert.match(byFile('z-broken.png')[at('error')], /^not a PNG, JPEG, TIFF or DICOM image \(starts with .*"not, an "/);
    // the README was skipped with one line naming the zip and the member; hidden files and folders without a word
    assert.deepEqual(r.stderr.trim().split('\n'), [`note: ${path.join(dir, 'series.zip')}: skipped S/README.TXT (not a PNG, JPEG, TIFF, DICOM or NIfTI image)`]);

    // The zipped series alone: every image read, so exit 0.
    const zip = await runCli(['predict', path.join(dir, 'series.zip'), '--quiet']);
    assert.equal(zip.code, 0, zip.stdout + zip.stderr);
    assert.match(zip.stdout, /scan \(DICOM series\)/);
    assert.match(zip.stderr, /skipped S\/README\.TXT/);
    // --help says what the new column is and that such files are skipped
    const help = await runCli(['predict', '--help']);
    assert.match(help.stdout, /error, series \(the short\s+hash\s+of\s+the\s+slice's\s+DICOM\s+series\s+or\s+NIfTI\s+volume,\s+the\s+one\s+its\s+scan\s+row\s+shows/);
    assert.match(help.stdout, /a zip's files that are no image \(a README, a report\) are skipped with a note on stderr/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a NIfTI volume: its scan row is headed as a volume, and its key is the same from any path and through the API (the page)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-nifti-key-'));
  try {
    const bytes = volume(3);
    await writeFile(path.join(dir, 'ct.nii.gz'), bytes);
    const table = await runCli(['predict', path.join(dir, 'ct.nii.gz'), '--quiet']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^scan \(NIfTI volume\) +P\(COVID\)/m);
    assert.doesNotMatch(table.stdout, /DICOM/);
    const key = /^scan ([0-9a-f]{12}) \(mean of top 1 of 3 slices\)/m.exec(table.stdout)?.[1];
    assert.ok(key, table.stdout);
    // The same file by a relative path, and under another name.
    const rel = await runCli(['predict', 'ct.nii.gz', '--format', 'json', '--quiet'], { cwd: dir });
    assert.equal(JSON.parse(rel.stdout).scans[0].series, key);
    assert.equal(JSON.parse(rel.stdout).scans[0].kind, 'NIfTI volume');
    const engine = await OnnxClassifier.load(path.join(REPO, 'models/default'));
    try {
      const api = await analyseFiles(engine, [{ name: 'renamed.nii.gz', bytes: new Uint8Array(await readFile(path.join(dir, 'ct.nii.gz'))) }]);
      assert.equal(api.scans[0].series, key);
      assert.equal(api.scans[0].kind, 'NIfTI volume');
      assert.ok(api.results.every((x) => x.dicom?.series === key && x.dicom.volume === true));
    } finally {
      engine.dispose();
    }
    // A DICOM series beside it: the heading names both kinds.
    for (const seed of [1, 2]) await writeFile(path.join(dir, `IM${seed}`), ctSlice(seed));
    const both = await runCli(['predict', dir, '--quiet']);
    assert.match(both.stdout, /^scan \(DICOM series or NIfTI volume\) /m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the API reads without the occlusion map unless a heatmap is asked for: the same readings, no map runs', async () => {
  const engine = await OnnxClassifier.load(path.join(REPO, 'models/default'));
  try {
    const files = [1, 2, 3].map((k) => ({ name: `IM${k}.dcm`, bytes: ctSlice(k) }));
    const real = engine.explainPrepared.bind(engine);
    let maps = 0;
    engine.explainPrepared = async (...args: Parameters<typeof real>) => { maps++; return real(...args); };
    const plain = await analyseFiles(engine, files, {});
    assert.equal(maps, 0, 'no map is made when none is asked for');
    const withMaps = await analyseFiles(engine, files, { heatmap: true });
    assert.ok(maps > 0, 'with heatmap=1 each read slice gets its map');
    const strip = (a: typeof plain) => JSON.stringify({ results: a.results.map(({ heatmap: _h, ...r }) => r), scans: a.scans });
    assert.equal(strip(plain), strip(withMaps), 'probabilities, labels, involvement and scans are the same either way');
    assert.ok(plain.results.every((r) => r.heatmap === undefined));
  } finally {
    engine.dispose();
  }
});
