/**
 * Candidate anatomy and image-formation figures of a segmentation, for bench/notct-rules3.ts only: measured on
 * every picture to find a rule, none shipped but what chest-check.ts holds (docs/notct-rules3.md says which lost and why).
 */
import type { LungSegmentation } from '../src/data/lungs.js';
import { histogramQuantile } from '../src/data/histogram.js';

export interface AnatomyFigures {
  /** Deep lung pixels (eroded 2 px) measured. */
  deep: number;
  /** Share of deep lung pixels whose white top-hat (k x k opening inside the lungs) exceeds 0.15 x contrast (>= 6). */
  vessels5: number;
  vessels9: number;
  /** The same with 0.3 x contrast. */
  vessels9hi: number;
  /** Lung median, tissue median, outside-air median (non-body pixels), picture 0.5% quantile. */
  lung: number;
  tissue: number;
  outside: number;
  outsideShare: number;
  q005: number;
  /** (lung - outside) / (tissue - outside). */
  airRatio: number;
  /** (lung - q005) / (tissue - q005). */
  airRatioQ: number;
  /** Share of deep lung pixels / of tissue pixels (>= t, body, not lung) whose 5x5 neighbourhood is one exact grey. */
  lungFlat: number;
  tissueFlat: number;
  /** Lung components, centroids (x), body box, lung box, in analysis px; image size. */
  components: number;
  cx1: number; cx2: number; a1: number; a2: number;
  bx0: number; bx1: number; by0: number; by1: number;
  lx0: number; lx1: number; ly0: number; ly1: number;
  W: number; H: number;
  /** Lung pixels in the body box's middle column / the lungs' box height; lung area / picture. */
  midCover: number;
  areaFraction: number;
  /** The lungs' 5th and 10th percentile greys. */
  lungP05: number;
  lungP10: number;
  /** Share of deep lung pixels with a 9x9 top-hat of at least 3 / 2 grey levels (any bright bump: a vessel, even blurred). */
  bumps3: number;
  bumps2: number;
}

/** Grey min then max over k x k squares (separable), restricted: pixels outside `mask` count as 255 for the min. */
function openingInMask(data: Uint8Array, mask: Uint8Array, w: number, h: number, k: number, x0: number, y0: number, x1: number, y1: number): Uint8Array {
  const r = k >> 1;
  const ww = x1 - x0, hh = y1 - y0;
  const src = new Uint8Array(ww * hh);
  for (let y = 0; y < hh; y++) for (let x = 0; x < ww; x++) { const i = (y + y0) * w + x + x0; src[y * ww + x] = mask[i] ? data[i] : 255; }
  const tmp = new Uint8Array(ww * hh), ero = new Uint8Array(ww * hh);
  // erosion (min), windows clipped at the box's edges (outside = 255)
  for (let y = 0; y < hh; y++) for (let x = 0; x < ww; x++) { let m = 255; for (let d = -r; d <= r; d++) { const xx = x + d; if (xx >= 0 && xx < ww) { const v = src[y * ww + xx]; if (v < m) m = v; } } tmp[y * ww + x] = m; }
  for (let y = 0; y < hh; y++) for (let x = 0; x < ww; x++) { let m = 255; for (let d = -r; d <= r; d++) { const yy = y + d; if (yy >= 0 && yy < hh) { const v = tmp[yy * ww + x]; if (v < m) m = v; } } ero[y * ww + x] = m; }
  // dilation (max)
  for (let y = 0; y < hh; y++) for (let x = 0; x < ww; x++) { let m = 0; for (let d = -r; d <= r; d++) { const xx = x + d; if (xx >= 0 && xx < ww) { const v = ero[y * ww + xx]; if (v > m) m = v; } } tmp[y * ww + x] = m; }
  const out = new Uint8Array(ww * hh);
  for (let y = 0; y < hh; y++) for (let x = 0; x < ww; x++) { let m = 0; for (let d = -r; d <= r; d++) { const yy = y + d; if (yy >= 0 && yy < hh) { const v = tmp[yy * ww + x]; if (v > m) m = v; } } out[y * ww + x] = m; }
  return out;
}

