/**
 * A lung cut by the picture's side edge (a field fitted tighter than the body, a paper figure cropped into the
 * chest) can fall apart into pieces that meet beyond the edge: at the bases the lung wraps round the liver's dome, and
 * when its lateral part is cut away its anterior crescent and its posterior part are two dark regions that both touch
 * the same side edge, one above the other. Such a piece is a candidate the segmentation ranks below the two lungs and
 * drops. Here: whether a piece is the kept lung's, by where it touches the edge and by its grey against the same
 * picture's own air and lungs. Pure; nothing fitted to labels.
 *
 * Why grey: the outside air is air (-1000 HU), aerated lung about -850 HU (air mixed with tissue, vessels and
 * blood). In a lung window (width 1500 HU) that is about 25 grey levels apart, in any window that shows both;
 * within one picture the same window, gamma and codec apply to both, so the region's median grey is compared with
 * the picture's own references, never with a fixed number.
 */

export const EDGE_LUNG = Object.freeze({
  /**
   * The picture's lungs must be at least this many grey levels above its air for the grey to tell them apart: 150 HU
   * is 19 greys in the widest usual lung window (2000 HU); 10 leaves room for a window or gamma that squeezes the
   * dark end (and for a "lung" reference that is itself gas, bowel or stomach, which then sits at the air's grey and
   * decides nothing).
   */
  minGap: 10,
  /** A piece is at least this share of its lung's area (lung-pair.ts's MIN_PAIR_BALANCE: smaller is airway or noise). */
  minShare: 0.08,
  /**
   * Along the edge, a piece lies at most this many of its lung's heights above or below it: the parts of one lung on
   * an axial slice lie within the lung's own front-to-back extent, so the gap between them is below that extent.
   */
  maxGap: 1,
});

/** A dark region in analysis px: area, box (exclusive x1, y1), edges touched (1 left, 2 right, 4 top, 8 bottom). */
export interface EdgeRegion { area: number; x0: number; y0: number; x1: number; y1: number; sides: number }

/** Median greys (0..255) of a picture's dark regions. */
export interface EdgeGreys {
  /** The region in question (a piece touching the edge). */
  region: number;
  /** The picture's outside air: the darkest median among its background regions that touch the edge (NaN: none). */
  air: number;
  /** The lung the piece would belong to. */
  lung: number;
}

/**
 * Whether the region's grey says lung: the lung stands clearly above the picture's air (EDGE_LUNG.minGap), and the
 * region's grey lies nearer the lung's than the air's. Gas (stomach, bowel) is air and sits at the air's grey.
 */
export function cutLungByGrey(g: EdgeGreys): boolean {
  const gap = g.lung - g.air;
  return gap >= EDGE_LUNG.minGap && g.region - g.air >= gap / 2;
}

/**
 * Whether `piece` is a part of the kept `lung` cut apart by the picture's side edge: both touch the same side edge
 * (left or right) and the piece not the other one, it lies above or below the lung (their boxes overlap top to bottom
 * by less than half the shorter's height: beside it would be the other lung's place) within EDGE_LUNG.maxGap lung
 * heights, it is at least EDGE_LUNG.minShare of the lung, and its grey says lung, not air or gas (cutLungByGrey with
 * the lung's own grey; no outside air in the picture (air NaN) decides nothing: the piece is not taken).
 */
export function edgePartner(lung: EdgeRegion, piece: EdgeRegion, greys: EdgeGreys): boolean {
  const edge = lung.sides & piece.sides & 3;
  if (edge === 0 || (piece.sides & 3) === 3) return false;
  const lh = lung.y1 - lung.y0, ph = piece.y1 - piece.y0;
  const yOverlap = Math.max(0, Math.min(lung.y1, piece.y1) - Math.max(lung.y0, piece.y0));
  if (yOverlap >= 0.5 * Math.min(lh, ph)) return false;
  const gap = Math.max(piece.y0 - lung.y1, lung.y0 - piece.y1, 0);
  if (gap > EDGE_LUNG.maxGap * lh) return false;
  if (piece.area < EDGE_LUNG.minShare * lung.area) return false;
  return cutLungByGrey(greys);
}
