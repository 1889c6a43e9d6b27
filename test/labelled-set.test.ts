/**
 * Labelled data for `covid-ct evaluate` (src/data/labelled-set.ts): the CSV manifest parser, the ImageFolder and
 * official layouts, their errors, and the command on small synthetic images written here (no real image).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { classOfName, loadLabelledSet, parseCsvRecords, parseLabel, parseManifest } from '../src/data/labelled-set.js';
import { REPO, readCsv, runCli } from './helpers.js';

let dir = '';

/** A small grey PNG, different for each `seed` (a gradient with a bright disc). */
async function png(seed: number): Promise<Buffer> {
  const w = 48, h = 40;
  const px = Buffer.alloc(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const d = Math.hypot(x - 10 - (seed * 7) % 28, y - 20);
    px[y * w + x] = Math.min(255, ((x * 3 + y * 2 + seed * 17) % 200) + (d < 8 ? 60 : 0));
  }
  return sharp(px, { raw: { width: w, height: h, channels: 1 } }).png().toBuffer();
}

async function put(file: string, bytes: Buffer | string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
  return file;
}

before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-labelled-')); });
after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

test('labels and class folder names: covid / noncovid / non-covid / non_covid in any case, nothing else', () => {
  for (const t of ['covid', 'COVID', 'Covid', ' covid ']) assert.equal(parseLabel(t), 'COVID');
  for (const t of ['noncovid', 'NonCOVID', 'NON-COVID', 'non_covid']) assert.equal(parseLabel(t), 'NonCOVID');
  for (const t of ['', 'positive', '1', 'non covid', 'covid19', 'CT_COVID']) assert.equal(parseLabel(t), null);
  assert.equal(classOfName('Non-Covid'), 'NonCOVID');
  assert.equal(classOfName(' covid'), null);
});

test('parseCsvRecords: RFC 4180 quotes, CRLF, BOM, blank lines, and the line each record starts on', () => {
  const text = '\ufeffa,b\r\n"x, y","say ""hi"""\r\n\r\n"two\nlines",z\nlast,1';
  assert.deepEqual(parseCsvRecords(text), [
    { fields: ['a', 'b'], line: 1 },
    { fields: ['x, y', 'say "hi"'], line: 2 },
    { fields: ['two\nlines', 'z'], line: 4 },
    { fields: ['last', '1'], line: 6 },
  ]);
  assert.throws(() => parseCsvRecords('a,b\n"open,1\n', 'm.csv'), /^UserError: m\.csv:2: a quoted field is never closed/);
});

test('parseManifest: path,label[,patient_id] in any column order, other columns ignored', () => {
  const text = 'source,Label,PATH,patient_id,note\n' +
    'x,covid,"images/a, b.png",P1,"multi\nline note"\n' +
    'y,NonCOVID,images/c.png,P2,\n' +
    'z,Non-Covid,/abs/d.png, P2 ,"quoted ""note"""\n';
  const { rows, hasPatients } = parseManifest(text, 'm.csv');
  assert.equal(hasPatients, true);
  assert.deepEqual(rows, [
    { path: 'images/a, b.png', label: 'COVID', patient: 'P1', line: 2 },
    { path: 'images/c.png', label: 'NonCOVID', patient: 'P2', line: 4 },
    { path: '/abs/d.png', label: 'NonCOVID', patient: 'P2', line: 5 },
  ]);
  assert.equal(parseManifest('path,label\na.png,covid\n', 'm.csv').hasPatients, false);
  assert.equal(parseManifest('path,label\na.png,covid\n', 'm.csv').rows[0].patient, undefined);
});

test('parseManifest errors name the file and the line', () => {
  assert.throws(() => parseManifest('path,label\na.png,covid\n"b\n.png",positive\n', '/d/m.csv'),
    /^UserError: \/d\/m\.csv:3: label "positive" is neither covid nor noncovid/);
  assert.throws(() => parseManifest('file,label\na.png,covid\n', '/d/m.csv'), /^UserError: \/d\/m\.csv:1: the header has no "path" column/);
  assert.throws(() => parseManifest('path,class\na.png,covid\n', '/d/m.csv'), /no "label" column/);
  assert.throws(() => parseManifest('path,label,patient_id\na.png,covid,P1\nb.png,covid,\n', '/d/m.csv'), /\/d\/m\.csv:3: empty patient_id/);
  assert.throws(() => parseManifest('path,label\n,covid\n', '/d/m.csv'), /\/d\/m\.csv:2: empty path/);
  assert.throws(() => parseManifest('path,label\n', '/d/m.csv'), /lists no image/);
  assert.throws(() => parseManifest('', '/d/m.csv'), /empty CSV/);
});

