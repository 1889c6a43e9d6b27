/**
 * The not-CT feature distance carried through a model folder: a lungs-design plumbing variant of the shipped
 * model (lungsModelVariant) gets an ood.bin fitted on synthetic lung phantoms (never dataset images), saved
 * atomically with saveModel, with the OLD model.onnx (no "features" output) put back beside it. The engine must
 * re-export in memory, read the phantom as CT, and call a phantom whose lungs hold a striped pattern NotCT with
 * the feature-distance reason (its lungs are found, so only the distance can refuse it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile, rm } from 'node:fs/promises';
import { fitPhantomOod, lungPhantom, lungsModelVariant, stripedLungsPhantom } from './helpers.js';
import { loadModel } from '../src/model/model-files.js';
import { exportOnnx } from '../src/model/onnx-export.js';
import { readOnnxGraph } from '../src/model/onnx-proto.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { Classifier } from '../src/model/classifier.js';
import { prepareSlice } from '../src/model/engine.js';
import { findLungs } from '../src/data/involvement.js';
import type { GreyImage } from '../src/types.js';

let dir = '';
const asGrey = (p: { width: number; height: number; data: Uint8Array }): GreyImage => ({ width: p.width, height: p.height, data: p.data }) as GreyImage;
const stripedLungs = () => asGrey(stripedLungsPhantom(384));

before(async () => {
  dir = await lungsModelVariant();
  await fitPhantomOod(dir);
  // No model.onnx at all: the engine exports the folder's weights in memory (as it does for an older file).
  await rm(path.join(dir, 'model.onnx'));
});
after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

test('the export has a features output of the head dimension; a folder without model.onnx is exported in memory', async () => {
  const model = await loadModel(dir);
  assert.ok(model.ood, 'ood.bin loaded');
  assert.equal(model.json.reading?.ood?.file, 'ood.bin');
  const producesFeatures = (bytes: Uint8Array) => readOnnxGraph(bytes).nodes.some((n) => n.outputs.includes('features'));
  assert.ok(producesFeatures(exportOnnx(model)));
  await assert.rejects(readFile(path.join(dir, 'model.onnx')));
  const engine = await OnnxClassifier.load(dir); // exported in memory
  try {
    const prep = await prepareSlice(engine.json, asGrey(lungPhantom(384, true)));
    const { features, dim } = await engine.runViews(prep.views);
    assert.equal(dim, model.json.head.dim);
    assert.equal(features!.length, prep.views.length * dim);
  } finally { engine.dispose(); }
});

test('a CT phantom is read; striped lungs are NotCT for their feature distance; tfjs agrees', async () => {
  const striped = stripedLungs();
  assert.ok(findLungs(striped).findings.found, 'the striped phantom still has its lungs found');
  const onnx = await OnnxClassifier.load(dir);
  const tf = await Classifier.load(dir);
  try {
    const [ct, odd] = await onnx.read([asGrey(lungPhantom(384, true)), striped]);
    assert.notEqual(ct.label, 'NotCT', `phantom: ${ct.reason}`);
    assert.ok(ct.featureDistance! <= onnx.json.reading!.ood!.threshold);
    assert.equal(odd.label, 'NotCT');
    assert.match(odd.reason!, /unlike the chest CT slices the model was trained on \(feature distance \d+(\.\d+)? > \d+(\.\d+)?\)/);
    const [ct2, odd2] = await tf.read([asGrey(lungPhantom(384, true)), striped]);
    assert.equal(ct2.label, ct.label);
    assert.equal(odd2.label, 'NotCT');
    assert.ok(Math.abs(ct2.featureDistance! - ct.featureDistance!) <= 1e-3 * ct.featureDistance! + 1e-3, `${ct2.featureDistance} vs ${ct.featureDistance}`);
    // explain's single run gives the same reading.
    const ex = await onnx.explainPrepared(await prepareSlice(onnx.json, striped));
    assert.equal(ex.reading.label, 'NotCT');
    assert.equal(ex.reading.featureDistance, odd.featureDistance);
  } finally { onnx.dispose(); tf.dispose(); }
  // The folder's json carries the threshold; the bytes of ood.bin match its sha.
  const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'));
  assert.equal(json.reading.ood.k, 3);
});
