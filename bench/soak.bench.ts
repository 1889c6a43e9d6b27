/**
 * A soak of `covid-ct serve` (its own process, default limits, loopback): for a fixed time, clients sending
 * normal requests (one synthetic CT slice each) run beside clients sending hostile ones (bombs, malformed files
 * and requests, cross-origin posts, unknown hosts, path traversal, header bombs, oversize and slow uploads).
 * Reports the server's memory (VmRSS) before, at its peak during the load and after an idle pause, and per kind
 * of request: how many, their statuses and p50/p99 latency. The normal requests' latency is the figure that
 * matters; the reference is the same normal request on the idle server, measured first in the same run.
 * "reset" is a connection the server closed before answering, or while the client was still sending (an
 * oversize upload refused early).
 *
 *   npm run bench:soak [-- --seconds 60 --idle-s 10 --normal 2 --hostile 3]
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { benchArgs } from './args.js';
import { packageRoot } from '../src/cli/command.js';
import { crc32 } from '../src/data/zip.js';
import { ctSlice, deflatedDicomBomb, malformedDicoms, overlappingZip, writeRawZip, zeros, zipBombStream } from '../test/dicom-writer.js';

const { values } = benchArgs(import.meta.url, { options: { seconds: { type: 'string' }, 'idle-s': { type: 'string' }, normal: { type: 'string' }, hostile: { type: 'string' } } });
const seconds = Number(values.seconds ?? 60);
const idleSeconds = Number(values['idle-s'] ?? 10);
const normalClients = Number(values.normal ?? 2);
const hostileClients = Number(values.hostile ?? 3);
for (const [name, v] of [['--seconds', seconds], ['--idle-s', idleSeconds], ['--normal', normalClients], ['--hostile', hostileClients]] as const) {
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a number >= 0`);
}
const root = packageRoot();

const child = spawn(process.execPath, [path.join(root, 'dist/src/cli/main.js'), 'serve', '--port', '0', '--host', '127.0.0.1'], { cwd: root, env: { ...process.env, COVID_CT_TOKEN: '' } });
child.stderr.pipe(process.stderr);
const port = await new Promise<number>((resolve, reject) => {
  let out = '';
  child.stdout.on('data', (d) => { out += d; const m = /serving http:\/\/[^:]+:(\d+)\//.exec(out); if (m) resolve(Number(m[1])); });
  child.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
});
process.on('exit', () => child.kill());

async function rss(): Promise<number> {
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024;
}
const MB = (n: number) => `${(n / 2 ** 20).toFixed(0)} MB`;

/** A multipart body of files, as bytes (built once, sent many times). */
async function multipart(files: { name: string; bytes: Uint8Array }[]): Promise<{ body: Buffer; type: string }> {
  const fd = new FormData();
  for (const f of files) fd.append('files', new Blob([f.bytes.slice()]), f.name);
  const r = new Request('http://localhost/', { method: 'POST', body: fd });
  return { body: Buffer.from(await r.arrayBuffer()), type: r.headers.get('content-type')! };
}

type Status = number | 'reset';

/** One request with http.request (any Host, any method); the status, or 'reset' when the connection was cut. */
function send(o: { method?: string; path?: string; headers?: Record<string, string | number>; body?: Buffer }): Promise<Status> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: o.method ?? 'POST', path: o.path ?? '/api/predict', headers: o.headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
      res.on('error', () => resolve('reset'));
    });
    req.on('error', () => resolve('reset'));
    req.end(o.body);
  });
}

/** Raw bytes on a socket (requests http.request would not send); the status the server answered. */
function raw(text: string): Promise<Status> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(got)?.[1]) || 'reset'));
    s.on('error', () => undefined);
    s.end(text);
  });
}

/** An upload that trickles 1 KB per second until the server cuts it (or `maxSeconds` pass). */
function slowUpload(maxSeconds: number): Promise<Status> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('error', () => undefined);
    s.write(`POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n--b\r\n`);
    const timer = setInterval(() => { if (!s.destroyed) s.write(Buffer.alloc(1024, 0x41)); }, 1000);
    const stop = setTimeout(() => s.destroy(), maxSeconds * 1000);
    s.on('close', () => { clearInterval(timer); clearTimeout(stop); resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1]) || 'reset'); });
  });
}

// Payloads built before the clock starts.
const normalBody = await multipart([{ name: 'IM0001', bytes: ctSlice(1) }]);
const bombSlice = ctSlice(2);
const payloads = {
  zipBomb: await multipart([{ name: 'bomb.zip', bytes: writeRawZip([
    { name: 'IM0001', data: zipBombStream(), method: 8, crc: 0, declaredSize: 1000 },
    { name: 'IM0002', data: bombSlice, method: 0, crc: crc32(bombSlice), declaredSize: bombSlice.length },
  ]) }]),
  overlap: await multipart([{ name: 'overlap.zip', bytes: overlappingZip(300, zeros(60)) }]),
  dicomBomb: await multipart([{ name: 'bomb.dcm', bytes: deflatedDicomBomb(1024) }]),
  malformed: await multipart(malformedDicoms()),
  manyFiles: await multipart(Array.from({ length: 1500 }, (_, i) => ({ name: `f${i}`, bytes: Uint8Array.of(i & 0xff) }))),
  oversize: Buffer.alloc(60 * 2 ** 20, 0x41),
};
const mp = (p: { body: Buffer; type: string }) => ({ body: p.body, headers: { 'content-type': p.type, 'content-length': p.body.length } });

