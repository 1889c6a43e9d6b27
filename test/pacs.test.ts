/**
 * covid-ct pacs against a real Orthanc (Debian's orthanc + orthanc-dicomweb): upload slices of the shared P001
 * (COVID) and normal001 series, run `covid-ct pacs --once`, read the SR back through DICOMweb and check it
 * against `covid-ct predict` on the same files, validate it with dcmtk's dsrdump, check that the heatmaps are
 * heatmaps (pixels), run again and check that nothing new is written, then --poll and SIGTERM.
 *
 * Orthanc 1.10 cannot listen on loopback only, so this file re-executes itself inside a network namespace that
 * has nothing but loopback (unshare -n; unshare -rn when not root): Orthanc and the commands run there, with
 * remote access off, and nothing on the machine's network can reach them.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import dicomParser, { type DataSet } from 'dicom-parser';
import { CLI, REPO, runCli } from './helpers.js';
import { orthancMissing, startOrthanc, type Orthanc } from './orthanc.js';
import { DicomWebClient, jsonString } from '../src/pacs/dicomweb.js';
import { opaqueKey } from '../src/data/dicom.js';
import { CONCEPTS, RESEARCH_ONLY } from '../src/pacs/sr.js';

const SHARED = path.resolve(REPO, '../shared/data/covid-ct-md-sample/dicom');
const SERIES = ['P001', 'normal001'];
/** Every 6th file (12-13 slices a series): the whole pipeline on real slices, in seconds. */
const subset = (d: string) => readdirSync(path.join(SHARED, d)).sort().filter((_, i) => i % 6 === 0).map((f) => path.join(SHARED, d, f));
const INSIDE = process.env.COVID_CT_PACS_NETNS === '1';

