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
import { classOfName, loadLabelledSet, parseCsvRecords, parseLabel, parseManifest, patientFolders } from '../src/data/labelled-set.js';
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
  // Folders may carry COVID-CT's own CT_ prefix (CT_COVID/, CT_NonCOVID/); labels in a CSV may not.
  for (const t of ['CT_COVID', 'ct-covid', 'COVID']) assert.equal(classOfName(t), 'COVID', t);
  for (const t of ['CT_NonCOVID', 'non-COVID', 'NonCOVID', 'non_covid', 'CT-Non_Covid']) assert.equal(classOfName(t), 'NonCOVID', t);
  // Nothing ambiguous or partial: these could be either class, or both.
  for (const t of ['normal', 'positive', 'covid19', 'CT_COVID_and_NonCOVID', 'CTCOVID', 'CT__COVID', 'CT_', 'non covid', 'xCT_COVID']) {
    assert.equal(classOfName(t), null, t);
  }
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

test('ImageFolder: class folders in any case, images found recursively, hidden files and folders skipped', async () => {
  const root = path.join(dir, 'folder');
  await put(path.join(root, 'COVID', 'b.png'), await png(1));
  await put(path.join(root, 'COVID', 'a.png'), await png(2));
  await put(path.join(root, 'Non-Covid', 'scan1', 'x.png'), await png(3));
  await put(path.join(root, 'Non-Covid', 'y.png'), await png(4));
  await put(path.join(root, 'Non-Covid', '.DS_Store'), 'junk');
  await put(path.join(root, '.thumbnails', 'z.png'), await png(5));
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

test("COVID-CT's own class folders CT_COVID/ and CT_NonCOVID/ are read; an unknown folder is named with what is accepted", async () => {
  const root = path.join(dir, 'ct-folders');
  await put(path.join(root, 'CT_COVID', 'c.png'), await png(1));
  await put(path.join(root, 'CT_NonCOVID', 'n.png'), await png(2));
  const set = await loadLabelledSet(root);
  assert.equal(set.kind, 'folder');
  assert.deepEqual(set.images.map((i) => [i.name, i.label]), [['CT_COVID/c.png', 'COVID'], ['CT_NonCOVID/n.png', 'NonCOVID']]);
  assert.equal(set.warning, undefined);
  // A third folder whose images would be left out, or a class name that could mean either class: refused, named.
  await put(path.join(root, 'Normal', 'x.png'), await png(3));
  await assert.rejects(loadLabelledSet(root), (e: Error) => {
    assert.equal(e.name, 'UserError');
    assert.equal(e.message, `${root}: folder Normal/ is not a class folder (a class folder is named covid, noncovid, non-covid or non_covid ` +
      `(any case), optionally after CT_ or CT- (e.g. CT_COVID, CT_NonCOVID)); rename it, or move it out of ${root}`);
    return true;
  });
  // No class folder at all: the folders found are named too.
  const none = path.join(dir, 'no-class');
  await put(path.join(none, 'positive', 'a.png'), await png(1));
  await put(path.join(none, 'negative', 'b.png'), await png(2));
  await assert.rejects(loadLabelledSet(none), /not a labelled data set \(its folders negative\/, positive\/ are not class folders\): .*CT_COVID, CT_NonCOVID/);
  // The images/ folder of the COVID-CT layout holds every split: read, with a warning saying how to score one split.
  const official = path.join(dir, 'ct-layout');
  await put(path.join(official, 'images', 'CT_COVID', 'c.png'), await png(1));
  await put(path.join(official, 'images', 'CT_NonCOVID', 'n.png'), await png(2));
  await mkdir(path.join(official, 'splits'), { recursive: true });
  const all = await loadLabelledSet(path.join(official, 'images'));
  assert.equal(all.images.length, 2);
  assert.equal(all.warning, `${path.join(official, 'images')} holds every split of the COVID-CT layout at ${official} (train, val and test together); ` +
    `to score one split: --data ${official} --split val`);
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

test('official layout: one split, the val split by default (test only when asked for by name)', async () => {
  const root = path.join(dir, 'official');
  for (const split of ['train', 'val', 'test']) {
    for (const cls of ['CT_COVID', 'CT_NonCOVID']) {
      const name = `${split}-${cls}.png`;
      await put(path.join(root, 'images', cls, name), await png(split.length + cls.length));
      await put(path.join(root, 'splits', `${split}${cls}.txt`), `${name}\n`);
    }
  }
  const byDefault = await loadLabelledSet(root);
  assert.equal(byDefault.kind, 'official');
  assert.equal(byDefault.split, 'val');
  assert.deepEqual(byDefault.images.map((i) => [i.name, i.label]), [['val-CT_COVID.png', 'COVID'], ['val-CT_NonCOVID.png', 'NonCOVID']]);
  assert.equal(byDefault.images[0].path, path.join(root, 'images', 'CT_COVID', 'val-CT_COVID.png'));
  assert.deepEqual((await loadLabelledSet(root, { split: 'test' })).images.map((i) => i.name), ['test-CT_COVID.png', 'test-CT_NonCOVID.png']);
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
  assert.deepEqual(fj.data, { kind: 'folder', path: path.relative(REPO, path.join(root, 'data')), n_patients: null, patients_from: null });
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
  assert.match(t.stdout, /\ndata: CSV manifest .*manifest\.csv, 4 patients \(from its patient_id column\)\n/);
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

test("covid-ct evaluate on COVID-CT's folder names (CT_COVID/, CT_NonCOVID/); an unknown folder is a clear error", async () => {
  const root = path.join(dir, 'cli-ct');
  for (let i = 0; i < 4; i++) await put(path.join(root, i < 2 ? 'CT_COVID' : 'CT_NonCOVID', `s${i}.png`), await png(i));
  const r = await runCli(['evaluate', '--data', root, '--json', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.split, 'external');
  assert.equal(j.n, 4);
  assert.equal(j.confusion.tp + j.confusion.fn, 2);
  await put(path.join(root, 'CT_Pneumonia', 'p.png'), await png(9));
  const u = await runCli(['evaluate', '--data', root, '--quiet']);
  assert.equal(u.code, 1);
  assert.equal(u.stdout, '');
  assert.ok(u.stderr.startsWith(`covid-ct: ${root}: folder CT_Pneumonia/ is not a class folder (a class folder is named covid, noncovid, `), u.stderr);
  assert.doesNotMatch(u.stderr, /at .*\.js:\d+/);
});

test('patient folders: the folder under each class folder is the patient, the same name under both classes one patient', () => {
  assert.deepEqual(patientFolders(['covid/P1/a.png', 'covid/P1/sub/b.dcm', 'noncovid/N2/c.png', 'noncovid/P1/d.png']), { ids: ['P1', 'P1', 'N2', 'P1'] });
  assert.deepEqual(patientFolders(['covid/a.png', 'noncovid/b.png']), {}, 'no subfolders: images one by one, nothing to say');
  const mixed = patientFolders(['covid/P1/a.png', 'noncovid/b.png']);
  assert.equal(mixed.ids, undefined);
  assert.match(mixed.why ?? '', /1 images lie in folders under their class folder and 1 directly in it \(e\.g\. noncovid\/b\.png\)/);
});

test('covid-ct evaluate on patient folders: intervals over patients, none when a class has one patient, --no-patients over images', async () => {
  const root = path.join(dir, 'patients');
  // 3 COVID and 3 NonCOVID patients, 2 slices each, as a PACS export lays them out (class/patient/slice).
  for (let i = 0; i < 12; i++) {
    const cls = i < 6 ? 'covid' : 'noncovid';
    await put(path.join(root, 'three', cls, `pat${Math.floor(i / 2)}`, `s${i}.png`), await png(i));
    if (i % 6 < 2) await put(path.join(root, 'one', cls, `pat${Math.floor(i / 2)}`, `s${i}.png`), await png(i));
  }
  const three = await runCli(['evaluate', '--data', path.join(root, 'three'), '--json', '--quiet']);
  assert.equal(three.code, 0, three.stderr);
  const tj = JSON.parse(three.stdout);
  assert.deepEqual(tj.data, { kind: 'folder', path: path.relative(REPO, path.join(root, 'three')), n_patients: 6, patients_from: 'folder under the class folder' });
  assert.deepEqual(tj.bootstrap, { unit: 'patient' });
  assert.equal(tj.patients.n, 6);
  assert.ok(Array.isArray(tj.metrics.auc.ci), 'three patients of each class: an interval');

  const text = await runCli(['evaluate', '--data', path.join(root, 'three'), '--quiet']);
  assert.match(text.stdout, /\ndata: folder of class subfolders .*three, 6 patients \(one per folder under a class folder\)\n/);

  // One patient of each class: every draw would take the same two patients again; no interval is claimed.
  const one = await runCli(['evaluate', '--data', path.join(root, 'one'), '--quiet']);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /\nROC AUC +\d\.\d{4} {2}n\/a \(too few patients for an interval\)\n/);
  assert.match(one.stdout, /\nno 95% intervals: the data holds 1 COVID patient and 1 other patient, and a bootstrap interval needs 2 or more of each class/);
  assert.doesNotMatch(one.stdout, /\[(\d\.\d{4}), \1\]/, 'no zero-width interval anywhere');
  const oj = JSON.parse((await runCli(['evaluate', '--data', path.join(root, 'one'), '--quiet', '--json'])).stdout);
  assert.deepEqual(oj.bootstrap, { unit: 'patient', too_few: { covid: 1, noncovid: 1 } });
  assert.equal(oj.metrics.auc.ci, null);
  assert.equal(oj.calibration.ece.ci, null);

  const bySlice = await runCli(['evaluate', '--data', path.join(root, 'one'), '--quiet', '--json', '--no-patients']);
  assert.equal(bySlice.code, 0, bySlice.stderr);
  const bj = JSON.parse(bySlice.stdout);
  assert.deepEqual(bj.bootstrap, { unit: 'image' });
  assert.equal(bj.data.n_patients, null);
  assert.equal(bj.patients, undefined);
  assert.match(bySlice.stderr, /--no-patients: the patient ids \(folder under the class folder\) are not used/);
});

test('covid-ct evaluate on loose DICOM files in class folders: one bootstrap unit per series, not per slice', async () => {
  const { ctSlice } = await import('./dicom-writer.js');
  const root = path.join(dir, 'dicom-series');
  // Two series per class, three slices each, all files loose in their class folder (no patient folders).
  for (const [cls, base] of [['covid', 1], ['noncovid', 3]] as const) {
    for (const series of [base, base + 1]) {
      for (let k = 1; k <= 3; k++) {
        await put(path.join(root, cls, `s${series}-${k}.dcm`), Buffer.from(ctSlice(10 * series + k, { seriesUid: `1.2.826.0.1.3680043.9.7.${series}` })));
      }
    }
  }
  const r = await runCli(['evaluate', '--data', root, '--json', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.n, 12);
  assert.deepEqual(j.data, { kind: 'folder', path: path.relative(REPO, root), n_patients: 4, patients_from: 'one per scan' });
  assert.deepEqual(j.bootstrap, { unit: 'patient' });
  assert.equal(j.patients.n, 4);
  const t = await runCli(['evaluate', '--data', root, '--quiet']);
  assert.match(t.stdout, /\ndata: folder of class subfolders .*, 4 patients \(one per scan, DICOM series or volume: no patient ids, each scan taken as one patient\)\n/);
  const img = JSON.parse((await runCli(['evaluate', '--data', root, '--json', '--quiet', '--no-patients'])).stdout);
  assert.deepEqual(img.bootstrap, { unit: 'image' });
  assert.equal(img.data.n_patients, null);
});
