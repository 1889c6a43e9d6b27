/**
 * The DICOM Comprehensive SR that covid-ct stores for one scored CT series: the scan's P(COVID), the threshold,
 * the label, how the scan score was made, the model (name, version, weight hashes), the source series (by UID,
 * and every instance in Current Requested Procedure Evidence), the highest-scoring slices with their P and
 * their heatmaps, and "research use only, not for diagnostic use". Pure: inputs to a dataset.
 *
 * Comprehensive SR rather than Basic Text SR because the probabilities are NUM items (a number a program can
 * read back), which Basic Text SR does not allow. Concepts without a standard code use a private coding scheme
 * (99COVIDCT, "99" = local, PS3.16 8.2).
 */
import { scanHow, type ScanScore } from '../predict/series.js';
import { type DicomDataset, type DicomElement, decimalString } from './dicom-write.js';
import { type Provenance, type StudyInfo, code, contentDateTime, ownershipElements, patientStudyElements, sopRef } from './composite.js';
import { SERIES_PREFIX } from './identity.js';

export const COMPREHENSIVE_SR = '1.2.840.10008.5.1.4.1.1.88.33';
export const SCHEME = '99COVIDCT';
export const RESEARCH_ONLY = 'Research use only, not for diagnostic use.';

/** The concepts of the report, by what they hold. */
export const CONCEPTS = {
  title: code('CVCT-0001', SCHEME, 'COVID-19 CT screening, research'),
  intendedUse: code('CVCT-0002', SCHEME, 'Intended use'),
  summary: code('CVCT-0003', SCHEME, 'Summary'),
  sourceSeries: code('112002', 'DCM', 'Series Instance UID'),
  scanProbability: code('CVCT-0010', SCHEME, 'P(COVID) of the scan'),
  threshold: code('CVCT-0011', SCHEME, 'Slice decision threshold'),
  label: code('CVCT-0012', SCHEME, 'Label'),
  method: code('CVCT-0013', SCHEME, 'Scan score method'),
  slicesScored: code('CVCT-0014', SCHEME, 'Slices scored'),
  slicesNotCt: code('CVCT-0015', SCHEME, 'Slices not a chest CT'),
  slicesFailed: code('CVCT-0016', SCHEME, 'Slices that could not be read'),
  involvement: code('CVCT-0017', SCHEME, 'Lung involvement'),
  sliceProbability: code('CVCT-0020', SCHEME, 'P(COVID) of a slice'),
  heatmap: code('CVCT-0021', SCHEME, 'Heatmap of a slice'),
  modelName: code('CVCT-0030', SCHEME, 'Model name'),
  modelVersion: code('CVCT-0031', SCHEME, 'Model version'),
  backboneSha256: code('CVCT-0032', SCHEME, 'Backbone weights SHA-256'),
  headSha256: code('CVCT-0033', SCHEME, 'Head weights SHA-256'),
  software: code('CVCT-0034', SCHEME, 'Software'),
} as const;

const NO_UNITS = code('1', 'UCUM', 'no units');
const PERCENT = code('%', 'UCUM', 'percent');
const SLICES = code('{slices}', 'UCUM', 'slices');

export interface SourceInstance {
  sopClass: string;
  sopInstance: string;
}

export interface TopSlice extends SourceInstance {
  probability: number;
  /** The heatmap instance made of this slice (secondary capture), when one was stored. */
  heatmap?: SourceInstance;
}

export interface ReportInput {
  study: StudyInfo;
  provenance: Provenance;
  source: { seriesUid: string; instances: SourceInstance[] };
  /** null when no slice could be scored as a chest CT (a scout, a non-chest series): the report says so. */
  scan: ScanScore | null;
  threshold: number;
  /** Slices that could not be decoded. */
  failed: number;
  /** Slices left out as not a chest CT. */
  notCt: number;
  model: { version: string; backboneSha256: string; headSha256: string };
  top: TopSlice[];
  heatmapSeries: string;
  uids: { series: string; instance: string };
  now: Date;
}

type Rel = 'CONTAINS' | 'INFERRED FROM';

function item(rel: Rel, valueType: string, concept: DicomDataset, value: DicomElement[], children: DicomDataset[] = []): DicomDataset {
  return [
    { tag: 0x0040a010, vr: 'CS', value: rel },
    { tag: 0x0040a040, vr: 'CS', value: valueType },
    { tag: 0x0040a043, vr: 'SQ', value: [concept] },
    ...value,
    ...(children.length ? [{ tag: 0x0040a730, vr: 'SQ', value: children } as DicomElement] : []),
  ];
}

const text = (concept: DicomDataset, t: string, rel: Rel = 'CONTAINS') => item(rel, 'TEXT', concept, [{ tag: 0x0040a160, vr: 'UT', value: t }]);

/** A NUM item: the value as a decimal string and, exactly, as a double (FloatingPointValue). */
function num(concept: DicomDataset, x: number, units: DicomDataset, children: DicomDataset[] = []): DicomDataset {
  return item('CONTAINS', 'NUM', concept, [{
    tag: 0x0040a300, vr: 'SQ', value: [[
      { tag: 0x004008ea, vr: 'SQ', value: [units] },
      { tag: 0x0040a30a, vr: 'DS', value: decimalString(x) },
      { tag: 0x0040a161, vr: 'FD', value: [x] },
    ]],
  }], children);
}

const image = (rel: Rel, concept: DicomDataset, ref: SourceInstance) =>
  item(rel, 'IMAGE', concept, [{ tag: 0x00081199, vr: 'SQ', value: [sopRef(ref.sopClass, ref.sopInstance)] }]);

