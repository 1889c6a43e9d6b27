/**
 * Issue 11: the security test suite. Items 2-6 (each attack that did not hold, then fixed), then item 7: the
 * attacks that held already, against `covid-ct serve` in its own process, so that they keep holding. Every test has
 * a time bound (node:test timeout) and a small count; after each attack /healthz answers and a normal request
 * still gets 200. Loopback only; the whole file runs in well under 2 minutes on 2 cores.
 * Items 2-6 run against a real server on a loopback port (or the app in-process where no socket matters).
 * Synthetic DICOM slices only (dicom-writer); no dataset images.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { REPO, CLI, runCli } from './helpers.js';
import { createApp, listen } from '../src/server/app.js';
import { DEFAULT_LIMITS, displayName, type ApiLimits } from '../src/server/api.js';
import type { GuardOptions } from '../src/server/guard.js';
import { bearerToken, crossOriginRefused, hostAllowed, tokenMatches } from '../src/server/guard.js';
import { countParts } from '../src/server/body.js';
import { modelCard } from '../src/server/card.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { ctSlice, deflatedDicomBomb, malformedDicoms, overlappingZip, writeRawZip, zeros, zipBombStream } from './dicom-writer.js';
import { crc32 } from '../src/data/zip.js';

const MODEL = path.join(REPO, 'models/default');
let engine: OnnxClassifier;

before(async () => {
  engine = await OnnxClassifier.load(MODEL);
});
after(() => engine?.dispose());

const appWith = (limits: Partial<ApiLimits> = {}, security?: GuardOptions) =>
  createApp({ root: REPO, modelDir: MODEL, engine, card: modelCard(engine.json), limits: { ...DEFAULT_LIMITS, ...limits }, security });

type Part = { name: string; bytes: Uint8Array };

function form(files: Part[]): FormData {
  const fd = new FormData();
  for (const f of files) fd.append('files', new Blob([f.bytes.slice()]), f.name);
  return fd;
}

/** A multipart body as bytes with its content type (for raw sockets and http.request). */
async function multipart(files: Part[]): Promise<{ body: Buffer; type: string }> {
  const r = new Request('http://localhost/', { method: 'POST', body: form(files) });
  return { body: Buffer.from(await r.arrayBuffer()), type: r.headers.get('content-type')! };
}

/**
 * A zip of distinct entries, each a bomb of `mb` MB of zeros (declared 1000 bytes), then a small text file (read,
 * and refused as not an image: the model is not what these tests time).
 */
function bombZip(entries: number, mb: number): Uint8Array {
  const slice = ctSlice(1); // a real slice after the bombs
  return writeRawZip([
    ...Array.from({ length: entries }, (_, i) => ({ name: `bomb${i}`, data: zeros(mb), method: 8 as const, crc: 0, declaredSize: 1000 })),
    { name: 'IM0001', data: slice, method: 0 as const, crc: crc32(slice), declaredSize: slice.length },
  ]);
}

/** Runs `work` while polling /healthz every 50 ms; the slowest health answer in ms. */
async function healthDuring<T>(port: number, work: Promise<T>): Promise<{ result: T; slowestMs: number; polls: number }> {
  let done = false;
  let slowest = 0, polls = 0;
  const poller = (async () => {
    while (!done) {
      const t = performance.now();
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      await r.arrayBuffer();
      assert.equal(r.status, 200);
      slowest = Math.max(slowest, performance.now() - t);
      polls++;
      await new Promise((res) => setTimeout(res, 50));
    }
  })();
  try {
    const result = await work;
    return { result, slowestMs: slowest, polls };
  } finally {
    done = true;
    await poller;
  }
}

async function postTo(port: number, files: Part[], headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${port}/api/predict`, { method: 'POST', body: form(files), headers });
  return { status: res.status, body: await res.json() as any };
}

/** After every attack: /healthz answers and a normal request (one CT slice) is scored, on a port or in-process. */
async function stillServing(on: number | { port: number } | { request: (url: string, init?: RequestInit) => Response | Promise<Response> }): Promise<void> {
  const request = typeof on === 'object' && 'request' in on
    ? (p: string, init?: RequestInit) => on.request(p, init)
    : (p: string, init?: RequestInit) => fetch(`http://127.0.0.1:${typeof on === 'number' ? on : on.port}${p}`, { ...init, signal: AbortSignal.timeout(10_000) });
  const health = await request('/healthz');
  assert.equal(health.status, 200);
  assert.equal((await health.json() as any).ok, true);
  const ok = await request('/api/predict', { method: 'POST', body: form([{ name: 'IM0001', bytes: ctSlice(1) }]) });
  assert.equal(ok.status, 200);
  const p = (await ok.json() as any).results[0].probability;
  assert.ok(p > 0 && p < 1, `probability ${p}`);
}

