/**
 * A dark region that runs along the picture's edge: the outside air, or a lung cut by the edge (a field fitted
 * tighter than the body, a paper figure cropped into the chest)? By its grey, against the same picture's own air
 * and lungs. Pure; nothing fitted to labels.
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
});

/** Median greys (0..255) of a picture's dark regions. */
export interface EdgeGreys {
  /** The edge-running region in question. */
  region: number;
  /** The picture's outside air: the darkest median among its dark regions that touch the edge. */
  air: number;
  /** The picture's lungs: the dark regions enclosed by tissue (the two largest together). */
  lung: number;
}

/**
 * Whether the region is a lung cut by the edge: the picture's lungs stand clearly above its air (EDGE_LUNG.minGap),
 * and the region's grey lies nearer its lungs' than its air's. The air is the darkest edge region, so the darkest
 * region itself is never kept: a picture whose only edge regions are lungs keeps calling its darkest one air.
 */
export function cutLungByGrey(g: EdgeGreys): boolean {
  const gap = g.lung - g.air;
  return gap >= EDGE_LUNG.minGap && g.region - g.air >= gap / 2;
}