const normal = () => send(mp(normalBody));
const hostile: [string, () => Promise<Status>][] = [
  ['zip bomb (1 GB entry)', () => send(mp(payloads.zipBomb))],
  ['zip: 300 records on one stream', () => send(mp(payloads.overlap))],
  ['deflated DICOM to 1 GB', () => send(mp(payloads.dicomBomb))],
  ['14 malformed DICOM', () => send(mp(payloads.malformed))],
  ['1500 files (over the limit)', () => send(mp(payloads.manyFiles))],
  ['60 MB upload (over the limit)', () => send({ body: payloads.oversize, headers: { 'content-type': 'multipart/form-data; boundary=b', 'content-length': payloads.oversize.length } })],
  ['bad multipart', () => send({ body: Buffer.from('garbage'), headers: { 'content-type': 'multipart/form-data; boundary=zz' } })],
  ['bad JSON', () => send({ body: Buffer.from('{"a":'), headers: { 'content-type': 'application/json' } })],
  ['wrong method', () => send({ method: 'DELETE' })],
  ['cross-origin POST', () => send({ ...mp(normalBody), headers: { ...mp(normalBody).headers, origin: 'http://evil.example' } })],
  ['unknown Host', () => send({ method: 'GET', path: '/api/model', headers: { host: 'rebind.evil.example' } })],
  ['path traversal', () => raw('GET /js/..%2f..%2fpackage.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')],
  ['header bomb (64 KB)', () => raw(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(65536)}\r\n\r\n`)],
  ['slow upload (1 KB/s)', () => slowUpload(20)],
];

interface Tally { statuses: Map<Status, number>; ms: number[] }
const tallies = new Map<string, Tally>();
async function timed(kind: string, run: () => Promise<Status>): Promise<void> {
  const t = performance.now();
  const status = await run();
  const tally: Tally = tallies.get(kind) ?? { statuses: new Map(), ms: [] };
  tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
  tally.ms.push(performance.now() - t);
  tallies.set(kind, tally);
}
const quantile = (xs: number[], q: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };

// Reference: the normal request on the idle server (after a warm-up pass).
await normal();
const reference: number[] = [];
for (let i = 0; i < 10; i++) { const t = performance.now(); await normal(); reference.push(performance.now() - t); }
const before = await rss();
console.log(`covid-ct serve (pid ${child.pid}), default limits, loopback. ${normalClients} normal + ${hostileClients} hostile clients for ${seconds} s`);

let peak = before;
const sampler = setInterval(() => { rss().then((r) => { peak = Math.max(peak, r); }, () => undefined); }, 200);
const started = performance.now();
const until = started + seconds * 1000;
const progress = setInterval(() => {
  const elapsed = (performance.now() - started) / 1000;
  const n = [...tallies.values()].reduce((s, t) => s + t.ms.length, 0);
  const eta = elapsed < seconds ? `ETA ${(seconds - elapsed).toFixed(0)} s (+${idleSeconds} s idle)` : 'finishing the requests in flight (a slow upload runs until it is cut)';
  process.stderr.write(`  ${elapsed.toFixed(0)} s of ${seconds} s, ${n} requests, RSS ${MB(peak)} peak; ${eta}\n`);
}, 10_000);
let next = 0;
await Promise.all([
  ...Array.from({ length: normalClients }, async () => { while (performance.now() < until) await timed('normal (one CT slice)', normal); }),
  ...Array.from({ length: hostileClients }, async () => {
    while (performance.now() < until) {
      const [kind, run] = hostile[next++ % hostile.length];
      await timed(kind, run);
    }
  }),
]);
clearInterval(progress);
peak = Math.max(peak, await rss());
clearInterval(sampler);
const ended = await rss();
await new Promise((r) => setTimeout(r, idleSeconds * 1000));
const after = await rss();

const row = (kind: string, t: Tally) => {
  const statuses = [...t.statuses].sort(([a], [b]) => String(a).localeCompare(String(b))).map(([s, n]) => `${n}x ${s}`).join(', ');
  return `| ${kind} | ${t.ms.length} | ${statuses} | ${quantile(t.ms, 0.5).toFixed(0)} ms | ${quantile(t.ms, 0.99).toFixed(0)} ms |`;
};
console.log(`\nReference: the normal request on the idle server, 10 in a row: p50 ${quantile(reference, 0.5).toFixed(0)} ms, max ${Math.max(...reference).toFixed(0)} ms\n`);
console.log('| kind | requests | statuses | p50 | p99 |');
console.log('|---|---|---|---|---|');
const normalKind = 'normal (one CT slice)';
if (tallies.has(normalKind)) console.log(row(normalKind, tallies.get(normalKind)!));
for (const [kind] of hostile) if (tallies.has(kind)) console.log(row(kind, tallies.get(kind)!));
console.log(`\nServer RSS: before ${MB(before)}, peak ${MB(peak)} (sampled every 200 ms), at the end of the load ${MB(ended)}, after ${idleSeconds} s idle ${MB(after)}`);
child.kill();
