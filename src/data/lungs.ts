/**
 * Lung segmentation of one CT slice, in plain TypeScript (no I/O, no native code: the same module runs in the
 * browser). Cheap on purpose (linear-time steps on the 256-pixel analysis image, a few ms per slice):
 *
 *   resample (long side ANALYSIS_SIDE, aspect kept) -> dark mask (HU < -400 when the grey->HU mapping is known,
 *   else Otsu; when that finds no lung, Otsu again within the dark class (soft-tissue windows, where fat joins
 *   the lungs to the outside air) or within the bright class (very light lung windows)) -> 4-connected dark
 *   components (run-length labelling) -> outside air: dark regions touching the image border on 3-4 sides, from
 *   the left to the right edge, or along a long stretch for their size; enclosed dark regions reaching near
 *   three edges (air inside a white page margin) or enclosing other candidates (a ring) -> lung candidates:
 *   the other dark components that are large, thick (text, arrows, noise, table gaps are thin), not at the
 *   bottom (table), not hugging the outside air, behind a wall of tissue (not mostly within 3 px of other air: the
 *   gap between the back and the mattress; docs/neck-gap.md), and inside the body -> trachea/bronchi dropped (small,
 *   central, between the lungs; one trachea on the body's midline is never a lung) -> at most two lungs, side by side at similar heights (lung-pair.ts),
 *   each with the pieces of it that a side edge cut apart (edge-lung.ts), each closed
 *   with a chamfer disc whose radius grows with its size and hole-filled, so that consolidations as bright as
 *   soft tissue stay lung. Without HU, the threshold is then refined on the lungs themselves: halfway between
 *   their parenchyma and the tissue 1-3 px around them, segmenting again until it settles (refine), so that what
 *   lies beyond the lungs' margin (noise, another slice's surroundings, marks, the table) does not move it
 *   (issue 10's outside-the-lungs audits).
 *
 * Lungs cut by a tight crop touch the border along a short stretch compared with their size; the outside air
 * touches it along most of the border. That ratio decides which border-touching dark regions may be lung.
 */
import type { GreyImage } from '../types.js';
import { resample } from './working-image.js';
import { histogramQuantile } from './histogram.js';
import { ballRowLimits, dilate, grownBox, rowBands, type RowBandScratch } from './morphology.js';
import { componentThickness, rowStarts, type ThicknessScratch } from './run-thickness.js';
import { closeComponent, newClosingScratch, type ClosingScratch } from './run-closing.js';
import { CENTRAL_FRACTION, chooseLungPair, notAPartner, type Region } from './lung-pair.js';
import { cutOutLungs } from './cut-out.js';
import { LUNG_SHAPE, lungShaped, runsAlongEdge } from './lung-shape.js';
import { edgePartner, type EdgeRegion } from './edge-lung.js';

/** Names this segmentation in cache keys: bump whenever the output bytes change. */
export const LUNGS_VERSION = 'lungs-v8-edge-piece';
/** Long side of the analysis image. */
export const ANALYSIS_SIDE = 256;

/** Exclusive x1, y1, in analysis pixels. */
export interface Box { x0: number; y0: number; x1: number; y1: number }

export interface LungQuality {
  /** Lung pixels / analysis image pixels. */
  areaFraction: number;
  /** Lung components kept (0, 1 or 2). */
  components: number;
  /** Smaller lung area / larger lung area (0 when only one). */
  balance: number;
}

export interface LungSegmentation {
  /** The image the masks refer to: the input resampled (aspect kept) so that its long side is ANALYSIS_SIDE. */
  analysis: GreyImage;
  /** Analysis pixels per original pixel (analysis.width / original width). */
  scale: number;
  /** Per analysis pixel: 0 outside, 1 = lung whose centroid is in the left half of the image, 2 = the other. */
  labels: Uint8Array;
  /** The patient's body (soft tissue + lungs), 1/0. All ones when no outside air is visible (tight crops). */
  body: Uint8Array;
  /** Bounding box of all lung pixels. */
  box: Box | null;
  quality: LungQuality;
  /** A plausible pair of lungs (or one large lung) was found. */
  found: boolean;
  /** When !found: a short human-readable reason. */
  reason?: string;
  /** The grey threshold used (analysis grey values below it are dark: air or lung). */
  threshold?: number;
  /**
   * The lungs were found cut out onto black with no tissue around them (cut-out.ts): the picture's non-black regions.
   * Then body = the lungs (there is no tissue to read) and there is no threshold.
   */
  cutOut?: true;
}

export interface SegmentOptions {
  /** When grey maps linearly to Hounsfield units: HU = slope * grey + intercept. Then dark = HU < -400. */
  hu?: { slope: number; intercept: number };
}

/** HU below which a pixel is air or aerated lung (with opts.hu). */
const LUNG_HU = -400;
/**
 * The HU range a DICOM window must show for the lungs to be read: aerated lung (about -850) below the ground-glass
 * threshold (-700), the lung/tissue cut (-400) and consolidation (-300) inside it, with some room on either side.
 */
export const LUNG_RANGE_HU = Object.freeze({ low: -800, high: -200 });

/** Whether a window (the HU of 8-bit grey) clips the lung's own range (LUNG_RANGE_HU): a soft-tissue window, say. */
export function windowHidesLungs(hu: { slope: number; intercept: number }): boolean {
  return hu.intercept > LUNG_RANGE_HU.low || hu.slope * 255 + hu.intercept < LUNG_RANGE_HU.high;
}
/** Dark components smaller than this fraction of the image are never lung. */
const MIN_COMPONENT_FRACTION = LUNG_SHAPE.minFraction;
/** found needs at least this fraction of the image as lung. */
const MIN_FOUND_FRACTION = 0.0015;
/** Chamfer 3-4 distances: one pixel step is 3. */
const CH = 3;

/** The analysis image and its scale (long side ANALYSIS_SIDE, aspect kept, small inputs upscaled). */
function analysisImage(img: GreyImage): { analysis: GreyImage; scale: number } {
  const { width: w, height: h } = img;
  const s = ANALYSIS_SIDE / Math.max(w, h);
  const aw = Math.max(1, Math.round(w * s));
  const ah = Math.max(1, Math.round(h * s));
  const analysis = aw === w && ah === h ? { width: w, height: h, data: new Uint8Array(img.data) } : resample(img, { x0: 0, y0: 0, w, h }, aw, ah);
  return { analysis, scale: aw / w };
}

/** Otsu's threshold on the histogram of the pixels in [from, below): pixels < t are dark. Also the separability (between / total variance). */
function otsu(data: Uint8Array, from = 0, below = 256): { t: number; separability: number; variance: number; gap: number } {
  return otsuOfHistogram(greyHistogram(data), from, below);
}

/** The histogram of 8-bit grey levels (counts as doubles, as otsu sums them). */
function greyHistogram(data: Uint8Array): Float64Array {
  // Counted in four integer histograms by i mod 4, so that runs of one grey (the black around a body) do not make
  // each count wait on the one before; their sums are the same counts.
  const counts = greyCounts;
  counts.fill(0);
  const n = data.length, n4 = n - (n & 3);
  for (let i = 0; i < n4; i += 4) { counts[data[i]]++; counts[256 | data[i + 1]]++; counts[512 | data[i + 2]]++; counts[768 | data[i + 3]]++; }
  for (let i = n4; i < n; i++) counts[data[i]]++;
  const hist = new Float64Array(256);
  for (let v = 0; v < 256; v++) hist[v] = counts[v] + counts[256 | v] + counts[512 | v] + counts[768 | v];
  return hist;
}
const greyCounts = new Int32Array(1024);

