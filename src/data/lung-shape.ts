/**
 * What shape a lung has on an axial slice, whichever search found the region: lungs.ts (dark regions enclosed by
 * tissue in a whole slice) and cut-out.ts (lungs already cut out onto black). One copy of the limits, so that the two
 * searches cannot drift apart. Each search measures the figures its own way (lungs.ts from its dark runs, cut-out.ts
 * from a distance transform) and asks `lungShaped`. Pure; nothing fitted: each limit says what a lung is not.
 */

export const LUNG_SHAPE = Object.freeze({
  /** A lung is at least this fraction of the picture: smaller dark regions are airways, vessels' gaps, noise. */
  minFraction: 0.0015,
  /**
   * A region touching the picture's edge is a lung cut by the crop only while it touches it along fewer than this many
   * px per sqrt(area): the outside air runs along the edge.
   */
  maxBorderRatio: 1.6,
  /** Half-thickness (px) at least this: thin bands (the gaps inside the table, between body and table) are not lungs. */
  minHalfThickness: 2.5,
  /** ... and at least this share of the box's long side: a long thin band is not a lung however wide. */
  minThicknessRatio: 0.05,
  /** At least this share of a lung lies 2 px or more inside it: text, lines and outlines have no core. */
  minCore: 0.4,
  /** A lung fills at most this share of its box (an ellipse fills 0.785): rectangles, panels and filled boxes are not lungs. */
  maxBoxFill: 0.92,
});

/** A region's figures for the shape rules (analysis px). */
export interface ShapeFigures {
  area: number;
  /** Pixels 2 px or more inside the region. */
  core: number;
  /** The region's largest distance to its outside. */
  halfThickness: number;
  /** Its box, ends exclusive. */
  x0: number; y0: number; x1: number; y1: number;
}

/** Thick enough for its size, a solid core, not a filled box. (The edge rule is the callers': they count the edge differently.) */
export function lungShaped(f: ShapeFigures): boolean {
  const bw = f.x1 - f.x0, bh = f.y1 - f.y0;
  return f.halfThickness >= LUNG_SHAPE.minHalfThickness && f.core >= LUNG_SHAPE.minCore * f.area
    && f.halfThickness >= LUNG_SHAPE.minThicknessRatio * Math.max(bw, bh)
    && f.area <= LUNG_SHAPE.maxBoxFill * bw * bh;
}

/** Whether a region touching the picture's edge along `border` px is rather the outside air than a lung cut by the crop. */
export const runsAlongEdge = (border: number, area: number): boolean => border / Math.sqrt(area) >= LUNG_SHAPE.maxBorderRatio;