// ---- item 2: unpacking cannot freeze the server ------------------------------------------------------------

test('a zip whose 40 records all point at one compressed stream is refused at once; /healthz keeps answering', { timeout: 20_000 }, async () => {
  const { server, port } = await listen(appWith(), { port: 0, hostname: '127.0.0.1' });
  try {
    const zip = overlappingZip(40, zeros(60));
    assert.ok(zip.length < 100_000, `${zip.length} bytes`);
    const started = performance.now();
    const { result, slowestMs } = await healthDuring(port, postTo(port, [{ name: 'overlap.zip', bytes: zip }]));
    assert.equal(result.status, 200);
    assert.equal(result.body.results.length, 1, 'nothing of it was unpacked');
    assert.match(result.body.results[0].error, /entries overlap.*refused/);
    assert.ok(performance.now() - started < 5000, `answered in ${(performance.now() - started).toFixed(0)} ms`);
    assert.ok(slowestMs < 500, `/healthz took up to ${slowestMs.toFixed(0)} ms`);
    await stillServing(port);
  } finally {
    server.close();
  }
});

test('one unpacking budget per request: refused entries count, across files; /healthz answers throughout', { timeout: 20_000 }, async () => {
  const { server, port } = await listen(appWith({ maxUnpackedBytes: 160 * 2 ** 20 }), { port: 0, hostname: '127.0.0.1' });
  try {
    // Each entry inflates past the 50 MB entry limit and is refused; two of them use up most of the budget.
    const files = [{ name: 'a.zip', bytes: bombZip(2, 60) }, { name: 'b.zip', bytes: bombZip(2, 60) }];
    const { result, slowestMs, polls } = await healthDuring(port, postTo(port, files));
    assert.equal(result.status, 200);
    const by = Object.fromEntries(result.body.results.map((x: any) => [x.file, x]));
    assert.match(by['a.zip/bomb0'].error, /more than 50 MB/);
    assert.match(by['a.zip/bomb1'].error, /more than 50 MB/);
    assert.equal(typeof by['a.zip/IM0001']?.probability, 'number', 'the entry after the refused ones is read and scored');
    // The second archive finds the request's budget spent by the first one's refused entries.
    assert.match(by['b.zip'].error, /unpack to more than 160 MB in total, over the limit/);
    assert.equal(by['b.zip/IM0001'], undefined, 'nothing after the budget ran out was unpacked');
    assert.ok(slowestMs < 500 && polls > 2, `/healthz took up to ${slowestMs.toFixed(0)} ms (${polls} polls)`);
    await stillServing(port);
  } finally {
    server.close();
  }
});

test('a deflated DICOM that expands past the limit is cut at the request budget; the server keeps answering', { timeout: 20_000 }, async () => {
  const { server, port } = await listen(appWith({ maxUnpackedBytes: 64 * 2 ** 20 }), { port: 0, hostname: '127.0.0.1' });
  try {
    const bomb = deflatedDicomBomb(1024);
    const before = process.memoryUsage().arrayBuffers;
    const { result, slowestMs } = await healthDuring(port, postTo(port, [{ name: 'bomb.dcm', bytes: bomb }]));
    assert.equal(result.status, 200);
    assert.match(result.body.results[0].error, /unpack to more than 64 MB in total/);
    assert.ok(slowestMs < 500, `/healthz took up to ${slowestMs.toFixed(0)} ms`);
    assert.ok(process.memoryUsage().arrayBuffers - before < 100e6, 'the inflated part was dropped');
    const ok = await postTo(port, [{ name: 'IM0002', bytes: ctSlice(2) }]);
    assert.ok(ok.body.results[0].probability > 0);
    await stillServing(port);
  } finally {
    server.close();
  }
});

test('a request that runs past its time limit while unpacking gets 504 (the abort signal is honoured)', { timeout: 20_000 }, async () => {
  const app = appWith({ timeoutMs: 200 });
  const res = await app.request('/api/predict', { method: 'POST', body: form([{ name: 'big.zip', bytes: bombZip(6, 60) }]) });
  assert.equal(res.status, 504);
  assert.equal((await app.request('/healthz')).status, 200); // (a normal request is not timed against 200 ms here)
});

// ---- item 3: slow uploads cannot lock others out ----------------------------------------------------------