/** otsu on a ready histogram (the three splits of segmentLungs read one). */
function otsuOfHistogram(hist: Float64Array, from = 0, below = 256): { t: number; separability: number; variance: number; gap: number } {
  let n = 0, sum = 0, sumSq = 0;
  for (let v = from; v < below; v++) { n += hist[v]; sum += v * hist[v]; sumSq += v * v * hist[v]; }
  if (n === 0) return { t: below, separability: 0, variance: 0, gap: 0 };
  const mean = sum / n;
  const variance = sumSq / n - mean * mean;
  let w0 = 0, s0 = 0, best = -1, bestT = below, gap = 0;
  for (let v = from; v < below - 1; v++) {
    w0 += hist[v];
    s0 += v * hist[v];
    if (w0 === 0 || w0 === n) continue;
    const m0 = s0 / w0, m1 = (sum - s0) / (n - w0);
    const between = (w0 / n) * (1 - w0 / n) * (m0 - m1) * (m0 - m1);
    if (between > best) { best = between; bestT = v + 1; gap = m1 - m0; }
  }
  return { t: bestT, separability: variance > 0 ? best / variance : 0, variance, gap };
}

interface Component {
  id: number;
  area: number;
  sx: number;
  sy: number;
  x0: number; y0: number; x1: number; y1: number;
  /** Pixels on the window's edge (roughly: corners may count twice). */
  border: number;
  /** Window edges touched: 1 left, 2 right, 4 top, 8 bottom. */
  sides: number;
  /** Pixels at chamfer distance >= 2 px from the nearest non-dark pixel (the image border does not count). */
  core: number;
  maxDist: number;
  background: boolean;
}

/**
 * Sets a[from .. to) to v: a plain loop for short runs (most of a labelling's), where calling fill costs more than
 * the run; fill for long ones.
 */
function paint8(a: Uint8Array, v: number, from: number, to: number): void {
  if (to - from < 32) { for (let i = from; i < to; i++) a[i] = v; } else a.fill(v, from, to);
}
function paint32(a: Int32Array, v: number, from: number, to: number): void {
  if (to - from < 32) { for (let i = from; i < to; i++) a[i] = v; } else a.fill(v, from, to);
}

/**
 * Row runs of a labelling: run r covers [rs[r], re[r]) of row ry[r], runs in raster order; after `connect` and
 * `components`, ids[r] is its component's id. Grown on demand. Separate sets for the dark components, the body's
 * pieces and the hole fillings, so that each stays readable while the others are made.
 */
interface Runs { n: number; rs: Int32Array; re: Int32Array; ry: Int32Array; parent: Int32Array; ids: Int32Array }
const newRuns = (): Runs => ({ n: 0, rs: new Int32Array(0), re: new Int32Array(0), ry: new Int32Array(0), parent: new Int32Array(0), ids: new Int32Array(0) });
const darkRuns = newRuns(), bodyRuns = newRuns(), holeRuns = newRuns();
/** Makes room for the runs of a window ww wide and hh high (at most one run per two pixels of a row, rounded up). */
function reserve(R: Runs, ww: number, hh: number): void {
  const max = ((ww + 2) >> 1) * hh + 1;
  if (R.rs.length >= max) return;
  R.rs = new Int32Array(max); R.re = new Int32Array(max); R.ry = new Int32Array(max); R.parent = new Int32Array(max); R.ids = new Int32Array(max);
}

/** The runs of the pixels where (mask[i] !== 0) === fg, within the window [x0,x1) x [y0,y1) of a w-wide image. */
function maskRuns(R: Runs, mask: Uint8Array, w: number, x0: number, y0: number, x1: number, y1: number, fg: boolean): void {
  reserve(R, x1 - x0, y1 - y0);
  const { rs, re, ry } = R;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    const row = y * w;
    let x = x0;
    while (x < x1) {
      if (fg) { while (x < x1 && mask[row + x] === 0) x++; } else { while (x < x1 && mask[row + x] !== 0) x++; }
      if (x >= x1) break;
      const xs = x;
      if (fg) { while (x < x1 && mask[row + x] !== 0) x++; } else { while (x < x1 && mask[row + x] === 0) x++; }
      rs[n] = xs; re[n] = x; ry[n] = y; n++;
    }
  }
  R.n = n;
}

/** The runs of the pixels darker than t (data < t) of a w x h image; returns how many pixels they hold. */
function darkRunsOf(R: Runs, data: Uint8Array, w: number, h: number, t: number): number {
  reserve(R, w, h);
  const { rs, re, ry } = R;
  let n = 0, count = 0;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    let x = 0;
    while (x < w) {
      while (x < w && data[row + x] >= t) x++;
      if (x >= w) break;
      const xs = x;
      while (x < w && data[row + x] < t) x++;
      rs[n] = xs; re[n] = x; ry[n] = y; n++;
      count += x - xs;
    }
  }
  R.n = n;
  return count;
}

/**
 * Union-find over the runs (4-connectivity: runs of consecutive rows that overlap), linear time. A component's
 * root is its first run in raster order.
 */
function connect(R: Runs): void {
  const { rs, re, ry, parent } = R;
  const find = (a: number): number => {
    while (parent[a] !== a) { parent[a] = parent[parent[a]]; a = parent[a]; }
    return a;
  };
  let prevStart = 0, prevEnd = 0, curStart = 0, curY = -2, p = 0;
  for (let r = 0; r < R.n; r++) {
    const y = ry[r];
    if (y !== curY) {
      // A new row: the previous row's runs are those of row y - 1 (none when that row had no run).
      if (y === curY + 1) { prevStart = curStart; prevEnd = r; } else { prevStart = r; prevEnd = r; }
      curStart = r; curY = y; p = prevStart;
    }
    parent[r] = r;
    const xs = rs[r], x = re[r];
    while (p < prevEnd && re[p] <= xs) p++;
    for (let q = p; q < prevEnd && rs[q] < x; q++) {
      const a = find(r), b = find(q);
      if (a < b) parent[b] = a; else if (b < a) parent[a] = b;
    }
  }
}

/**
 * The components of connected runs, within the window [x0,x1) x [y0,y1) of a w-wide image: writes their ids
 * (1-based, in the order of their first run) into comp over the window (0 elsewhere in the window) and into R.ids,
 * and returns the statistics; `border` and `sides` refer to the window's edges.
 */
