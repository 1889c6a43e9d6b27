/**
 * The HTTP API in-process (hono's app.fetch; a real socket only for the slow-client case): predictions equal
 * the engine's, per-file errors, request validation, and the hardening rules of the issue, each checked, with
 * the server still answering correctly afterwards.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { createDeflate, crc32 } from 'node:zlib';
import sharp from 'sharp';
import { DATA, REPO, requireShared } from './helpers.js';
import { createApp, listen } from '../src/server/app.js';
import { DEFAULT_LIMITS, displayName, type ApiLimits } from '../src/server/api.js';
import { modelCard, readReportFor } from '../src/server/card.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import { readAndDecodeGrey } from '../src/data/decode.js';
import type { DatasetEntry } from '../src/types.js';
import { zipSync } from 'fflate';
import { crc32 as zipCrc } from '../src/data/zip.js';
import { TS, ctSlice, writeDicom, writeRawZip, zipBombStream } from './dicom-writer.js';

const MODEL = path.join(REPO, 'models/default');
let engine: OnnxClassifier;
let slices: DatasetEntry[];

before(async () => {
  requireShared();
  engine = await OnnxClassifier.load(MODEL);
  slices = entriesOf(await loadDataset(DATA), 'test').slice(0, 6);
});
after(() => engine?.dispose());

const appWith = (limits: Partial<ApiLimits> = {}) =>
  createApp({ root: REPO, modelDir: MODEL, engine, card: modelCard(engine.json), limits: { ...DEFAULT_LIMITS, ...limits } });

function form(files: { name: string; bytes: Uint8Array }[]): FormData {
  const fd = new FormData();
  for (const f of files) fd.append("files", new Blob([f.bytes.slice()]), f.name);
  return fd;
}

async function post(app: ReturnType<typeof appWith>, files: { name: string; bytes: Uint8Array }[], query = '') {
  const res = await app.request(`/api/predict${query}`, { method: 'POST', body: form(files) });
  return { status: res.status, headers: res.headers, body: await res.json() as any };
}

const fileOf = async (e: DatasetEntry) => ({ name: e.name, bytes: new Uint8Array(await readFile(e.path)) });

test('a real CT slice gets the engine\'s probability, label and threshold; ?heatmap=1 adds a PNG overlay', async () => {
  const app = appWith();
  const e = slices[0];
  const [expected] = await engine.probabilities([await readAndDecodeGrey(e.path)]);
  const r = await post(app, [await fileOf(e)], '?heatmap=1&preview=1');
  assert.equal(r.status, 200);
  assert.equal(r.body.results.length, 1);
  const [res] = r.body.results;
  assert.equal(res.file, e.name);
  assert.ok(Math.abs(res.probability - expected) < 1e-6, `${res.probability} vs ${expected}`);
  assert.equal(res.label, expected >= engine.threshold ? 'COVID' : 'NonCOVID');
  assert.equal(res.threshold, engine.threshold);
  for (const key of ['heatmap', 'preview']) {
    assert.match(res[key], /^data:image\/png;base64,/);
    const meta = await sharp(Buffer.from(res[key].split(',')[1], 'base64')).metadata();
    assert.ok(meta.format === 'png' && Math.max(meta.width!, meta.height!) <= 512, `${key}: ${meta.width}x${meta.height}`);
  }
  const plain = await post(app, [await fileOf(e)]);
  assert.equal(plain.body.results[0].heatmap, undefined, 'no heatmap unless asked');
});

test('one request with several files: the bad ones get their own error in words, the good ones their result', async () => {
  const app = appWith();
  const good = await Promise.all(slices.slice(0, 2).map(fileOf));
  const png = good.find((g) => g.bytes[0] === 0x89) ?? good[0];
  const bad = [
    { name: 'notes.png', bytes: new TextEncoder().encode('this is text, not an image') },
    { name: 'cut.png', bytes: png.bytes.subarray(0, Math.floor(png.bytes.length / 2)) },
    { name: 'random.bin', bytes: Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24) },
    { name: 'empty.jpg', bytes: new Uint8Array(0) },
  ];
  const r = await post(app, [good[0], ...bad, good[1]]);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.results.map((x: any) => x.file), [good[0].name, ...bad.map((b) => b.name), good[1].name]);
  assert.ok(r.body.results[0].probability > 0 && r.body.results[5].probability > 0);
  for (const x of r.body.results.slice(1, 5)) {
    assert.equal(x.probability, null);
    assert.equal(x.label, null);
    assert.ok(typeof x.error === 'string' && x.error.length > 5 && !/\bat \w+ \(|node_modules/.test(x.error), `error: ${x.error}`);
  }
  assert.match(r.body.results[1].error, /not a PNG|not an image/i);
  assert.match(r.body.results[2].error, /truncated|corrupt/i);
});

test('requests that are not valid get 400 with a reason; the OpenAPI document describes the API', async () => {
  const app = appWith();
  const empty = await app.request('/api/predict', { method: 'POST', body: new FormData() });
  assert.equal(empty.status, 400);
  assert.match((await empty.json() as any).error, /no files/);
  const json = await app.request('/api/predict', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  assert.equal(json.status, 400);
  const badWindow = await post(app, [await fileOf(slices[0])], '?windowWidth=-3');
  assert.equal(badWindow.status, 400);
  assert.match(badWindow.body.error, /windowWidth/);
  const doc = await (await app.request('/api/openapi.json')).json() as any;
  assert.ok(doc.paths['/api/predict'].post.requestBody.content['multipart/form-data']);
  assert.ok(doc.paths['/api/model'].get && doc.paths['/healthz'].get);
  // A client generator learns the token scheme and every refusal the server sends.
  assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: doc.components.securitySchemes.bearer.description });
  assert.deepEqual(doc.paths['/api/predict'].post.security, [{ bearer: [] }]);
  for (const code of ['401', '403', '413', '421', '431', '504']) assert.ok(doc.paths['/api/predict'].post.responses[code], code);
  const card = await (await app.request('/api/model')).json() as any;
  assert.equal(card.threshold, engine.threshold);
  assert.match(card.intendedUse, /not a diagnosis/);
});

test('an upload over the size limit gets 413 and the server goes on', async () => {
  const app = appWith({ maxRequestBytes: 64 * 1024 });
  const big = { name: 'big.png', bytes: new Uint8Array(200 * 1024) };
  const r = await post(app, [big]);
  assert.equal(r.status, 413);
  assert.match(r.body.error, /larger than the limit/);
  const ok = await post(app, [{ name: 'small.png', bytes: (await fileOf(slices.find((s) => s.name.endsWith('.png'))!)).bytes.subarray(0, 1) }]);
  assert.equal(ok.status, 200);
});

/** A real 20000x20000 grey PNG (400 megapixels) of zeros, streamed through deflate: about 400 KB. */
async function hugePng(side: number): Promise<Uint8Array> {
  const chunk = (type: string, data: Uint8Array) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    Buffer.from(data).copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0); ihdr.writeUInt32BE(side, 4); ihdr[8] = 8; ihdr[9] = 0;
  const deflate = createDeflate({ level: 1 });
  const parts: Buffer[] = [];
  deflate.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise((resolve) => deflate.on('end', resolve));
  const row = Buffer.alloc(side + 1);
  for (let y = 0; y < side; y++) if (!deflate.write(row)) await new Promise((r) => deflate.once('drain', r));
  deflate.end();
  await done;
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', Buffer.concat(parts)), chunk('IEND', new Uint8Array(0))]));
}

