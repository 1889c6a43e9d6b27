/**
 * The reformat test set of docs/reformats.md: coronal and sagittal planes of CT-MD's two raw DICOM series, as a PACS
 * viewer exports them. Every 8th coronal row and sagittal column; z resampled to the pixel spacing linearly, by the
 * nearest slice, or linearly then smoothed (a gaussian in z of half a slice spacing); through a lung window
 * (1500/-600) and a soft-tissue window (400/40); the linear lung-window planes also as JPEG quality 90. Per plane, the
 * lungs it shows: the area of each lung in it (mm^2) from the axial segmentation of every slice; a lung "shows" from
 * 400 mm^2 (4 cm^2). Writes the pictures (never commit them) and DIR/../reformat-truth.json.
 *
 *   node dist/bench/reformat-set.js OUT_DIR [--md DIR]
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { benchArgs } from './args.js';
import sharp from 'sharp';
import dicomParser from 'dicom-parser';
import { decodeInput } from '../src/data/inputs.js';
import { segmentLungs } from '../src/data/lungs.js';
import { packageRoot } from '../src/cli/command.js';

const { values, positionals } = benchArgs(import.meta.url, { allowPositionals: true, options: { md: { type: 'string' } } });
const MD = path.resolve(values.md ?? path.join(packageRoot(), '../shared/data/covid-ct-md-sample'));
const OUT = path.resolve(positionals[0] ?? path.join(packageRoot(), '.cache/reformat/planes'));
mkdirSync(OUT, { recursive: true });

interface Slice { z: number; ps: number; lung: Uint8Array; soft: Uint8Array; labels: Uint8Array }
type Mode = 'linear' | 'nearest' | 'smooth';
const truth: Record<string, unknown>[] = [];

for (const series of ['P001', 'normal001']) {
  const dir = path.join(MD, 'dicom', series);
  const sl: Slice[] = [];
  for (const f of readdirSync(dir).sort()) {
    const b = new Uint8Array(readFileSync(path.join(dir, f)));
    const ds = dicomParser.parseDicom(b);
    const z = Number((ds.string('x00200032') ?? '0\\0\\0').split('\\')[2]);
    const ps = Number((ds.string('x00280030') ?? '1\\1').split('\\')[0]);
    // Copies: the decoder may reuse its buffers from one call to the next.
    const [l] = await decodeInput(f, b);
    const lung = Uint8Array.from(l.image!.data);
    const labels = Uint8Array.from(segmentLungs(l.image!, l.image!.hu ? { hu: l.image!.hu } : {}).labels);
    const [s] = await decodeInput(f, b, { window: { width: 400, level: 40 } });
    sl.push({ z, ps, lung, soft: Uint8Array.from(s.image!.data), labels });
  }
  sl.sort((a, b) => a.z - b.z);
  const W = 512, ps = sl[0].ps, dz = sl[sl.length - 1].z - sl[0].z, nz = Math.round(Math.abs(dz) / ps), step = Math.abs(dz) / (sl.length - 1);
  // Row r (head at the top) lies between slices k and k + 1, at t from k.
  const rows = Array.from({ length: nz }, (_, r) => {
    const zz = sl[0].z + ((nz - 1 - r) / nz) * dz;
    let k = 0;
    while (k < sl.length - 2 && sl[k + 1].z < zz) k++;
    return { k, t: Math.min(1, Math.max(0, (zz - sl[k].z) / (sl[k + 1].z - sl[k].z))) };
  });
  const sigma = (0.5 * step) / ps;
  const kern: [number, number][] = [];
  for (let d = -Math.ceil(3 * sigma); d <= Math.ceil(3 * sigma); d++) kern.push([d, Math.exp(-(d * d) / (2 * sigma * sigma))]);
  const plane = (key: 'lung' | 'soft', mode: Mode, at: (d: Uint8Array, c: number) => number): Uint8Array => {
    const lin = new Float32Array(nz * W);
    for (let r = 0; r < nz; r++) {
      const { k, t } = rows[r], tt = mode === 'nearest' ? Math.round(t) : t;
      for (let c = 0; c < W; c++) lin[r * W + c] = (1 - tt) * at(sl[k][key], c) + tt * at(sl[k + 1][key], c);
    }
    if (mode !== 'smooth') return Uint8Array.from(lin, (v) => Math.round(v));
    const o = new Uint8Array(nz * W);
    for (let r = 0; r < nz; r++) {
      for (let c = 0; c < W; c++) {
        let s = 0, w = 0;
        for (const [d, g] of kern) { const rr = r + d; if (rr >= 0 && rr < nz) { s += g * lin[rr * W + c]; w += g; } }
        o[r * W + c] = Math.round(s / w);
      }
    }
    return o;
  };
  for (let p = 4; p < 512; p += 8) {
    for (const orient of ['coronal', 'sagittal'] as const) {
      const at = orient === 'coronal' ? (d: Uint8Array, c: number) => d[p * W + c] : (d: Uint8Array, c: number) => d[c * W + p];
      // Lung area per label in the plane, from the axial masks (256 px: 2 original pixels each way).
      const area = [0, 0, 0], q = p >> 1;
      for (const s of sl) for (let c = 0; c < 256; c++) { const l = orient === 'coronal' ? s.labels[q * 256 + c] : s.labels[c * 256 + q]; if (l) area[l] += 2 * ps * step; }
      const lungs = [area[1], area[2]].filter((v) => v >= 400).length;
      for (const win of ['lung', 'soft'] as const) {
        for (const mode of ['linear', 'nearest', 'smooth'] as const) {
          const data = plane(win, mode, at), name = `${series}-${orient}-${String(p).padStart(3, '0')}-${win}-${mode}`;
          const img = () => sharp(Buffer.from(data), { raw: { width: W, height: nz, channels: 1 } });
          const row = { series, plane: orient, pos: p, win, lungs, areaL: Math.round(area[1]), areaR: Math.round(area[2]) };
          await img().png().toFile(path.join(OUT, `${name}.png`));
          truth.push({ file: `${name}.png`, mode, ...row });
          if (win === 'lung' && mode === 'linear') {
            await img().jpeg({ quality: 90 }).toFile(path.join(OUT, `${name}-q90.jpg`));
            truth.push({ file: `${name}-q90.jpg`, mode: 'linear-jpeg', ...row });
          }
        }
      }
    }
  }
}
writeFileSync(path.join(OUT, '..', 'reformat-truth.json'), JSON.stringify(truth));
process.stdout.write(`${truth.length} pictures in ${OUT}\n`);