function components(R: Runs, w: number, x0: number, y0: number, x1: number, y1: number, comp: Int32Array): Component[] {
  connect(R);
  const { rs, re, ry, parent, ids } = R;
  const find = (a: number): number => {
    while (parent[a] !== a) { parent[a] = parent[parent[a]]; a = parent[a]; }
    return a;
  };
  const list: Component[] = [];
  if (x0 === 0 && x1 === w) comp.fill(0, y0 * w, y1 * w);
  else for (let y = y0; y < y1; y++) comp.fill(0, y * w + x0, y * w + x1);
  for (let r = 0; r < R.n; r++) {
    const root = find(r);
    let c: Component;
    if (root === r) {
      c = { id: list.length + 1, area: 0, sx: 0, sy: 0, x0: x1, y0: y1, x1: x0, y1: y0, border: 0, sides: 0, core: 0, maxDist: 0, background: false };
      list.push(c);
      ids[r] = c.id;
    } else {
      ids[r] = ids[root];
      c = list[ids[r] - 1];
    }
    const xs = rs[r], xe = re[r], y = ry[r], len = xe - xs;
    c.area += len;
    c.sx += ((xs + xe - 1) * len) / 2;
    c.sy += y * len;
    if (xs < c.x0) c.x0 = xs;
    if (xe > c.x1) c.x1 = xe;
    if (y < c.y0) c.y0 = y;
    if (y >= c.y1) c.y1 = y + 1;
    if (y === y0) { c.border += len; c.sides |= 4; }
    if (y === y1 - 1) { c.border += len; c.sides |= 8; }
    if (xs === x0) { c.border++; c.sides |= 1; }
    if (xe === x1) { c.border++; c.sides |= 2; }
    paint32(comp, c.id, y * w + xs, y * w + xe);
  }
  return list;
}

/**
 * 4-connected components of the pixels where (mask[i] !== 0) === fg, within the window [x0,x1) x [y0,y1) of a
 * w-wide image: run-length labelling with union-find (linear time), into `comp` and R (see components).
 */
function label(mask: Uint8Array, w: number, x0: number, y0: number, x1: number, y1: number, fg: boolean, comp: Int32Array, R: Runs): Component[] {
  maskRuns(R, mask, w, x0, y0, x1, y1, fg);
  return components(R, w, x0, y0, x1, y1, comp);
}

/**
 * Fills the holes of mask (non-zero = in) within a window: non-mask pixels not connected to the window's edge
 * become `value`. `comp` is scratch. Returns the number of pixels filled.
 */
function fillHoles(mask: Uint8Array, w: number, x0: number, y0: number, x1: number, y1: number, value: number, comp: Int32Array): number {
  const holes = label(mask, w, x0, y0, x1, y1, false, comp, holeRuns);
  let filled = 0;
  if (holes.every((c) => c.border > 0)) return 0;
  const { rs, re, ry, ids } = holeRuns;
  for (let r = 0; r < holeRuns.n; r++) {
    if (holes[ids[r] - 1].border !== 0) continue;
    paint8(mask, value, ry[r] * w + rs[r], ry[r] * w + re[r]);
    filled += re[r] - rs[r];
  }
  return filled;
}

/** Scratch of the candidates' thickness (run-thickness.ts), grown on demand. */
const thicknessScratch: ThicknessScratch = { cols: new Int32Array(0), up: new Int32Array(0) };
let rowStartBuf = new Int32Array(0);

/** nearOutside's marks and their extents per row, reused (cleared over the window first). */
let markBuf = new Uint8Array(0), extentBuf = new Int32Array(0);

/**
 * Counts, per component id with sel[id] = 1, its pixels in the window that lie within `r` pixels (a (2r+1)-square)
 * of a pixel of the window in a component with bg[id] = 1. From the runs (R, with their ids): the background runs,
 * cut to the window and widened by r, mark their rows; each selected run's pixels then read the marks of the
 * 2r + 1 rows around them.
 */
function nearOutside(R: Runs, bg: Uint8Array, sel: Uint8Array, x0: number, y0: number, x1: number, y1: number, r: number, count: Int32Array): void {
  const ww = x1 - x0, hh = y1 - y0;
  if (markBuf.length < ww * hh) markBuf = new Uint8Array(Math.max(ww * hh, 2 * markBuf.length));
  const mark = markBuf;
  mark.fill(0, 0, ww * hh);
  // Per window row, the extent of its marks (first, last + 1; empty when first >= last), so that a run whose rows
  // hold no mark over its columns is passed over (most of a lung's runs lie far from the outside air).
  if (extentBuf.length < 2 * hh) extentBuf = new Int32Array(Math.max(2 * hh, 2 * extentBuf.length));
  const first = extentBuf.subarray(0, hh), last = extentBuf.subarray(hh, 2 * hh);
  first.fill(ww); last.fill(0);
  const { rs, re, ry, ids } = R;
  for (let k = 0; k < R.n; k++) {
    const y = ry[k];
    if (y < y0 || y >= y1 || !bg[ids[k]]) continue;
    const a = Math.max(rs[k], x0), b = Math.min(re[k], x1);
    if (a >= b) continue;
    const from = Math.max(x0, a - r) - x0, to = Math.min(x1, b + r) - x0, yy = y - y0;
    paint8(mark, 1, yy * ww + from, yy * ww + to);
    if (from < first[yy]) first[yy] = from;
    if (to > last[yy]) last[yy] = to;
  }
  for (let k = 0; k < R.n; k++) {
    const id = ids[k];
    if (!sel[id]) continue;
    const y = ry[k];
    const a = Math.max(rs[k], x0), b = Math.min(re[k], x1);
    if (y < y0 || y >= y1 || a >= b) continue;
    const top = Math.max(y0, y - r) - y0, bottom = Math.min(y1 - 1, y + r) - y0;
    let any = false;
    for (let yy = top; yy <= bottom; yy++) if (first[yy] < b - x0 && last[yy] > a - x0) { any = true; break; }
    if (!any) continue;
    let n = 0;
    for (let x = a - x0; x < b - x0; x++) {
      for (let yy = top; yy <= bottom; yy++) if (mark[yy * ww + x]) { n++; break; }
    }
    count[id] += n;
  }
}

/** The lungs' closing's runs (run-closing.ts), grown on demand. */
const closingScratch: ClosingScratch = newClosingScratch();

function emptyResult(analysis: GreyImage, scale: number, reason: string, body?: Uint8Array, threshold?: number): LungSegmentation {
  const n = analysis.width * analysis.height;
  return {
    analysis, scale, labels: new Uint8Array(n), body: body ?? new Uint8Array(n), box: null,
    quality: { areaFraction: 0, components: 0, balance: 0 }, found: false, reason, threshold,
  };
}

/**
 * A picture with almost no contrast that still holds several grey levels: CT numbers scaled to 8 bits with no window
 * (min-max over 4096 HU or more, or over a wrapped padding) put the whole body in a few greys. A blank or flat
 * picture holds one grey (two after JPEG).
 */
export const SQUEEZED_REASON = 'almost no contrast: the picture holds its body in a few grey levels, as when CT numbers are scaled to 8 bits with no window; export the slice in a lung window (such as level -600, width 1500 HU)';

/** At least 3 grey levels between the 0.5 and 99.5 percentiles of the analysis image (histogram). */
function squeezedGreys(hist: Float64Array): boolean {
  let n = 0;
  for (let v = 0; v < 256; v++) n += hist[v];
  return histogramQuantile(hist, n, 0.995) - histogramQuantile(hist, n, 0.005) >= 2;
}

