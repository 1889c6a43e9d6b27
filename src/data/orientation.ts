/**
 * Orientation of a CT slice by its anatomy (docs/orientation.md). Pure TypeScript, no I/O: the same module runs on
 * the server and in the page.
 *
 * Public slices are often exported from NIfTI volumes or viewers turned by 90 degrees or upside down. The lung stage
 * (lungs.ts, lung-pair.ts) expects two lungs side by side, and the pattern model has learned where the front of the
 * chest is (COVID is posterior-predominant). This stage brings a slice to the standard display (the patient's
 * anterior at the top, the two lungs side by side) when, and only when, the anatomy says so unambiguously; else it
 * leaves the slice exactly as it is (a wrong turn of an upright slice is far worse than a missed turn).
 *
 * The transforms are the four that put any axial slice's front at the top up to a left-right mirror (which the
 * pattern model does not mind: it averages a view and its mirror): none, a top-bottom flip, a transpose (a slice
 * turned by 90 degrees either way becomes a slice with its lungs side by side, anterior up or down), and the
 * transpose then the flip.
 *
 *  1. Side by side or stacked: the two lungs of an upright slice lie side by side; turned by 90 degrees, one above
 *     the other, or often no plausible pair at all (measured: docs/orientation.md). The slice is segmented as it
 *     is; when its two lungs are not a plausible side-by-side pair, the transposed slice is segmented, and it must
 *     give one.
 *  2. Anterior up or down, on the side-by-side pair (apCues, apVerdict): the scanner's table behind the body, the
 *     vertebral body (solid bone) on the midline behind the lungs, the heart in the anterior middle between them,
 *     the body reaching far behind the lungs (spine and back muscles) and little in front of them. A flip of a
 *     slice whose lungs are already side by side needs the table and one more cue, or three cues, and no cue
 *     against; a slice whose lungs were stacked is turned to the sense the table or two cues say.
 */
import type { GreyImage } from '../types.js';
import { segmentLungs, type LungSegmentation, type SegmentOptions } from './lungs.js';
import { sideBySide, type Region } from './lung-pair.js';

/** What the stage did to the slice: the transform that maps the picture as sent to the upright picture. */
export type Orientation = 'as-sent' | 'flipped' | 'transposed' | 'transposed-flipped';

/** What the user is told when a slice was turned before it was read (the page, predict's table, explain). */
export const ORIENTATION_NOTES: Readonly<Record<Exclude<Orientation, 'as-sent'>, string>> = {
  flipped: 'it came upside down and was read upright',
  // A turn by 90 degrees either way is undone up to a left-right mirror (the stage does not read laterality).
  transposed: 'it came turned by 90 degrees and was read upright (its left and right may be swapped)',
  'transposed-flipped': 'it came turned by 90 degrees and was read upright (its left and right may be swapped)',
};

/** The slice transposed (x <-> y): a slice turned by 90 degrees either way gets its lungs side by side. */
export function transposeImage(img: GreyImage): GreyImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) out[x * h + y] = data[row + x];
  }
  return { ...img, width: h, height: w, data: out };
}

/** The slice flipped top to bottom. */
export function flipImage(img: GreyImage): GreyImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) out.set(data.subarray(y * w, (y + 1) * w), (h - 1 - y) * w);
  return { ...img, data: out };
}

/** The slice mirrored left to right (not a transform of the stage: the pattern model averages a view and its mirror). */
export function mirrorImage(img: GreyImage): GreyImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = data[y * w + w - 1 - x];
  return { ...img, data: out };
}

/**
 * The ways a slice comes turned from an export or a viewer, and the stage's answer that brings each upright (up to a
 * left-right mirror): what the tests and bench/orientation-cues.ts check the stage against.
 */