test('hostile files (a 20000x20000 PNG, truncated JPEG) get errors; the server keeps answering correctly', async () => {
  const app = appWith();
  const jpeg = await fileOf(slices.find((s) => s.name.endsWith('.jpg')) ?? slices[0]);
  const before = process.memoryUsage().rss;
  const r = await post(app, [
    { name: 'bomb.png', bytes: await hugePng(20000) },
    { name: 'cut.jpg', bytes: jpeg.bytes.subarray(0, Math.floor(jpeg.bytes.length * 0.6)) },
  ]);
  assert.equal(r.status, 200);
  assert.match(r.body.results[0].error, /20000x20000.*over the limit/);
  assert.match(r.body.results[1].error, /truncated|corrupt/i);
  assert.ok(process.memoryUsage().rss - before < 300e6, 'the bomb was not decoded');
  const e = slices[1];
  const [expected] = await engine.probabilities([await readAndDecodeGrey(e.path)]);
  const again = await post(app, [await fileOf(e)]);
  assert.ok(Math.abs(again.body.results[0].probability - expected) < 1e-6);
});

test('a full queue answers 503 with Retry-After once the upload is read (no model work is queued); queued work never overlaps', async () => {
  const app = appWith({ concurrency: 1, maxWaiting: 1 });
  const files = await Promise.all(slices.map(fileOf));
  const load = [post(app, files), post(app, files)];
  // Both admitted (one running, one waiting): the third is refused at once.
  for (let i = 0; i < 200; i++) {
    const h = await (await app.request('/healthz')).json() as any;
    if (h.pending >= 2) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const refused = await post(app, files.slice(0, 1));
  assert.equal(refused.status, 503);
  assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  const done = await Promise.all(load);
  assert.deepEqual(done.map((d) => d.status), [200, 200]);
  assert.deepEqual(done[0].body.results.map((x: any) => x.probability), done[1].body.results.map((x: any) => x.probability));
  const after = await post(app, files.slice(0, 1));
  assert.equal(after.status, 200);
});

test('a request that takes longer than the time limit gets 504, and the next one is answered', async () => {
  const slow = appWith({ timeoutMs: 1 });
  const r = await post(slow, await Promise.all(slices.map(fileOf)));
  assert.equal(r.status, 504);
  assert.match(r.body.error, /longer than the limit/);
  const ok = await post(appWith(), [await fileOf(slices[2])]);
  assert.equal(ok.status, 200);
});

test('a slow client is cut off while others are served', async () => {
  const { server, port } = await listen(appWith(), { port: 0, hostname: '127.0.0.1', requestTimeoutMs: 1000 });
  try {
    const socket = net.connect(port, '127.0.0.1');
    const closed = new Promise<string>((resolve) => {
      let got = '';
      socket.on('data', (d) => { got += d.toString('latin1'); });
      socket.on('close', () => resolve(got));
      socket.on('error', () => resolve(got));
    });
    socket.write(`POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n`);
    const healthy = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(healthy.status, 200);
    const started = Date.now();
    const answer = await closed;
    assert.ok(Date.now() - started < 10_000, 'cut off within seconds');
    assert.ok(answer === '' || /^HTTP\/1\.1 (408|400)/.test(answer), `got ${answer.slice(0, 60)}`);
  } finally {
    server.close();
  }
});

test('a DICOM series (loose files and a zip) gets slices in scan order and a scan score; no patient data comes back', async () => {
  const app = appWith();
  // Three slices of one series sent out of order, plus a second series zipped (also out of order).
  const loose = [3, 1, 2].map((k) => ({ name: `IM000${k}`, bytes: ctSlice(k) }));
  const other = (k: number) => ctSlice(k, { seriesUid: '1.2.3.4.5.6.8' });
  const r = await post(app, [...loose, { name: 'series.zip', bytes: zipSync({ 'a/IM0002': other(2), 'a/IM0001': other(1) }) }], '?preview=1');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.results.map((x: any) => x.file), ['IM0001', 'IM0002', 'IM0003', 'series.zip/a/IM0001', 'series.zip/a/IM0002']);
  assert.ok(r.body.results.every((x: any) => x.probability > 0 && x.probability < 1 && x.dicom?.series && x.preview));
  assert.equal(r.body.scans.length, 2);
  const [first, second] = r.body.scans;
  assert.deepEqual([first.slices, first.k, second.slices, second.k], [3, 1, 2, 1]);
  assert.equal(first.probability, Math.max(...r.body.results.slice(0, 3).map((x: any) => x.probability)), 'top-1 of 3 slices');
  // The label follows the scan rule the model's design gives (series.ts), from the figures the row reports.
  const design = engine.json.reading;
  const expected = design
    ? (first.involvementPresent >= 0.5 && first.pattern >= design.pattern.threshold ? 'COVID' : 'NonCOVID')
    : (first.probability >= engine.threshold ? 'COVID' : 'NonCOVID');
  assert.equal(first.labelRule, design ? 'involvement and pattern' : 'score at the slice threshold');
  assert.equal(first.label, expected);
  const text = JSON.stringify(r.body);
  for (const secret of ['SECRET', 'PATIENT', 'ID-424242', '1.2.3.4.5.6.7']) assert.ok(!text.includes(secret), `${secret} leaked`);
  // A different window changes what the model sees.
  const narrow = await post(app, [loose[1]], '?windowWidth=400&windowLevel=40');
  assert.notEqual(narrow.body.results[0].probability, r.body.results[0].probability);
});