export function segmentLungs(img: GreyImage, opts: SegmentOptions = {}): LungSegmentation {
  const { analysis, scale } = analysisImage(img);
  const w = analysis.width, h = analysis.height;
  if (w < 16 || h < 16) return emptyResult(analysis, scale, 'the image is too narrow to hold a CT slice');
  if (opts.hu) {
    const { slope, intercept } = opts.hu;
    if (!(slope > 0) || !Number.isFinite(intercept)) throw new RangeError(`opts.hu needs slope > 0 and a finite intercept, got ${slope}, ${intercept}`);
    // A window that clips the lung's own range (a soft-tissue window, say) leaves nothing to find or measure: every
    // lung pixel is the window's floor. Say so instead of calling the slice "not CT".
    const floor = intercept, ceiling = slope * 255 + intercept;
    if (windowHidesLungs(opts.hu)) {
      return emptyResult(analysis, scale, `the DICOM window (${Math.round(floor)} to ${Math.round(ceiling)} HU) hides the lung tissue: the lungs are read in a window that shows at least ${LUNG_RANGE_HU.low} to ${LUNG_RANGE_HU.high} HU, such as the default lung window (width 1500, level -600)`);
    }
    const t = Math.max(0, Math.min(256, Math.ceil((LUNG_HU - intercept) / slope)));
    return attempt(analysis, scale, t);
  }
  const hist = greyHistogram(analysis.data);
  const o = otsuOfHistogram(hist);
  if (o.variance < 4) return emptyResult(analysis, scale, squeezedGreys(hist) ? SQUEEZED_REASON : 'the image is flat (no contrast)');
  if (o.separability < MIN_SEPARABILITY) {
    // Much noise or flat grey around the lungs can hide the split in the picture as a whole: try it anyway, and
    // keep the lungs only when the lungs and the tissue around them (RING_OUTER px) show a clear split themselves.
    const tried = attempt(analysis, scale, o.t);
    const local = tried.found ? refine(tried) : null;
    if (local && localSeparability(local) >= MIN_SEPARABILITY) return local;
    return emptyResult(analysis, scale, 'no clear split between dark (air, lung) and bright (tissue) pixels', undefined, o.t);
  }
  const first = attempt(analysis, scale, o.t);
  if (first.found) return refine(first);
  // Soft-tissue windows: fat is dark grey and can join the lungs to the outside air; split the dark class again.
  const lower = otsuOfHistogram(hist, 0, o.t);
  if (lower.t < o.t - 8 && lower.separability >= MIN_SEPARABILITY) {
    const second = attempt(analysis, scale, lower.t);
    if (second.found) return refine(second);
  }
  // Very light lung windows: grey lungs between grey air and white tissue; split the bright class again.
  const upper = otsuOfHistogram(hist, o.t, 256);
  if (upper.t > o.t + 8 && upper.separability >= MIN_SEPARABILITY && upper.gap >= MIN_RETRY_GAP) {
    const third = attempt(analysis, scale, upper.t);
    if (third.found) return refine(third);
  }
  return onBlack(analysis, scale) ?? first;
}

/**
 * The lungs of a picture cut out onto black with no rim (cut-out.ts), as a segmentation: asked only when the search
 * above found none, so a slice whose lungs it finds never pays for it. Null when the picture does not look so.
 */
function onBlack(analysis: GreyImage, scale: number): LungSegmentation | null {
  const cut = cutOutLungs(analysis);
  if ('reason' in cut) return null;
  const { labels, areas, box } = cut;
  const areaFraction = areas.reduce((a, b) => a + b, 0) / (analysis.width * analysis.height);
  return {
    analysis, scale, labels, body: labels.map((v) => (v ? 1 : 0)), box,
    quality: { areaFraction, components: areas.length, balance: areas.length === 2 ? Math.min(areas[0], areas[1]) / Math.max(areas[0], areas[1]) : 0 },
    found: areaFraction >= MIN_FOUND_FRACTION, cutOut: true,
  };
}

/**
 * Inner and outer radius (analysis px) of the ring outside the lungs whose grey is the tissue around them. Close
 * to the lungs on purpose: the kept margin of the view and the audits is 4 px, and the analysis image's resampling
 * kernel (Lanczos-3, 3 px wide) mixes what lies beyond it into the outer pixels of that margin (a ring 2-4 px out
 * moved more under the outside-noise audit; docs/outside-audits.md).
 */
const RING_INNER = 1;
const RING_OUTER = 3;
/** Lung pixels deeper than this (analysis px) are parenchyma (not the partial-volume border). */
const PARENCHYMA_DEPTH = 3;
/** Refinement steps at most (it usually settles in 2-3). */
const MAX_REFINE = 6;

/**
 * The grey at the lungs' own border: halfway between their parenchyma (median of the lung more than
 * PARENCHYMA_DEPTH px inside) and the tissue around them (median of the ring RING_INNER-RING_OUTER px outside),
 * i.e. where a blurred step between the two is half-way. It reads nothing farther than RING_OUTER px from the lungs, so what lies
 * beyond that margin (the body outline, the table, the outside air, marks, another window's corners) cannot move
 * it. Null when either part is too small or the two are not a dark lung against brighter tissue.
 */
export function borderThreshold(seg: LungSegmentation): number | null {
  if (!seg.found || !seg.box) return null;
  const { width: W, height: H, data } = seg.analysis;
  const labels = seg.labels;
  // Distances within the lungs' box grown by a margin beyond the ring only (LUNG_BAND_MARGIN >= RING_OUTER + 3: a chamfer path to the nearest lung, or
  // non-lung, pixel stays within the box the two span, and the margin is all non-lung; nothing outside that window
  // is lung or ring). The 3-4 chamfer distance is 3 max(|dx|, |dy|) + min(|dx|, |dy|), so "within d px" is a ball of
  // a few rows (ballHalfWidths): per pixel, one read per row of the ball of the distance along that row to the
  // nearest lung (or non-lung) pixel. The same bands as two distance transforms of the window, at a fraction of
  // their cost (this runs once per refinement step).
  const win = grownBox(seg.box, LUNG_BAND_MARGIN, W, H);
  const { x0, y0 } = win;
  // Row distances with LUNG_BAND_ROWS (>= BALL_ROWS) rows of "none" above and below, so that the ball's rows need no bounds checks.
  const { toSet: toLung, toUnset: toTissue, ww, pad } = rowBands(labels, W, win, LUNG_BAND_ROWS, LUNG_BANDS);
  // Parenchyma: lung pixels with no non-lung pixel within PARENCHYMA_DEPTH px. Ring: non-lung pixels with a lung
  // pixel within RING_OUTER px but none within RING_INNER px. A row of a ball holds such a pixel when the distance
  // along it is below the row's half-width + 1: the sign bit of their difference, OR-ed over the ball's rows.
  const [d0, d1, d2, d3] = DEEP_BALL, [o0, o1, o2, o3] = OUTER_BALL, [i0, i1] = INNER_BALL;
  const parenchyma = new Uint32Array(256), ring = new Uint32Array(256);
  let nP = 0, nR = 0;
  // Only the lungs' box grown by RING_OUTER px can hold parenchyma or ring (a pixel farther out has no lung within
  // RING_OUTER px): the loop visits it, the bands around it are read.
  const near = grownBox(seg.box, RING_OUTER, W, H);
  for (let y = near.y0 - y0; y < near.y1 - y0; y++) {
    for (let x = near.x0 - x0, i = (y0 + y) * W + near.x0, c = pad + y * ww + x; x < near.x1 - x0; x++, i++, c++) {
      if (labels[i]) {
        const T = toTissue;
        if (((T[c] - d0) | (T[c - ww] - d1) | (T[c + ww] - d1) | (T[c - 2 * ww] - d2) | (T[c + 2 * ww] - d2) | (T[c - 3 * ww] - d3) | (T[c + 3 * ww] - d3)) >= 0) {
          parenchyma[data[i]]++; nP++;
        }
      } else {
        const L = toLung;
        if (((L[c] - i0) | (L[c - ww] - i1) | (L[c + ww] - i1)) >= 0
          && ((L[c] - o0) | (L[c - ww] - o1) | (L[c + ww] - o1) | (L[c - 2 * ww] - o2) | (L[c + 2 * ww] - o2) | (L[c - 3 * ww] - o3) | (L[c + 3 * ww] - o3)) < 0) {
          ring[data[i]]++; nR++;
        }
      }
    }
  }
  if (nP < 16 || nR < 16) return null;
  const p = histogramQuantile(parenchyma, nP, 0.5), r = histogramQuantile(ring, nR, 0.5);
  if (r - p < 16) return null;
  return Math.round((p + r) / 2);
}
/**
 * The row distances of the lungs' labels over their box grown by LUNG_BAND_MARGIN px, with LUNG_BAND_ROWS padding
 * rows, grown on demand: borderThreshold's, shared with the blur reading (edge-blur.ts), which reads the same bands of
 * the final segmentation that the refinement's last step read (rowBands returns them without recomputing).
 */
