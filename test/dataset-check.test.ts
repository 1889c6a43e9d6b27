/**
 * The dataset check on the real COVID-CT folder (../shared/data/covid-ct beside the project: it must be there,
 * these tests fail rather than skip without it) and on a copy broken in four ways, through the compiled CLI.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { DatasetCheckReport } from '../src/data/check.js';
import { entriesOf, loadDataset, parseSplitFile, splitFileHashes } from '../src/data/dataset.js';
import { loadPatientIds, parseCsv } from '../src/data/metadata.js';
import { Progress } from '../src/util/progress.js';
import { UserError } from '../src/util/errors.js';

import { DATA, CLI } from './helpers.js';


function requireData(): void {
  assert.ok(
    existsSync(path.join(DATA, 'splits')),
    `the COVID-CT dataset is not at ${DATA}: these tests need the real data beside the project (../shared/data/covid-ct)`,
  );
}

const temps: string[] = [];
after(async () => {
  for (const t of temps) {
    await makeWritable(t); // the copy keeps the read-only modes of the shared folder
    await rm(t, { recursive: true, force: true });
  }
});

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function parseReport(r: CliResult): DatasetCheckReport {
  try {
    return JSON.parse(r.stdout) as DatasetCheckReport;
  } catch {
    assert.fail(`stdout is not one JSON object (exit ${r.code}).\nstdout: ${r.stdout.slice(0, 500)}\nstderr: ${r.stderr.slice(0, 2000)}`);
  }
}

async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) await makeWritable(p);
    else await chmod(p, 0o644);
  }
}

test('loadDataset: official split sizes, labels from the split files, split-file order', async () => {
  requireData();
  const entries = await loadDataset(DATA);
  const count = (split: 'train' | 'val' | 'test', label: string) => entriesOf(entries, split).filter((e) => e.label === label).length;
  assert.deepEqual(
    [count('train', 'COVID'), count('train', 'NonCOVID'), count('val', 'COVID'), count('val', 'NonCOVID'), count('test', 'COVID'), count('test', 'NonCOVID')],
    [191, 234, 60, 58, 98, 105],
  );
  const firstTrain = parseSplitFile(await readFile(path.join(DATA, 'splits/trainCT_COVID.txt'), 'utf8'))[0];
  assert.deepEqual(entries[0], { name: firstTrain, path: path.join(DATA, 'images/CT_COVID', firstTrain), label: 'COVID', split: 'train' });
  assert.ok(entries.every((e) => existsSync(e.path)));
});

test('splitFileHashes: sha256 of the six split files', async () => {
  requireData();
  const hashes = await splitFileHashes(DATA);
  assert.equal(Object.keys(hashes).length, 6);
  assert.ok(Object.keys(hashes).includes('splits/valCT_NonCOVID.txt'));
  assert.ok(Object.values(hashes).every((h) => /^[0-9a-f]{64}$/.test(h)));
});

test('loadPatientIds: every listed image has a prefixed patient id, xlsx names without ".png" included', async () => {
  requireData();
  const ids = await loadPatientIds(DATA);
  const entries = await loadDataset(DATA);
  const missing = entries.filter((e) => !ids.has(e.name)).map((e) => e.name);
  assert.deepEqual(missing, []);
  const covid = new Set(entries.filter((e) => e.label === 'COVID').map((e) => ids.get(e.name)));
  const nonCovid = new Set(entries.filter((e) => e.label === 'NonCOVID').map((e) => ids.get(e.name)));
  assert.ok([...covid].every((id) => id?.startsWith('COVID:')));
  assert.ok([...nonCovid].every((id) => id?.startsWith('NonCOVID:')));
  assert.equal(covid.size, 213); // 216 ids in the sheet, 213 with images (README)
  assert.equal(nonCovid.size, 171);
});

test('loadDataset names what is missing from the layout', async () => {
  const empty = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-empty-'));
  temps.push(empty);
  await assert.rejects(loadDataset(empty), (e: unknown) => e instanceof UserError && e.message.includes(path.join(empty, 'images', 'CT_COVID')));
  await assert.rejects(loadDataset(path.join(empty, 'nope')), (e: unknown) => e instanceof UserError && /data folder not found: .*nope/.test(e.message));
  const r = await runCli(['dataset', 'check', '--data', empty]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /covid-ct: .*missing .*CT_COVID/);
});

test('parseCsv: quotes, doubled quotes, commas and newlines inside quotes, CRLF, BOM', () => {
  const text = '\ufeff,image name,patient id\r\n0,"a,b.png","p ""1"""\r\n1,"multi\nline.png",p2\n\n2,plain.png,p3';
  assert.deepEqual(parseCsv(text), [
    ['', 'image name', 'patient id'],
    ['0', 'a,b.png', 'p "1"'],
    ['1', 'multi\nline.png', 'p2'],
    ['2', 'plain.png', 'p3'],
  ]);
  assert.deepEqual(parseSplitFile('  a.png \r\n\n b%1.png\n   \n'), ['a.png', 'b%1.png']);
});

test('Progress: quarter lines and a final line when stderr is not a terminal', () => {
  let written = '';
  const stream = { isTTY: false, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WritableStream;
  const p = new Progress(8, 'checked', { stream });
  for (let i = 0; i < 8; i++) p.tick();
  p.done();
  const lines = written.trim().split('\n');
  assert.deepEqual(lines.map((l) => l.split(' (')[0].split(' in ')[0]), ['checked 2/8', 'checked 4/8', 'checked 6/8', 'checked 8/8']);
  assert.equal(p.completed, 8);
});

test('dataset check on the real data: exact counts, 34 lying extensions, ok, exit 0', async () => {
  requireData();
  const r = await runCli(['dataset', 'check', '--data', DATA, '--json']);
  const report = parseReport(r);
  assert.equal(r.code, 0, `exit ${r.code}; problems: ${report.problems.join('\n')}\n${r.stderr}`);
  assert.equal(report.ok, true);
  assert.deepEqual(report.problems, []);
  assert.deepEqual(report.counts, {
    train: { COVID: 191, NonCOVID: 234 },
    val: { COVID: 60, NonCOVID: 58 },
    test: { COVID: 98, NonCOVID: 105 },
  });
  assert.deepEqual(report.totals, { listed: 746, filesOnDisk: 746, decoded: 746, patients: 384 });
  assert.equal(report.lyingExtensions.count, 34);
  assert.ok(report.lyingExtensions.files.every((f) => f.label === 'COVID' && f.extension === '.png' && f.format === 'jpeg'));
  assert.equal(report.lyingExtensions.files.filter((f) => f.splits.includes('val')).length, 32);
  // The README's numbers: 139 progressive and 23 greyscale non-COVID JPEGs, 174 RGBA PNGs.
  assert.equal(report.summary.byClass.NonCOVID.progressiveJpeg, 139);
  assert.equal(report.summary.all.colourModes.RGBA, 174);
  assert.ok(r.stderr.includes('checked 746/746'), 'progress on stderr');
});

test('dataset check on a broken copy names every problem and exits 1', async () => {
  requireData();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-broken-'));
  temps.push(tmp);
  const data = path.join(tmp, 'covid-ct');
  await cp(DATA, data, { recursive: true });
  await makeWritable(data);

  const lines = async (f: string) => parseSplitFile(await readFile(path.join(data, 'splits', f), 'utf8'));
  // 1. A listed file deleted.
  const deleted = (await lines('valCT_NonCOVID.txt'))[0];
  await rm(path.join(data, 'images/CT_NonCOVID', deleted));
  // 2. An extra file in no split (a valid image, so that "unlisted" is its only problem).
  const extra = 'extra-unlisted.png';
  await sharp(Buffer.alloc(16 * 16, 90), { raw: { width: 16, height: 16, channels: 1 } }).png().toFile(path.join(data, 'images/CT_COVID', extra));
  // 3. A listed file overwritten with garbage.
  const garbage = (await lines('testCT_COVID.txt'))[0];
  await writeFile(path.join(data, 'images/CT_COVID', garbage), 'this is not an image');
  // 4. One COVID slice moved from train to test: its patient keeps other slices in train.
  const train = await lines('trainCT_COVID.txt');
  const moved = train[0];
  await writeFile(path.join(data, 'splits/trainCT_COVID.txt'), train.slice(1).join('\n') + '\n');
  await writeFile(path.join(data, 'splits/testCT_COVID.txt'), [...(await lines('testCT_COVID.txt')), moved].join('\n') + '\n');
  const patient = (await loadPatientIds(data)).get(moved);
  assert.ok(patient, `no patient id for ${moved}`);

  const [json, text] = await Promise.all([runCli(['dataset', 'check', '--data', data, '--json']), runCli(['dataset', 'check', '--data', data])]);
  const report = parseReport(json);
  assert.equal(json.code, 1, json.stderr);
  assert.equal(report.ok, false);
  assert.deepEqual(report.counts.train, { COVID: 190, NonCOVID: 234 });
  assert.deepEqual(report.counts.test, { COVID: 99, NonCOVID: 105 });
  assert.deepEqual(report.missingFiles, [{ label: 'NonCOVID', name: deleted, split: 'val' }]);
  assert.deepEqual(report.unlistedFiles, [{ label: 'COVID', name: extra }]);
  assert.deepEqual(
    report.undecodable.map((u) => [u.name, u.splits]),
    [[garbage, ['test']]],
  );
  assert.match(report.undecodable[0].reason, /^not a PNG or JPEG image \(starts with 74 68 69 73/);
  assert.deepEqual(report.crossSplitPatients.map((p) => [p.patientId, p.splits]), [[patient, ['train', 'test']]]);
  assert.ok(report.crossSplitPatients[0].files.some((f) => f.name === moved && f.split === 'test'));
  assert.equal(report.problems.length, 4, report.problems.join('\n'));
  assert.equal(report.lyingExtensions.count, 34); // still a quirk, still not a problem

  // The text report names each problem and its file.
  assert.equal(text.code, 1, text.stderr);
  assert.match(text.stdout, /4 problems:/);
  assert.ok(text.stdout.includes(`missing file: images/CT_NonCOVID/${deleted}`), text.stdout);
  assert.ok(text.stdout.includes(`unlisted file: images/CT_COVID/${extra}`), text.stdout);
  assert.ok(text.stdout.includes(`does not decode: images/CT_COVID/${garbage}: not a PNG or JPEG image`), text.stdout);
  assert.ok(text.stdout.includes(`patient ${patient} is in 2 splits`) && text.stdout.includes(moved), text.stdout);
});
