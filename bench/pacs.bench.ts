/**
 * What the PACS round trip costs: `covid-ct pacs --once` over a whole real series stored in a real Orthanc
 * (QIDO-RS, WADO-RS of every instance, scoring, heatmaps, STOW-RS), against `covid-ct predict` on the same files
 * from disk in the same run (the reference: same model, same decoding, no network). Also a pass with nothing to
 * do (the idempotence check alone). Runs Orthanc in a loopback-only network namespace, like test/pacs.test.ts.
 *
 *   npm run bench:pacs [-- --series P001]
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './args.js';
import { packageRoot } from '../src/cli/command.js';
import { orthancMissing, startOrthanc } from '../test/orthanc.js';

const { values } = benchArgs(import.meta.url, { options: { series: { type: 'string' } } });
const root = packageRoot();
const dir = path.resolve(root, '../shared/data/covid-ct-md-sample/dicom', values.series ?? 'P001');
const CLI = path.join(root, 'dist/src/cli/main.js');

if (process.env.COVID_CT_PACS_NETNS !== '1') {
  const missing = orthancMissing();
  if (missing) throw new Error(`not installed: ${missing}`);
  const ns = process.getuid?.() === 0 ? ['-n'] : ['-rn'];
  const script = 'PATH="$PATH:/usr/sbin:/sbin" ip link set lo up && exec "$0" "$@"';
  const child = spawn('unshare', [...ns, 'sh', '-c', script, process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    env: { ...process.env, COVID_CT_PACS_NETNS: '1' }, stdio: 'inherit',
  });
  child.on('exit', (code) => { process.exitCode = code ?? 1; });
} else {
  const files = readdirSync(dir).sort().map((f) => path.join(dir, f));
  const orthanc = await startOrthanc();
  try {
    for (const f of files) await orthanc.rest('POST', '/instances', readFileSync(f));
    const env = { ...process.env, COVID_CT_DICOMWEB_AUTH: `${orthanc.user}:${orthanc.password}` };
    const time = (args: string[]): number => {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
      if (r.status !== 0) throw new Error(`covid-ct ${args[0]} exited with ${r.status}: ${r.stderr}`);
      return (performance.now() - t0) / 1000;
    };
    const pacs = (heatmaps: number) => ['pacs', '--dicomweb', orthanc.dicomweb, '--once', '--quiet', '--heatmaps', String(heatmaps)];
    const deleteOutput = async () => {
      for (const modality of ['SR', 'OT']) {
        const ids = (await (await orthanc.rest('POST', '/tools/find', new TextEncoder().encode(JSON.stringify({ Level: 'Series', Query: { Modality: modality } })))).json()) as string[];
        for (const id of ids) await orthanc.rest('DELETE', `/series/${id}`);
      }
    };
    const rows: [string, number][] = [];
    rows.push(['covid-ct predict, files on disk (reference)', time(['predict', '--quiet', '--format', 'csv', ...files])]);
    rows.push(['covid-ct pacs --once --heatmaps 0', time(pacs(0))]);
    await deleteOutput();
    rows.push(['covid-ct pacs --once (default: top-k heatmaps)', time(pacs(10))]);
    rows.push(['covid-ct pacs --once, second pass (nothing to do)', time(pacs(10))]);
    console.log(`${path.basename(dir)}: ${files.length} slices, Orthanc ${orthanc.url} (loopback-only namespace); each row a fresh process (model load included)\n`);
    console.log('| run | seconds | slices/s | vs predict |');
    console.log('|---|---|---|---|');
    for (const [name, s] of rows) console.log(`| ${name} | ${s.toFixed(1)} | ${(files.length / s).toFixed(1)} | ${(s / rows[0][1]).toFixed(2)}x |`);
  } finally {
    await orthanc.stop();
  }
}