test('hostile DICOM and zips: no pixel data, JPEG 2000, a zip bomb; each gets its error and the server goes on', async () => {
  const app = appWith();
  const noPixels = writeDicom({ rows: 64, columns: 64, modality: 'CT', noPixelData: true });
  const j2k = writeDicom({ rows: 64, columns: 64, modality: 'CT', transferSyntax: TS.jpeg2000, fragments: [new Uint8Array(100)] });
  const slice = ctSlice(4);
  const bomb = writeRawZip([
    { name: 'IM0001', data: zipBombStream(), method: 8, crc: 0, declaredSize: 1000 },
    { name: 'IM0002', data: slice, method: 0, crc: zipCrc(slice), declaredSize: slice.length },
  ]);
  const r = await post(app, [{ name: 'empty.dcm', bytes: noPixels }, { name: 'j2k.dcm', bytes: j2k }, { name: 'bomb.zip', bytes: bomb }]);
  assert.equal(r.status, 200);
  const by = Object.fromEntries(r.body.results.map((x: any) => [x.file, x]));
  assert.match(by['empty.dcm'].error, /no pixel data/i);
  assert.match(by['j2k.dcm'].error, /compression we cannot decode.*JPEG 2000|JPEG 2000/);
  assert.match(by['bomb.zip/IM0001'].error, /more than 50 MB/);
  assert.ok(by['bomb.zip/IM0002'].probability > 0, 'the entry after the bomb is scored');
  const e = slices[3];
  const [expected] = await engine.probabilities([await readAndDecodeGrey(e.path)]);
  const again = await post(app, [await fileOf(e)]);
  assert.ok(Math.abs(again.body.results[0].probability - expected) < 1e-6);
});

test('a client\'s file name is shown, never used as a path', () => {
  assert.equal(displayName('../../etc/passwd'), 'passwd');
  assert.equal(displayName('C:\\scans\\a.dcm'), 'a.dcm');
  assert.equal(displayName('a\u0000b\nc.png'), 'abc.png');
  assert.equal(displayName(''), 'upload');
});

test('the model card shows a report only beside the weights, threshold and test-time views it scored', async () => {
  const json = engine.json;
  const reportFile = path.join(REPO, 'reports/default.json');
  const report = await readReportFor(reportFile, json);
  assert.equal(modelCard(json, report).test?.n, report.n);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-card-'));
  try {
    const original = JSON.parse(await readFile(reportFile, 'utf8'));
    const variants = {
      head: { ...original, model: { ...original.model, headSha256: '0'.repeat(64) } },
      threshold: { ...original, threshold: original.threshold + 0.01 },
      views: { ...original, model: { ...original.model, views: json.preprocessing.views + 6 } },
    };
    for (const [what, v] of Object.entries(variants)) {
      const f = path.join(dir, `${what}.json`);
      await writeFile(f, JSON.stringify(v));
      await assert.rejects(readReportFor(f, json), /evaluation of other weights/, `a report with another ${what} is refused`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
