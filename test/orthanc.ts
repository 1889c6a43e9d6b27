/**
 * A real Orthanc (Debian's orthanc + orthanc-dicomweb) for the tests: its own temporary storage and config, HTTP
 * on a free loopback port, remote access off, a user and password, DICOM networking off. Orthanc 1.10 listens
 * on every interface, so the tests run it inside a network namespace that has only loopback (see pacs.test.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const PLUGIN_DIRS = ['/usr/share/orthanc/plugins', '/usr/lib/orthanc', '/usr/local/share/orthanc/plugins'];

/** The DICOMweb plugin's path, or null when orthanc-dicomweb is not installed. */
export function dicomWebPlugin(): string | null {
  for (const d of PLUGIN_DIRS) {
    const f = path.join(d, 'libOrthancDicomWeb.so');
    if (existsSync(f)) return f;
  }
  return null;
}

/** The Orthanc binary: on the PATH, else where Debian puts it (/usr/sbin is not on a normal user's PATH). */
function orthancBinary(): string | null {
  for (const b of ['Orthanc', '/usr/sbin/Orthanc', '/usr/local/sbin/Orthanc']) if (!spawnSync(b, ['--version']).error) return b;
  return null;
}

/** What is missing to run these tests (binaries, plugin), or null when all is there. */
export function orthancMissing(): string | null {
  const missing: string[] = [];
  if (!orthancBinary()) missing.push('Orthanc (Debian package orthanc)');
  if (!dicomWebPlugin()) missing.push('libOrthancDicomWeb.so (Debian package orthanc-dicomweb)');
  if (spawnSync('dsrdump', ['--version']).error) missing.push('dsrdump (Debian package dcmtk)');
  if (spawnSync('unshare', ['--version']).error) missing.push('unshare (util-linux)');
  if (!['ip', '/usr/sbin/ip', '/sbin/ip'].some((b) => !spawnSync(b, ['-V']).error)) missing.push('ip (Debian package iproute2)');
  return missing.length ? missing.join(', ') : null;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface Orthanc {
  /** http://127.0.0.1:PORT */
  url: string;
  dicomweb: string;
  user: string;
  password: string;
  /** Orthanc's REST API with the test's credentials. */
  rest(method: string, p: string, body?: Uint8Array): Promise<Response>;
  stop(): Promise<void>;
}

export async function startOrthanc(): Promise<Orthanc> {
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-orthanc-'));
  const port = await freePort();
  const user = 'pacs', password = 'test-secret';
  const config = {
    Name: 'covid-ct-test', StorageDirectory: path.join(dir, 'db'), IndexDirectory: path.join(dir, 'db'),
    HttpPort: port, DicomServerEnabled: false, RemoteAccessAllowed: false,
    AuthenticationEnabled: true, RegisteredUsers: { [user]: password },
    Plugins: [dicomWebPlugin()], DicomWeb: { Enable: true, Root: '/dicom-web/' },
    StableAge: 1, HttpThreadsCount: 8, ConcurrentJobs: 1,
  };
  await writeFile(path.join(dir, 'orthanc.json'), JSON.stringify(config));
  const proc: ChildProcess = spawn(orthancBinary() ?? 'Orthanc', [path.join(dir, 'orthanc.json')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000); });
  const url = `http://127.0.0.1:${port}`;
  const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const rest = (method: string, p: string, body?: Uint8Array) =>
    fetch(`${url}${p}`, { method, body: body as unknown as BodyInit | undefined, headers: { authorization: auth } });
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => { const t = setTimeout(() => { proc.kill('SIGKILL'); r(null); }, 10_000); proc.once('exit', () => { clearTimeout(t); r(null); }); });
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) { await stop(); throw new Error(`Orthanc exited (${proc.exitCode}): ${log}`); }
    const ok = await rest('GET', '/system').then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) { await stop(); throw new Error(`Orthanc did not answer in 30 s: ${log}`); }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, dicomweb: `${url}/dicom-web`, user, password, rest, stop };
}