/** Evidence: one study, series by series, each with its instances (Hierarchical SOP Instance Reference Macro). */
function evidence(studyUid: string, series: { uid: string; instances: SourceInstance[] }[]): DicomDataset[] {
  return [[
    { tag: 0x0020000d, vr: 'UI', value: studyUid },
    {
      tag: 0x00081115, vr: 'SQ', value: series.map((s) => [
        { tag: 0x0020000e, vr: 'UI', value: s.uid },
        { tag: 0x00081199, vr: 'SQ', value: s.instances.map((i) => sopRef(i.sopClass, i.sopInstance)) },
      ] as DicomDataset),
    },
  ]];
}

/** The one-line verdict shown by viewers that only print text. */
export function summaryText(r: Pick<ReportInput, 'scan' | 'threshold'>): string {
  const { scan } = r;
  if (!scan) return `No verdict: no slice of this series is a chest CT slice the model could score. ${RESEARCH_ONLY}`;
  if (scan.labelRule === 'involvement and pattern') {
    return `Scan: ${scan.label} (${scan.category}). ${scanHow(scan)}. Score ${scan.probability.toFixed(4)} (ranks scans; not a calibrated probability). ${RESEARCH_ONLY}`;
  }
  const cmp = scan.probability >= r.threshold ? '>=' : '<';
  return `P(COVID) of the scan ${scan.probability.toFixed(4)} ${cmp} threshold ${r.threshold.toFixed(4)}: ${scan.label} ` +
    `(mean of the top ${scan.k} of ${scan.slices} slice probabilities). ${RESEARCH_ONLY}`;
}

export function buildReport(r: ReportInput): DicomDataset {
  const { scan } = r;
  const content: DicomDataset[] = [
    text(CONCEPTS.intendedUse, `${RESEARCH_ONLY} covid-ct is not a medical device; its output must not be used to diagnose or treat a patient.`),
    text(CONCEPTS.summary, summaryText(r)),
    item('CONTAINS', 'UIDREF', CONCEPTS.sourceSeries, [{ tag: 0x0040a124, vr: 'UI', value: r.source.seriesUid }]),
    ...(scan ? [num(CONCEPTS.scanProbability, scan.probability, NO_UNITS)] : []),
    num(CONCEPTS.threshold, r.threshold, NO_UNITS),
    text(CONCEPTS.label, scan ? scan.label : 'No verdict'),
    ...(scan ? [text(CONCEPTS.method, scanHow(scan))] : []),
    num(CONCEPTS.slicesScored, scan?.slices ?? 0, SLICES),
    num(CONCEPTS.slicesNotCt, r.notCt, SLICES),
    num(CONCEPTS.slicesFailed, r.failed, SLICES),
    ...(scan && scan.involvement !== null ? [num(CONCEPTS.involvement, 100 * scan.involvement, PERCENT)] : []),
    text(CONCEPTS.modelName, r.provenance.modelName),
    text(CONCEPTS.modelVersion, r.model.version),
    text(CONCEPTS.backboneSha256, r.model.backboneSha256),
    text(CONCEPTS.headSha256, r.model.headSha256),
    text(CONCEPTS.software, `covid-ct ${r.provenance.softwareVersion}`),
    // The highest-scoring slices: P of each, inferred from the source image; then the heatmaps.
    ...r.top.map((t) => num(CONCEPTS.sliceProbability, t.probability, NO_UNITS, [image('INFERRED FROM', CONCEPTS.sliceProbability, t)])),
    ...r.top.flatMap((t) => (t.heatmap ? [image('CONTAINS', CONCEPTS.heatmap, t.heatmap)] : [])),
  ];
  const heatmaps = r.top.flatMap((t) => (t.heatmap ? [t.heatmap] : []));
  return [
    ...patientStudyElements(r.study),
    ...ownershipElements(r.provenance, 'report'),
    ...contentDateTime(r.now),
    { tag: 0x00080016, vr: 'UI', value: COMPREHENSIVE_SR },
    { tag: 0x00080018, vr: 'UI', value: r.uids.instance },
    { tag: 0x00080060, vr: 'CS', value: 'SR' },
    { tag: 0x0008103e, vr: 'LO', value: `${SERIES_PREFIX} report (research use only)` },
    { tag: 0x00081111, vr: 'SQ', value: [] },
    { tag: 0x0020000e, vr: 'UI', value: r.uids.series },
    { tag: 0x00200011, vr: 'IS', value: '9901' }, // after the scanner's own series in most viewers
    { tag: 0x00200013, vr: 'IS', value: '1' },
    // SR Document General and Content modules.
    { tag: 0x0040a040, vr: 'CS', value: 'CONTAINER' },
    { tag: 0x0040a043, vr: 'SQ', value: [CONCEPTS.title] },
    { tag: 0x0040a050, vr: 'CS', value: 'SEPARATE' },
    { tag: 0x0040a372, vr: 'SQ', value: [] },
    { tag: 0x0040a375, vr: 'SQ', value: evidence(r.study.studyUid, [{ uid: r.source.seriesUid, instances: r.source.instances }]) },
    ...(heatmaps.length ? [{ tag: 0x0040a385, vr: 'SQ', value: evidence(r.study.studyUid, [{ uid: r.heatmapSeries, instances: heatmaps }]) } as DicomElement] : []),
    { tag: 0x0040a491, vr: 'CS', value: 'COMPLETE' },
    { tag: 0x0040a493, vr: 'CS', value: 'UNVERIFIED' },
    { tag: 0x0040a730, vr: 'SQ', value: content },
  ];
}