export const LUNG_BANDS: RowBandScratch = { buf: new Int32Array(0) };
export const LUNG_BAND_ROWS = 4;
export const LUNG_BAND_MARGIN = 6;
/** Rows of the balls either side of the centre that borderThreshold reads (PARENCHYMA_DEPTH, RING_OUTER <= 3 px). */
const BALL_ROWS = 3;
const ballLimits = (radius: number): number[] => ballRowLimits(radius, BALL_ROWS);
const DEEP_BALL = ballLimits(PARENCHYMA_DEPTH), OUTER_BALL = ballLimits(RING_OUTER), INNER_BALL = ballLimits(RING_INNER);

/** Otsu's separability of the pixels of the lungs and of the ring of RING_OUTER px around them. */
function localSeparability(seg: LungSegmentation): number {
  const { width: W, height: H, data } = seg.analysis;
  // Within RING_OUTER px of the lungs: the lungs dilated by it (the same pixels as thresholding the distance to them).
  const near = dilate(seg.labels, W, H, RING_OUTER);
  const values: number[] = [];
  for (let i = 0; i < near.length; i++) if (near[i]) values.push(data[i]);
  return otsu(Uint8Array.from(values)).separability;
}

/**
 * The segmentation again with the threshold at the lungs' own border (borderThreshold), until it repeats: the
 * global Otsu threshold that finds the lungs first depends on the whole picture (noise, another slice's
 * surroundings or a white page beside the lungs move it); the settled one depends on the lungs and the tissue
 * within RING_OUTER px of them. (Settling usually takes 2-3 steps.)
 */
function refine(seg: LungSegmentation): LungSegmentation {
  let cur = seg;
  const tried = new Set<number>([seg.threshold ?? -1]);
  for (let k = 0; k < MAX_REFINE; k++) {
    const t = borderThreshold(cur);
    if (t === null || tried.has(t)) break;
    tried.add(t);
    const next = attempt(cur.analysis, cur.scale, t);
    // A step that loses a lung is not taken: near the border's grey a lung can leak through a gap in the tissue
    // around it and join whatever lies beyond.
    if (!next.found || next.quality.components < cur.quality.components) break;
    cur = next;
  }
  return cur;
}

/**
 * The split within the bright class is tried only when its two classes' means differ by at least this many grey
 * levels: grey lungs against white tissue (58 and more seen), not fat against muscle or liver (25-28 on
 * abdominal and neck slices of a lung window, where it would call organs lung).
 */
const MIN_RETRY_GAP = 40;

/** Separability (Otsu's between-class / total variance) below which an image has no dark/bright split. */
const MIN_SEPARABILITY = 0.55;

/**
 * Scratch images, reused from call to call (every step writes the part it reads first); the outputs (labels,
 * body) are always fresh arrays.
 */
let scratchBuffers: { n: number; one: Uint8Array; comp: Int32Array; scratch: Int32Array } | null = null;
function buffers(n: number) {
  if (!scratchBuffers || scratchBuffers.n < n) {
    scratchBuffers = { n, one: new Uint8Array(n), comp: new Int32Array(n), scratch: new Int32Array(n) };
  }
  return scratchBuffers;
}

/** A component as edge-lung.ts reads it: area, box and the picture's edges it touches. */
const regionAt = (c: Component): EdgeRegion => ({ area: c.area, x0: c.x0, y0: c.y0, x1: c.x1, y1: c.y1, sides: c.sides });

/** The median grey of each dark component, from their runs in R. */
function componentMedians(comps: readonly Component[], R: Runs, data: Uint8Array, w: number): number[] {
  let maxId = 0;
  for (const c of comps) maxId = Math.max(maxId, c.id);
  const slot = new Int32Array(maxId + 1).fill(-1);
  comps.forEach((c, s) => { slot[c.id] = s; });
  const hist = new Uint32Array(256 * comps.length);
  const { rs, re, ry, ids } = R;
  for (let r = 0; r < R.n; r++) {
    const s = ids[r] <= maxId ? slot[ids[r]] : -1;
    if (s < 0) continue;
    const row = ry[r] * w;
    for (let i = row + rs[r], end = row + re[r]; i < end; i++) hist[256 * s + data[i]]++;
  }
  return comps.map((c, s) => histogramQuantile(hist.subarray(256 * s, 256 * s + 256), c.area, 0.5));
}

