/**
 * How the reading follows the extent of disease: ground glass and consolidation painted into the lungs of CT-MD's
 * normal DICOM series (normal001, every 3rd slice), from a tenth of the lung to nearly all of it, peripheral and
 * posterior first as COVID-19 spreads, then read as the scanner's DICOM (HU) and as an 8-bit lung-window PNG.
 * It measures what a radiologist's first question gets from our measure (involvement) and what P does, not a
 * detection figure: there is no real lesion here.
 *
 *   node dist/bench/extent.js [--shared DIR] [--model DIR] [--every N]
 *
 * Painting, per slice (seeded by the slice's index; nothing fitted): the aerated lung (below -400 HU, not joined to
 * the outside air) is ranked by its distance to the lung's edge, less a posterior bonus (25 px from the top of the
 * lungs to their bottom) and 6 px of noise; the first `extent` share of it is painted. Of that, the first
 * `consolidated` share becomes consolidation (25 +- 15 HU, the density of soft tissue), the rest ground glass
 * (-520 +- 60 HU, or the pixel's own HU where higher, so vessels stay).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { loadCtMdDicom, type DicomSlice } from './ct-md-dicom.js';
import { writeDicom, TS } from '../test/dicom-writer.js';
import { loadEngine } from '../src/model/load-engine.js';
import { scoreSources } from '../src/predict/score-files.js';
import { windowValue } from '../src/data/window.js';
import { distanceToSet } from '../src/data/morphology.js';
import { flood4 } from '../src/data/flood.js';
import { Rng } from '../src/util/prng.js';

const { values: args } = parseArgs({ options: { shared: { type: 'string', default: '../shared' }, model: { type: 'string', default: 'models/default' }, every: { type: 'string', default: '3' } } });
const every = Math.max(1, Number(args.every));

/** Aerated lung: below -400 HU and not joined to the air outside the body. */
function aeratedLung(s: DicomSlice): Uint8Array {
  const { width: w, height: h, hu } = s;
  const outside = new Uint8Array(w * h);
  const border: number[] = [];
  for (let x = 0; x < w; x++) border.push(x, (h - 1) * w + x);
  for (let y = 0; y < h; y++) border.push(y * w, y * w + w - 1);
  flood4(w, h, border, (j) => (hu[j] < -400 && !outside[j] ? (outside[j] = 1, true) : false));
  return Uint8Array.from(hu, (v, i) => (v < -400 && !outside[i] ? 1 : 0));
}

/** The slice's HU with `extent` of its lung painted (module comment); null when it holds under 500 px of lung. */
function paint(s: DicomSlice, extent: number, consolidated: number, seed: number): Int16Array | null {
  const { width: w, height: h } = s;
  const lung = aeratedLung(s);
  let n = 0, y0 = h, y1 = 0;
  for (let i = 0; i < w * h; i++) if (lung[i]) { n++; const y = (i / w) | 0; y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  if (n < 500) return null;
  const depth = distanceToSet(Uint8Array.from(lung, (v) => 1 - v), w, h);
  const rng = new Rng(seed);
  const noise = Float32Array.from({ length: w * h }, () => rng.next());
  const order: [number, number][] = [];
  for (let i = 0; i < w * h; i++) if (lung[i]) order.push([depth[i] - (25 * (((i / w) | 0) - y0)) / Math.max(1, y1 - y0) + 6 * noise[i], i]);
  order.sort((a, b) => a[0] - b[0]);
  const hu = Int16Array.from(s.hu);
  const k = Math.round(extent * order.length);
  for (let j = 0; j < k; j++) {
    const i = order[j][1];
    hu[i] = j < consolidated * k ? Math.round(25 + 30 * (noise[i] - 0.5)) : Math.max(hu[i], Math.round(-520 + 120 * (noise[i] - 0.5)));
  }
  return hu;
}

const LUNG = { width: 1500, level: -600 };
const asDicom = (s: DicomSlice, hu: Int16Array) => writeDicom({
  transferSyntax: TS.explicit, modality: 'CT', rows: s.height, columns: s.width, pixelRepresentation: 1, bitsStored: 16,
  rescaleSlope: 1, rescaleIntercept: 0, pixels: hu, imageOrientation: [1, 0, 0, 0, 1, 0], imagePosition: [0, 0, s.position], seriesUid: '1.2.826.0.1.3680043.9.3',
});
const asPng = async (s: DicomSlice, hu: Int16Array) => new Uint8Array(await sharp(Buffer.from(Uint8Array.from(hu, (v) => windowValue(v, LUNG))), { raw: { width: s.width, height: s.height, channels: 1 } }).png().toBuffer());

const slices = (await loadCtMdDicom(path.resolve(args.shared))).filter((s) => s.series === 'normal001').filter((_, i) => i % every === 0);
const engine = await loadEngine(path.resolve(args.model));
const mean = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN);
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');
console.log(`normal001, 1 slice in ${every} (${slices.length}); model ${args.model}, threshold ${engine.threshold.toFixed(4)}\n`);
console.log('| painted share of the lung | of it consolidated | form | slices | read | refused (no lungs) | mean involvement (read) | mean P | called COVID |');
console.log('|---:|---:|---|---:|---:|---:|---:|---:|---:|');
for (const [extent, consolidated] of [[0, 0], [0.1, 0], [0.3, 0], [0.5, 0], [0.75, 0], [0.95, 0], [0.3, 0.5], [0.5, 0.5], [0.75, 0.5], [0.95, 0.5], [0.75, 1], [0.95, 1]]) {
  for (const form of ['DICOM', 'PNG, lung window'] as const) {
    const sources = [];
    for (const [k, s] of slices.entries()) {
      const hu = paint(s, extent, consolidated, k + 1);
      if (!hu) continue;
      const bytes = form === 'DICOM' ? asDicom(s, hu) : await asPng(s, hu);
      sources.push({ name: `${s.file} ${form}`, read: async () => bytes });
    }
    const preds = await scoreSources(engine, sources);
    const read = preds.filter((p) => p.label !== 'NotCT');
    console.log(`| ${extent} | ${consolidated} | ${form} | ${preds.length} | ${read.length} | ${preds.length - read.length} | ${f3(mean(read.map((p) => p.involvement ?? NaN)))} | ` +
      `${f3(mean(preds.map((p) => p.probability ?? 0)))} | ${preds.filter((p) => p.label === 'COVID').length} |`);
  }
}