/** A client that opens an upload of 100 KB and sends 1 KB per second from `localAddress`. */
function slowClient(port: number, localAddress = '127.0.0.1') {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  let got = '';
  const closed = new Promise<string>((resolve) => {
    socket.on('data', (d) => { got += d.toString('latin1'); });
    socket.on('close', () => resolve(got));
    socket.on('error', () => resolve(got));
  });
  socket.write(`POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n`);
  const timer = setInterval(() => { if (!socket.destroyed) socket.write(Buffer.alloc(1024, 0x41)); }, 1000);
  return { closed: closed.finally(() => clearInterval(timer)), stop: () => { clearInterval(timer); socket.destroy(); } };
}

/** POST from another loopback address (another client as far as the server can tell). */
async function postFrom(port: number, localAddress: string, files: Part[]): Promise<{ status: number; body: any }> {
  const { body, type } = await multipart(files);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, localAddress, method: 'POST', path: '/api/predict', headers: { 'content-type': type, 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('20 clients uploading at 1 KB/s: a normal client still gets 200 in < 5 s; the slow ones are refused or cut', { timeout: 30_000 }, async () => {
  const { server, port } = await listen(appWith({ uploadGraceMs: 2000 }), { port: 0, hostname: '127.0.0.1' });
  const slow = Array.from({ length: 20 }, () => slowClient(port));
  try {
    await new Promise((r) => setTimeout(r, 500));
    const health = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json() as any;
    assert.equal(health.pending, 0, 'an upload in progress holds no scoring place');
    assert.ok(health.uploading <= DEFAULT_LIMITS.maxUploadsPerClient, `${health.uploading} uploads from one address`);
    const started = performance.now();
    const normal = await postFrom(port, '127.0.0.2', [{ name: 'IM0001', bytes: ctSlice(1) }]);
    const took = performance.now() - started;
    assert.equal(normal.status, 200);
    assert.ok(normal.body.results[0].probability > 0);
    assert.ok(took < 5000, `the normal client waited ${took.toFixed(0)} ms`);
    // Past 4 per address they were refused at once (429); the others are cut once the grace period is over.
    const answers = await Promise.race([
      Promise.all(slow.map((s) => s.closed)),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('slow uploads were not cut within 8 s')), 8000)),
    ]);
    const statuses = answers.map((a) => /^HTTP\/1\.1 (\d+)/.exec(a)?.[1] ?? 'closed');
    assert.equal(statuses.filter((s) => s === '429').length, 20 - DEFAULT_LIMITS.maxUploadsPerClient, statuses.join(' '));
    assert.ok(statuses.filter((s) => s !== '429').every((s) => s === '408' || s === 'closed'), statuses.join(' '));
    const after = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json() as any;
    assert.deepEqual([after.uploading, after.pending], [0, 0]);
    await stillServing(port);
  } finally {
    for (const s of slow) s.stop();
    server.close();
  }
});

// ---- item 4: many small files stay cheap ------------------------------------------------------------------

test('files per request are capped: 413 naming the limit, before any form parsing; at the limit it is served', { timeout: 20_000 }, async () => {
  const tiny = Array.from({ length: 5000 }, (_, i) => ({ name: `f${i}`, bytes: Uint8Array.of(i & 0xff) }));
  const many = await appWith().request('/api/predict', { method: 'POST', body: form(tiny) });
  assert.equal(many.status, 413);
  assert.match((await many.json() as any).error, /more than 1000 files, over the limit of 1000 files per request/);
  const app = appWith({ maxFiles: 3 });
  const four = await app.request('/api/predict', { method: 'POST', body: form(tiny.slice(0, 4)) });
  assert.equal(four.status, 413);
  assert.match((await four.json() as any).error, /limit of 3 files/);
  const three = await app.request('/api/predict', { method: 'POST', body: form([...tiny.slice(0, 2), { name: 'IM1', bytes: ctSlice(1) }]) });
  assert.equal(three.status, 200);
  assert.equal((await three.json() as any).results.length, 3);
  await stillServing(app);
});