export const TURNS: readonly { name: string; turn: (g: GreyImage) => GreyImage; right: Orientation }[] = [
  { name: 'upright', turn: (g) => g, right: 'as-sent' },
  { name: 'upside down (flipped top to bottom)', turn: flipImage, right: 'flipped' },
  { name: 'turned by 180 degrees', turn: (g) => mirrorImage(flipImage(g)), right: 'flipped' },
  { name: 'turned by 90 degrees clockwise', turn: (g) => mirrorImage(transposeImage(g)), right: 'transposed-flipped' },
  { name: 'turned by 90 degrees anticlockwise', turn: (g) => flipImage(transposeImage(g)), right: 'transposed' },
];

/** The slice turned by `o` (as-sent returns the same object). */
export function orientImage(img: GreyImage, o: Orientation): GreyImage {
  if (o === 'as-sent') return img;
  if (o === 'flipped') return flipImage(img);
  const t = transposeImage(img);
  return o === 'transposed' ? t : flipImage(t);
}

/** The two lungs of a segmentation as regions (area, centroid, box), in analysis pixels; fewer when not found. */
export function lungRegions(seg: LungSegmentation): Region[] {
  const { width: w, height: h } = seg.analysis;
  const acc = [1, 2].map(() => ({ area: 0, sx: 0, sy: 0, x0: w, y0: h, x1: 0, y1: 0 }));
  // Within the lungs' box (it bounds every lung pixel), in the same order.
  const b = seg.box ?? { x0: 0, y0: 0, x1: w, y1: h };
  for (let y = b.y0; y < b.y1; y++) {
    for (let x = b.x0; x < b.x1; x++) {
      const l = seg.labels[y * w + x];
      if (l === 0) continue;
      const a = acc[l - 1];
      a.area++; a.sx += x; a.sy += y;
      if (x < a.x0) a.x0 = x;
      if (x >= a.x1) a.x1 = x + 1;
      if (y < a.y0) a.y0 = y;
      if (y >= a.y1) a.y1 = y + 1;
    }
  }
  return acc.filter((a) => a.area > 0).map((a) => ({ area: a.area, cx: a.sx / a.area, cy: a.sy / a.area, x0: a.x0, y0: a.y0, x1: a.x1, y1: a.y1 }));
}

/** The two regions one above the other: side by side once x and y are swapped. */
export function stacked(a: Region, b: Region): boolean {
  const t = (r: Region): Region => ({ area: r.area, cx: r.cy, cy: r.cx, x0: r.y0, y0: r.x0, x1: r.y1, y1: r.x1 });
  return sideBySide(t(a), t(b));
}

/**
 * A plausible pair for orientation: two lungs, the smaller at least MIN_BALANCE of the larger, together at least
 * MIN_PAIR_FRACTION of the image (paper figures' half slices, panels and crops rarely give two such lungs).
 */
export const MIN_BALANCE = 0.35;
export const MIN_PAIR_FRACTION = 0.04;

export function plausiblePair(seg: LungSegmentation): Region[] | null {
  if (!seg.found) return null;
  const r = lungRegions(seg);
  if (r.length !== 2) return null;
  const [big, small] = r[0].area >= r[1].area ? [r[0], r[1]] : [r[1], r[0]];
  if (small.area < MIN_BALANCE * big.area) return null;
  if (big.area + small.area < MIN_PAIR_FRACTION * seg.analysis.width * seg.analysis.height) return null;
  return r;
}

/**
 * The anterior-posterior cues of a side-by-side pair, each a share in [-1, 1]: > 0 says "anterior at the top" (the
 * standard display), < 0 "at the bottom"; null when it cannot be measured on this picture.
 */
