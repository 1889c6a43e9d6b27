/**
 * The thickness of one dark component, read from its row runs (the segmentation's labelling, lungs.ts): per pixel
 * the shortest of its four straight runs (left, right, up, down) of the component's pixels, 1 at its edge, counted
 * from 2^20 instead of 1 where the run reaches the image's edge (the image's edge does not end a run). Only the
 * component's own pixels are visited: the horizontal runs are its row runs, the vertical ones are tracked per
 * column over its runs, top-down then bottom-up. The same figures as four sweeps over its bounding box (the code
 * before, test/speed4.test.ts), at a fraction of the reads. Pure.
 */

/** Row runs of a labelling: run r covers [rs[r], re[r]) of row ry[r], in raster order, of component ids[r]. */
export interface LabelledRuns { n: number; rs: Int32Array; re: Int32Array; ry: Int32Array; ids: Int32Array }

/** Where the runs of each row start: runs of row y are rowStart[y] .. rowStart[y + 1] - 1 (h + 1 entries). */
export function rowStarts(R: LabelledRuns, h: number, out: Int32Array): Int32Array {
  let r = 0;
  for (let y = 0; y <= h; y++) {
    while (r < R.n && R.ry[r] < y) r++;
    out[y] = r;
  }
  return out;
}

/** Runs that reach the image's edge count from this (1 otherwise), as the sweeps did. */
export const EDGE_RUN = 1 << 20;

/** Reusable per-column storage (grown on demand) and per-pixel up-run lengths (image-sized). */
export interface ThicknessScratch { cols: Int32Array; up: Int32Array }

/**
 * Of component `id` (bounding box [x0, x1) x [y0, y1), in a w x h image): how many of its pixels have thickness
 * >= 2 (`core`: its four neighbours are in it or off the image) and the largest thickness (`max`).
 */
export function componentThickness(R: LabelledRuns, rowStart: Int32Array, id: number, box: { x0: number; y0: number; x1: number; y1: number }, w: number, h: number, scratch: ThicknessScratch): { core: number; max: number } {
  const { x0, y0, x1, y1 } = box;
  const ww = x1 - x0;
  if (scratch.cols.length < 2 * ww) scratch.cols = new Int32Array(2 * ww);
  if (scratch.up.length < w * h) scratch.up = new Int32Array(w * h);
  // The up-runs are kept in the order the pixels are visited (runs in raster order, left to right), and read back
  // in the reverse order by the bottom-up pass: a compact, sequential buffer.
  const { rs, re, ry, ids } = R;
  const up = scratch.up;
  // Per column of the box: the row where its current vertical run started (ended, bottom-up) and the last row seen.
  const start = scratch.cols.subarray(0, ww), last = scratch.cols.subarray(ww, 2 * ww);
  last.fill(-2);
  let p = 0;
  for (let r = rowStart[y0]; r < rowStart[y1]; r++) {
    if (ids[r] !== id) continue;
    const y = ry[r];
    for (let x = rs[r], k = x - x0; x < re[r]; x++, k++) {
      if (last[k] !== y - 1) start[k] = y;
      last[k] = y;
      up[p++] = (start[k] === 0 ? EDGE_RUN : 1) + y - start[k];
    }
  }
  last.fill(h + 2);
  let core = 0, max = 0;
  for (let r = rowStart[y1] - 1; r >= rowStart[y0]; r--) {
    if (ids[r] !== id) continue;
    const y = ry[r], xs = rs[r], xe = re[r];
    const left = (xs === 0 ? EDGE_RUN : 1) - xs, right = (xe === w ? EDGE_RUN : 1) + xe - 1;
    // This run's up-runs: the last xe - xs stored before those of the runs after it (already read).
    p -= xe - xs;
    for (let x = xs, k = x - x0, q = p; x < xe; x++, k++, q++) {
      if (last[k] !== y + 1) start[k] = y;
      last[k] = y;
      const down = (start[k] === h - 1 ? EDGE_RUN : 1) + start[k] - y;
      let m = left + x;
      if (right - x < m) m = right - x;
      if (up[q] < m) m = up[q];
      if (down < m) m = down;
      if (m >= 2) core++;
      if (m > max) max = m;
    }
  }
  return { core, max };
}