test('multipart parts are counted on the raw bytes (a boundary inside file data does not count)', { timeout: 10_000 }, async () => {
  const { body, type } = await multipart([{ name: 'a', bytes: Uint8Array.of(1) }, { name: 'b', bytes: Uint8Array.of(2) }, { name: 'c', bytes: Uint8Array.of(3) }]);
  const boundary = /boundary=(.*)$/.exec(type)![1];
  assert.equal(countParts(body, boundary), 3);
  // A file whose data holds the delimiter, but not at a line start, is one part.
  const tricky = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="x"\r\n\r\nabc--${boundary}def\r\n--${boundary}--\r\n`)]);
  assert.equal(countParts(tricky, boundary), 1);
});

// ---- item 5: web-safe defaults ----------------------------------------------------------------------------

test('cross-origin POSTs are refused (Origin, Sec-Fetch-Site); same origin and --allow-origin pass', { timeout: 10_000 }, async () => {
  const app = appWith();
  const files = [{ name: 'IM1', bytes: ctSlice(1) }];
  const send = (headers: Record<string, string>, a = app) => a.request('http://localhost:3000/api/predict', { method: 'POST', body: form(files), headers });
  for (const headers of <Record<string, string>[]>[{ origin: 'http://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, { origin: 'http://localhost:3001' }]) {
    const r = await send(headers);
    assert.equal(r.status, 403, JSON.stringify(headers));
    assert.match((await r.json() as any).error, /cross-origin request refused/);
  }
  assert.equal((await send({ origin: 'http://localhost:3000', 'sec-fetch-site': 'same-origin' })).status, 200);
  assert.equal((await send({})).status, 200, 'a client that is not a browser (no Origin) is served');
  const allowed = appWith({}, { allowOrigins: ['https://pacs.example.org'] });
  assert.equal((await send({ origin: 'https://pacs.example.org', 'sec-fetch-site': 'cross-site' }, allowed)).status, 200);
  assert.equal((await send({ origin: 'https://other.example.org' }, allowed)).status, 403);
  assert.equal(crossOriginRefused({ origin: 'https://ct.example.org', host: 'ct.example.org' }, []), false, 'behind a TLS proxy');
  await stillServing(app);
});

test('unknown Host names are refused (DNS rebinding); loopback names, the bound host and --allow-host pass', { timeout: 10_000 }, async () => {
  const app = appWith();
  for (const host of ['evil.example', 'rebind.attacker.test:3000', '10.0.0.5']) {
    const r = await app.request(`http://${host}/api/model`);
    assert.equal(r.status, 421, host);
    assert.ok(!(await r.text()).includes(host.split(':')[0]), 'the name is not echoed');
  }
  for (const host of ['localhost:3000', '127.0.0.1', '[::1]:8080', 'app.localhost']) assert.equal((await app.request(`http://${host}/api/model`)).status, 200, host);
  const named = appWith({}, { allowHosts: ['ct.example.org', '0.0.0.0'] });
  assert.equal((await named.request('http://ct.example.org/api/model')).status, 200);
  assert.equal((await named.request('http://0.0.0.0/api/model')).status, 421, 'binding to 0.0.0.0 allows no name');
  assert.equal(hostAllowed('CT.Example.ORG.', ['ct.example.org']), true);
  await stillServing(app);
});

test('no framing, no sniffing, no caching of API answers; bidi controls stripped from names; 404 echoes nothing', { timeout: 10_000 }, async () => {
  const app = appWith();
  const page = await app.request('/');
  assert.match(page.headers.get('content-security-policy')!, /frame-ancestors 'none'/);
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  for (const url of ['/api/model', '/healthz', '/api/openapi.json']) {
    const r = await app.request(url);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', url);
    assert.equal(r.headers.get('cache-control'), 'no-store', url);
    assert.equal(r.headers.get('x-frame-options'), 'DENY', url);
  }
  const name = 'scan\u202Egnp.exe\u2066x\u2069';
  assert.equal(displayName(name), 'scangnp.exex');
  const r = await app.request('/api/predict', { method: 'POST', body: form([{ name, bytes: ctSlice(1) }]) });
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const result = (await r.json() as any).results[0];
  assert.equal(result.file, 'scangnp.exex');
  const missing = await app.request('/secret-patient-name<script>');
  assert.equal(missing.status, 404);
  const text = await missing.text();
  assert.ok(!/secret|script/i.test(text), text);
  const put = await app.request('/secret-patient-name', { method: 'PUT' });
  assert.ok(!/secret/.test(await put.text()));
  await stillServing(app);
});

// ---- item 6: beyond loopback, a token -----------------------------------------------------------------------