export interface ApCues {
  /**
   * The vertebral body: bone (the brightest SPINE_QUANTILE of the tissue) in the midline strip between the lungs,
   * behind their mid-height against in front of it. The sternum is small, the heart is soft tissue (darker than
   * bone in a lung or a soft-tissue window; in a window that saturates both, this cue is weak: the others decide).
   * Only solid bone counts (a pixel whose four neighbours are bone too): noise does not.
   */
  spine: number | null;
  /**
   * The heart: lung in the middle half of the pair's width, behind the pair's mid-height against in front of it.
   * The heart and the great vessels fill the anterior middle; behind them the lungs reach in towards the spine
   * (the paravertebral gutters).
   */
  heart: number | null;
  /**
   * The back: along the midline column, the body from the lungs' box to the body's edge, behind against in front
   * (spine and back muscles are thick, the anterior chest wall thin). Null when the body is cut by the picture.
   */
  body: number | null;
  /**
   * The scanner's table, behind the patient: rows outside the body where an unbroken thin bright line spans at
   * least TABLE_SPAN of the lungs' width, below the body against above it. Null when there is none (paper crops).
   */
  table: number | null;
  /** Whether the body's surround is clean air (CLEAN_SURROUND): the body and the table are read only then. */
  clean: boolean;
}

/** The share of the body's tissue (outside the lungs) that counts as bone for the spine cue (its brightest 3%). */
export const SPINE_QUANTILE = 0.97;
/** The spine's strip: within this fraction of the lungs' centroid distance of the midline. */
const SPINE_HALF_WIDTH = 0.12;
/** ... and the lungs' box grown by this fraction of its height (the vertebra's posterior parts lie beyond it). */
const SPINE_BEYOND = 0.15;
/** A table line spans at least this fraction of the lungs' width, with dark TABLE_GAP px above and below it. */
export const TABLE_SPAN = 0.2;
const TABLE_GAP = 3;

/** Grey level of the q-quantile of the body's pixels outside the lungs (the tissue). */
function tissueQuantile(seg: LungSegmentation, q: number): number {
  const hist = new Float64Array(256);
  let n = 0;
  const { data } = seg.analysis;
  for (let i = 0; i < data.length; i++) if (seg.body[i] && !seg.labels[i]) { hist[data[i]]++; n++; }
  if (n === 0) return 256;
  let c = 0;
  for (let v = 0; v < 256; v++) { c += hist[v]; if (c >= q * n) return v; }
  return 255;
}

const share = (a: number, b: number): number => (a - b) / (a + b);

/** The cues of a segmentation whose two lungs `pair` lie side by side. */
export function apCues(seg: LungSegmentation, pair: Region[]): ApCues {
  const { width: w, height: h, data } = seg.analysis;
  const [l, r] = pair[0].cx <= pair[1].cx ? [pair[0], pair[1]] : [pair[1], pair[0]];
  const y0 = Math.min(l.y0, r.y0), y1 = Math.max(l.y1, r.y1), bh = y1 - y0, ymid = (y0 + y1) / 2;
  const lx0 = Math.min(l.x0, r.x0), lx1 = Math.max(l.x1, r.x1), bw = lx1 - lx0;
  const mid = (l.cx + r.cx) / 2;
  // Spine.
  const half = Math.max(2, Math.round(SPINE_HALF_WIDTH * (r.cx - l.cx)));
  const xa = Math.max(0, Math.round(mid - half)), xb = Math.min(w, Math.round(mid + half) + 1);
  const ext = Math.round(SPINE_BEYOND * bh);
  const bone = tissueQuantile(seg, SPINE_QUANTILE);
  let front = 0, back = 0;
  for (let y = Math.max(0, y0 - ext); y < Math.min(h, y1 + ext); y++) {
    for (let x = xa; x < xb; x++) {
      const i = y * w + x;
      if (!seg.body[i] || seg.labels[i] || data[i] < bone) continue;
      // Bone is solid: a pixel whose four neighbours are bone too (noise and thin edges are not).
      if (x === 0 || x === w - 1 || y === 0 || y === h - 1) continue;
      if (data[i - 1] < bone || data[i + 1] < bone || data[i - w] < bone || data[i + w] < bone) continue;
      if (y < ymid) front++; else back++;
    }
  }
  const spine = front + back >= 4 ? share(back, front) : null;
  // Heart: rows 20-50% against 50-80% of the pair's height, in the middle half of its width.
  let ant = 0, post = 0;
  for (let y = Math.round(y0 + 0.2 * bh); y < Math.round(y0 + 0.8 * bh); y++) {
    for (let x = Math.round(lx0 + 0.25 * bw); x < Math.round(lx0 + 0.75 * bw); x++) {
      if (!seg.labels[y * w + x]) continue;
      if (y < ymid) ant++; else post++;
    }
  }
  const heart = ant + post > 0 ? share(post, ant) : null;
  // Body along the midline column (a body all ones, as for a tight crop, is cut at the picture's edge).
  const x = Math.round(mid);
  let above = 0, below = 0, cutAbove = true, cutBelow = true;
  for (let y = y0 - 1; y >= 0; y--) { if (!seg.body[y * w + x]) { cutAbove = false; break; } above++; }
  for (let y = y1; y < h; y++) { if (!seg.body[y * w + x]) { cutBelow = false; break; } below++; }
  // The body's outline and the table are read only against a clean surround (dark air outside the body): noise,
  // another slice's pixels or a textured page around the body make both meaningless.
  const clean = cleanSurround(seg);
  const body = !clean || cutAbove || cutBelow || above + below === 0 ? null : share(below, above);
  return { spine, heart, body, table: clean ? tableCue(seg, lx0, lx1) : null, clean };
}

