/**
 * The lost anatomical candidate of docs/reformats.md, for the bench only: the lungs' lower border as a dome. Per lung,
 * the lowest lung pixel of each column; the depth of that border under its convex hull (from below), over the lung's
 * height. A coronal or sagittal plane shows the diaphragm's domes (deep), an axial slice a convex posterior border.
 */
import type { LungSegmentation } from '../src/data/lungs.js';
import { lungRegions } from '../src/data/orientation.js';

/** Depth of the lower border's deepest dent under its hull, in rows (0 for a convex border; NaN under 6 columns). */
export function lowerDent(low: readonly number[]): number {
  const pts: [number, number][] = [];
  low.forEach((y, i) => { if (Number.isFinite(y)) pts.push([i, y]); });
  if (pts.length < 6) return NaN;
  // The hull on the bottom side (largest y, image rows grow downwards).
  const hull: [number, number][] = [];
  for (const p of pts) {
    while (hull.length >= 2) {
      const a = hull[hull.length - 2], b = hull[hull.length - 1];
      if ((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0) hull.pop(); else break;
    }
    hull.push(p);
  }
  let depth = 0, k = 0;
  for (const [x, y] of pts) {
    while (k < hull.length - 2 && hull[k + 1][0] <= x) k++;
    const a = hull[k], b = hull[k + 1] ?? hull[k];
    const hy = b[0] === a[0] ? a[1] : a[1] + ((b[1] - a[1]) * (x - a[0])) / (b[0] - a[0]);
    depth = Math.max(depth, hy - y);
  }
  return depth;
}

/** The smallest dome depth / lung height over the lungs at least 0.35 of the largest (NaN without lungs). */
export function domeFigure(seg: LungSegmentation): number {
  const w = seg.analysis.width;
  const regions = lungRegions(seg);
  const big = Math.max(0, ...regions.map((r) => r.area));
  let min = NaN;
  for (const r of regions) {
    if (r.area < 0.35 * big) continue;
    const label = r.cx < w / 2 ? 1 : 2;
    const low: number[] = [];
    for (let x = r.x0; x < r.x1; x++) {
      let v = NaN;
      for (let y = r.y1 - 1; y >= r.y0; y--) { const l = seg.labels[y * w + x]; if (l && (l === label || regions.length === 1)) { v = y; break; } }
      low.push(v);
    }
    const d = lowerDent(low) / (r.y1 - r.y0);
    if (!(d >= min)) min = d;
  }
  return min;
}
