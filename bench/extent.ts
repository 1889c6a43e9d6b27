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
import { benchArgs } from './args.js';
import sharp from 'sharp';
import { loadCtMdDicom, type DicomSlice } from './ct-md-dicom.js';
import { writeDicom, TS } from '../test/dicom-writer.js';
import { loadEngine } from '../src/model/load-engine.js';
import { scoreSources } from '../src/predict/score-files.js';
import { windowValue } from '../src/data/window.js';
import { paint } from './painted-lungs.js';

const { values: args } = benchArgs(import.meta.url, { options: { shared: { type: 'string', default: '../shared' }, model: { type: 'string', default: 'models/default' }, every: { type: 'string', default: '3' } } });
const every = Math.max(1, Number(args.every));

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