test('ImageFolder: class folders in any case, images found recursively, hidden files and other folders skipped', async () => {
  const root = path.join(dir, 'folder');
  await put(path.join(root, 'COVID', 'b.png'), await png(1));
  await put(path.join(root, 'COVID', 'a.png'), await png(2));
  await put(path.join(root, 'Non-Covid', 'scan1', 'x.png'), await png(3));
  await put(path.join(root, 'Non-Covid', 'y.png'), await png(4));
  await put(path.join(root, 'Non-Covid', '.DS_Store'), 'junk');
  await put(path.join(root, 'unlabelled', 'z.png'), await png(5));
  const set = await loadLabelledSet(root);
  assert.equal(set.kind, 'folder');
  assert.equal(set.path, root);
  assert.equal(set.hasPatients, false);
  assert.deepEqual(set.images.map((i) => [i.name, i.label, i.patient]), [
    ['COVID/a.png', 'COVID', undefined],
    ['COVID/b.png', 'COVID', undefined],
    ['Non-Covid/scan1/x.png', 'NonCOVID', undefined],
    ['Non-Covid/y.png', 'NonCOVID', undefined],
  ]);
  assert.equal(set.images[0].path, path.join(root, 'COVID', 'a.png'));
  await assert.rejects(loadLabelledSet(root, { split: 'val' }), /--split applies only to the COVID-CT layout/);
  // Two folders of one class (covid/ and COVID/) cannot both be right.
  const two = path.join(dir, 'two');
  await put(path.join(two, 'covid', 'a.png'), await png(1));
  await put(path.join(two, 'COVID', 'b.png'), await png(2));
  await assert.rejects(loadLabelledSet(two), /two folders hold class COVID/);
});

