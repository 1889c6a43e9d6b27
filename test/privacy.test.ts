/**
 * Nothing phones home (issue 11.1): with HOME and TMPDIR pointed at empty folders, `predict` and `serve` (which
 * create onnxruntime sessions) leave both empty: no device id, no telemetry database, no mat-debug log.
 * The environment given to the child does NOT set ORT_DISABLE_TELEMETRY: the code must.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { CLI, REPO, lungPhantom, runCli } from './helpers.js';

async function emptyDirs(): Promise<{ home: string; tmp: string; env: NodeJS.ProcessEnv }> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-home-'));
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-tmp-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, TMPDIR: tmp };
  delete env.ORT_DISABLE_TELEMETRY;
  return { home, tmp, env };
}

async function listAll(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String);
}

test('predict leaves HOME and TMPDIR empty', async () => {
  const { home, tmp, env } = await emptyDirs();
  const work = await mkdtemp(path.join(os.tmpdir(), 'covid-ct-work-'));
  try {
    const p = lungPhantom(256, true);
    const file = path.join(work, 'slice.png');
    await writeFile(file, await sharp(p.data, { raw: { width: p.width, height: p.height, channels: 1 } }).png().toBuffer());
    const r = await runCli(['predict', file, '--format', 'json', '--quiet'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).predictions.length, 1);
    assert.deepEqual(await listAll(home), [], 'HOME');
    assert.deepEqual(await listAll(tmp), [], 'TMPDIR');
  } finally {
    await Promise.all([home, tmp, work].map((d) => rm(d, { recursive: true, force: true })));
  }
});

test('serve leaves HOME and TMPDIR empty after answering a request', async () => {
  const { home, tmp, env } = await emptyDirs();
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 60_000);
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /serving (http:\/\/\S+?)\/? /.exec(out);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited with ${code}: ${out}`)); });
    });
    const res = await fetch(`${url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await listAll(home), [], 'HOME');
    assert.deepEqual(await listAll(tmp), [], 'TMPDIR');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await Promise.all([home, tmp].map((d) => rm(d, { recursive: true, force: true })));
  }
});
