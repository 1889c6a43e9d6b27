/**
 * Server mode reads compressed DICOM: the same CT slice uploaded uncompressed and as JPEG-LS, JPEG 2000 and lossy
 * JPEG (made by dcmtk and GDCM, see dicom-encoders.ts) gets the same P when lossless and a close one when lossy,
 * through POST /api/predict (hono's app.fetch, as api.test.ts); a frame cut short gets its own error.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './helpers.js';
import { createApp } from '../src/server/app.js';
import { DEFAULT_LIMITS } from '../src/server/api.js';
import { modelCard } from '../src/server/card.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { writeDicom, type DicomSpec } from './dicom-writer.js';
import { dicomHu } from './dicom-hu.js';
import { encodeDicom, encodersMissing } from './dicom-encoders.js';

const MODEL = path.join(REPO, 'models/default');
const SLICE = path.resolve(REPO, '../shared/data/covid-ct-md-sample/dicom/P001/98C14734-ASSH_145.dcm');
const skip = encodersMissing() || (existsSync(SLICE) ? false : `the CT-MD sample slice is not at ${SLICE}: skipped`);
let engine: OnnxClassifier;

before(async () => { if (!skip) engine = await OnnxClassifier.load(MODEL); });
after(() => engine?.dispose());

test('POST /api/predict: JPEG-LS, JPEG 2000 and lossy JPEG DICOM files are read; lossless ones score exactly as the uncompressed file', { skip }, async () => {
  const { width, height, hu } = dicomHu(readFileSync(SLICE));
  const spec: DicomSpec = { rows: height, columns: width, modality: 'CT', bitsStored: 12, rescaleIntercept: -1024, rescaleSlope: 1, pixels: Array.from(hu, (v) => v + 1024) };
  const uid = (n: number): DicomSpec => ({ ...spec, seriesUid: `1.2.3.77.${n}` });
  const j2k = encodeDicom(uid(3), 'gdcmconv', ['--j2k']);
  const files = [
    { name: 'plain.dcm', bytes: writeDicom(uid(1)) },
    { name: 'jpegls.dcm', bytes: encodeDicom(uid(2), 'dcmcjpls', ['--encode-lossless']) },
    { name: 'j2k.dcm', bytes: j2k },
    { name: 'near.dcm', bytes: encodeDicom(uid(4), 'dcmcjpls', ['--encode-nearlossless']) },
    { name: 'j2k-lossy.dcm', bytes: encodeDicom(uid(5), 'gdcmconv', ['--j2k', '--lossy', '-r', '8']) },
    { name: 'baseline.dcm', bytes: encodeDicom(uid(6), 'dcmcjpeg', ['--encode-baseline']) },
    { name: 'extended.dcm', bytes: encodeDicom(uid(7), 'dcmcjpeg', ['--encode-extended']) },
    { name: 'cut.dcm', bytes: j2k.subarray(0, j2k.length - 2000) },
  ];
  const app = createApp({ root: REPO, modelDir: MODEL, engine, card: modelCard(engine.json), limits: DEFAULT_LIMITS });
  const fd = new FormData();
  for (const f of files) fd.append('files', new Blob([f.bytes.slice()]), f.name);
  const res = await app.request('/api/predict', { method: 'POST', body: fd });
  assert.equal(res.status, 200);
  const body = await res.json() as { results: { file: string; probability: number | null; error?: string }[] };
  const by = Object.fromEntries(body.results.map((r) => [r.file, r]));
  const ref = by['plain.dcm'].probability!;
  assert.equal(typeof ref, 'number');
  for (const f of ['jpegls.dcm', 'j2k.dcm']) assert.equal(by[f].probability, ref, `${f}: lossless, the same P`);
  for (const f of ['near.dcm', 'j2k-lossy.dcm', 'baseline.dcm', 'extended.dcm']) {
    assert.ok(Math.abs(by[f].probability! - ref) <= 0.03, `${f}: P ${by[f].probability} vs ${ref} (lossy: within 0.03)`);
  }
  assert.match(by['cut.dcm'].error ?? '', /cut short|truncated/);
});
