/**
 * The attacks of issue 11 against `covid-ct serve` in its own process (default limits, loopback): each one's
 * answer, how long it took, the slowest /healthz answer while it ran, and the server's memory (VmRSS) before,
 * at its peak (VmHWM) and after, idle. Reference in the same run: a normal request (one synthetic CT slice) on
 * the idle server, and again after every attack (it must still be served).
 *
 *   npm run bench:attack [-- --idle-s 10]
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { benchArgs } from './args.js';
import { packageRoot } from '../src/cli/command.js';
import { ctSlice, deflatedDicomBomb, overlappingZip, writeRawZip, zeros } from '../test/dicom-writer.js';

const { values } = benchArgs(import.meta.url, { options: { 'idle-s': { type: 'string' } } });
const idleSeconds = Number(values['idle-s'] ?? 10);
const root = packageRoot();

const child = spawn(process.execPath, [path.join(root, 'dist/src/cli/main.js'), 'serve', '--port', '0', '--host', '127.0.0.1'], { cwd: root, env: { ...process.env, COVID_CT_TOKEN: '' } });
const port = await new Promise<number>((resolve, reject) => {
  let out = '';
  child.stdout.on('data', (d) => { out += d; const m = /serving http:\/\/[^:]+:(\d+)\//.exec(out); if (m) resolve(Number(m[1])); });
  child.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
});
const base = `http://127.0.0.1:${port}`;

async function memory(): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}
const MB = (n: number) => `${(n / 2 ** 20).toFixed(0)} MB`;

type Part = { name: string; bytes: Uint8Array };
function form(files: Part[]): FormData {
  const fd = new FormData();
  for (const f of files) fd.append('files', new Blob([f.bytes.slice()]), f.name);
  return fd;
}

async function post(body: FormData | { raw: Uint8Array; type: string }): Promise<{ status: number; summary: string }> {
  const init = body instanceof FormData ? { method: 'POST', body } : { method: 'POST', body: body.raw as Uint8Array<ArrayBuffer>, headers: { 'content-type': body.type } };
  const res = await fetch(`${base}/api/predict`, init);
  const json = await res.json() as { results?: { error?: string; probability?: number | null }[]; error?: string };
  const errors = json.results?.filter((r) => r.error).length ?? 0;
  return { status: res.status, summary: json.error ? json.error.slice(0, 70) : `${json.results?.length} results, ${errors} errors` };
}

/**
 * Runs `work` while another process polls /healthz every 50 ms (so that building and sending the attack here
 * does not count): the slowest answer in ms.
 */
const POLLER = `
let slowest = 0, failed = 0, stop = false;
process.stdin.on('data', () => { stop = true; });
(async () => {
  while (!stop) {
    const t = performance.now();
    try {
      const r = await fetch(process.argv[1], { signal: AbortSignal.timeout(10000) });
      await r.arrayBuffer();
      if (r.status !== 200) failed++;
    } catch { failed++; }
    slowest = Math.max(slowest, performance.now() - t);
    await new Promise((r) => setTimeout(r, 50));
  }
  process.stdout.write(JSON.stringify({ slowest, failed }));
  process.exit(0);
})();`;
async function healthDuring<T>(work: () => Promise<T>): Promise<{ result: T; ms: number; slowest: string }> {
  const poller = spawn(process.execPath, ['-e', POLLER, `${base}/healthz`], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  poller.stdout.on('data', (d) => { out += d; });
  const exited = new Promise((r) => poller.on('exit', r));
  await new Promise((r) => setTimeout(r, 300)); // the poller is up
  const t = performance.now();
  const result = await work();
  const ms = performance.now() - t;
  poller.stdin.end('stop\n');
  await exited;
  const h = JSON.parse(out || '{"slowest":NaN,"failed":NaN}') as { slowest: number; failed: number };
  // A health check that waits 10 s is counted as failed (and the slowest answer is then at least 10 s).
  return { result, ms, slowest: `${h.slowest.toFixed(0)} ms${h.failed ? ` (${h.failed} failed)` : ''}` };
}

const normal = () => post(form([{ name: 'IM0001', bytes: ctSlice(1) }]));

/** 400,000 one-byte parts (27 MB), multipart written by hand (FormData is too slow for this many). */
function manyParts(n: number): { raw: Uint8Array; type: string } {
  const b = 'attackboundary';
  const part = Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="files"; filename="x"\r\n\r\nA\r\n`);
  return { raw: Buffer.concat([...new Array(n).fill(part), Buffer.from(`--${b}--\r\n`)]), type: `multipart/form-data; boundary=${b}` };
}

/** `n` clients uploading at 1 KB/s for `seconds`; resolves with how their uploads ended. */
async function slowClients(n: number, seconds: number): Promise<string> {
  const ends = await Promise.all(Array.from({ length: n }, () => new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.write(`POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n--b\r\n`);
    const timer = setInterval(() => s.write(Buffer.alloc(1024, 0x41)), 1000);
    const stop = setTimeout(() => s.destroy(), seconds * 1000);
    const end = () => { clearInterval(timer); clearTimeout(stop); resolve(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1] ?? 'open'); };
    s.on('close', end);
    s.on('error', end);
  })));
  const counts = new Map<string, number>();
  for (const e of ends) counts.set(e, (counts.get(e) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${v}x ${k}`).join(', ');
}

