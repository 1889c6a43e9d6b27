/**
 * Does the 8-bit involvement scale agree with the HU one on the same real slices? CT-MD's two raw DICOM series
 * (P001 COVID, normal001; bench/ct-md-dicom.ts) are read as DICOM (involvement in HU) and exported as 8-bit PNG in
 * the lung window (W1500 / L-600, as bench/external-forms.ts does; involvement on the calibrated scale), slice by
 * slice. No label is used.
 *
 *   node dist/bench/hu-agreement.js [--shared DIR] [--candidates 'shipped;no-airway'] [--list N] [--painted]
 *
 * Candidates are InvolvementOptions sets ("name:airwayAnchor=0,hilarTubes=1"; "shipped" = INVOLVEMENT_OPTIONS), applied
 * to both reads. Per candidate: slices measured both ways, mean |PNG - DICOM| and mean signed difference, on all of
 * them and on those with DICOM involvement above 0.1 and 0.3; how many slices moved against the first candidate;
 * --list N prints the N largest differences. --painted adds the same table for normal001 (every 3rd slice, as
 * bench/extent.ts) with ground glass painted over 50, 75 and 95% of its lung, and 95% half consolidated
 * (bench/painted-lungs.ts): no real slice of the two series has more than 10% of its lung involved in HU.
 */
import path from 'node:path';
import { benchArgs } from './args.js';
import sharp from 'sharp';
import { loadCtMdDicom, type DicomSlice } from './ct-md-dicom.js';
import { paint } from './painted-lungs.js';
import { decodeInput } from '../src/data/inputs.js';
import { decodeGrey } from '../src/data/decode.js';
import { readableSlice } from '../src/data/polarity.js';
import { segmentLungs } from '../src/data/lungs.js';
import { lungInvolvement, type InvolvementOptions } from '../src/data/involvement.js';
import { involvementOptionCandidates } from './involvement-candidates.js';
import { windowValue, huOfWindow, DEFAULT_LUNG_WINDOW } from '../src/data/window.js';
import type { GreyImage, HuMapping } from '../src/types.js';
import type { LungSegmentation } from '../src/data/lungs.js';

const { values } = benchArgs(import.meta.url, { options: { shared: { type: 'string', default: '../shared' }, candidates: { type: 'string', default: 'shipped;no-airway:airwayAnchor=0' }, list: { type: 'string', default: '0' }, painted: { type: 'boolean' } } });

const candidates = involvementOptionCandidates(values.candidates!);

/** As prepareSlice: the polarity and orientation stages, then the lungs. */
function lungsOf(img: GreyImage): { seg: LungSegmentation; hu?: HuMapping } {
  const up = readableSlice(img);
  return { seg: up.seg ?? segmentLungs(up.image, up.image.hu ? { hu: up.image.hu } : {}), ...(up.image.hu ? { hu: up.image.hu } : {}) };
}

interface Row { file: string; dicom: (number | null)[]; png: (number | null)[] }
const read = (x: { seg: LungSegmentation; hu?: HuMapping } | null, o: InvolvementOptions) => (x?.seg.found ? lungInvolvement(x.seg, x.hu, o)?.fraction ?? null : null);
/** One slice's HU read as the DICOM (decodeInput, the lung window with its HU mapping) and as a lung-window PNG. */
async function rowOf(s: DicomSlice, hu: Int16Array): Promise<Row> {
  const grey = Uint8Array.from(hu, (v) => windowValue(v, DEFAULT_LUNG_WINDOW));
  // The DICOM's own read is the same greys with their HU mapping (predict reads a DICOM through the lung window).
  const dicomImg: GreyImage = s.hu === hu ? (await decodeInput(s.file, s.bytes))[0].image! : { width: s.width, height: s.height, data: grey, hu: huOfWindow(DEFAULT_LUNG_WINDOW) };
  const png = await sharp(Buffer.from(grey), { raw: { width: s.width, height: s.height, channels: 1 } }).png().toBuffer();
  const d = lungsOf(dicomImg), p = lungsOf(await decodeGrey(new Uint8Array(png)));
  return { file: s.file, dicom: candidates.map(({ o }) => read(d, o)), png: candidates.map(({ o }) => read(p, o)) };
}

const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
function table(title: string, rows: Row[]): void {
  console.log(`${title}: ${rows.length} slices\n`);
  console.log('| candidate | measured both ways | mean DICOM / PNG | mean abs diff | mean diff (PNG - DICOM) | DICOM > 0.1: n, mean abs diff | DICOM > 0.3: n, mean abs diff | PNG moved vs first (> 0.005) |');
  console.log('|---|---:|---|---:|---:|---|---|---:|');
  for (const [k, c] of candidates.entries()) {
    const both = rows.filter((r) => r.dicom[k] !== null && r.png[k] !== null);
    const diff = (rs: Row[]) => rs.map((r) => r.png[k]! - r.dicom[k]!);
    const over = (t: number) => { const rs = both.filter((r) => r.dicom[k]! > t); return `${rs.length}, ${rs.length ? f4(mean(diff(rs).map(Math.abs))) : 'n/a'}`; };
    const moved = rows.filter((r) => r.png[0] !== null && r.png[k] !== null && Math.abs(r.png[k]! - r.png[0]!) > 0.005).length;
    console.log(`| ${c.name} | ${both.length} | ${f4(mean(both.map((r) => r.dicom[k]!)))} / ${f4(mean(both.map((r) => r.png[k]!)))} | ${f4(mean(diff(both).map(Math.abs)))} | ` +
      `${f4(mean(diff(both)))} | ${over(0.1)} | ${over(0.3)} | ${k === 0 ? '' : moved} |`);
  }
  const n = Number(values.list);
  for (const [k, c] of candidates.entries()) {
    if (n <= 0) break;
    const both = rows.filter((r) => r.dicom[k] !== null && r.png[k] !== null);
    const worst = [...both].sort((a, b) => Math.abs(b.png[k]! - b.dicom[k]!) - Math.abs(a.png[k]! - a.dicom[k]!)).slice(0, n);
    console.log(`\n${c.name}, largest differences (DICOM / PNG): ${worst.map((r) => `${r.file} ${f4(r.dicom[k]!)} / ${f4(r.png[k]!)}`).join('; ')}`);
  }
  console.log('');
}

const slices = await loadCtMdDicom(path.resolve(values.shared!));
const real: Row[] = [];
for (const s of slices) real.push(await rowOf(s, s.hu));
table('CT-MD DICOM series read as DICOM (HU) and as lung-window PNG', real);
if (values.painted) {
  const normal = slices.filter((s) => s.series === 'normal001').filter((_, i) => i % 3 === 0);
  for (const [extent, consolidated] of [[0.5, 0], [0.75, 0], [0.95, 0], [0.95, 0.5]]) {
    const rows: Row[] = [];
    for (const [k, s] of normal.entries()) {
      const hu = paint(s, extent, consolidated, k + 1);
      if (hu) rows.push(await rowOf(s, hu));
    }
    table(`normal001 (every 3rd slice) with ${extent * 100}% of the lung painted, ${consolidated * 100}% of it consolidated`, rows);
  }
}