/** The segmentation with a given grey threshold (analysis pixels < t are dark). */
function attempt(analysis: GreyImage, scale: number, t: number): LungSegmentation {
  const w = analysis.width, h = analysis.height, n = w * h;
  const data = analysis.data;
  const { comp, scratch, one } = buffers(n);
  const darkCount = darkRunsOf(darkRuns, data, w, h, t);
  if (darkCount === 0) return emptyResult(analysis, scale, 'no dark (air or lung) pixels', undefined, t);
  if (darkCount === n) return emptyResult(analysis, scale, 'no bright (tissue) pixels', undefined, t);

  // 1. Dark components (their runs stay in darkRuns for the body below).
  const list = components(darkRuns, w, 0, 0, w, h, comp);
  const nc = list.length + 1;

  // 2. Background: dark regions touching the border on 3-4 sides or along a long stretch (the outside air).
  const isBg = new Uint8Array(nc);
  for (const c of list) {
    if (c.border === 0) continue;
    const nSides = (c.sides & 1) + ((c.sides >> 1) & 1) + ((c.sides >> 2) & 1) + ((c.sides >> 3) & 1);
    // A band from the left edge to the right edge (the table, the gap under the body) is never one lung.
    if (nSides >= 3 || (c.sides & 3) === 3 || runsAlongEdge(c.border, c.area)) { c.background = true; isBg[c.id] = 1; }
  }
  // The same for dark regions that reach within a few pixels of the edges (outside air inside a white frame or
  // page margin): near three edges, or near both the left and the right edge.
  const margin = Math.max(3, Math.round(FRAME_MARGIN * Math.min(w, h)));
  for (const c of list) {
    if (c.border !== 0 || c.area < MIN_COMPONENT_FRACTION * n) continue;
    const l = c.x0 <= margin ? 1 : 0, r = c.x1 >= w - margin ? 1 : 0, tp = c.y0 <= margin ? 1 : 0, b = c.y1 >= h - margin ? 1 : 0;
    if (l + r + tp + b >= 3 || (l && r)) { c.background = true; isBg[c.id] = 1; }
  }

  // 3. Candidates: large, thick, not background. Thickness at a pixel = the shortest of its four straight runs
  // (left, right, up, down) to a pixel outside the component (the image border does not end a run): row-major
  // sweeps over each large component's box.
  const minArea = Math.max(8, MIN_COMPONENT_FRACTION * n);
  // The largest few only (the rest could not be among the two lungs kept).
  let cands = list.filter((c) => !c.background && c.area >= minArea).sort((a, b) => b.area - a.area).slice(0, 12);
  if (cands.length > 0) {
    // One candidate at a time, over its own box: runs never cross from one dark component into another (4-adjacent
    // dark pixels are one component), so each candidate's thicknesses are those of a sweep over all of them
    // together, and the boxes of the candidates hold fewer pixels than the box around them all.
    // From the candidate's own runs (run-thickness.ts): the same figures as sweeps over its box.
    if (rowStartBuf.length < h + 1) rowStartBuf = new Int32Array(h + 1);
    const rowStart = rowStarts(darkRuns, h, rowStartBuf);
    for (const c of cands) {
      const { core, max } = componentThickness(darkRuns, rowStart, c.id, c, w, h, thicknessScratch);
      c.core = core; c.maxDist = max * CH;
    }
  }
  // Thin bands (the gaps inside the table, the space between body and table) and rectangles that fill their box
  // (windows and panels of a screenshot) are not lung (lung-shape.ts).
  cands = cands.filter((c) => lungShaped({ area: c.area, core: c.core, halfThickness: c.maxDist / CH, x0: c.x0, y0: c.y0, x1: c.x1, y1: c.y1 }));
  cands.sort((a, b) => b.area - a.area);
  cands = cands.slice(0, 8);

  // A dark ring that encloses other candidates is outside air inside a frame (a slice pasted on a white page).
  for (const c of cands) {
    const inner = cands.filter((o) => o !== c && o.x0 > c.x0 && o.y0 > c.y0 && o.x1 < c.x1 && o.y1 < c.y1);
    if (inner.length === 0) continue;
    for (let y = c.y0; y < c.y1; y++) for (let x = c.x0; x < c.x1; x++) one[y * w + x] = comp[y * w + x] === c.id ? 1 : 0;
    fillHoles(one, w, c.x0, c.y0, c.x1, c.y1, 2, scratch);
    let inside = 0;
    for (const o of inner) {
      const i = Math.round(o.sy / o.area) * w + Math.round(o.sx / o.area);
      if (one[i] === 2) inside += o.area;
    }
    if (inside >= 0.1 * c.area) { c.background = true; isBg[c.id] = 1; }
  }
  cands = cands.filter((c) => !c.background);
  // Lungs are not at the bottom of the image (where the table and the gap under the body are); a lung cut by
  // the crop is large.
  cands = cands.filter((c) => c.sy / c.area < MAX_CENTROID_Y * h && (c.border === 0 || c.area >= MIN_CUT_FRACTION * n));

  // Lungs lie behind the chest wall: a candidate that hugs the outside air (the inside of the table under the
  // body, a gap between arm and chest) is not lung.
  if (cands.length > 0) {
    let wx0 = w, wy0 = h, wx1 = 0, wy1 = 0;
    for (const c of cands) { wx0 = Math.min(wx0, c.x0); wy0 = Math.min(wy0, c.y0); wx1 = Math.max(wx1, c.x1); wy1 = Math.max(wy1, c.y1); }
    wx0 = Math.max(0, wx0 - WALL_MIN); wy0 = Math.max(0, wy0 - WALL_MIN);
    wx1 = Math.min(w, wx1 + WALL_MIN); wy1 = Math.min(h, wy1 + WALL_MIN);
    const near = new Int32Array(nc);
    const isCand = new Uint8Array(nc);
    for (const c of cands) isCand[c.id] = 1;
    nearOutside(darkRuns, isBg, isCand, wx0, wy0, wx1, wy1, WALL_MIN, near);
    cands = cands.filter((c) => near[c.id] <= MAX_NEAR_OUTSIDE * c.area);
  }
  // Lungs lie behind a wall of tissue: a candidate whose outline lies mostly within THIN_WALL px of air that is not
  // lung (the outside air, the mattress's foam under the thin cover the patient lies on) is the gap between the
  // back and the table, or air in a skin fold at the neck, not a lung.
  if (cands.length > 0) {
    const isCand = new Uint8Array(nc);
    for (const c of cands) isCand[c.id] = 1;
    const other = new Uint8Array(nc);
    // Lungs cut out of their slice with a thin rim (some public sets ship them so) are most of what is not outside
    // air; in a whole slice the lungs are at most about half of the body. There the outside air is not counted: the
    // picture's maker cut the wall away.
    let bgArea = 0, candArea = 0;
    for (const c of list) if (c.background) bgArea += c.area;
    for (const c of cands) candArea += c.area;
    const cutOut = candArea >= CUT_OUT * (n - bgArea);
    for (const c of list) if (!isCand[c.id] && (c.background ? !cutOut : c.area >= minArea)) other[c.id] = 1;
    // A region found to be such air is such air for its neighbours too: again until none is dropped.
    for (let round = 0; round < 4 && cands.length > 0; round++) {
      const share = thinWallShares(comp, other, cands, w, h, THIN_WALL);
      const thin = (k: number) => share[k] > MAX_THIN_WALL;
      const dropped = cands.filter((_, k) => thin(k));
      if (dropped.length === 0) break;
      for (const c of dropped) other[c.id] = 1;
      cands = cands.filter((_, k) => !thin(k));
    }
  }

  // Body: everything that is not background air, the largest piece, holes filled.
  // Its runs are the gaps between the background's runs in each row (runs are maximal, so two of a row never touch).
  const body = new Uint8Array(n).fill(1);
  {
    const { rs, re, ry, ids } = darkRuns;
    reserve(bodyRuns, w, h);
    let nb = 0, r = 0;
    for (let y = 0; y < h; y++) {
      let cursor = 0;
      for (; r < darkRuns.n && ry[r] === y; r++) {
        if (!isBg[ids[r]]) continue;
        if (rs[r] > cursor) { bodyRuns.rs[nb] = cursor; bodyRuns.re[nb] = rs[r]; bodyRuns.ry[nb] = y; nb++; }
        cursor = re[r];
        paint8(body, 0, y * w + rs[r], y * w + re[r]);
      }
      if (cursor < w) { bodyRuns.rs[nb] = cursor; bodyRuns.re[nb] = w; bodyRuns.ry[nb] = y; nb++; }
    }
    bodyRuns.n = nb;
  }
  const pieces = components(bodyRuns, w, 0, 0, w, h, scratch);
  let bodyId = 0, bodyArea = 0;
  for (const c of pieces) if (c.area > bodyArea) { bodyArea = c.area; bodyId = c.id; }
  // The piece holding each candidate, read at one of its own pixels (its first in raster order: the centroid of a
  // crescent lies outside it, in what it wraps, which noise or another picture may have replaced), before scratch
  // is reused.
  const pixelOf = cands.map((c) => {
    let i = c.y0 * w + c.x0;
    while (comp[i] !== c.id) i++;
    return i;
  });
  const pieceOf = pixelOf.map((i) => scratch[i]);
  // With one piece the body is already that piece.
  if (pieces.length !== 1) {
    body.fill(0);
    const { rs, re, ry, ids } = bodyRuns;
    for (let r = 0; r < bodyRuns.n; r++) if (ids[r] === bodyId) paint8(body, 1, ry[r] * w + rs[r], ry[r] * w + re[r]);
  }
  // Holes in the body are outside-air regions enclosed by it: only the frame rings found above.
  if (list.some((c) => c.background && c.border === 0)) fillHoles(body, w, 0, 0, w, h, 1, scratch);
  // A lung lies in the body, or in a piece of tissue nearly as large: when what surrounds the lungs is replaced
  // (noise, another slice's surroundings) each lung with its chest wall can become a piece of its own, and the
  // largest piece then holds one lung only.
  const tissuePieces = new Set<number>();
  cands = cands.filter((c, k) => {
    if (c.border > 0 || body[pixelOf[k]]) return true;
    if (pieceOf[k] > 0 && pieces[pieceOf[k] - 1].area >= MIN_PIECE_FRACTION * bodyArea) { tissuePieces.add(pieceOf[k]); return true; }
    return false;
  });
  // The closing below may add only tissue around a lung: the body's, or that of the lung's own piece.
  let closeIn = body;
  if (pieces.length > 1 && tissuePieces.size > 0) {
    closeIn = body.slice();
    // The pieces' runs are still in bodyRuns (hole filling uses its own).
    const { rs, re, ry, ids } = bodyRuns;
    for (let r = 0; r < bodyRuns.n; r++) if (tissuePieces.has(ids[r])) paint8(closeIn, 1, ry[r] * w + rs[r], ry[r] * w + re[r]);
  }
  if (cands.length === 0) return emptyResult(analysis, scale, 'no dark region enclosed by tissue', body, t);

  // 4. Trachea and main bronchi: small and central (at the apex the trachea is as large as a lung's tip: by its
  // size alone, not against the others), a small component between two larger ones, or small and central next to a lung.
  // The trachea is kept among the candidates (it stays evidence for the pair choice's "nothing between"), but is never chosen.
  // The midline is the body's (its box's middle), the picture's when the body fills it.
  const bodyBox = pieces[bodyId - 1];
  const midline = bodyBox ? (bodyBox.x0 + bodyBox.x1) / 2 : w / 2;
  // There is one trachea: of several such regions, the one nearest the midline (another may be a lung's apex beside it).
  let trachea = -1;
  cands.forEach((c, k) => {
    if (isTrachea(c, midline, w) && (trachea < 0 || Math.abs(c.sx / c.area - midline) < Math.abs(cands[trachea].sx / cands[trachea].area - midline))) trachea = k;
  });
  const airway = cands.map((_, k) => k === trachea);
  const lungLike = cands.filter((_, k) => !airway[k]);
  if (lungLike.length === 0) return emptyResult(analysis, scale, 'no lung beside the trachea (a slice above the lungs)', body, t);
  let kept = lungLike.slice(0, 3);
  if (kept.length === 3) {
    const cx = kept.map((c) => c.sx / c.area);
    for (let k = 0; k < 3; k++) {
      const [a, b] = [0, 1, 2].filter((j) => j !== k);
      if (cx[k] > Math.min(cx[a], cx[b]) && cx[k] < Math.max(cx[a], cx[b]) && kept[k].area < 0.5 * Math.min(kept[a].area, kept[b].area)) { kept.splice(k, 1); break; }
    }
  }
  kept = kept.slice(0, 2);
  if (kept.length === 2) {
    const [a, b] = kept;
    if (notAPartner(a, { area: b.area, cx: b.sx / b.area }, w)) kept = [a];
  }
  // Two lungs lie side by side at similar heights: when the two largest do not (a gas bubble under a lung, a lung
  // in two stacked pieces, another picture's lung under ours), the largest pair that does, with nothing lung-sized
  // between its two (lung-pair.ts).
  if (kept.length === 2) {
    const regions: Region[] = cands.map((c) => ({ area: c.area, cx: c.sx / c.area, cy: c.sy / c.area, x0: c.x0, y0: c.y0, x1: c.x1, y1: c.y1 }));
    kept = chooseLungPair(regions, kept.map((c) => cands.indexOf(c)), w, (k) => !airway[k]).map((k) => cands[k]);
  }
  // Two lungs that touch (anterior junction, partial volume) form one component across the midline: split it
  // at the thinnest column of its middle third when that column is much thinner than the fullest one.
  if (kept.length === 1 && kept[0].x0 < w / 2 && kept[0].x1 > w / 2) {
    const c = kept[0];
    const span = c.x1 - c.x0;
    const cols = new Int32Array(span);
    for (let y = c.y0; y < c.y1; y++) for (let x = c.x0, i = y * w + c.x0; x < c.x1; x++, i++) if (comp[i] === c.id) cols[x - c.x0]++;
    let maxCol = 0, cut = -1, minCol = Infinity;
    for (const v of cols) if (v > maxCol) maxCol = v;
    for (let k = Math.floor(span / 3); k < Math.ceil((2 * span) / 3); k++) if (cols[k] < minCol) { minCol = cols[k]; cut = k; }
    if (cut > 0 && minCol <= MAX_JUNCTION * maxCol) {
      const cx = c.x0 + cut;
      const r: Component = { id: list.length + 1, area: 0, sx: 0, sy: 0, x0: cx, y0: h, x1: c.x1, y1: 0, border: 0, sides: 0, core: 0, maxDist: 0, background: false };
      for (let y = c.y0; y < c.y1; y++) {
        for (let x = cx, i = y * w + cx; x < c.x1; x++, i++) {
          if (comp[i] !== c.id) continue;
          comp[i] = r.id;
          r.area++; r.sx += x; r.sy += y;
          if (y < r.y0) r.y0 = y;
          if (y >= r.y1) r.y1 = y + 1;
        }
      }
      c.area -= r.area; c.sx -= r.sx; c.sy -= r.sy; c.x1 = cx;
      list.push(r);
      if (c.area > 0 && r.area > 0) kept = [c, r];
    }
  }
  kept.sort((a, b) => a.sx / a.area - b.sx / b.area);
  // A lung cut by the picture's side edge can fall apart into pieces that meet beyond it (the costophrenic recess
  // round the liver's dome at the bases, a field tighter than the body): a candidate that touches the same side edge
  // as a kept lung, above or below it, and is as grey as that lung, not as dark as the outside air, is that lung's
  // (edge-lung.ts).
  const parts = kept.map((c, k) => ({ c, k }));
  const loose = cands.filter((c, k) => !airway[k] && !kept.includes(c) && (c.sides & 3) !== 0);
  if (loose.length > 0 && kept.some((c) => (c.sides & 3) !== 0)) {
    const air = list.filter((c) => c.background && c.border > 0 && c.area >= minArea);
    const med = componentMedians([...kept, ...loose, ...air], darkRuns, data, w);
    const airGrey = air.length > 0 ? Math.min(...med.slice(kept.length + loose.length)) : NaN;
    loose.forEach((c, j) => {
      const k = kept.findIndex((l, i) => edgePartner(regionAt(l), regionAt(c), { region: med[kept.length + j], air: airGrey, lung: med[i] }));
      if (k >= 0) parts.push({ c, k });
    });
  }

  // 5. Per-lung closing (radius grows with the lung) and hole filling: consolidations stay lung.
  const labels = new Uint8Array(n);
  const lungLabel = kept.length === 2 ? [1, 2] : [kept[0].sx / kept[0].area < w / 2 ? 1 : 2];
  let bx0 = w, by0 = h, bx1 = 0, by1 = 0, total = 0;
  const areas = kept.map(() => 0);
  parts.forEach(({ c, k }) => {
    const lab = lungLabel[k];
    const r = Math.max(2, Math.min(MAX_CLOSE_RADIUS, Math.round(CLOSE_RADIUS_FACTOR * Math.sqrt(c.area))));
    const R = r * CH;
    const x0 = Math.max(0, c.x0 - r - 1), y0 = Math.max(0, c.y0 - r - 1);
    const x1 = Math.min(w, c.x1 + r + 1), y1 = Math.min(h, c.y1 + r + 1);
    const id = c.id;
    closeComponent(comp, id, c, closeIn, labels, w, h, x0, y0, x1, y1, R, one, closingScratch);
    fillHoles(one, w, x0, y0, x1, y1, 1, scratch);
    let area = 0;
    for (let y = y0; y < y1; y++) {
      for (let x = x0, i = y * w + x0; x < x1; x++, i++) {
        if (one[i] && !labels[i]) {
          labels[i] = lab;
          area++;
          if (x < bx0) bx0 = x;
          if (y < by0) by0 = y;
          if (x >= bx1) bx1 = x + 1;
          if (y >= by1) by1 = y + 1;
        }
      }
    }
    areas[k] += area;
    total += area;
  });

  const areaFraction = total / n;
  const balance = areas.length === 2 ? Math.min(areas[0], areas[1]) / Math.max(areas[0], areas[1]) : 0;
  const found = areaFraction >= MIN_FOUND_FRACTION;
  return {
    analysis, scale, labels, body, box: total ? { x0: bx0, y0: by0, x1: bx1, y1: by1 } : null,
    quality: { areaFraction, components: kept.length, balance },
    found, reason: found ? undefined : 'the dark regions enclosed by tissue are too small to be lungs', threshold: t,
  };
}