export function anatomyFigures(seg: LungSegmentation, contrast: number): AnatomyFigures {
  const { width: w, height: h, data } = seg.analysis;
  const n = w * h;
  const labels = seg.labels, body = seg.body;
  const t = seg.threshold ?? 128;
  const lungHist = new Float64Array(256), tisHist = new Float64Array(256), outHist = new Float64Array(256), all = new Float64Array(256);
  let nl = 0, nt = 0, no = 0;
  for (let i = 0; i < n; i++) {
    const v = data[i];
    all[v]++;
    if (labels[i]) { lungHist[v]++; nl++; } else if (body[i]) { if (v >= t) { tisHist[v]++; nt++; } } else { outHist[v]++; no++; }
  }
  const lung = nl ? histogramQuantile(lungHist, nl, 0.5) : NaN;
  const tissue = nt ? histogramQuantile(tisHist, nt, 0.5) : NaN;
  const outside = no >= 0.01 * n ? histogramQuantile(outHist, no, 0.5) : NaN;
  const q005 = histogramQuantile(all, n, 0.005);
  // Deep lung: lung pixels whose 5x5 neighbourhood is all lung.
  const box = seg.box ?? { x0: 0, y0: 0, x1: w, y1: h };
  const x0 = Math.max(0, box.x0 - 1), y0 = Math.max(0, box.y0 - 1), x1 = Math.min(w, box.x1 + 1), y1 = Math.min(h, box.y1 + 1);
  const lungMask = new Uint8Array(n);
  for (let i = 0; i < n; i++) lungMask[i] = labels[i] ? 1 : 0;
  const o5 = openingInMask(data, lungMask, w, h, 5, x0, y0, x1, y1);
  const o9 = openingInMask(data, lungMask, w, h, 9, x0, y0, x1, y1);
  const ww = x1 - x0;
  const tau = Math.max(6, 0.15 * contrast), tauHi = Math.max(6, 0.3 * contrast);
  let deep = 0, v5 = 0, v9 = 0, v9h = 0, b3 = 0, b2 = 0;
  for (let y = y0 + 2; y < y1 - 2; y++) {
    for (let x = x0 + 2; x < x1 - 2; x++) {
      const i = y * w + x;
      if (!labels[i]) continue;
      let all5 = true;
      for (let dy = -2; dy <= 2 && all5; dy++) for (let dx = -2; dx <= 2; dx++) if (!labels[i + dy * w + dx]) { all5 = false; break; }
      if (!all5) continue;
      deep++;
      const j = (y - y0) * ww + (x - x0);
      if (data[i] - o5[j] > tau) v5++;
      const th9 = data[i] - o9[j];
      if (th9 > tau) v9++;
      if (th9 > tauHi) v9h++;
      if (th9 >= 3) b3++;
      if (th9 >= 2) b2++;
    }
  }
  const flat5 = (i: number): boolean => {
    const v = data[i];
    for (let dy = -2 * w; dy <= 2 * w; dy += w) for (let dx = -2; dx <= 2; dx++) if (data[i + dy + dx] !== v) return false;
    return true;
  };
  let lf = 0, ln = 0, tf = 0, tn = 0;
  let s1 = 0, s2 = 0, a1 = 0, a2 = 0, bx0 = w, bx1 = 0, by0 = h, by1 = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = y * w + x;
    if (labels[i] === 1) { s1 += x; a1++; } else if (labels[i] === 2) { s2 += x; a2++; }
    if (body[i]) { if (x < bx0) bx0 = x; if (x >= bx1) bx1 = x + 1; if (y < by0) by0 = y; if (y >= by1) by1 = y + 1; }
    if (y < 2 || y >= h - 2 || x < 2 || x >= w - 2) continue;
    if (labels[i]) {
      let d = true;
      for (let dy = -2; dy <= 2 && d; dy++) for (let dx = -2; dx <= 2; dx++) if (!labels[i + dy * w + dx]) { d = false; break; }
      if (d) { ln++; if (flat5(i)) lf++; }
    } else if (body[i] && data[i] >= t) { tn++; if (flat5(i)) tf++; }
  }
  const bx = seg.box ?? { x0: NaN, x1: NaN, y0: NaN, y1: NaN };
  const xm = Math.floor((bx0 + bx1) / 2);
  let mc = 0;
  for (let y = 0; y < h; y++) if (labels[y * w + xm]) mc++;
  return {
    lungFlat: ln ? lf / ln : NaN, tissueFlat: tn ? tf / tn : NaN, components: seg.quality.components,
    cx1: a1 ? s1 / a1 : NaN, cx2: a2 ? s2 / a2 : NaN, a1, a2, bx0, bx1, by0, by1, lx0: bx.x0, lx1: bx.x1, ly0: bx.y0, ly1: bx.y1, W: w, H: h,
    bumps3: deep ? b3 / deep : NaN, bumps2: deep ? b2 / deep : NaN,
    lungP05: nl ? histogramQuantile(lungHist, nl, 0.05) : NaN, lungP10: nl ? histogramQuantile(lungHist, nl, 0.1) : NaN,
    midCover: mc / Math.max(1, bx.y1 - bx.y0), areaFraction: seg.quality.areaFraction,
    deep, vessels5: deep ? v5 / deep : NaN, vessels9: deep ? v9 / deep : NaN, vessels9hi: deep ? v9h / deep : NaN,
    lung, tissue, outside, outsideShare: no / n, q005,
    airRatio: (lung - outside) / (tissue - outside), airRatioQ: (lung - q005) / (tissue - q005),
  };
}
