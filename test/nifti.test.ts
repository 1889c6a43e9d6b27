/**
 * NIfTI-1 volumes (src/data/nifti.ts, read through inputs.ts): every axial slice in HU through the lung window,
 * shown as a radiologist reads it whatever the stored orientation (sform, qform, transposed, flipped), ordered
 * superior to inferior by position, .nii.gz inflated; what is not a CT volume in HU is refused with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeInput } from '../src/data/inputs.js';
import { findLungs } from '../src/data/involvement.js';
import { niftiSlices } from '../src/data/nifti.js';
import { DEFAULT_LUNG_WINDOW, huOfWindow, windowValue } from '../src/data/window.js';
import { huPhantom, niftiBytes, runCli } from './helpers.js';

const S = 96, NZ = 3;
/** Display-ordered slices (row r from anterior, column c towards the patient's left), slice z from inferior: the phantom, a mark per slice. */
function display(): Int16Array[] {
  return Array.from({ length: NZ }, (_, z) => {
    const hu = huPhantom(S);
    // A bright marker at the picture's top-left, z + 1 pixels long: says orientation and slice at once.
    for (let c = 0; c <= z; c++) hu[2 * S + 2 + c] = 1000;
    return hu;
  });
}

/** Stores the display slices with voxel (i, j, k) taken from display (c, r, z) by `at`. */
function stored(w: number, h: number, at: (i: number, j: number, k: number) => [number, number, number]): Int16Array {
  const d = display(), out = new Int16Array(w * h * NZ);
  for (let k = 0; k < NZ; k++) for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) { const [c, r, z] = at(i, j, k); out[(k * h + j) * w + i] = d[z][r * S + c]; }
  return out;
}

test('every stored orientation reads back as the radiological display, slices ordered by position', () => {
  const expected = display().map((hu) => Uint8Array.from(hu, (v) => windowValue(v, DEFAULT_LUNG_WINDOW)));
  const cases: [string, Uint8Array][] = [
    // i towards the patient's left (-x in RAS), j towards posterior (-y), k superior: as a DICOM series is stored.
    ['sform LPS-like', niftiBytes(S, S, NZ, stored(S, S, (i, j, k) => [i, j, k]), { sform: [[-0.7, 0, 0, 10], [0, -0.7, 0, 20], [0, 0, 5, -50]] })],
    // The same as a qform: a half turn about z.
    ['qform', niftiBytes(S, S, NZ, stored(S, S, (i, j, k) => [i, j, k]), { qform: { b: 0, c: 0, d: 1, qfac: 1 } })],
    // RAS canonical: i towards the right, j anterior.
    ['sform RAS', niftiBytes(S, S, NZ, stored(S, S, (i, j, k) => [S - 1 - i, S - 1 - j, k]), { sform: [[0.7, 0, 0, 0], [0, 0.7, 0, 0], [0, 0, 5, 0]] })],
    // Transposed (i runs along rows) and the slices stored superior first.
    ['transposed, superior first', niftiBytes(S, S, NZ, stored(S, S, (i, j, k) => [j, i, NZ - 1 - k]), { sform: [[0, -0.7, 0, 0], [-0.7, 0, 0, 0], [0, 0, -5, 0]] })],
  ];
  for (const [name, bytes] of cases) {
    const slices = niftiSlices(bytes);
    assert.equal(slices.length, NZ, name);
    // Sorted by position (superior last here), each is the display slice of that level.
    const byPosition = [...slices].sort((a, b) => a.position - b.position);
    byPosition.forEach((s, z) => {
      assert.deepEqual([s.image.width, s.image.height], [S, S], name);
      assert.deepEqual(s.image.data, expected[z], `${name}: slice ${z}`);
      assert.deepEqual(s.image.hu, huOfWindow(DEFAULT_LUNG_WINDOW));
    });
    assert.ok(findLungs(byPosition[0].image).findings.found, name);
  }
});