/** The share of the pixels outside the body that must be dark (below the lung threshold) for a clean surround. */
export const CLEAN_SURROUND = 0.9;

/** Whether the surround of the body is clean air: at least CLEAN_SURROUND of the pixels outside it are dark. */
function cleanSurround(seg: LungSegmentation): boolean {
  const t = seg.threshold;
  if (t === undefined) return false;
  let out = 0, dark = 0;
  const { data } = seg.analysis;
  for (let i = 0; i < data.length; i++) if (!seg.body[i]) { out++; if (data[i] < t) dark++; }
  return out > 0 && dark >= CLEAN_SURROUND * out;
}

/** The table cue (ApCues.table): below minus above over both, null when neither side has a table line. */
function tableCue(seg: LungSegmentation, lx0: number, lx1: number): number | null {
  const { width: w, height: h, data } = seg.analysis;
  const t = seg.threshold;
  if (t === undefined) return null;
  const need = TABLE_SPAN * (lx1 - lx0);
  // The body's extent over the lungs' columns: a table line lies wholly below (or above) it.
  let top = h, bottom = -1;
  for (let y = 0; y < h; y++) for (let x = lx0; x < lx1; x++) if (seg.body[y * w + x]) { if (y < top) top = y; if (y > bottom) bottom = y; }
  if (bottom < 0) return null;
  let below = 0, above = 0;
  for (let y = TABLE_GAP; y < h - TABLE_GAP; y++) {
    if (y >= top && y <= bottom) continue;
    // The longest unbroken run of line pixels on the row (a line, not scattered bright dots).
    let run = 0, longest = 0;
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const line = !seg.body[i] && data[i] >= t && data[i - TABLE_GAP * w] < t && data[i + TABLE_GAP * w] < t;
      run = line ? run + 1 : 0;
      if (run > longest) longest = run;
    }
    if (longest >= need) { if (y > bottom) below++; else above++; }
  }
  return below + above > 0 ? share(below, above) : null;
}

/** What the stage found: the transform chosen, and why (for the bench and the tests). */
export interface OrientationDecision {
  orientation: Orientation;
  /** As sent: 'side' (lungs side by side), 'stacked' (one above the other), 'none' (no plausible pair of lungs). */
  arrangement: 'side' | 'stacked' | 'none';
  /** The cues read on the side-by-side pair (as sent, or transposed), null when there was none. */
  cues: ApCues | null;
  /** The segmentation of the chosen picture when the stage made it (as sent, or transposed), so it is not made twice. */
  seg?: LungSegmentation;
}

/**
 * Margins under which a cue does not vote (by design: a cue is a share in [-1, 1]; these ask for a clear majority,
 * e.g. the spine's bone at least 60/40 on one side). A cue votes +1 for "anterior at the top", -1 for "at the bottom".
 */
export const VOTE_MARGIN = Object.freeze({ table: 0.5, spine: 0.2, heart: 0.1, body: 0.05 });