if (!INSIDE) {
  test('covid-ct pacs against a real Orthanc, in a loopback-only network namespace', { timeout: 300_000 }, async (t) => {
    const missing = orthancMissing();
    if (missing) { t.skip(`not installed: ${missing} (.ci/run installs them)`); return; }
    assert.ok(existsSync(SHARED), `the shared DICOM series are not at ${SHARED}`);
    const self = fileURLToPath(import.meta.url);
    const ns = process.getuid?.() === 0 ? ['-n'] : ['-rn'];
    // NODE_TEST_CONTEXT would make the inner node --test skip its files (it believes it is a child of this runner).
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    // Inside: loopback up (ip may live in /usr/sbin, not on a user's PATH), then this file again under node --test.
    const script = 'PATH="$PATH:/usr/sbin:/sbin" ip link set lo up && exec "$0" --test --test-concurrency=1 --test-reporter=tap "$1"';
    const child = spawn('unshare', [...ns, 'sh', '-c', script, process.execPath, self], {
      env: { ...env, COVID_CT_PACS_NETNS: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d; });
    child.stderr.on('data', (d: Buffer) => { out += d; });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    // The inner run's report, so that a failure shows which check failed and why.
    for (const line of out.trimEnd().split('\n')) t.diagnostic(line);
    assert.equal(code, 0, `the tests inside the namespace failed:\n${out}`);
    const passed = Number(/^# pass (\d+)$/m.exec(out)?.[1] ?? 0);
    assert.equal(passed, 9, `expected the 9 tests inside the namespace to pass:\n${out}`);
    assert.match(out, /^# fail 0$/m);
  });
} else {
  describe('covid-ct pacs (inside the namespace)', { timeout: 240_000 }, () => {
    let orthanc: Orthanc;
    let client: DicomWebClient;
    const files = SERIES.flatMap(subset);
    const uidOf = new Map<string, { study: string; series: string; sop: string; patientId: string }>();
    let predicted: { predictions: { file: string; probability: number; label: string; series: string }[]; scans: { series: string; probability: number; label: string; k: number; slices: number }[]; threshold: number };
    let tmp: string;
    const model = JSON.parse(readFileSync(path.join(REPO, 'models/default/model.json'), 'utf8')) as { threshold: number; backbone: { sha256: string }; head: { sha256: string }; card: { name: string } };
    const env = () => ({ COVID_CT_DICOMWEB_AUTH: `${orthanc.user}:${orthanc.password}` });

    before(async () => {
      tmp = await mkdtemp(path.join(tmpdir(), 'covid-ct-pacs-test-'));
      orthanc = await startOrthanc();
      client = new DicomWebClient(orthanc.dicomweb, { auth: { kind: 'basic', user: orthanc.user, password: orthanc.password } });
      for (const f of files) {
        const bytes = readFileSync(f);
        const r = await orthanc.rest('POST', '/instances', bytes);
        assert.ok(r.ok, `upload of ${f}: HTTP ${r.status}`);
        const ds = dicomParser.parseDicom(bytes, { untilTag: 'x7fe00010' });
        uidOf.set(f, { study: ds.string('x0020000d')!, series: ds.string('x0020000e')!, sop: ds.string('x00080018')!, patientId: ds.string('x00100020') ?? '' });
      }
      const p = await runCli(['predict', '--format', 'json', '--quiet', ...files]);
      assert.equal(p.code, 0, p.stderr);
      predicted = JSON.parse(p.stdout);
    });
    after(async () => {
      await orthanc?.stop();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    });

    const counts = async () => (await (await orthanc.rest('GET', '/statistics')).json()) as { CountInstances: number; CountSeries: number };

    test('--once scores both series and stores an SR and heatmaps into each study', async () => {
      const r = await runCli(['pacs', '--dicomweb', orthanc.dicomweb, '--once', '--heatmaps', '2'], { env: env() });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /2 CT series found: 0 already scored, 2 to score/);
      assert.match(r.stderr, /pass done: 2 CT series, 2 scored, 0 already scored, 0 failed\n/);
      const c = await counts();
      // 2 CT series + per series an SR series (1) and a heatmap series (2).
      assert.equal(c.CountSeries, 6);
      assert.equal(c.CountInstances, files.length + 2 * (1 + 2));
    });

    /** The SR of a source series, read back through QIDO-RS and WADO-RS. */
    async function reportOf(study: string): Promise<{ bytes: Uint8Array; ds: DataSet }> {
      const srs = await client.search(`/studies/${study}/series`, { Modality: 'SR' });
      assert.equal(srs.length, 1, 'one SR series in the study');
      const series = jsonString(srs[0], '0020000E')!;
      const inst = await client.search(`/studies/${study}/series/${series}/instances`);
      assert.equal(inst.length, 1, 'one report');
      const bytes = await client.retrieveInstance(study, series, jsonString(inst[0], '00080018')!);
      return { bytes, ds: dicomParser.parseDicom(bytes) };
    }

    const items = (ds: DataSet, tag = 'x0040a730') => (ds.elements[tag]?.items ?? []).map((i) => i.dataSet!);
    const conceptOf = (item: DataSet) => items(item, 'x0040a043')[0]?.string('x00080100');
    const withConcept = (ds: DataSet, concept: readonly unknown[]) => {
      const value = (concept as { tag: number; value: unknown }[]).find((e) => e.tag === 0x00080100)!.value;
      return items(ds).filter((i) => conceptOf(i) === value);
    };
    const numOf = (item: DataSet) => {
      const mv = items(item, 'x0040a300')[0];
      return { exact: mv.double('x0040a161')!, ds: Number(mv.string('x0040a30a')) };
    };

    /** Per series, the mean share of warm pixels in its heatmap pictures (filled by the heatmap test below). */
    const warmth = new Map<string, number>();
    for (const name of SERIES) {
      test(`${name}: the SR holds what covid-ct predict gives, references the source series and is valid (dsrdump)`, async () => {
        const source = files.filter((f) => f.includes(`/${name}/`));
        const { study, series, patientId } = uidOf.get(source[0])!;
        const { bytes, ds } = await reportOf(study);
        const scan = predicted.scans.find((s) => s.series === opaqueKey(series))!;
        assert.ok(scan, 'predict gives a scan row for the series');

        assert.equal(ds.string('x00080016'), '1.2.840.10008.5.1.4.1.1.88.33');
        assert.equal(ds.string('x00080060'), 'SR');
        assert.equal(ds.string('x0020000d'), study, 'stored into the same study');
        assert.equal(ds.string('x00100020') ?? '', patientId, 'same patient');
        assert.equal(ds.string('x00080070'), 'covid-ct');
        const p = numOf(withConcept(ds, CONCEPTS.scanProbability)[0]);
        assert.equal(p.exact, scan.probability, 'P(COVID) of the scan equals predict\'s');
        assert.ok(Math.abs(p.ds - scan.probability) < 1e-12);
        assert.equal(numOf(withConcept(ds, CONCEPTS.threshold)[0]).exact, model.threshold);
        assert.equal(predicted.threshold, model.threshold);
        assert.equal(withConcept(ds, CONCEPTS.label)[0].string('x0040a160'), scan.label);
        assert.equal(numOf(withConcept(ds, CONCEPTS.slicesScored)[0]).exact, scan.slices);
        assert.equal(withConcept(ds, CONCEPTS.modelName)[0].string('x0040a160'), model.card.name);
        assert.equal(withConcept(ds, CONCEPTS.backboneSha256)[0].string('x0040a160'), model.backbone.sha256);
        assert.equal(withConcept(ds, CONCEPTS.headSha256)[0].string('x0040a160'), model.head.sha256);
        assert.ok(withConcept(ds, CONCEPTS.modelVersion)[0].string('x0040a160'));
        assert.ok(withConcept(ds, CONCEPTS.intendedUse)[0].string('x0040a160')!.startsWith(RESEARCH_ONLY));
        assert.equal(withConcept(ds, CONCEPTS.sourceSeries)[0].string('x0040a124'), series);

        // Current Requested Procedure Evidence: this study, the source series, every uploaded instance of it.
        const [ev] = items(ds, 'x0040a375');
        assert.equal(ev.string('x0020000d'), study);
        const [refSeries] = items(ev, 'x00081115');
        assert.equal(refSeries.string('x0020000e'), series);
        const refs = items(refSeries, 'x00081199').map((i) => i.string('x00081155')).sort();
        assert.deepEqual(refs, source.map((f) => uidOf.get(f)!.sop).sort());

        // The top slices: predict's two highest-scoring slices of the series, with their P, each inferred from its image.
        const bySop = new Map(source.map((f) => [uidOf.get(f)!.sop, f]));
        const top = withConcept(ds, CONCEPTS.sliceProbability).map((i) => ({
          p: numOf(i).exact, sop: items(items(i)[0], 'x00081199')[0].string('x00081155')!,
        }));
        const expected = predicted.predictions.filter((x) => source.includes(x.file) && x.label !== 'NotCT').map((x) => x.probability).sort((a, b) => b - a).slice(0, 2);
        assert.deepEqual(top.map((x) => x.p), expected);
        for (const x of top) assert.equal(predicted.predictions.find((q) => q.file === bySop.get(x.sop))?.probability, x.p, 'the slice P is predict\'s for that very instance');

        // dcmtk reads it as a valid Comprehensive SR, with no error or warning.
        const file = path.join(tmp, `${name}-sr.dcm`);
        await writeFile(file, bytes);
        const d = spawnSync('dsrdump', ['-v', '+Pc', file], { encoding: 'utf8' });
        assert.equal(d.status, 0, d.stderr);
        assert.doesNotMatch(d.stderr + d.stdout, /^(E|W|F): /m, 'dsrdump reports a problem');
        assert.match(d.stdout, /Comprehensive SR Document/);
        assert.match(d.stdout, new RegExp(`NUM:\\(CVCT-0010,99COVIDCT,"P\\(COVID\\) of the scan"\\)="${String(p.ds).replace('.', '\\.')}`));
      });

      test(`${name}: the heatmap secondary captures show a heatmap over the slice`, async () => {
        const source = files.filter((f) => f.includes(`/${name}/`));
        const { study } = uidOf.get(source[0])!;
        const { ds: sr } = await reportOf(study);
        const referenced = withConcept(sr, CONCEPTS.heatmap).map((i) => items(i, 'x00081199')[0].string('x00081155'));
        const ot = await client.search(`/studies/${study}/series`, { Modality: 'OT' });
        assert.equal(ot.length, 1);
        const seriesUid = jsonString(ot[0], '0020000E')!;
        const inst = await client.search(`/studies/${study}/series/${seriesUid}/instances`);
        assert.equal(inst.length, 2);
        assert.deepEqual(inst.map((i) => jsonString(i, '00080018')).sort(), [...referenced].sort(), 'the SR references the heatmaps stored');
        const topSops = withConcept(sr, CONCEPTS.sliceProbability).map((i) => items(items(i)[0], 'x00081199')[0].string('x00081155'));
        for (const i of inst) {
          const ds = dicomParser.parseDicom(await client.retrieveInstance(study, seriesUid, jsonString(i, '00080018')!));
          assert.equal(ds.string('x00080016'), '1.2.840.10008.5.1.4.1.1.7');
          assert.equal(ds.string('x00280004'), 'RGB');
          assert.equal(ds.uint16('x00280002'), 3);
          const rows = ds.uint16('x00280010')!, cols = ds.uint16('x00280011')!;
          // The 512 px slice, and the legend strip under it.
          assert.equal(cols, 512);
          assert.ok(rows > 512 && rows < 600, `rows ${rows}`);
          assert.ok(topSops.includes(items(ds, 'x00082112')[0].string('x00081155')), 'derived from one of the top slices');
          const px = ds.elements.x7fe00010;
          assert.equal(px.length, rows * cols * 3);
          const rgb = ds.byteArray.subarray(px.dataOffset, px.dataOffset + px.length);
          // A heatmap: coloured pixels over the lungs (a grey slice has none; the legend's bar alone is 0.3%), and grey
          // still showing. How warm depends on the scan: one colour scale for every slice (compared below).
          let coloured = 0, warm = 0, grey = 0;
          for (let k = 0; k < rows * cols; k++) {
            const [r, g, b] = [rgb[3 * k], rgb[3 * k + 1], rgb[3 * k + 2]];
            const spread = Math.max(r, g, b) - Math.min(r, g, b);
            if (spread > 40) coloured++;
            if (spread <= 4) grey++;
            if (r > 150 && b < 110 && r - b > 80) warm++;
          }
          const n = rows * cols;
          assert.ok(coloured / n > 0.03, `only ${(100 * coloured / n).toFixed(1)}% coloured pixels`);
          warmth.set(name, (warmth.get(name) ?? 0) + warm / n / inst.length);
          assert.ok(grey / n > 0.05, `only ${(100 * grey / n).toFixed(1)}% grey pixels (the slice should show outside the map)`);
        }
      });
    }

    test('the COVID series\' heatmaps are warmer than the normal series\' (one colour scale for every slice)', () => {
      const [covid, normal] = SERIES.map((s) => warmth.get(s));
      assert.ok(covid !== undefined && normal !== undefined, 'both heatmap tests ran');
      console.log(`# warm pixels: P001 ${(100 * covid).toFixed(2)}%, normal001 ${(100 * normal).toFixed(2)}%`);
      assert.ok(covid > 0.005, `P001: only ${(100 * covid).toFixed(2)}% warm pixels`);
      assert.ok(covid > 2 * normal, `P001 ${(100 * covid).toFixed(2)}% against normal001 ${(100 * normal).toFixed(2)}%`);
    });

    test('a second run writes nothing new: it recognises its reports (--auth given on the command line)', async () => {
      const before = await counts();
      const r = await runCli(['pacs', '--dicomweb', orthanc.dicomweb, '--once', '--auth', `${orthanc.user}:${orthanc.password}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /pass done: 2 CT series, 0 scored, 2 already scored, 0 failed\n/);
      assert.deepEqual(await counts(), before);
      const changes = (await (await orthanc.rest('GET', '/changes?limit=1000')).json()) as { Changes: { ChangeType: string }[] };
      assert.equal(changes.Changes.filter((x) => x.ChangeType === 'NewInstance').length, before.CountInstances, 'no instance stored twice');
    });

    test('wrong credentials: a clear error, no stack trace, exit code 2', async () => {
      const r = await runCli(['pacs', '--dicomweb', orthanc.dicomweb, '--once', '--auth', `${orthanc.user}:wrong`]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /HTTP 401.*check --auth/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });

    test('--poll: a series whose report was deleted is scored again once it holds still; SIGTERM stops it cleanly', async () => {
      const before = await counts();
      // Delete P001's report (what an operator does to have a series scored again).
      const { study } = uidOf.get(files.find((f) => f.includes('/P001/'))!)!;
      const found = await orthanc.rest('POST', '/tools/find', new TextEncoder().encode(JSON.stringify({ Level: 'Series', Query: { Modality: 'SR', StudyInstanceUID: study } })));
      const ids = (await found.json()) as string[];
      assert.equal(ids.length, 1);
      assert.ok((await orthanc.rest('DELETE', `/series/${ids[0]}`)).ok);
      assert.equal((await counts()).CountInstances, before.CountInstances - 1);

      const child = spawn(process.execPath, [CLI, 'pacs', '--dicomweb', orthanc.dicomweb, '--poll', '1'], { cwd: REPO, env: { ...process.env, ...env() }, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      // Pass 1: the series is new to this process (it may still be arriving); pass 2 scores it; pass 3 is idle.
      const idleAfterScoring = /pass done: 2 CT series, 1 scored, 1 already scored, 0 failed; next pass in 1 s\n[^]*pass done: 2 CT series, 0 scored, 2 already scored, 0 failed; next pass in 1 s\n/;
      const passes = new Promise<void>((resolve) => child.stderr.on('data', (d: Buffer) => {
        err += d;
        if (idleAfterScoring.test(err)) resolve();
      }));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      await Promise.race([passes, exited]);
      child.kill('SIGTERM');
      const code = await exited;
      assert.equal(code, 0, err);
      assert.match(err, /a pass every 1 s/);
      assert.match(err, /^.*1 still arriving \(scored on the next pass\)$/m);
      assert.match(err, idleAfterScoring);
      assert.match(err, /SIGTERM: stopping\n.*stopped\n$/);
      // The same report again (same UIDs), and the heatmaps it stored again were already there: nothing more.
      assert.deepEqual(await counts(), before);
      const { ds } = await reportOf(study);
      const scan = predicted.scans.find((x) => x.series === opaqueKey(uidOf.get(files.find((f) => f.includes('/P001/'))!)!.series))!;
      assert.equal(numOf(withConcept(ds, CONCEPTS.scanProbability)[0]).exact, scan.probability);
    });
  });
}