test('through the inputs: .nii and .nii.gz give one scan of slices; not HU, 4-D, truncated and non-NIfTI gzip are refused with the reason', async () => {
  const bytes = niftiBytes(S, S, NZ, stored(S, S, (i, j, k) => [i, j, k]), { sform: [[-0.7, 0, 0, 0], [0, -0.7, 0, 0], [0, 0, 5, 0]] });
  for (const [name, b] of [['ct.nii', bytes], ['ct.nii.gz', new Uint8Array(gzipSync(bytes))]] as const) {
    const slices = await decodeInput(name, b);
    assert.deepEqual(slices.map((s) => s.name), [1, 2, 3].map((k) => `${name} [slice ${k}]`));
    assert.ok(slices.every((s) => s.image && s.dicom?.series === slices[0].dicom!.series && !s.error));
    assert.deepEqual(slices.map((s) => s.dicom!.position), [0, 5, 10]);
  }
  const probabilities = niftiBytes(S, S, NZ, new Int16Array(S * S * NZ).fill(1), { sform: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]] });
  assert.match((await decodeInput('mask.nii', probabilities))[0].error!, /do not read as Hounsfield units/);
  const fourD = bytes.slice();
  new DataView(fourD.buffer).setInt16(40, 4, true);
  new DataView(fourD.buffer).setInt16(48, 2, true);
  assert.match((await decodeInput('4d.nii', fourD))[0].error!, /a 4-D NIfTI volume \(96 x 96 x 3 x 2\): only one 3-D volume per file is read/);
  assert.match((await decodeInput('cut.nii', bytes.subarray(0, 5000)))[0].error!, /truncated NIfTI volume/);
  assert.match((await decodeInput('cut.nii.gz', new Uint8Array(gzipSync(bytes)).subarray(0, 300)))[0].error!, /truncated or corrupt gzip file/);
  assert.match((await decodeInput('notes.txt.gz', new Uint8Array(gzipSync(Buffer.from('hello world, not a volume')))))[0].error!, /a gzip file that holds no NIfTI volume/);
});

test('evaluate: a manifest of volumes gives every slice its volume\'s label, bootstrapped by volume', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-nifti-'));
  try {
    const sform = [[-0.7, 0, 0, 0], [0, -0.7, 0, 0], [0, 0, 5, 0]];
    const withGgo = stored(S, S, (i, j, k) => [i, j, k]);
    // The same chest without its ground-glass patch (the phantom's -500 HU region becomes aerated lung).
    const clear = withGgo.map((v) => (v >= -520 && v <= -480 ? -850 : v));
    const rows = ['path,label'];
    for (let p = 0; p < 2; p++) {
      await writeFile(path.join(dir, `covid${p}.nii.gz`), gzipSync(niftiBytes(S, S, NZ, withGgo, { sform })));
      await writeFile(path.join(dir, `normal${p}.nii`), niftiBytes(S, S, NZ, clear, { sform }));
      rows.push(`covid${p}.nii.gz,covid`, `normal${p}.nii,noncovid`);
    }
    await writeFile(path.join(dir, 'manifest.csv'), rows.join('\n') + '\n');
    const r = await runCli(['evaluate', '--data', path.join(dir, 'manifest.csv'), '--json', '--quiet', '--scores', path.join(dir, 'scores.csv')]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.n, 4 * NZ, 'every slice of every volume is scored');
    assert.equal(out.bootstrap.unit, 'patient');
    assert.equal(out.data.n_patients, 4, 'one unit per volume');
    assert.equal(out.confusion.tp + out.confusion.fn, 2 * NZ);
    const scores = (await import('node:fs')).readFileSync(path.join(dir, 'scores.csv'), 'utf8').trim().split('\n');
    assert.equal(scores.length, 1 + 4 * NZ);
    assert.match(scores[1], /covid0\.nii\.gz \[slice 1\],COVID,[0-9.e-]+,.*covid0\.nii\.gz/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
