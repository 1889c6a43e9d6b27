/**
 * Ground glass and consolidation painted into a real slice's lungs, in HU (bench/extent.ts, bench/hu-agreement.ts):
 * the aerated lung (below -400 HU, not joined to the outside air) is ranked by its distance to the lung's edge, less
 * a posterior bonus (25 px from the top of the lungs to their bottom) and 6 px of noise; the first `extent` share of
 * it is painted. Of that, the first `consolidated` share becomes consolidation (25 +- 15 HU, the density of soft
 * tissue), the rest ground glass (-520 +- 60 HU, or the pixel's own HU where higher, so vessels stay). Seeded;
 * nothing fitted.
 */
import type { DicomSlice } from './ct-md-dicom.js';
import { distanceToSet } from '../src/data/morphology.js';
import { flood4 } from '../src/data/flood.js';
import { Rng } from '../src/util/prng.js';

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
export function paint(s: DicomSlice, extent: number, consolidated: number, seed: number): Int16Array | null {
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

