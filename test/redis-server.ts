/**
 * A real redis-server for tests: started on a free loopback port with persistence off (no dump.rdb, no AOF; its
 * working folder is a temporary one, removed on stop), stopped by stop(). `redisBinary()` is undefined when
 * redis-server is not installed (CI installs Debian's redis-server: see .ci/run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export function redisBinary(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, 'redis-server');
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  url: string;
  port: number;
  /** Files redis left in its working folder (none expected: persistence is off). */
  leftovers(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const bin = redisBinary();
  if (!bin) throw new Error('redis-server is not installed');
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-redis-'));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc: ChildProcess = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--maxmemory-policy', 'noeviction', '--protected-mode', 'yes', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    proc.stdout!.on('data', (d) => { log += d; });
    proc.stderr!.on('data', (d) => { log += d; });
    const ready = await new Promise<boolean>((resolve) => {
      proc.once('exit', () => resolve(false));
      const t0 = Date.now();
      const probe = () => {
        const s = new Socket();
        s.once('connect', () => { s.end(); resolve(true); });
        s.once('error', () => { s.destroy(); if (Date.now() - t0 > 10_000) resolve(false); else setTimeout(probe, 50); });
        s.connect(port, '127.0.0.1');
      };
      probe();
    });
    if (!ready) {
      proc.kill('SIGKILL');
      if (attempt < 2) continue; // the port was taken between freePort() and the bind
      throw new Error(`redis-server did not start: ${log.trim()}`);
    }
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      leftovers: async () => readdir(dir),
      stop: async () => {
        if (proc.exitCode === null) {
          const exited = new Promise((r) => proc.once('exit', r));
          proc.kill('SIGTERM');
          await exited;
        }
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}