test('with a token the API needs "Authorization: Bearer <token>"; the page and /healthz stay open', { timeout: 10_000 }, async () => {
  const token = 'a-token-of-32-characters-0123456';
  const app = appWith({}, { token });
  const model = (auth?: string) => app.request('/api/model', auth ? { headers: { authorization: auth } } : {});
  const none = await model();
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate')!, /^Bearer/);
  assert.match((await none.json()).error, /a token is required/);
  for (const wrong of [`Bearer ${token}x`, `Bearer ${token.slice(1)}`, `Basic ${token}`, token]) assert.equal((await model(wrong)).status, 401, wrong);
  // A wrong token is told apart from a missing one (RFC 6750's invalid_token), without saying anything of the right one.
  const wrong = await model(`Bearer ${token}x`);
  assert.match(wrong.headers.get('www-authenticate')!, /error="invalid_token"/);
  const said = (await wrong.json()).error as string;
  assert.match(said, /the token sent is not this server's/);
  assert.ok(!said.includes(token), 'the server\'s token is never echoed');
  assert.equal((await model(`Bearer ${token}`)).status, 200);
  const post = (headers: Record<string, string>) => app.request('/api/predict', { method: 'POST', body: form([{ name: 'IM1', bytes: ctSlice(1) }]), headers });
  assert.equal((await post({})).status, 401);
  assert.equal((await post({ authorization: `Bearer ${token}` })).status, 200);
  assert.equal((await app.request('/')).status, 200);
  assert.equal((await app.request('/healthz')).status, 200);
  assert.equal(tokenMatches(undefined, token), false);
  assert.equal(bearerToken(`bearer  ${token} `), token);
});

test('serve on a non-loopback address: refused without COVID_CT_TOKEN; --no-auth warns; with a token the API asks for it', { timeout: 30_000 }, async () => {
  const refused = await runCli(['serve', '--host', '0.0.0.0', '--port', '0'], { env: { COVID_CT_TOKEN: '' } });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /refusing to serve on 0\.0\.0\.0 without a token.*COVID_CT_TOKEN.*--no-auth/s);
  assert.ok(!/\bat \w+ \(/.test(refused.stderr), 'no stack trace');
  const start = (args: string[], env: Record<string, string>) => new Promise<{ port: number; stderr: string; stop: () => void }>((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', ...args], { cwd: REPO, env: { ...process.env, ...env } });
    let out = '', err = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /serving http:\/\/[^:]+:(\d+)\//.exec(out);
      if (m) resolve({ port: Number(m[1]), stderr: err, stop: () => child.kill() });
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  const open = await start(['--host', '0.0.0.0', '--port', '0', '--no-auth'], { COVID_CT_TOKEN: '' });
  try {
    assert.match(open.stderr, /warning: serving on 0\.0\.0\.0 with no token/);
    assert.equal((await fetch(`http://127.0.0.1:${open.port}/api/model`)).status, 200);
    await stillServing(open.port);
  } finally {
    open.stop();
  }
  const token = 'c0ffee'.repeat(6);
  const guarded = await start(['--host', '0.0.0.0', '--port', '0', '--allow-host', 'ct.example.org'], { COVID_CT_TOKEN: token });
  try {
    const url = `http://127.0.0.1:${guarded.port}/api/model`;
    assert.equal((await fetch(url)).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  } finally {
    guarded.stop();
  }
});

// ---- item 7: the attacks that hold, against `covid-ct serve` in its own process -----------------------------
//
// One table: each attack is a test with a time bound and a small count; after each one /healthz must answer and
// a normal request must still get 200. The server runs as a child process (default limits, except a 4 s
// request timeout so that slowloris is cut within the test's bound) with its own empty cwd, HOME and TMPDIR, and
// everything it prints is kept to check that no patient data is ever logged.

interface Served { child: ChildProcess; port: number; out: string; dirs: string[] }
let served: Served | undefined;
const servedLog: string[] = [];

async function startServe(port = 0, dirs?: string[]): Promise<Served> {
  const [cwd, home, tmp] = dirs ?? await Promise.all(['cwd', 'home', 'tmp'].map((d) => mkdtemp(path.join(os.tmpdir(), `covid-ct-attack-${d}-`))));
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--host', '127.0.0.1', '--request-timeout-s', '4', '--model', MODEL],
    { cwd, env: { ...process.env, HOME: home, TMPDIR: tmp, COVID_CT_TOKEN: '' } });
  const s: Served = { child, port: 0, out: '', dirs: [cwd, home, tmp] };
  const log = (d: Buffer) => { s.out += d.toString('utf8'); };
  child.stdout.on('data', log);
  child.stderr.on('data', log);
  child.on('exit', () => servedLog.push(s.out));
  s.port = await new Promise<number>((resolve, reject) => {
    const check = () => { const m = /serving http:\/\/[^:]+:(\d+)\//.exec(s.out); if (m) resolve(Number(m[1])); };
    child.stdout.on('data', check);
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${s.out}`)));
  });
  return s;
}

/** The server process's resident memory and its peak so far, from /proc (Linux). */
async function serverMemory(s: Served): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${s.child.pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** The server's highest resident memory while `work` runs (sampled every 50 ms), and the RSS before it. */
async function peakDuring<T>(s: Served, work: () => Promise<T>): Promise<{ result: T; before: number; peak: number }> {
  const before = (await serverMemory(s)).rss;
  let peak = before, done = false;
  const sampler = (async () => {
    while (!done) {
      peak = Math.max(peak, (await serverMemory(s)).rss);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    return { result: await work(), before, peak };
  } finally {
    done = true;
    await sampler;
    peak = Math.max(peak, (await serverMemory(s)).rss);
  }
}
const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MB`;

/** One raw HTTP exchange on a fresh socket: what the server answered (status, or 'closed'), and the whole text. */
function rawRequest(port: number, request: string | Buffer, timeoutMs = 10_000): Promise<{ status: number | 'closed'; text: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const done = () => { clearTimeout(timer); resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(got)?.[1]) || 'closed', text: got }); };
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (d) => { got += d.toString('latin1'); });
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.end(request);
  });
}


const SECRETS = ['SECRET', 'PATIENT', 'ID-424242'];
const leaks = (text: string) => SECRETS.filter((x) => text.includes(x));

interface Attack { name: string; timeoutMs: number; run: (s: Served) => Promise<void> }

const ATTACKS: Attack[] = [
  { name: 'malformed requests: bad multipart, bad JSON, wrong methods, wrong content types, bad query, bad HTTP', timeoutMs: 10_000, run: async (s) => {
    const url = `http://127.0.0.1:${s.port}`;
    const cases: [string, RequestInit & { path?: string }, number][] = [
      ['multipart with a garbage body', { method: 'POST', body: 'not multipart at all', headers: { 'content-type': 'multipart/form-data; boundary=xyz' } }, 400],
      ['multipart without a boundary', { method: 'POST', body: '--x\r\n\r\n', headers: { 'content-type': 'multipart/form-data' } }, 400],
      ['multipart cut before its end', { method: 'POST', body: '--b\r\nContent-Disposition: form-data; name="files"; filename="a"\r\n\r\nabc', headers: { 'content-type': 'multipart/form-data; boundary=b' } }, 400],
      ['bad JSON', { method: 'POST', body: '{"files": [', headers: { 'content-type': 'application/json' } }, 400],
      ['text/plain', { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } }, 400],
      ['no content type', { method: 'POST', body: new Uint8Array(10) }, 400],
      ['a bad window in the query', { method: 'POST', path: '/api/predict?windowWidth=abc', body: form([{ name: 'IM1', bytes: ctSlice(1) }]) }, 400],
      ['GET on the upload route (it takes POST)', { method: 'GET' }, 405],
      ['DELETE on the upload route', { method: 'DELETE' }, 405],
      ['PUT on the page', { method: 'PUT', path: '/', body: 'x' }, 405],
      ['PATCH on the model card', { method: 'PATCH', path: '/api/model', body: 'x' }, 405],
    ];
    for (const [what, init, status] of cases) {
      const r = await fetch(`${url}${init.path ?? '/api/predict'}`, init);
      const text = await r.text();
      assert.equal(r.status, status, `${what}: ${text}`);
      assert.ok(!/\bat \S+ \(|node_modules/.test(text), `${what}: no stack trace (${text})`);
      if (what.startsWith('GET on the upload')) assert.deepEqual([r.headers.get('allow'), /POST the files/.test(text)], ['POST', true], 'it says which method to use');
    }
    for (const garbage of ['GARBAGE\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET /\0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 'POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n', 'POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nzz\r\n']) {
      const r = await rawRequest(s.port, garbage);
      assert.ok(r.status === 400 || r.status === 505 || r.status === 'closed', `${JSON.stringify(garbage)}: ${r.status}`);
    }
  } },
  { name: 'header bombs: one 64 KB header, 5000 headers', timeoutMs: 10_000, run: async (s) => {
    const big = await rawRequest(s.port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    assert.equal(big.status, 431);
    const many = await rawRequest(s.port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n${Array.from({ length: 5000 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`);
    assert.equal(many.status, 431);
  } },
  { name: 'a 200 MB upload (declared, and chunked with no length) is refused early; memory stays bounded', timeoutMs: 20_000, run: async (s) => {
    const { before, peak } = await peakDuring(s, async () => { for (const declared of [true, false]) {
      const { status, sent } = await new Promise<{ status: number; sent: number }>((resolve, reject) => {
        let sent = 0, answered = false;
        const headers: Record<string, string | number> = { 'content-type': 'multipart/form-data; boundary=b' };
        if (declared) headers['content-length'] = 200 * 2 ** 20;
        const req = http.request({ host: '127.0.0.1', port: s.port, method: 'POST', path: '/api/predict', headers }, (res) => {
          answered = true;
          res.resume();
          res.on('end', () => { req.destroy(); resolve({ status: res.statusCode!, sent }); });
        });
        // The server answers 413 and closes while the client is still writing: the client's next write may fail
        // (EPIPE, ECONNRESET) before it has parsed the answer, which is then lost. That is a refusal too (status 0).
        req.on('error', (e: NodeJS.ErrnoException) => {
          if (answered) return;
          if (e.code === 'EPIPE' || e.code === 'ECONNRESET') resolve({ status: 0, sent });
          else reject(e);
        });
        const chunk = Buffer.alloc(2 ** 20, 0x41);
        const pump = () => {
          while (!answered && sent < 200 * 2 ** 20) {
            sent += chunk.length;
            if (!req.write(chunk)) { req.once('drain', pump); return; }
          }
          if (!answered) req.end();
        };
        pump();
      });
      assert.ok(status === 413 || status === 0, `${declared ? 'declared length' : 'chunked'}: status ${status}`);
      assert.ok(sent <= 120 * 2 ** 20, `refused after ${(sent / 2 ** 20).toFixed(0)} MB were sent`);
    } });
    // The body limit is 50 MB: one body in memory (and its joined copy), never 200 MB.
    assert.ok(peak - before < 150 * 2 ** 20, `RSS ${mb(before)} -> peak ${mb(peak)}`);
  } },
  { name: 'a 1 GB zip bomb (1 MB on the wire) is refused per entry; the entry after it is scored; memory bounded', timeoutMs: 20_000, run: async (s) => {
    const slice = ctSlice(3);
    const bomb = writeRawZip([
      { name: 'IM0001', data: zipBombStream(), method: 8, crc: 0, declaredSize: 1000 },
      { name: 'IM0002', data: slice, method: 0, crc: crc32(slice), declaredSize: slice.length },
    ]);
    const { result: r, before, peak } = await peakDuring(s, () => postTo(s.port, [{ name: 'bomb.zip', bytes: bomb }]));
    assert.equal(r.status, 200);
    const by = Object.fromEntries(r.body.results.map((x: any) => [x.file, x]));
    assert.match(by['bomb.zip/IM0001'].error, /more than 50 MB/);
    assert.ok(by['bomb.zip/IM0002'].probability > 0);
    // Inflating stops at the 50 MB entry limit: never 1 GB.
    assert.ok(peak - before < 150 * 2 ** 20, `RSS ${mb(before)} -> peak ${mb(peak)}`);
  } },
  { name: `${malformedDicoms().length} kinds of malformed DICOM in one request: each gets its own error, the good slice its score`, timeoutMs: 20_000, run: async (s) => {
    const bad = malformedDicoms();
    const r = await postTo(s.port, [...bad, { name: 'good.dcm', bytes: ctSlice(1) }]);
    assert.equal(r.status, 200);
    const by = Object.fromEntries(r.body.results.map((x: any) => [x.file, x]));
    for (const { name, readsAsIntact } of bad) {
      assert.ok(by[name], `${name} has a result`);
      if (readsAsIntact) { assert.equal(by[name].probability, by['good.dcm'].probability, name); continue; }
      assert.equal(by[name].probability, null, `${name} is not scored: ${JSON.stringify(by[name])}`);
      assert.ok(typeof by[name].error === 'string' && by[name].error.length > 10, `${name}: ${by[name].error}`);
      assert.ok(!/\bat \S+ \(|node_modules|RangeError|TypeError/.test(by[name].error), `${name}: ${by[name].error}`);
    }
    assert.ok(by['good.dcm'].probability > 0);
    assert.deepEqual(leaks(JSON.stringify(r.body)), []);
  } },
  { name: 'path traversal on static routes: /../, %2e%2e, backslashes, encoded slashes', timeoutMs: 10_000, run: async (s) => {
    const paths = ['/../../../../etc/passwd', '/js/../../package.json', '/%2e%2e/%2e%2e/etc/passwd', '/js/%2e%2e%2f%2e%2e%2fpackage.json',
      '/js/..%2f..%2fpackage.json', '/js\\..\\..\\package.json', '/vendor/ort/..%5c..%5c..%5cpackage.json', '/model/..%2fmodel.json',
      '/model/%2e%2e/model.json', '//etc/passwd', '/js/web/app.js/../../../package.json', '/%252e%252e/package.json', '/js/web/app.js%00.png'];
    for (const p of paths) {
      const r = await rawRequest(s.port, `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      assert.ok(r.status === 404 || r.status === 400, `${p}: ${r.status}`);
      assert.ok(!/root:|"dependencies"|"threshold"/.test(r.text), `${p} served a file`);
      assert.ok(!r.text.includes('passwd') && !r.text.includes('package.json'), `${p} is echoed`);
    }
  } },
  { name: 'slowloris: 20 clients trickling headers are cut; others are served meanwhile', timeoutMs: 20_000, run: async (s) => {
    const clients = Array.from({ length: 20 }, () => {
      const socket = net.connect(s.port, '127.0.0.1');
      let got = '';
      socket.on('data', (d) => { got += d.toString('latin1'); });
      socket.on('error', () => undefined);
      socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      let n = 0;
      const timer = setInterval(() => { if (!socket.destroyed) socket.write(`X-${n++}: a\r\n`); }, 500);
      const closed = new Promise<string>((resolve) => socket.on('close', () => { clearInterval(timer); resolve(got); }));
      return { closed, stop: () => { clearInterval(timer); socket.destroy(); } };
    });
    try {
      await new Promise((r) => setTimeout(r, 1000));
      await stillServing(s); // while they trickle
      const started = performance.now();
      const ends = await Promise.race([
        Promise.all(clients.map((c) => c.closed)),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('trickling clients were not cut within 12 s')), 12_000)),
      ]);
      assert.ok(ends.every((e) => e === '' || /^HTTP\/1\.1 408/.test(e)), ends.map((e) => e.slice(0, 12)).join(' | '));
      assert.ok(performance.now() - started < 12_000);
    } finally {
      for (const c of clients) c.stop();
    }
  } },
  { name: 'kill -9 during a request, then restart on the same port: it answers; nothing was written to disk', timeoutMs: 40_000, run: async (s) => {
    const inFlight = postTo(s.port, [{ name: 'bomb.dcm', bytes: deflatedDicomBomb(256) }, ...Array.from({ length: 20 }, (_, i) => ({ name: `IM${i}`, bytes: ctSlice(i + 1) }))]).catch((e: Error) => e);
    // Killed while the request is being worked on (it holds the model's place), not before it arrived.
    for (let i = 0; i < 100; i++) {
      const h = await (await fetch(`http://127.0.0.1:${s.port}/healthz`)).json() as any;
      if (h.active > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const exited = new Promise<NodeJS.Signals | null>((r) => s.child.on('exit', (_, signal) => r(signal)));
    s.child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assert.ok((await inFlight) instanceof Error, 'the request in flight failed (its connection was cut)');
    served = await startServe(s.port, s.dirs);
    assert.equal(served.port, s.port);
    // Nothing half-written: the server writes no file at all, in its folder, HOME or TMPDIR.
    for (const dir of s.dirs) assert.deepEqual(await readdir(dir), [], dir);
  } },
  { name: 'no patient data in any answer or in the server log (PatientName, PatientID)', timeoutMs: 20_000, run: async (s) => {
    const r = await fetch(`http://127.0.0.1:${s.port}/api/predict?preview=1&heatmap=1`, { method: 'POST', body: form([
      { name: 'IM0001', bytes: ctSlice(1) }, { name: 'IM0002', bytes: ctSlice(2) }, ...malformedDicoms().slice(0, 4),
    ]) });
    assert.equal(r.status, 200);
    const text = await r.text();
    assert.ok(text.includes('"probability"'));
    assert.deepEqual(leaks(text), [], 'the answer');
    for (const p of ['/api/model', '/healthz', '/api/openapi.json']) assert.deepEqual(leaks(await (await fetch(`http://127.0.0.1:${s.port}${p}`)).text()), [], p);
    // Everything the server(s) printed in this whole run, this one included.
    const log = [...servedLog, s.out].join('\n');
    assert.match(log, /serving http:/, 'the log was captured');
    assert.deepEqual(leaks(log), [], 'the server log');
  } },
];

describe('attacks on covid-ct serve (one child process, loopback)', () => {
  before(async () => { served = await startServe(); });
  after(async () => {
    served?.child.kill();
    for (const dir of served?.dirs ?? []) await rm(dir, { recursive: true, force: true });
  });
  for (const attack of ATTACKS) {
    test(attack.name, { timeout: attack.timeoutMs }, async () => {
      await attack.run(served!);
      await stillServing(served!);
    });
  }
});