/**
 * Per candidate, the share of its outline pixels (a 4-neighbour outside it) that lie within `r` px (a (2r+1)-square)
 * of a pixel whose component is marked in `other` (air that is not lung). `comp`: the dark components' ids per pixel.
 */
let wallBuf = new Uint8Array(0);
function thinWallShares(comp: Int32Array, other: Uint8Array, cands: readonly Component[], w: number, h: number, r: number): number[] {
  let x0 = w, y0 = h, x1 = 0, y1 = 0;
  for (const c of cands) { x0 = Math.min(x0, c.x0); y0 = Math.min(y0, c.y0); x1 = Math.max(x1, c.x1); y1 = Math.max(y1, c.y1); }
  x0 = Math.max(0, x0 - r - 1); y0 = Math.max(0, y0 - r - 1); x1 = Math.min(w, x1 + r + 1); y1 = Math.min(h, y1 + r + 1);
  // Other air grown by r along rows (every pixel of the window written: no clearing). The square's other half, along
  // columns, is read at the outline pixels only (a few hundred), not grown over the whole window.
  const ww = x1 - x0, hh = y1 - y0;
  if (wallBuf.length < ww * hh) wallBuf = new Uint8Array(ww * hh);
  const rowGrown = wallBuf;
  for (let y = 0; y < hh; y++) {
    let last = -Infinity;
    const row = (y0 + y) * w + x0, out = y * ww;
    // Left to right: within r after the last other pixel; then right to left: within r before the next.
    for (let x = 0; x < ww; x++) { if (other[comp[row + x]]) last = x; rowGrown[out + x] = x - last <= r ? 1 : 0; }
    let next = Infinity;
    for (let x = ww - 1; x >= 0; x--) { if (other[comp[row + x]]) next = x; if (next - x <= r) rowGrown[out + x] = 1; }
  }
  return cands.map((c) => {
    let outline = 0, thin = 0;
    for (let y = c.y0; y < c.y1; y++) {
      for (let x = c.x0, i = y * w + x; x < c.x1; x++, i++) {
        if (comp[i] !== c.id) continue;
        const edge = (x > 0 && comp[i - 1] !== c.id) || (x < w - 1 && comp[i + 1] !== c.id) || (y > 0 && comp[i - w] !== c.id) || (y < h - 1 && comp[i + w] !== c.id);
        if (!edge) continue;
        outline++;
        // Within the square: a row-grown pixel within r rows in this column.
        const ya = Math.max(0, y - y0 - r), yb = Math.min(hh - 1, y - y0 + r);
        for (let k = ya * ww + (x - x0), end = yb * ww + (x - x0); k <= end; k += ww) if (rowGrown[k]) { thin++; break; }
      }
    }
    return outline ? thin / outline : 0;
  });
}

