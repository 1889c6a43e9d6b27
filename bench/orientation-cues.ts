/**
 * Measures the orientation stage's figures (src/data/orientation.ts) on every real slice and its turned copies:
 * writes one JSON line per (slice, variant) with the arrangement found and the anterior-posterior cues.
 * `node dist/bench/orientation-cues.js > /tmp/cues.jsonl`
 */
import { readFile } from 'node:fs/promises';
import { decodeGrey } from '../src/data/decode.js';
import { segmentLungs } from '../src/data/lungs.js';
import { apCues, decideOrientation, flipImage, plausiblePair, transposeImage, stacked } from '../src/data/orientation.js';
import { sideBySide } from '../src/data/lung-pair.js';
import type { GreyImage } from '../src/types.js';
import { realCtFiles } from './real-ct.js';

const flipH = (img: GreyImage): GreyImage => {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = data[y * w + w - 1 - x];
  return { ...img, data: out };
};
export const TURNS: Record<string, (g: GreyImage) => GreyImage> = {
  upright: (g) => g,
  flipV: flipImage,
  rot90: (g) => flipH(transposeImage(g)),
  rot180: (g) => flipH(flipImage(g)),
  rot270: (g) => flipImage(transposeImage(g)),
};

function describe(img: GreyImage) {
  const seg = segmentLungs(img, img.hu ? { hu: img.hu } : {});
  const pair = plausiblePair(seg);
  const arr = pair ? (sideBySide(pair[0], pair[1]) ? 'side' : stacked(pair[0], pair[1]) ? 'stacked' : 'other') : 'none';
  return { arr, found: seg.found, cues: pair && arr === 'side' ? apCues(seg, pair) : null };
}

const files = await realCtFiles('../shared/data/covid-ct', '../shared/data/covid-ct-md-sample');
const only = process.argv[2];
for (const f of files) {
  if (only && f.set !== only) continue;
  const g = await decodeGrey(new Uint8Array(await readFile(f.file)));
  for (const [name, turn] of Object.entries(TURNS)) {
    const t = turn(g);
    const a = describe(t);
    const b = a.arr === 'stacked' ? describe(transposeImage(t)) : null;
    const d = decideOrientation(t, t.hu ? { hu: t.hu } : {});
    process.stdout.write(JSON.stringify({ file: f.file.replace(/.*\//, ''), set: f.set, split: f.split, turn: name, a, b, decided: d.orientation }) + '\n');
  }
}
