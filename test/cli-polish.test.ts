/**
 * Issue 12.5 and 12.7, a newcomer's CLI: --version, group help, "did you mean" for commands and options, help
 * and errors that agree, other image formats named, explain on DICOM, audit naming the variant over
 * --max-delta, unsafe zip names reported, and train refusing to replace a model without --force.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { zipSync } from 'fflate';
import { DATA, REPO, requireShared, runCli } from './helpers.js';
import { decodeInput } from '../src/data/inputs.js';
import { describeImage } from '../src/data/format.js';
import { editDistance, nearest } from '../src/cli/suggest.js';
import { ctSlice } from './dicom-writer.js';

const P001 = path.resolve(REPO, '../shared/data/covid-ct-md-sample/dicom/P001/98C14734-ASSH_101.dcm');

test('--version prints the package version; dataset --help lists its commands', async () => {
  const pkg = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8'));
  const v = await runCli(['--version']);
  assert.equal(v.code, 0);
  assert.equal(v.stdout.trim(), pkg.version);
  const d = await runCli(['dataset', '--help']);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /^Usage: covid-ct dataset <command>/);
  assert.match(d.stdout, /dataset check/);
  const dc = await runCli(['dataset', 'check', '--help']);
  assert.equal(dc.code, 0);
  assert.match(dc.stdout, /^Usage: covid-ct dataset check/);
});

test('a mistyped command or option gets "did you mean", never Node\'s parseArgs text', async () => {
  assert.equal(editDistance('predcit', 'predict'), 1);
  assert.equal(nearest('predcit', ['predict', 'explain']), 'predict');
  assert.equal(nearest('xyzzy', ['predict', 'explain']), undefined);
  const c = await runCli(['predcit', 'x.png']);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /^covid-ct: unknown command "predcit"; did you mean "covid-ct predict"\?/);
  const g = await runCli(['dataset', 'chek']);
  assert.match(g.stderr, /did you mean "covid-ct dataset check"\?/);
  const f = await runCli(['predict', '--fromat', 'json', 'x.png']);
  assert.equal(f.code, 1);
  assert.equal(f.stderr.trim(), 'covid-ct: unknown option --fromat; did you mean --format? (see --help)');
  const m = await runCli(['predict', 'x.png', '--format']);
  assert.equal(m.stderr.trim(), 'covid-ct: --format needs a value (--format VALUE) (see --help)');
  const p = await runCli(['audit', 'stray']);
  assert.match(p.stderr, /unexpected argument "stray"/);
  for (const r of [c, f, m, p]) assert.doesNotMatch(r.stderr, /positional argument|ERR_PARSE_ARGS|at .*\.js:\d+/);
});

test('--split: help and error name the same values; val is the default of evaluate and audit, test only by name', async () => {
  for (const cmd of ['evaluate', 'audit']) {
    const help = await runCli([cmd, '--help']);
    assert.match(help.stdout, /--split val\|test\|train/);
    assert.match(help.stdout, /--split NAME\s+val \(default\), test or train/);
    const bad = await runCli([cmd, '--split', 'training', '--data', '/nonexistent']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.trim(), 'covid-ct: --split must be val, test or train, got "training"');
  }
  // A synthetic official layout, one image per split and class: without --split both commands score val.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-default-split-'));
  try {
    for (const split of ['train', 'val', 'test']) {
      for (const [k, cls] of ['CT_COVID', 'CT_NonCOVID'].entries()) {
        const name = `${split}-${cls}.png`;
        const px = Buffer.alloc(64 * 64, 40 + 30 * k + split.length * 9);
        await mkdir(path.join(dir, 'images', cls), { recursive: true });
        await sharp(px, { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(path.join(dir, 'images', cls, name));
        await mkdir(path.join(dir, 'splits'), { recursive: true });
        await writeFile(path.join(dir, 'splits', `${split}${cls}.txt`), `${name}\n`);
      }
    }
    const scores = path.join(dir, 'scores.csv');
    const e = await runCli(['evaluate', '--data', dir, '--json', '--quiet', '--scores', scores]);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(JSON.parse(e.stdout).split, 'val');
    assert.deepEqual((await readFile(scores, 'utf8')).split('\n').slice(1, 3).map((l) => l.split(',')[0]), ['val-CT_COVID.png', 'val-CT_NonCOVID.png']);
    const a = await runCli(['audit', '--data', dir, '--json', '--quiet', '--variants', 'grey']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(JSON.parse(a.stdout).split, 'val');
    const t = await runCli(['evaluate', '--data', dir, '--split', 'test', '--json', '--quiet']);
    assert.equal(JSON.parse(t.stdout).split, 'test');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('GIF, WebP and BMP files are named, not dumped in hex (TIFF is read); one bad file does not stop the rest', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-formats-'));
  try {
    const red = () => sharp({ create: { width: 16, height: 16, channels: 3, background: '#c00' } });
    const files: Record<string, Buffer> = {
      'a.gif': await red().gif().toBuffer(), 'a.tiff': await red().tiff().toBuffer(), 'a.webp': await red().webp().toBuffer(),
      // A minimal BMP header: "BM", file size, reserved, pixel offset, DIB header size.
      'a.bmp': Buffer.from([0x42, 0x4d, 0x46, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0, 0x28, 0, 0, 0]),
      'ok.png': await red().png().toBuffer(),
    };
    for (const [n, b] of Object.entries(files)) await writeFile(path.join(dir, n), b);
    const names = { 'a.gif': 'GIF', 'a.tiff': 'TIFF', 'a.webp': 'WebP', 'a.bmp': 'BMP' } as const;
    for (const [n, fmt] of Object.entries(names)) {
      // The dataset check (describeImage) reads PNG and JPEG only; the inputs of predict read TIFF too.
      assert.throws(() => describeImage(files[n]), new RegExp(`^ImageDecodeError: a ${fmt} image: not supported; convert to PNG$`));
      const [slice] = await decodeInput(n, files[n]);
      if (fmt === 'TIFF') assert.equal(slice.image?.width, 16);
      else assert.match(slice.error!, new RegExp(`^a ${fmt} image: not supported; convert to PNG`));
    }
    const r = await runCli(['predict', dir, '--format', 'json', '--quiet']);
    assert.equal(r.code, 2, r.stderr);
    const rows = JSON.parse(r.stdout).predictions ?? JSON.parse(r.stdout);
    const list = (Array.isArray(rows) ? rows : []) as { file: string; error?: string; probability: number | null }[];
    assert.equal(list.length, 5, r.stdout);
    for (const row of list) {
      if (row.file.endsWith('ok.png') || row.file.endsWith('a.tiff')) assert.equal(typeof row.probability, 'number');
      else assert.match(row.error ?? '', /^an? (GIF|WebP|BMP) image: not supported/);
      assert.doesNotMatch(row.error ?? '', /starts with/);
    }
    const e = await runCli(['explain', path.join(dir, 'a.gif'), '--out', path.join(dir, 'h.png')]);
    assert.equal(e.code, 2);
    assert.match(e.stderr, /a\.gif: a GIF image: not supported; convert to PNG/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a zip entry with an unsafe name ("../x", "/abs") gets a row with the reason', async () => {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#444' } }).png().toBuffer();
  const archive = zipSync({ '../x.png': png, 'good.png': png, '.hidden.png': png });
  const slices = await decodeInput('s.zip', archive);
  assert.deepEqual(slices.map((s) => s.name), ['s.zip/../x.png', 's.zip/good.png']);
  assert.match(slices[0].error!, /unsafe name "\.\.\/x\.png" \(it climbs out of the archive with "\.\."\): skipped/);
  assert.ok(slices[1].image && !slices[1].error);
});

test('explain works on a DICOM slice (Hounsfield units through the lung window), asks for --frame in a zip, and counts --frame in predict\'s order', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-explain-dicom-'));
  try {
    const synthetic = path.join(dir, 'slice.dcm');
    await writeFile(synthetic, ctSlice(1));
    const out = path.join(dir, 'h.png');
    const r = await runCli(['explain', synthetic, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.ok(j.probability >= 0 && j.probability <= 1);
    const meta = await sharp(out).metadata();
    assert.equal(meta.format, 'png');
    // Same slice, same P as predict gives it.
    const p = await runCli(['predict', synthetic, '--format', 'json', '--quiet']);
    const pj = JSON.parse(p.stdout);
    const row = (pj.predictions ?? pj)[0];
    assert.ok(Math.abs(row.probability - j.probability) < 1e-5, `explain ${j.probability} vs predict ${row.probability}`);
    // Members stored in an order that is not the scan order (a at 15 mm, b at 5, c at 10), with a README beside them.
    const zip = path.join(dir, 'three.zip');
    await writeFile(zip, zipSync({ a: ctSlice(3), b: ctSlice(1), c: ctSlice(2), 'README.TXT': new TextEncoder().encode('exported by a viewer') }));
    const z = await runCli(['explain', zip, '--out', out]);
    assert.equal(z.code, 2);
    assert.match(z.stderr, /holds 3 slices: pick one with --frame N \(1 to 3\)/);
    // --frame N is the N-th row predict prints for the zip, the same slice with the same P.
    const listed = JSON.parse((await runCli(['predict', zip, '--format', 'json', '--quiet'])).stdout).predictions;
    assert.deepEqual(listed.map((q: { file: string }) => q.file), [`${zip}/b`, `${zip}/c`, `${zip}/a`]);
    for (const n of [1, 3]) {
      const zn = await runCli(['explain', zip, '--out', out, '--frame', String(n), '--json']);
      assert.equal(zn.code, 0, zn.stderr);
      const e = JSON.parse(zn.stdout);
      assert.equal(e.file, listed[n - 1].file);
      assert.ok(Math.abs(e.probability - listed[n - 1].probability) < 1e-5);
    }
    const help = await runCli(['explain', '--help']);
    assert.match(help.stdout, /--frame N +the slice to explain in a multi-frame DICOM, a zip or a NIfTI volume: the N-th of its rows in\s+predict's output/);
    if (existsSync(P001)) {
      const real = await runCli(['explain', P001, '--out', out]);
      assert.equal(real.code, 0, real.stderr);
      assert.match(real.stdout, /P\(COVID\) = [\d.]+; .* -> (COVID \(at or above|NonCOVID \(below) the model's threshold/);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('audit --max-delta names the variant that exceeded it when it exits 1', async () => {
  requireShared();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-audit-delta-'));
  try {
    // The official layout with 3 images of each class in each split (real files).
    const data = path.join(dir, 'data');
    await mkdir(path.join(data, 'splits'), { recursive: true });
    for (const f of ['COVID-CT-MetaInfo.xlsx', 'NonCOVID-CT-MetaInfo.csv']) await cp(path.join(DATA, f), path.join(data, f));
    for (const cls of ['CT_COVID', 'CT_NonCOVID']) {
      await mkdir(path.join(data, 'images', cls), { recursive: true });
      for (const split of ['train', 'val', 'test']) {
        const names = (await readFile(path.join(DATA, 'splits', `${split}${cls}.txt`), 'utf8')).split('\n').map((s) => s.trim()).filter(Boolean).slice(0, 3);
        await writeFile(path.join(data, 'splits', `${split}${cls}.txt`), names.join('\n') + '\n');
        for (const n of names) await cp(path.join(DATA, 'images', cls, n), path.join(data, 'images', cls, n));
      }
    }
    const r = await runCli(['audit', '--data', data, '--variants', 'outside-noise', '--max-delta', '0.000001', '--quiet']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /covid-ct audit: outside-noise exceeds --max-delta 0\.000001: mean per-image \|dP\(COVID\)\| = [\d.]+/);
    const ok = await runCli(['audit', '--data', data, '--variants', 'outside-noise', '--max-delta', '1', '--quiet', '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout).exceeded, []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('train refuses, before any work, to replace a model folder without --force (the shipped model included)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-train-force-'));
  try {
    await writeFile(path.join(dir, 'model.json'), '{}');
    const r = await runCli(['train', '--out', dir, '--data', path.join(dir, 'no-data'), '--quiet']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already holds a model \(model\.json\); pass --force to replace it, or choose another --out/);
    // The shipped model: refused, and untouched.
    const shipped = path.join(REPO, 'models', 'default', 'model.json');
    const before = await stat(shipped);
    const s = await runCli(['train', '--out', path.join(REPO, 'models', 'default'), '--quiet']);
    assert.equal(s.code, 1);
    assert.match(s.stderr, /already holds a model/);
    assert.equal((await stat(shipped)).mtimeMs, before.mtimeMs);
    // With --force the refusal is passed: the run goes on to its next check (here the missing weights file).
    const f = await runCli(['train', '--out', dir, '--force', '--data', path.join(dir, 'no-data'), '--pretrained', path.join(dir, 'none.onnx'), '--quiet']);
    assert.doesNotMatch(f.stderr, /already holds a model/);
    assert.notEqual(f.code, 0);
    // The npm scripts write retrained models beside the shipped ones, never over them.
    const pkg = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8'));
    for (const name of ['default', 'official']) assert.match(pkg.scripts[`train:${name}`], new RegExp(`--out models/trained/${name}$`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('predict on a folder: a symbolic link looping back up the tree is walked once; an empty folder is a clear error', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-loop-'));
  try {
    const { symlink } = await import('node:fs/promises');
    const { expandPaths } = await import('../src/predict/score-files.js');
    await mkdir(path.join(dir, 'L', 'sub'), { recursive: true });
    await writeFile(path.join(dir, 'L', 'sub', 'a.png'), await sharp({ create: { width: 8, height: 8, channels: 3, background: "#000" } }).png().toBuffer());
    await symlink('..', path.join(dir, 'L', 'sub', 'up'));
    await symlink('.', path.join(dir, 'L', 'again'));
    const { files, missing } = await expandPaths([path.join(dir, 'L')]);
    assert.deepEqual(files, [path.join(dir, 'L', 'sub', 'a.png')], 'each real file once, however many loops lead to it');
    assert.deepEqual(missing, []);
    await mkdir(path.join(dir, 'empty'));
    const e = await runCli(['predict', path.join(dir, 'empty')]);
    assert.equal(e.code, 2);
    assert.match(e.stderr, /no files found in .*empty/);
    assert.doesNotMatch(e.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('predict on a folder leaves out what is no image (a README, a labels.csv, a DICOMDIR) with a note; a named file or a .png still gets its row', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-cd-'));
  try {
    const { expandPaths } = await import('../src/predict/score-files.js');
    const { writeDicom } = await import('./dicom-writer.js');
    const { DICOMDIR_CLASS } = await import('../src/data/dicom.js');
    await mkdir(path.join(dir, 'cd', 'sub'), { recursive: true });
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).png().toBuffer();
    await writeFile(path.join(dir, 'cd', 'a.png'), png);
    await writeFile(path.join(dir, 'cd', 'IMG0001'), png); // an image without an extension: read by its bytes
    await writeFile(path.join(dir, 'cd', 'README'), 'Exported by a viewer\n');
    await writeFile(path.join(dir, 'cd', 'sub', 'labels.csv'), 'path,label\na.png,covid\n');
    await writeFile(path.join(dir, 'cd', 'DICOMDIR'), writeDicom({ rows: 0, columns: 0, sopClass: DICOMDIR_CLASS, noPixelData: true }));
    await writeFile(path.join(dir, 'cd', 'broken.png'), 'not a png');
    const { files, skipped } = await expandPaths([path.join(dir, 'cd'), path.join(dir, 'cd', 'README')]);
    assert.deepEqual(files.map((f) => path.relative(dir, f)), ['cd/IMG0001', 'cd/a.png', 'cd/broken.png', 'cd/README'], 'images, a broken .png and the README named on its own');
    assert.deepEqual(skipped.map((f) => path.relative(dir, f)), ['cd/README', 'cd/sub/labels.csv'], 'the DICOMDIR silently');
    const r = await runCli(['predict', path.join(dir, 'cd'), '--format', 'csv']);
    assert.equal(r.code, 2, 'broken.png is an error row');
    assert.match(r.stderr, /note: skipped 2 file\(s\) found in the folders that are not PNG, JPEG, TIFF, DICOM or NIfTI images: .*README, .*labels\.csv/);
    const rows = r.stdout.trim().split('\n').slice(1).map((l) => l.split(',')[0]);
    assert.deepEqual(rows.map((f) => path.basename(f)), ['IMG0001', 'a.png', 'broken.png']);
    // A folder of nothing but such files: a clear error that says what was left out.
    await mkdir(path.join(dir, 'docs'));
    await writeFile(path.join(dir, 'docs', 'notes.txt'), 'hello');
    const e = await runCli(['predict', path.join(dir, 'docs')]);
    assert.equal(e.code, 2);
    assert.match(e.stderr, /no image files found in .*docs \(skipped 1 file\(s\) .*notes\.txt\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
