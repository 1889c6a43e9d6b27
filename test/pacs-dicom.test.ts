/**
 * The pure parts of the PACS module: the DICOM writer (read back by dicom-parser and dcmtk), multipart bodies,
 * derived UIDs, --auth parsing, recognising our own output, and the SR builder's document (dsrdump).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import { decimalString, writePart10, type DicomDataset } from '../src/pacs/dicom-write.js';
import { boundaryOf, buildMultipart, parseMultipart } from '../src/pacs/multipart.js';
import { derivedUid, isOwnOutput, outputUids } from '../src/pacs/identity.js';
import { parseAuth, jsonString } from '../src/pacs/dicomweb.js';
import { buildReport, CONCEPTS, type ReportInput } from '../src/pacs/sr.js';
import { buildHeatmapImage } from '../src/pacs/secondary-capture.js';
import type { StudyInfo } from '../src/pacs/composite.js';

const study: StudyInfo = {
  studyUid: '1.2.3.4', patientName: 'Müller^Jürgen', patientId: 'ID-7', patientBirthDate: '19600101', patientSex: 'M',
  studyDate: '20200411', studyTime: '101010', studyId: '1', accessionNumber: 'A1', referringPhysician: '',
};
const provenance = { softwareVersion: '0.1.0', modelName: 'covid-ct default', modelKey: '0123456789abcdef', sourceSeries: '1.2.3.4.5' };

test('writePart10: explicit VR little endian that dicom-parser reads back, odd lengths padded, nested sequences', () => {
  const ds: DicomDataset = [
    { tag: 0x00080016, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.7' },
    { tag: 0x00080018, vr: 'UI', value: '1.2.3' }, // odd: padded with NUL
    { tag: 0x00100010, vr: 'PN', value: 'Doe^Jo' },
    { tag: 0x00080008, vr: 'CS', value: ['DERIVED', 'SECONDARY'] },
    { tag: 0x00280010, vr: 'US', value: [512] },
    { tag: 0x0040a161, vr: 'FD', value: [0.1 + 0.2] },
    { tag: 0x0040a730, vr: 'SQ', value: [[{ tag: 0x0040a160, vr: 'UT', value: 'abc' }, { tag: 0x0040a730, vr: 'SQ', value: [[{ tag: 0x00080100, vr: 'SH', value: 'X' }]] }]] },
    { tag: 0x7fe00010, vr: 'OB', value: new Uint8Array([1, 2, 3]) },
  ];
  const bytes = writePart10(ds);
  assert.equal(new TextDecoder().decode(bytes.subarray(128, 132)), 'DICM');
  const p = dicomParser.parseDicom(bytes);
  assert.equal(p.string('x00020010'), '1.2.840.10008.1.2.1');
  assert.equal(p.string('x00020003'), '1.2.3');
  assert.equal(p.string('x00080018'), '1.2.3');
  assert.equal(p.elements.x00080018.length, 6);
  assert.equal(p.string('x00080008', 1), 'SECONDARY');
  assert.equal(p.uint16('x00280010'), 512);
  assert.equal(p.double('x0040a161'), 0.1 + 0.2);
  const item = p.elements.x0040a730.items![0].dataSet!;
  assert.equal(item.string('x0040a160'), 'abc');
  assert.equal(item.elements.x0040a730.items![0].dataSet!.string('x00080100'), 'X');
  assert.equal(p.elements.x7fe00010.length, 4);
  // All ASCII: no character set declared.
  assert.equal(p.string('x00080005'), undefined);
});

test('writePart10: non-ASCII text is UTF-8, declared ISO_IR 192; bad values are refused with the tag named', () => {
  const base: DicomDataset = [{ tag: 0x00080016, vr: 'UI', value: '1.2' }, { tag: 0x00080018, vr: 'UI', value: '1.3' }];
  const p = dicomParser.parseDicom(writePart10([...base, { tag: 0x00100010, vr: 'PN', value: 'Müller' }]));
  assert.equal(p.string('x00080005'), 'ISO_IR 192');
  const el = p.elements.x00100010;
  assert.equal(new TextDecoder().decode(p.byteArray.subarray(el.dataOffset, el.dataOffset + el.length)).trimEnd(), 'Müller');
  assert.throws(() => writePart10([...base, { tag: 0x00080070, vr: 'LO', value: 'x'.repeat(65) }]), /\(0008,0070\) LO value longer than 64/);
  assert.throws(() => writePart10([...base, { tag: 0x00080070, vr: 'LO', value: 'a\\b' }]), /backslash/);
  assert.throws(() => writePart10([...base, { tag: 0x00080018, vr: 'UI', value: '9' }]), /duplicate attribute \(0008,0018\)/);
  assert.throws(() => writePart10([{ tag: 0x00080016, vr: 'UI', value: '1.2' }]), /SOPInstanceUID/);
});

test('decimalString: at most 16 characters, as close as fits', () => {
  for (const x of [0.5385556531136102, 1e-7 / 3, 123456789.123456789, 0, 1, 0.1, 2 / 3, 2.5869226777374238]) {
    const s = decimalString(x);
    assert.ok(s.length <= 16, s);
    assert.ok(Math.abs(Number(s) - x) <= Math.abs(x) * 1e-12 + 1e-300 || Math.abs(Number(s) - x) < 1e-15, `${s} for ${x}`);
  }
  assert.equal(decimalString(0.25), '0.25');
  assert.throws(() => decimalString(NaN), /DS cannot hold/);
});

test('multipart: build then parse gives the parts back, bytes exact; a cut body is an error', () => {
  const a = new Uint8Array([0x0d, 0x0a, 0x2d, 0x2d, 0, 255, 13, 10]);
  const b = new TextEncoder().encode('second part');
  const body = buildMultipart([{ contentType: 'application/dicom', body: a }, { contentType: 'application/dicom', body: b }], 'XyZ');
  const ct = 'multipart/related; type="application/dicom"; boundary=XyZ';
  assert.equal(boundaryOf(ct), 'XyZ');
  assert.equal(boundaryOf('multipart/related; boundary="q q"; type=x'), 'q q');
  const parts = parseMultipart(body, 'XyZ');
  assert.equal(parts.length, 2);
  assert.deepEqual([...parts[0].body], [...a]);
  assert.deepEqual([...parts[1].body], [...b]);
  assert.equal(parts[0].headers['content-type'], 'application/dicom');
  assert.throws(() => parseMultipart(body.subarray(0, body.length - 30), 'XyZ'), /cut short/);
  assert.throws(() => boundaryOf('application/dicom+json'), /not a multipart answer/);
});

test('derived UIDs: the same inputs give the same valid UID, other inputs another', () => {
  const u = outputUids('1.2.3.4.5', 'abc');
  assert.match(u.report, /^2\.25\.[1-9]\d*$/);
  assert.ok(u.report.length <= 64);
  assert.equal(outputUids('1.2.3.4.5', 'abc').report, u.report);
  assert.notEqual(outputUids('1.2.3.4.5', 'abd').report, u.report, 'another model, another report');
  assert.notEqual(outputUids('1.2.3.4.6', 'abc').report, u.report);
  assert.equal(new Set([u.report, u.reportSeries, u.heatmapSeries, u.heatmap('9.8'), u.heatmap('9.9')]).size, 5);
  assert.notEqual(derivedUid('a', 'bc'), derivedUid('ab', 'c'));
});

test('parseAuth and jsonString', () => {
  assert.deepEqual(parseAuth('me:p:w'), { kind: 'basic', user: 'me', password: 'p:w' });
  assert.deepEqual(parseAuth('bearer:tok'), { kind: 'bearer', token: 'tok' });
  assert.throws(() => parseAuth('nocolon'), /user:password or bearer:TOKEN/);
  assert.equal(jsonString({ '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Doe^J', Ideographic: 'X' }] } }, '00100010'), 'Doe^J=X');
  assert.equal(jsonString({ '00200013': { vr: 'IS', Value: [7] } }, '00200013'), '7');
  assert.equal(jsonString({}, '00200013'), undefined);
});

test('isOwnOutput: our manufacturer or series prefix, not a scanner series', () => {
  assert.equal(isOwnOutput({ manufacturer: 'covid-ct', modality: 'SR' }), true);
  assert.equal(isOwnOutput({ description: 'covid-ct heatmaps (research use only)', modality: 'CT' }), true);
  assert.equal(isOwnOutput({ manufacturer: 'SIEMENS', description: 'ThorRoutine 2.0 D40s', modality: 'CT' }), false);
});

function reportInput(over: Partial<ReportInput> = {}): ReportInput {
  return {
    study, provenance, now: new Date('2026-01-02T03:04:05Z'), threshold: 0.2675, failed: 1, notCt: 2,
    source: { seriesUid: '1.2.3.4.5', instances: [{ sopClass: '1.2.840.10008.5.1.4.1.1.2', sopInstance: '1.2.3.4.5.1' }, { sopClass: '1.2.840.10008.5.1.4.1.1.2', sopInstance: '1.2.3.4.5.2' }] },
    scan: { series: 'k', kind: 'DICOM series', slices: 2, probability: 0.6, method: 'mean of top k', k: 1, label: 'COVID', labelRule: 'involvement and pattern', involvementPresent: 0.63, pattern: 0.7, category: 'typical', involvement: 0.05, notCt: 2 },
    model: { version: 'v', backboneSha256: 'b'.repeat(64), headSha256: 'h'.repeat(64) },
    top: [{ sopClass: '1.2.840.10008.5.1.4.1.1.2', sopInstance: '1.2.3.4.5.2', probability: 0.6, heatmap: { sopClass: '1.2.840.10008.5.1.4.1.1.7', sopInstance: '1.2.9' } }],
    heatmapSeries: '1.2.8', uids: { series: '1.2.6', instance: '1.2.7' },
    ...over,
  };
}

test('buildReport: a Comprehensive SR that dsrdump reads without a warning, with and without a scan verdict', async (t) => {
  const dsr = spawnSync('dsrdump', ['--version']);
  if (dsr.error) { t.skip('dsrdump (Debian package dcmtk) is not installed'); return; }
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-sr-'));
  try {
    for (const [name, input] of [['scan', reportInput()], ['noscan', reportInput({ scan: null, top: [] })]] as const) {
      const file = path.join(dir, `${name}.dcm`);
      const bytes = writePart10(buildReport(input));
      await writeFile(file, bytes);
      const r = spawnSync('dsrdump', ['-v', '+Pc', '+Pl', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      // Patient name is not ASCII here: dcmtk 3.6.7 warns that its VR checker does not know ISO_IR 192, nothing else.
      const problems = (r.stderr + r.stdout).split('\n').filter((l) => /^(E|W|F): /.test(l) && !/does not support this Specific Character Set: ISO_IR 192/.test(l));
      assert.deepEqual(problems, []);
      assert.match(r.stdout, /Research use only, not for diagnostic use\./);
      if (name === 'scan') {
        assert.match(r.stdout, /NUM:\(CVCT-0010,99COVIDCT,"P\(COVID\) of the scan"\)="0\.6"/);
        assert.match(r.stdout, /TEXT:\(CVCT-0012,99COVIDCT,"Label"\)="COVID"/);
      } else {
        assert.doesNotMatch(r.stdout, /CVCT-0010/);
        assert.match(r.stdout, /TEXT:\(CVCT-0012,99COVIDCT,"Label"\)="No verdict"/);
      }
      const p = dicomParser.parseDicom(bytes);
      const concepts = p.elements.x0040a730.items!.map((i) => i.dataSet!.elements.x0040a043.items![0].dataSet!.string('x00080100'));
      assert.ok(concepts.includes((CONCEPTS.intendedUse[0].value as string)));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('buildHeatmapImage: RGB secondary capture derived from its source slice; a wrong-sized picture is refused', () => {
  const picture = { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 10, 10, 10]) };
  const input = { study, provenance, picture, source: { sopClass: '1.2.840.10008.5.1.4.1.1.2', sopInstance: '1.2.3.4.5.2' }, probability: 0.61, rank: 1, uids: { series: '1.2.8', instance: '1.2.9' }, now: new Date() };
  const p = dicomParser.parseDicom(writePart10(buildHeatmapImage(input)));
  assert.equal(p.string('x00280004'), 'RGB');
  assert.equal(p.uint16('x00280011'), 2);
  assert.equal(p.string('x00080070'), 'covid-ct');
  assert.equal(p.elements.x00082112.items![0].dataSet!.string('x00081155'), '1.2.3.4.5.2');
  assert.deepEqual([...p.byteArray.subarray(p.elements.x7fe00010.dataOffset, p.elements.x7fe00010.dataOffset + 6)], [255, 0, 0, 10, 10, 10]);
  assert.throws(() => buildHeatmapImage({ ...input, picture: { ...picture, width: 3 } }), /6 bytes for 3x1 RGB/);
});
