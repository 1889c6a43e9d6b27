/**
 * Which two dark regions of a slice are its lungs, by anatomy (issue 10 item 7; docs/lung-pair.md). Pure: it reads
 * the candidates' areas, centroids and boxes only (analysis pixels), no pixels and no labels.
 *
 * The segmentation (lungs.ts) takes the two largest candidates. That fails when the picture holds other dark regions
 * as large as a lung: a gas bubble in the stomach or colon beside a lung base, the other piece of a lung split by a
 * fissure or a consolidation, another slice's lungs beside ours (a multi-panel figure, the outside-swap audit). Two
 * lungs lie side by side (their boxes barely overlap left to right) at similar heights (their boxes overlap top to
 * bottom). When the two largest do not, the largest pair that does replaces them, provided nothing the size of a
 * lung lies between its two away from the midline (between the lungs lies the mediastinum only: trachea,
 * oesophagus and main bronchi, small or central) and it is not much smaller than the two largest.
 *
 * Only a failing pair is replaced: the two largest side by side are kept even when another pair lies around them
 * or between them (one slice's lungs nested in another's, the outside-swap audit's chimeras, cannot be told from a
 * lung crescent around a gas bubble or from the bronchi between the lungs by position and size alone).
 */

/** A lung candidate: area, centroid and bounding box (exclusive x1, y1), in analysis pixels. */
export interface Region { area: number; cx: number; cy: number; x0: number; y0: number; x1: number; y1: number }

/** Side by side: the boxes overlap left to right by at most this fraction of the narrower box's width. */
export const MAX_X_OVERLAP = 0.3;
/** At similar heights: the boxes overlap top to bottom by at least this fraction of the shorter box's height. */
export const MIN_Y_OVERLAP = 0.5;
/** A region between two lungs is lung-sized (it rules the pair out) from this fraction of the smaller lung's area. */
export const BETWEEN_AREA = 0.5;
/**
 * ... unless it is central (trachea, oesophagus; at the apex the trachea can be as large as a lung): within this
 * fraction of the pair's centroid distance of the pair's midline.
 */
export const CENTRAL_BAND = 0.15;
/** A lung of a pair is at least this fraction of the larger one's area (notAPartner; lungs.ts drops a second lung by it too). */
export const MIN_PAIR_BALANCE = 0.08;
/**
 * Nor is a region within this fraction of the image width of its centre and below CENTRAL_BALANCE of the other's
 * area a lung of a pair (the trachea; notAPartner).
 */
export const CENTRAL_FRACTION = 0.08;
export const CENTRAL_BALANCE = 0.3;
/**
 * A replacing pair holds at least this fraction of the two largest's joint area: otherwise what is framed alike is
 * small stuff (bowel gas, the corners of a frame) and the two largest stay (a lung in two pieces, as before).
 */
export const MIN_REPLACING_AREA = 0.5;

/**
 * Whether `smaller` cannot be the second lung beside `larger`: tiny next to it (below MIN_PAIR_BALANCE of its area),
 * or small and central (within CENTRAL_FRACTION of the image width of its centre, below CENTRAL_BALANCE: the
 * trachea). `width` is the analysis image's width.
 */
export function notAPartner(larger: { area: number }, smaller: { area: number; cx: number }, width: number): boolean {
  const central = Math.abs(smaller.cx - width / 2) < CENTRAL_FRACTION * width;
  return smaller.area < MIN_PAIR_BALANCE * larger.area || (central && smaller.area < CENTRAL_BALANCE * larger.area);
}

const overlap = (a0: number, a1: number, b0: number, b1: number): number => Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));

/** Side by side (their boxes overlap left to right by at most MAX_X_OVERLAP) at similar heights (top to bottom by at least MIN_Y_OVERLAP). */
export function sideBySide(a: Region, b: Region): boolean {
  return overlap(a.x0, a.x1, b.x0, b.x1) <= MAX_X_OVERLAP * Math.min(a.x1 - a.x0, b.x1 - b.x0)
    && overlap(a.y0, a.y1, b.y0, b.y1) >= MIN_Y_OVERLAP * Math.min(a.y1 - a.y0, b.y1 - b.y0);
}

/**
 * True when no region of `all` (other than a and b) of at least BETWEEN_AREA of the smaller one's area lies between
 * their centroids (left to right, within their joint height) outside the central band: between two lungs lies the
 * mediastinum only.
 */
export function nothingBetween(a: Region, b: Region, all: readonly Region[]): boolean {
  const [l, r] = a.cx <= b.cx ? [a, b] : [b, a];
  const span = r.cx - l.cx, mid = (l.cx + r.cx) / 2, minArea = Math.min(l.area, r.area);
  const top = Math.min(l.y0, r.y0), bottom = Math.max(l.y1, r.y1);
  for (const c of all) {
    if (c === a || c === b || c.area < BETWEEN_AREA * minArea) continue;
    if (c.cx <= l.cx || c.cx >= r.cx || c.cy < top || c.cy >= bottom) continue;
    if (Math.abs(c.cx - mid) >= CENTRAL_BAND * span) return false;
  }
  return true;
}

/**
 * The indices (into `cands`) of the lungs: `chosen` (the segmentation's two largest, after its trachea rules) when
 * they lie side by side or are not two; otherwise the pair side by side with nothing between them of largest joint
 * area (at least MIN_REPLACING_AREA of theirs) whose smaller region may be a partner (notAPartner), or `chosen` when
 * there is none. `width` is the analysis image's width; `eligible(i)`: whether cands[i] may be a lung at all (the
 * trachea may not, but stays evidence of what lies between).
 */
export function chooseLungPair(cands: readonly Region[], chosen: readonly number[], width: number, eligible: (i: number) => boolean = () => true): number[] {
  if (chosen.length !== 2 || sideBySide(cands[chosen[0]], cands[chosen[1]])) return [...chosen];
  let best: number[] | null = null, bestArea = MIN_REPLACING_AREA * (cands[chosen[0]].area + cands[chosen[1]].area);
  for (let i = 0; i < cands.length; i++) {
    if (!eligible(i)) continue;
    for (let j = i + 1; j < cands.length; j++) {
      if (!eligible(j)) continue;
      const [a, b] = cands[i].area >= cands[j].area ? [cands[i], cands[j]] : [cands[j], cands[i]];
      if (notAPartner(a, b, width)) continue;
      if (a.area + b.area <= bestArea || !sideBySide(a, b) || !nothingBetween(a, b, cands)) continue;
      best = [i, j]; bestArea = a.area + b.area;
    }
  }
  return best ?? [...chosen];
}
