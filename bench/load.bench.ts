/**
 * Load test of the HTTP API with autocannon: 1, 8 and 32 concurrent clients each posting a real CT slice to
 * POST /api/predict, against `covid-ct serve` in its own process (default limits: one model pass at a time,
 * 16 requests waiting, 503 + Retry-After past that). Prints requests/s, p50/p99 latency, errors and 503s,
 * and the server's peak memory (VmHWM). Reference in the same run: the model-only rate on the same image
 * in this process (the ceiling that the HTTP layer can approach).
 *
 *   npm run bench:load [-- --seconds 10 --image FILE]
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { benchArgs } from './args.js';
import autocannon from 'autocannon';
import { packageRoot } from '../src/cli/command.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { loadDataset, entriesOf } from '../src/data/dataset.js';

const { values } = benchArgs(import.meta.url, { options: { seconds: { type: 'string' }, image: { type: 'string' }, data: { type: 'string' } } });
const root = packageRoot();
const seconds = Number(values.seconds ?? 10);
const image = values.image ?? entriesOf(await loadDataset(path.resolve(values.data ?? path.join(root, '../shared/data/covid-ct'))), 'test')[0].path;
const bytes = await readFile(image);

// The upload, encoded once: multipart with one file.
const boundary = 'covidctbenchboundary';
const body = Buffer.concat([
  Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${path.basename(image)}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
  bytes, Buffer.from(`\r\n--${boundary}--\r\n`),
]);

// Reference: model only (decode + views + model) on the same image, in this process, before the server starts.
const engine = await OnnxClassifier.load(path.join(root, 'models/default'));
const grey = await readAndDecodeGrey(image);
// The plain CAM (what a request without heatmap=1 costs; the occlusion map of a heatmap is ~80 more views).
const modelPass = async () => engine.explainPrepared((await engine.prepare([grey]))[0], { method: 'cam' });
await modelPass();
const t0 = performance.now();
let n = 0;
while (performance.now() - t0 < 3000) { await modelPass(); n++; }
const modelRate = n / ((performance.now() - t0) / 1000);
engine.dispose();

const server = spawn(process.execPath, [path.join(root, 'dist/src/cli/main.js'), 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve, reject) => {
  server.stdout.on('data', (d: Buffer) => { const m = /serving (http:\/\/\S+)/.exec(d.toString()); if (m) resolve(m[1]); });
  server.once('exit', (code) => reject(new Error(`covid-ct serve exited with ${code}`)));
});
const peakMb = async () => Number(/VmHWM:\s+(\d+)/.exec(await readFile(`/proc/${server.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

console.log(`load test: ${path.basename(image)} (${(bytes.length / 1024).toFixed(0)} KB), ${seconds} s per level, server ${url}`);
console.log(`reference, model only in-process (decode + 2 views + model + map): ${modelRate.toFixed(1)} images/s\n`);
const rows: string[][] = [['clients', 'req/s (200)', 'p50 ms', 'p99 ms', '503 (shed)', 'errors', 'vs model-only', 'server peak RSS MB']];
try {
  await autocannon({ url: `${url}api/predict`, method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, connections: 1, duration: 2 });
  for (const connections of [1, 8, 32]) {
    const r = await autocannon({
      url: `${url}api/predict`, method: 'POST', body, connections, duration: seconds, timeout: 120,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    const ok = r.statusCodeStats['200']?.count ?? 0;
    const shed = r.statusCodeStats['503']?.count ?? 0;
    const okRate = ok / r.duration;
    rows.push([String(connections), okRate.toFixed(1), String(r.latency.p50), String(r.latency.p99), String(shed),
      String(r.errors + r.timeouts + (r.non2xx - shed)), `${((100 * okRate) / modelRate).toFixed(0)}%`, (await peakMb()).toFixed(0)]);
  }
} finally {
  server.kill();
}
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
for (const r of rows) console.log(r.map((v, c) => v.padStart(widths[c])).join('  '));
console.log('\n503 = shed by the bounded queue (Retry-After sent), by design; errors = timeouts, resets or other non-2xx.');