export function cueVotes(c: ApCues): { table: number; spine: number; heart: number; body: number } {
  const v = (x: number | null, m: number): number => (x === null || Math.abs(x) < m ? 0 : Math.sign(x));
  return { table: v(c.table, VOTE_MARGIN.table), spine: v(c.spine, VOTE_MARGIN.spine), heart: v(c.heart, VOTE_MARGIN.heart), body: v(c.body, VOTE_MARGIN.body) };
}

/**
 * The cues' verdict: +1 anterior at the top, -1 at the bottom, 0 unsure. Never when the table, the spine or the
 * heart votes the other way. The body may confirm but never vetoes: at the lung bases the liver and the stomach lie
 * in front of the lungs' posterior recesses, so the body in front of the lungs is thick there (a known weakness).
 * `strict` (a slice whose lungs are already side by side, where a wrong flip is the costly error): the table with
 * the spine or the heart, or the spine, the heart and the body all three. Otherwise (a turned slice, whose lungs
 * were stacked and must be turned anyway): the table, or two cues, agreeing.
 */
export function apVerdict(c: ApCues, strict: boolean): -1 | 0 | 1 {
  const v = cueVotes(c);
  for (const side of [1, -1] as const) {
    if (v.table === -side || v.spine === -side || v.heart === -side) continue;
    const table = v.table === side, spine = v.spine === side, heart = v.heart === side, body = v.body === side;
    const n = [table, spine, heart, body].filter(Boolean).length;
    if (strict ? (table && (spine || heart)) || (spine && heart && body) : table || n >= 2) return side;
  }
  return 0;
}

/**
 * The orientation stage's decision for one slice (opts: as segmentLungs; the slice's HU mapping when known).
 *
 * Lungs side by side as sent: flipped only on a strict verdict (apVerdict). Otherwise the transposed slice is
 * segmented; when it gives a plausible side-by-side pair, it is turned to whichever of its two vertical senses the
 * cues say: on the usual verdict when the pair as sent was stacked (the arrangement itself says "turned"), on the
 * strict one when the slice as sent gave no plausible pair (less evidence). Unsure: as sent.
 */
export function decideOrientation(img: GreyImage, opts: SegmentOptions = {}): OrientationDecision {
  const seg = segmentLungs(img, opts);
  const pair = plausiblePair(seg);
  if (pair && sideBySide(pair[0], pair[1])) {
    const cues = apCues(seg, pair);
    return apVerdict(cues, true) < 0 ? { orientation: 'flipped', arrangement: 'side', cues } : { orientation: 'as-sent', arrangement: 'side', cues, seg };
  }
  const isStacked = pair !== null && stacked(pair[0], pair[1]);
  const arrangement = isStacked ? 'stacked' : 'none';
  const segT = segmentLungs(transposeImage(img), opts);
  const pairT = plausiblePair(segT);
  if (!pairT || !sideBySide(pairT[0], pairT[1])) return { orientation: 'as-sent', arrangement, cues: null, seg };
  const cues = apCues(segT, pairT);
  const v = apVerdict(cues, !isStacked);
  if (v > 0) return { orientation: 'transposed', arrangement, cues, seg: segT };
  if (v < 0) return { orientation: 'transposed-flipped', arrangement, cues };
  return { orientation: 'as-sent', arrangement, cues, seg };
}

/** A slice brought upright: the picture the lung stage, the views and the maps read, and what was done to it. */
export interface UprightSlice {
  image: GreyImage;
  orientation: Orientation;
  /** The segmentation of `image` when the stage made it (findLungs takes it instead of segmenting again). */
  seg?: LungSegmentation;
}

/** The orientation stage on one slice: the slice as sent (the same object) unless its anatomy says it is turned. */
export function uprightSlice(img: GreyImage): UprightSlice {
  const d = decideOrientation(img, img.hu ? { hu: img.hu } : {});
  return { image: orientImage(img, d.orientation), orientation: d.orientation, ...(d.seg ? { seg: d.seg } : {}) };
}