/**
 * Lungs lie behind a wall of tissue (chest wall, mediastinum, diaphragm: 5 mm and more, at least 3 analysis px at a
 * field of view up to 40 cm) thicker than this many analysis px (thinWallShares)...
 */
const THIN_WALL = 3;
/** ... over at most this share of their outline (the other lung at the anterior junction is a candidate, not such air). */
const MAX_THIN_WALL = 0.25;
/** Lungs that are at least this share of what is not outside air were cut out of their slice (thinWallShares' caller). */
const CUT_OUT = 0.5;

/**
 * The trachea is at most 25 mm wide (adults), and the picture is at least a chest wide (25 cm or more): a central
 * dark region whose box fits within this fraction of the picture's width is the trachea, never a lung.
 */
const MAX_TRACHEA = 0.1;

/**
 * The trachea: a dark region on the body's midline (within CENTRAL_FRACTION of the picture's width of `midline`) whose
 * box fits within MAX_TRACHEA of the picture's width `w`.
 */
function isTrachea(c: Component, midline: number, w: number): boolean {
  return Math.abs(c.sx / c.area - midline) < CENTRAL_FRACTION * w && Math.max(c.x1 - c.x0, c.y1 - c.y0) <= MAX_TRACHEA * w;
}

/** A piece of tissue apart from the body holds a lung when it is at least this fraction of the body's area. */
const MIN_PIECE_FRACTION = 0.2;

/** Lung pixels closer than WALL_MIN analysis pixels to the outside air: at most this fraction of the lung. */
const WALL_MIN = 2;
const MAX_NEAR_OUTSIDE = 0.25;
/** Edge margin (fraction of the short side) within which an enclosed dark region counts as reaching the edge. */
const FRAME_MARGIN = 0.025;
/** A lung that touches the image border (cut by the crop) covers at least this fraction of the image. */
const MIN_CUT_FRACTION = 0.01;
/** A lung's centroid is above this fraction of the image height. */
const MAX_CENTROID_Y = 0.8;

/** A merged pair of lungs is split where a column holds at most this fraction of the fullest column's pixels. */
const MAX_JUNCTION = 0.25;

/** Closing radius of a lung: this times sqrt(lung area), at most MAX_CLOSE_RADIUS analysis pixels. */
const CLOSE_RADIUS_FACTOR = 0.16;
const MAX_CLOSE_RADIUS = 16;

/** Outline pixels of the lung mask (1 where a lung pixel touches a non-lung pixel or the image edge, 4-neighbours), for drawing. */
export function lungOutline(seg: LungSegmentation): Uint8Array {
  const { width: w, height: h } = seg.analysis;
  const l = seg.labels;
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const v = l[i];
      if (!v) continue;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1 || l[i - 1] !== v || l[i + 1] !== v || l[i - w] !== v || l[i + w] !== v) out[i] = 1;
    }
  }
  return out;
}