/** A normal request from another loopback address (another client, as far as the server can tell). */
async function normalFrom(localAddress: string): Promise<{ status: number }> {
  const r = new Request('http://localhost/', { method: 'POST', body: form([{ name: 'IM0002', bytes: ctSlice(2) }]) });
  const body = Buffer.from(await r.arrayBuffer());
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, localAddress, method: 'POST', path: '/api/predict', headers: { 'content-type': r.headers.get('content-type')!, 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode! }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// The payloads are built before the clock starts (building them would stall this process's /healthz polling).
const payloads = {
  overlap: form([{ name: 'overlap.zip', bytes: overlappingZip(300, zeros(60)) }]),
  bombs: form([{ name: 'bombs.zip', bytes: writeRawZip(Array.from({ length: 8 }, (_, i) => ({ name: `b${i}`, data: zeros(60), method: 8 as const, crc: 0, declaredSize: 1000 }))) }]),
  dicom: form([{ name: 'bomb.dcm', bytes: deflatedDicomBomb(1024) }]),
  parts: manyParts(400_000),
  files: form(Array.from({ length: 1000 }, (_, i) => ({ name: `f${i}`, bytes: Uint8Array.of(i & 0xff) }))),
};

const attacks: [string, () => Promise<{ status: number | string; summary: string }>][] = [
  ['zip: 300 records on one compressed stream', () => post(payloads.overlap)],
  ['zip: 8 distinct 60 MB bombs (budget 300 MB)', () => post(payloads.bombs)],
  ['deflated DICOM inflating to 1 GB', () => post(payloads.dicom)],
  ['400,000 one-byte parts (27 MB)', () => post(payloads.parts)],
  ['1000 one-byte files (the limit)', () => post(payloads.files)],
  ['20 clients at 1 KB/s + a normal one (another address)', async () => {
    const slow = slowClients(20, 15);
    await new Promise((r) => setTimeout(r, 1000));
    const t = performance.now();
    const ok = await normalFrom('127.0.0.2');
    const ms = performance.now() - t;
    return { status: ok.status, summary: `normal client ${ok.status} in ${ms.toFixed(0)} ms; slow ones: ${await slow}` };
  }],
];

await normal(); // warm up: the model's first pass
const reference = await healthDuring(normal);
const start = await memory();
console.log(`covid-ct serve (pid ${child.pid}), default limits. Reference: a normal request ${reference.result.status} in ${reference.ms.toFixed(0)} ms; idle RSS ${MB(start.rss)}\n`);
console.log('| attack | answer | took | slowest /healthz | RSS after | then a normal request |');
console.log('|---|---|---|---|---|---|');
for (const [name, attack] of attacks) {
  const { result, ms, slowest } = await healthDuring(attack);
  const after = await memory();
  const n = await healthDuring(normal);
  console.log(`| ${name} | ${result.status}: ${result.summary} | ${(ms / 1000).toFixed(1)} s | ${slowest} | ${MB(after.rss)} | ${n.result.status} in ${n.ms.toFixed(0)} ms |`);
}
await new Promise((r) => setTimeout(r, idleSeconds * 1000));
const end = await memory();
console.log(`\nRSS: before ${MB(start.rss)}, peak ${MB(end.hwm)}, after ${idleSeconds} s idle ${MB(end.rss)}`);
child.kill();
