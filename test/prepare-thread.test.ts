/**
 * Batch scoring with the slices prepared on a worker thread (predict/prepare-thread.ts) gives the rows of the
 * inline path, bad files included; the thread moves buffers rather than copying the ones it may, and reports
 * failures as the inline path throws them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import sharp from 'sharp';
import { invertImage } from '../src/data/polarity.js';
import { flipImage } from '../src/data/orientation.js';
import { prepareSlice } from '../src/model/engine.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { expandPaths, modelThreadsFor, prepareOnFor, scoreFiles, THREAD_MIN_FILES } from '../src/predict/score-files.js';
import { formatPredictions } from '../src/predict/format.js';
import { PrepareThread, transferables } from '../src/predict/prepare-thread.js';
import type { GreyImage } from '../src/types.js';
import { drawnChest, huPhantom, lungPhantom, niftiBytes, REPO } from './helpers.js';

const png = (img: { width: number; height: number; data: Uint8Array }) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } }).png().toBuffer();

test('transferables: whole buffers once each; views into a larger buffer are left to be copied', () => {
  const own = new Uint8Array(16), other = new Float32Array(4);
  const big = new Uint8Array(64);
  const part = big.subarray(8, 24);
  const list = transferables([own, other, part, own, new Uint8Array(own.buffer), null]);
  assert.equal(list.length, 2);
  assert.ok(list.includes(own.buffer) && list.includes(other.buffer as ArrayBuffer));
  assert.ok(!list.includes(big.buffer), 'a subarray does not move its whole buffer');
});

test('predict on a folder: the prepare thread gives the same rows, CSV and JSON as the inline path (bad files included)', async () => {
  const engine = await OnnxClassifier.load(path.join(REPO, 'models/default'));
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-prepare-thread-'));
  try {
    const chest = drawnChest();
    const hu = huPhantom(128);
    const volume = new Int16Array(3 * hu.length);
    for (let k = 0; k < 3; k++) volume.set(hu, k * hu.length);
    const files: [string, Uint8Array | Buffer][] = [
      ['a-phantom.png', await png(lungPhantom(256))],
      ['b-clear.png', await png(lungPhantom(300, false))],
      ['c-broken.png', new TextEncoder().encode('this is not an image')],
      ['d-negative.png', await png(invertImage(chest))],
      ['e-upside-down.png', await png(flipImage(chest))],
      ['f-empty.png', new Uint8Array(0)],
      ['g-volume.nii', niftiBytes(128, 128, 3, volume, {})],
      ['h-chest.png', await png(chest)],
      ['i-small.png', await png(lungPhantom(96))],
    ];
    for (const [name, bytes] of files) await writeFile(path.join(dir, name), bytes);
    const { files: paths } = await expandPaths([dir]);
    // As predict and evaluate run it: the model on one thread beside the prepare thread.
    const oneThread = await OnnxClassifier.load(path.join(REPO, 'models/default'), modelThreadsFor('thread'));
    for (const batchSize of [2, 8]) {
      const inline = await scoreFiles(engine, paths, { batchSize, prepareOn: 'inline' });
      const threaded = await scoreFiles(oneThread, paths, { batchSize, prepareOn: 'thread' });
      assert.deepEqual(threaded, inline, `batch size ${batchSize}`);
      for (const format of ['csv', 'json', 'table'] as const) {
        assert.equal(formatPredictions(threaded, format, engine.threshold), formatPredictions(inline, format, engine.threshold), format);
      }
    }
    // What the user sees did happen on this folder: scored slices, the volume's three slices, the two bad files'
    // reasons, the negative and the upside-down slice read as such.
    const rows = await scoreFiles(oneThread, paths, { prepareOn: 'thread' });
    oneThread.dispose();
    assert.equal(rows.length, files.length + 2);
    const row = (name: string) => rows.filter((r) => path.basename(r.file).startsWith(name));
    assert.match(row('c-broken.png')[0].error ?? '', /not a PNG, JPEG, TIFF or DICOM image/);
    assert.match(row('f-empty.png')[0].error ?? '', /empty \(0 bytes\)/);
    assert.equal(row('g-volume.nii').length, 3);
    assert.equal(row('d-negative.png')[0].polarity, 'negative');
    assert.ok(row('e-upside-down.png')[0].orientation, 'the upside-down slice was turned upright');
    assert.ok(rows.filter((r) => r.error === undefined).every((r) => typeof r.probability === 'number'));
  } finally {
    engine.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the prepare thread: a slice that cannot be prepared fails its batch with the inline error; a closed thread refuses clearly', async () => {
  const engine = await OnnxClassifier.load(path.join(REPO, 'models/default'));
  const thread = PrepareThread.start(engine.json);
  try {
    const bad = { width: 8, height: 8, data: null } as unknown as GreyImage;
    const inline = await prepareSlice(engine.json, bad).then(() => undefined, (e: Error) => e);
    assert.ok(inline, 'the inline path throws on a slice without pixels');
    await assert.rejects(thread.prepare([bad]), (e: Error) => e.name === inline.name && e.message === inline.message);
    // The thread goes on with the next batch.
    const [slice] = await thread.prepare([{ ...lungPhantom(128) }]);
    const ref = await prepareSlice(engine.json, lungPhantom(128));
    assert.deepEqual(slice.lungs.findings, ref.lungs.findings);
    assert.deepEqual(slice.views, ref.views);
  } finally {
    await thread.close();
    engine.dispose();
  }
  await assert.rejects(thread.prepare([lungPhantom(64)]), /the slice preparation thread was closed/);
});

test('prepareOnFor: the thread only from THREAD_MIN_FILES files, and then the model on one thread', () => {
  assert.deepEqual(modelThreadsFor('thread'), { threads: 1 });
  assert.deepEqual(modelThreadsFor('inline'), {});
  assert.equal(THREAD_MIN_FILES, 64);
  assert.equal(prepareOnFor(1), 'inline');
  assert.equal(prepareOnFor(63), 'inline');
  assert.equal(prepareOnFor(64), 'thread');
  assert.equal(prepareOnFor(746), 'thread');
});