test('a folder that is none of the layouts, and a missing path, are clear errors naming the path', async () => {
  const other = path.join(dir, 'other');
  await put(path.join(other, 'images', 'a.png'), await png(1));
  await assert.rejects(loadLabelledSet(other), (e: Error) => {
    assert.equal(e.name, 'UserError');
    assert.ok(e.message.startsWith(`${other}: not a labelled data set`), e.message);
    assert.match(e.message, /CSV manifest .*splits\/.*covid\/ and noncovid\//);
    return true;
  });
  await assert.rejects(loadLabelledSet(path.join(dir, 'nowhere')), /^UserError: data folder not found: .*nowhere/);
});

test('CSV manifest: paths relative to the CSV folder (whatever the cwd); a missing file is named with its line', async () => {
  const root = path.join(dir, 'csv');
  await put(path.join(root, 'img', 'a, 1.png'), await png(1));
  await put(path.join(root, 'img', 'b.png'), await png(2));
  const csv = await put(path.join(root, 'lists', 'm.csv'),
    'path,label,patient_id,extra\n"../img/a, 1.png",COVID,p1,"x,y"\n../img/b.png,noncovid,p2,\n');
  const set = await loadLabelledSet(csv);
  assert.equal(set.kind, 'csv');
  assert.equal(set.hasPatients, true);
  assert.deepEqual(set.images, [
    { path: path.join(root, 'img', 'a, 1.png'), name: '../img/a, 1.png', label: 'COVID', patient: 'p1' },
    { path: path.join(root, 'img', 'b.png'), name: '../img/b.png', label: 'NonCOVID', patient: 'p2' },
  ]);
  await assert.rejects(loadLabelledSet(csv, { split: 'test' }), /--split applies only to the COVID-CT layout; .* is a CSV manifest/);
  const bad = await put(path.join(root, 'lists', 'bad.csv'), 'path,label\n../img/b.png,covid\n../img/gone.png,noncovid\nmissing/too.png,covid\n');
  await assert.rejects(loadLabelledSet(bad), (e: Error) => {
    assert.equal(e.name, 'UserError');
    assert.match(e.message, /bad\.csv: 2 listed file\(s\) not found/);
    assert.ok(e.message.includes(`${bad}:3: ../img/gone.png`), e.message);
    assert.ok(e.message.includes(`${bad}:4: missing/too.png`), e.message);
    assert.doesNotMatch(e.message, /b\.png/);
    return true;
  });
});

test('official layout: one split, the test split by default', async () => {
  const root = path.join(dir, 'official');
  for (const split of ['train', 'val', 'test']) {
    for (const cls of ['CT_COVID', 'CT_NonCOVID']) {
      const name = `${split}-${cls}.png`;
      await put(path.join(root, 'images', cls, name), await png(split.length + cls.length));
      await put(path.join(root, 'splits', `${split}${cls}.txt`), `${name}\n`);
    }
  }
  const test_ = await loadLabelledSet(root);
  assert.equal(test_.kind, 'official');
  assert.equal(test_.split, 'test');
  assert.deepEqual(test_.images.map((i) => [i.name, i.label]), [['test-CT_COVID.png', 'COVID'], ['test-CT_NonCOVID.png', 'NonCOVID']]);
  assert.equal(test_.images[0].path, path.join(root, 'images', 'CT_COVID', 'test-CT_COVID.png'));
  assert.deepEqual((await loadLabelledSet(root, { split: 'val' })).images.map((i) => i.name), ['val-CT_COVID.png', 'val-CT_NonCOVID.png']);
});

test('covid-ct evaluate on class folders and on a CSV with patients (shipped model, synthetic images)', async () => {
  const root = path.join(dir, 'cli');
  const rows = ['path,label,patient_id,comment'];
  for (let i = 0; i < 12; i++) {
    const label = i < 6 ? 'COVID' : 'noncovid';
    const file = `${label === 'COVID' ? 'Covid' : 'NONCOVID'}/s${i}.png`;
    await put(path.join(root, 'data', file), await png(i));
    rows.push(`data/${file},${label},"pat ${Math.floor(i / 3)}","slice, ${i}"`);
  }
  const csv = await put(path.join(root, 'manifest.csv'), rows.join('\n') + '\n');

  const f = await runCli(['evaluate', '--data', path.join(root, 'data'), '--json', '--quiet']);
  assert.equal(f.code, 0, f.stderr);
  const fj = JSON.parse(f.stdout);
  assert.deepEqual(Object.keys(fj), ['split', 'n', 'threshold', 'metrics', 'confusion', 'model', 'data', 'bootstrap', 'calibration']);
  assert.equal(fj.split, 'external');
  assert.equal(fj.n, 12);
  assert.deepEqual(fj.data, { kind: 'folder', path: path.relative(REPO, path.join(root, 'data')), n_patients: null });
  assert.deepEqual(fj.bootstrap, { unit: 'image' });

  const scores = path.join(root, 'scores.csv');
  const c = await runCli(['evaluate', '--data', csv, '--json', '--quiet', '--top-k', '2', '--scores', scores]);
  assert.equal(c.code, 0, c.stderr);
  const cj = JSON.parse(c.stdout);
  assert.deepEqual(Object.keys(cj), ['split', 'n', 'threshold', 'metrics', 'confusion', 'model', 'data', 'bootstrap', 'patients', 'calibration']);
  assert.equal(cj.data.kind, 'csv');
  assert.equal(cj.data.n_patients, 4);
  assert.deepEqual(cj.bootstrap, { unit: 'patient' });
  assert.deepEqual(Object.keys(cj.patients), ['n', 'top_k', 'auc']);
  assert.equal(cj.patients.n, 4);
  assert.equal(cj.patients.top_k, 2);
  assert.ok(typeof cj.patients.auc.value === 'number');
  // Same images, same probabilities: the point metrics agree between the two layouts; only the intervals differ.
  assert.deepEqual(cj.confusion, fj.confusion);
  assert.equal(cj.metrics.auc.value, fj.metrics.auc.value);
  const scored = readCsv(await readFile(scores, 'utf8'));
  assert.deepEqual(Object.keys(scored[0]), ['file', 'label', 'probability', 'patient_id']);
  assert.deepEqual(scored[0], { ...scored[0], file: 'data/Covid/s0.png', label: 'COVID', patient_id: 'pat 0' });

  const t = await runCli(['evaluate', '--data', csv, '--quiet']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^split: external {3}n = 12 \(6 COVID, 6 NonCOVID\)/);
  assert.match(t.stdout, /\ndata: CSV manifest .*manifest\.csv, 4 patients\n/);
  assert.match(t.stdout, /\nbootstrap: over patients/);
  assert.match(t.stdout, /\npatient-level ROC AUC \(4 patients; patient score = mean of its top 5 slice scores\): \d\.\d{4}/);
});

test('covid-ct evaluate refuses metrics when an image cannot be scored, and names data errors', async () => {
  const root = path.join(dir, 'cli-bad');
  await put(path.join(root, 'covid', 'a.png'), await png(1));
  await put(path.join(root, 'covid', 'notes.txt'), 'not an image');
  await put(path.join(root, 'noncovid', 'b.png'), await png(2));
  const r = await runCli(['evaluate', '--data', root, '--json', '--quiet']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^covid-ct: 1 image\(s\) of .* could not be scored, so no honest metrics can be given:\n {2}.*notes\.txt: /);
  assert.equal(r.stdout, '');
  const one = path.join(dir, 'cli-one');
  await put(path.join(one, 'covid', 'a.png'), await png(1));
  const o = await runCli(['evaluate', '--data', one, '--quiet']);
  assert.equal(o.code, 1);
  assert.match(o.stderr, /every image is COVID; evaluation needs images of both classes/);
  const csv = await put(path.join(dir, 'cli-bad.csv'), 'path,label\ncli-bad/covid/a.png,covid\ncli-bad/noncovid/b.png,maybe\n');
  const b = await runCli(['evaluate', '--data', csv, '--quiet']);
  assert.equal(b.code, 1);
  assert.ok(b.stderr.startsWith(`covid-ct: ${csv}:3: label "maybe" is neither covid nor noncovid`), b.stderr);
  const k = await runCli(['evaluate', '--data', csv, '--top-k', '0']);
  assert.match(k.stderr, /--top-k must be an integer >= 1/);
});
