/**
 * Binary morphology on masks (1 = set), in linear time: a two-pass chamfer distance (3-4 weights, /3 = pixels)
 * thresholded at a radius gives a disc-like dilation or erosion of any radius at the same cost.
 *
 * The passes run on integer chamfer units (3 per pixel) and compare against the largest unit count within the
 * radius, which gives exactly the masks of thresholding the Float32 distance in pixels, without its division pass.
 *
 * Small radii (the involvement's erosion and opening, the lungs-only view's margin) skip the transform: the 3-4
 * chamfer distance between two pixels is 3 max(|dx|, |dy|) + min(|dx|, |dy|) (the two passes compute exactly this
 * path metric on a rectangle), so "within the radius" is a small octagon, one interval per row offset, and a
 * dilation or erosion by it is a few row-run lookups per pixel: the same masks, several times faster.
 */

const INF = 1e9;

/** Chamfer distance in integer units (3 per pixel step, 4 per diagonal) to the nearest set pixel; 0 on it. */
function chamferUnits(mask: Uint8Array, W: number, H: number, setValue: 0 | 1): Int32Array {
  const d = new Int32Array(W * H);
  for (let i = 0; i < d.length; i++) d[i] = (mask[i] ? 1 : 0) === setValue ? 0 : INF;
  if (W > 0 && H > 0) chamferSweeps(d, W, 0, 0, W, H);
  return d;
}

/**
 * The two chamfer sweeps (3-4 weights) over the window [x0,x1) x [y0,y1) of a w-wide image, in place: d holds 0 on
 * the seeds and a large value (at most 2^30) elsewhere, and ends as the chamfer distance in units (3 per step, 4
 * per diagonal step) to the nearest seed by paths within the window, which on a rectangle is
 * min over seeds of 3 max(|dx|, |dy|) + min(|dx|, |dy|).
 */
export function chamferSweeps(d: Int32Array, w: number, x0: number, y0: number, x1: number, y1: number): void {
  forwardSweep(d, w, x0, y0, x1, y1);
  backwardSweep(d, w, x0, y0, x1, y1);
}

/**
 * The forward chamfer sweep (3-4 weights) over the window [x0,x1) x [y0,y1) of a w-wide image: each pixel takes the
 * smallest of itself and its left, upper-left, upper and upper-right neighbours (+3 or +4) within the window. The
 * window's first row, first and last columns are done apart, so that the inner loop has no bounds tests.
 */
function forwardSweep(d: Int32Array, w: number, x0: number, y0: number, x1: number, y1: number): void {
  for (let i = y0 * w + x0 + 1, end = y0 * w + x1; i < end; i++) { const u = d[i - 1] + 3; if (u < d[i]) d[i] = u; }
  const wide = x1 - x0 > 1;
  for (let y = y0 + 1; y < y1; y++) {
    const row = y * w;
    let i = row + x0, v = d[i], u;
    if ((u = d[i - w] + 3) < v) v = u;
    if (wide && (u = d[i - w + 1] + 4) < v) v = u;
    d[i] = v;
    for (i = row + x0 + 1; i < row + x1 - 1; i++) {
      v = d[i];
      if (v === 0) continue;
      if ((u = d[i - 1] + 3) < v) v = u;
      if ((u = d[i - w] + 3) < v) v = u;
      if ((u = d[i - w - 1] + 4) < v) v = u;
      if ((u = d[i - w + 1] + 4) < v) v = u;
      d[i] = v;
    }
    if (wide) {
      i = row + x1 - 1;
      v = d[i];
      if ((u = d[i - 1] + 3) < v) v = u;
      if ((u = d[i - w] + 3) < v) v = u;
      if ((u = d[i - w - 1] + 4) < v) v = u;
      d[i] = v;
    }
  }
}

/** The backward sweep: right, lower-right, lower and lower-left neighbours, from the window's last pixel. */
function backwardSweep(d: Int32Array, w: number, x0: number, y0: number, x1: number, y1: number): void {
  for (let i = (y1 - 1) * w + x1 - 2, end = (y1 - 1) * w + x0; i >= end; i--) { const u = d[i + 1] + 3; if (u < d[i]) d[i] = u; }
  const wide = x1 - x0 > 1;
  for (let y = y1 - 2; y >= y0; y--) {
    const row = y * w;
    let i = row + x1 - 1, v = d[i], u;
    if ((u = d[i + w] + 3) < v) v = u;
    if (wide && (u = d[i + w - 1] + 4) < v) v = u;
    d[i] = v;
    for (i = row + x1 - 2; i > row + x0; i--) {
      v = d[i];
      if (v === 0) continue;
      if ((u = d[i + 1] + 3) < v) v = u;
      if ((u = d[i + w] + 3) < v) v = u;
      if ((u = d[i + w + 1] + 4) < v) v = u;
      if ((u = d[i + w - 1] + 4) < v) v = u;
      d[i] = v;
    }
    if (wide) {
      i = row + x0;
      v = d[i];
      if ((u = d[i + 1] + 3) < v) v = u;
      if ((u = d[i + w] + 3) < v) v = u;
      if ((u = d[i + w + 1] + 4) < v) v = u;
      d[i] = v;
    }
  }
}

/**
 * The largest chamfer unit count u with fround(u / 3) <= radius: `u <= unitsWithin(r)` is exactly the old test
 * `Float32(u / 3) <= r` (the distance was stored as Float32 after the division), for any radius.
 */
export function unitsWithin(radius: number): number {
  let u = Math.floor(radius * 3);
  while (u >= 0 && Math.fround(u / 3) > radius) u--;
  while (Math.fround((u + 1) / 3) <= radius) u++;
  return u;
}

/** Radii whose chamfer ball spans at most this many rows either side use the row-run path (ballHalfWidths). */
const MAX_BALL_ROWS = 4;
/** Whether a ball of `units` chamfer units is small enough for the row-run path. */
const byRows = (units: number): boolean => units < 3 * (MAX_BALL_ROWS + 1);
/** Longer than any row: a run that reaches the image's edge. */
const BIG = 1 << 29;

/**
 * Half-widths of the chamfer ball of `units`: entry dy (0 .. floor(units / 3)) is the largest dx with
 * 3 max(dx, dy) + min(dx, dy) <= units, so the ball is the pixels (x + dx, y + dy) with |dx| <= entry |dy|.
 */
export function ballHalfWidths(units: number): Int32Array {
  const m = Math.floor(units / 3);
  const a = new Int32Array(m + 1);
  for (let dy = 0; dy <= m; dy++) {
    let dx = 0;
    while (3 * Math.max(dx + 1, dy) + Math.min(dx + 1, dy) <= units) dx++;
    a[dy] = dx;
  }
  return a;
}

/**
 * Distance along each row of the window [x0, x1) x [y0, y1) of a W-wide mask to the nearest pixel of the window in
 * the same row that is set (set = true: mask[i] !== 0) or unset (set = false); 0 on such a pixel, 2^29 or more when
 * the row's part in the window has none. Written into out, window-sized and row-major ((y - y0) * (x1 - x0) + x - x0);
 * returns it. With ballHalfWidths this answers "is there such a pixel within a chamfer ball" by one read per row of
 * the ball (the lung stage's bands around the lungs' border).
 */
export function rowDistances(mask: ArrayLike<number>, W: number, x0: number, y0: number, x1: number, y1: number, set: boolean, out: Int32Array): Int32Array {
  const ww = x1 - x0;
  for (let y = y0; y < y1; y++) {
    const row = y * W + x0, at = (y - y0) * ww;
    let run = BIG;
    if (set) { for (let x = 0; x < ww; x++) { run = mask[row + x] !== 0 ? 0 : run + 1; out[at + x] = run; } }
    else { for (let x = 0; x < ww; x++) { run = mask[row + x] === 0 ? 0 : run + 1; out[at + x] = run; } }
    run = BIG;
    for (let x = ww - 1; x >= 0; x--) { const v = out[at + x]; run = v === 0 ? 0 : run + 1; if (run < v) out[at + x] = run; }
  }
  return out;
}

/** A row distance (rowDistances' "none in this row" is at least this) for padding rows outside a window. */
export const ROW_NONE = BIG;

/** A window of a W x H image: [x0, x1) x [y0, y1). */
export interface Window { x0: number; y0: number; x1: number; y1: number }

/** `box` grown by `margin` px on every side, clipped to the W x H image. */
export function grownBox(box: Window, margin: number, W: number, H: number): Window {
  return { x0: Math.max(0, box.x0 - margin), y0: Math.max(0, box.y0 - margin), x1: Math.min(W, box.x1 + margin), y1: Math.min(H, box.y1 + margin) };
}

/**
 * Reusable storage for rowBands. Callers that pass the same one share its last result: a second call with the same
 * mask (the same array, unchanged since: a segmentation's labels never change once made), window and rows returns
 * it without recomputing (the border refinement's last step and the blur reading read the same bands of the same
 * lungs). Any other call overwrites it.
 */
export interface RowBandScratch { buf: Int32Array; last?: { mask: ArrayLike<number>; W: number; x0: number; y0: number; x1: number; y1: number; rows: number } }

/**
 * Row distances (rowDistances) over `win` to the set pixels of `mask` (toSet) and to the unset ones (toUnset), each
 * with `rows` rows of ROW_NONE above and below, so that a chamfer ball's rows (ballRowLimits) are read with no bounds
 * checks: the window's pixel (x, y) is at index pad + (y - win.y0) * ww + x - win.x0. Views into scratch.buf. Both
 * in one pass over each row (the mask read once).
 */
export function rowBands(mask: ArrayLike<number>, W: number, win: Window, rows: number, scratch: RowBandScratch): { toSet: Int32Array; toUnset: Int32Array; ww: number; hh: number; pad: number } {
  const ww = win.x1 - win.x0, hh = win.y1 - win.y0;
  const size = (hh + 2 * rows) * ww, pad = rows * ww;
  const l = scratch.last;
  const same = l !== undefined && l.mask === mask && l.W === W && l.x0 === win.x0 && l.y0 === win.y0 && l.x1 === win.x1 && l.y1 === win.y1 && l.rows === rows;
  if (scratch.buf.length < 2 * size) scratch.buf = new Int32Array(2 * size);
  const toSet = scratch.buf.subarray(0, size), toUnset = scratch.buf.subarray(size, 2 * size);
  if (same) return { toSet, toUnset, ww, hh, pad };
  scratch.last = undefined;
  toSet.fill(ROW_NONE, 0, pad); toSet.fill(ROW_NONE, size - pad, size);
  toUnset.fill(ROW_NONE, 0, pad); toUnset.fill(ROW_NONE, size - pad, size);
  // rowDistances(set = true) into toSet and (set = false) into toUnset, fused: the same values.
  for (let y = win.y0; y < win.y1; y++) {
    const row = y * W + win.x0, at = pad + (y - win.y0) * ww;
    let toS = BIG, toU = BIG;
    for (let x = 0; x < ww; x++) {
      if (mask[row + x] !== 0) { toS = 0; toU++; } else { toS++; toU = 0; }
      toSet[at + x] = toS; toUnset[at + x] = toU;
    }
    toS = BIG; toU = BIG;
    for (let x = ww - 1; x >= 0; x--) {
      const s = toSet[at + x], u = toUnset[at + x];
      toS = s === 0 ? 0 : toS + 1;
      toU = u === 0 ? 0 : toU + 1;
      if (toS < s) toSet[at + x] = toS;
      if (toU < u) toUnset[at + x] = toU;
    }
  }
  scratch.last = { mask, W, x0: win.x0, y0: win.y0, x1: win.x1, y1: win.y1, rows };
  return { toSet, toUnset, ww, hh, pad };
}

/**
 * The chamfer ball of `radius` px (the pixels a distance transform puts within it) as rows + 1 limits, one per
 * row offset 0 .. rows: the row at that offset holds a pixel of a set when its row distance to the set
 * (rowDistances) is below the limit, i.e. at most the ball's half-width there (ballHalfWidths); 0 (never) for rows
 * beyond the ball. Throws when the ball spans more than `rows` rows either side.
 */
export function ballRowLimits(radius: number, rows: number): number[] {
  const a = ballHalfWidths(unitsWithin(radius));
  if (a.length > rows + 1) throw new Error(`the ball of ${radius} px spans more than ${rows} rows either side`);
  return Array.from({ length: rows + 1 }, (_, dy) => (dy < a.length ? a[dy] + 1 : 0));
}

/** Bounding box of the set pixels (exclusive x1, y1), or null when none is set. */
function bounds(mask: Uint8Array, W: number, H: number, within?: Region): { x0: number; y0: number; x1: number; y1: number } | null {
  // With `within` (a box holding every set pixel), only its part of each row is read.
  const wx0 = within ? Math.max(0, within.x0) : 0, wx1 = within ? Math.min(W, within.x1) : W;
  const wy0 = within ? Math.max(0, within.y0) : 0, wy1 = within ? Math.min(H, within.y1) : H;
  let x0 = W, y0 = H, x1 = 0, y1 = 0;
  for (let y = wy0; y < wy1; y++) {
    const row = y * W;
    // Only the empty ends of a row are read (from each side up to its first set pixel).
    let first = wx0;
    while (first < wx1 && !mask[row + first]) first++;
    if (first === wx1) continue;
    let last = wx1 - 1;
    while (!mask[row + last]) last--;
    if (y < y0) y0 = y;
    y1 = y + 1;
    if (first < x0) x0 = first;
    if (last + 1 > x1) x1 = last + 1;
  }
  return y1 > y0 ? { x0, y0, x1, y1 } : null;
}

/** A box (exclusive x1, y1) that holds every set pixel of a mask: a hint that spares reading the rest. */
export interface Region { x0: number; y0: number; x1: number; y1: number }

/**
 * The row distances of dilateByRows and erodeByRows (never both at once), reused from call to call (each writes all
 * of it that it reads): a fresh one per call was tens of KB zeroed, then garbage.
 */
let rowBuf = new Int32Array(0);
function rowScratch(n: number): Int32Array {
  if (rowBuf.length < n) rowBuf = new Int32Array(Math.max(n, 2 * rowBuf.length));
  return rowBuf.subarray(0, n);
}

/**
 * dilate by the chamfer ball of `units` (ballHalfWidths), by row runs: a pixel is set when a row of the ball holds
 * a set pixel, i.e. when the distance along that row to the nearest set pixel is at most the row's half-width.
 * Only the set pixels' box grown by the ball is visited (nothing outside it can be reached).
 */
function dilateByRows(mask: Uint8Array, W: number, H: number, units: number, within?: Region): Uint8Array {
  const out = new Uint8Array(W * H);
  const box = bounds(mask, W, H, within);
  if (!box) return out;
  const a = ballHalfWidths(units), m = a.length - 1;
  const x0 = Math.max(0, box.x0 - a[0]), x1 = Math.min(W, box.x1 + a[0]);
  const y0 = box.y0, y1 = box.y1, ww = x1 - x0;
  // near[(y - y0) * ww + (x - x0)]: distance along the row to the nearest set pixel (BIG when the row has none).
  const near = rowScratch(ww * (y1 - y0));
  for (let y = y0; y < y1; y++) {
    const row = y * W + x0, at = (y - y0) * ww;
    let run = BIG;
    for (let x = 0; x < ww; x++) { run = mask[row + x] ? 0 : run + 1; near[at + x] = run; }
    run = BIG;
    for (let x = ww - 1; x >= 0; x--) { run = near[at + x] === 0 ? 0 : run + 1; if (run < near[at + x]) near[at + x] = run; }
  }
  for (let y = Math.max(0, y0 - m); y < Math.min(H, y1 + m); y++) {
    const row = y * W + x0;
    if (m <= 1 && y > y0 && y < y1 - 1) {
      // The opening's radius (1.5 px) away from the box's first and last rows, one pass: rows y-1, y, y+1.
      const c = (y - y0) * ww, u = m ? c - ww : c, d = m ? c + ww : c;
      const k0 = a[0], k1 = m ? a[1] : a[0];
      for (let x = 0; x < ww; x++) out[row + x] = ((near[c + x] - k0 - 1) | (near[u + x] - k1 - 1) | (near[d + x] - k1 - 1)) >>> 31;
      continue;
    }
    if (m <= 4 && y - m >= y0 && y + m < y1) {
      // Up to 4 px (the lungs-only view's margin), one pass over the ball's 9 rows; an absent row is read as the
      // centre row with its half-width (a repeat, which changes nothing).
      const c = (y - y0) * ww;
      const o = (dy: number) => (dy <= m ? dy * ww : 0), k = (dy: number) => (dy <= m ? a[dy] : a[0]);
      const u1 = c - o(1), d1 = c + o(1), u2 = c - o(2), d2 = c + o(2), u3 = c - o(3), d3 = c + o(3), u4 = c - o(4), d4 = c + o(4);
      const k0 = a[0] + 1, k1 = k(1) + 1, k2 = k(2) + 1, k3 = k(3) + 1, k4 = k(4) + 1;
      for (let x = 0; x < ww; x++) {
        out[row + x] = ((near[c + x] - k0) | (near[u1 + x] - k1) | (near[d1 + x] - k1) | (near[u2 + x] - k2) | (near[d2 + x] - k2)
          | (near[u3 + x] - k3) | (near[d3 + x] - k3) | (near[u4 + x] - k4) | (near[d4 + x] - k4)) >>> 31;
      }
      continue;
    }
    for (let yy = Math.max(y0, y - m); yy <= Math.min(y1 - 1, y + m); yy++) {
      const dy = yy - y;
      const k = a[dy < 0 ? -dy : dy], at = (yy - y0) * ww;
      // near <= k, branch-free (the sign bit of near - k - 1).
      for (let x = 0; x < ww; x++) out[row + x] |= (near[at + x] - k - 1) >>> 31;
    }
  }
  return out;
}

/**
 * erode by the chamfer ball of `units`, by row runs: a pixel stays when it is set, the image's edge is farther
 * than `radius` (as in erode) and no row of the ball holds an unset pixel, i.e. along each row of the ball the
 * nearest unset pixel is farther than the row's half-width. Only the set pixels' box is visited; a row of the
 * ball above or below it is all unset.
 */
function erodeByRows(mask: Uint8Array, W: number, H: number, units: number, radius: number, within?: Region): Uint8Array {
  const out = new Uint8Array(W * H);
  const box = bounds(mask, W, H, within);
  if (!box) return out;
  const a = ballHalfWidths(units), m = a.length - 1;
  const { x0, y0, x1, y1 } = box, ww = x1 - x0;
  // far[(y - y0) * ww + (x - x0)]: distance along the row to the nearest unset pixel (BIG when the run reaches the
  // image's edge; the pixels just outside the box are unset).
  const far = rowScratch(ww * (y1 - y0));
  for (let y = y0; y < y1; y++) {
    const row = y * W + x0, at = (y - y0) * ww;
    let run = x0 === 0 ? BIG : 0;
    for (let x = 0; x < ww; x++) { run = mask[row + x] ? run + 1 : 0; far[at + x] = run; }
    run = x1 === W ? BIG : 0;
    for (let x = ww - 1; x >= 0; x--) { run = far[at + x] === 0 ? 0 : run + 1; if (run < far[at + x]) far[at + x] = run; }
  }
  // Pixels closer than `radius` to the image's left or right edge never stay.
  const ex0 = Math.max(x0, Math.floor(radius)), ex1 = Math.min(x1, W - Math.floor(radius));
  for (let y = y0 + m; y < y1 - m; y++) {
    const row = y * W;
    const ey = Math.min(y + 1, H - y);
    if (ey <= radius) continue;
    if (m <= 2) {
      // The usual radii (involvement: 1.5 and 2 px), one pass: the ball's rows y-2 .. y+2, an absent one read as the
      // centre row with half-width -1 (always passes). far > k, branch-free: the sign bit of k - far.
      const c = (y - y0) * ww - x0;
      const u1 = m >= 1 ? c - ww : c, d1 = m >= 1 ? c + ww : c, u2 = m >= 2 ? c - 2 * ww : c, d2 = m >= 2 ? c + 2 * ww : c;
      const k0 = a[0], k1 = m >= 1 ? a[1] : -1, k2 = m >= 2 ? a[2] : -1;
      for (let x = ex0; x < ex1; x++) {
        out[row + x] = (mask[row + x] ? 1 : 0) & ((k0 - far[c + x]) >>> 31) & ((k1 - far[u1 + x]) >>> 31) & ((k1 - far[d1 + x]) >>> 31)
          & ((k2 - far[u2 + x]) >>> 31) & ((k2 - far[d2 + x]) >>> 31);
      }
      continue;
    }
    for (let x = ex0; x < ex1; x++) out[row + x] = mask[row + x] ? 1 : 0;
    for (let dy = -m; dy <= m; dy++) {
      const k = a[dy < 0 ? -dy : dy], at = (y + dy - y0) * ww - x0;
      // Keep only where far > k, branch-free (the sign bit of k - far).
      for (let x = ex0; x < ex1; x++) out[row + x] &= (k - far[at + x]) >>> 31;
    }
  }
  return out;
}

/** Chamfer distance (in pixels, 3-4 metric) from every pixel to the nearest set pixel; 0 on set pixels. */
export function distanceToSet(mask: Uint8Array, W: number, H: number): Float32Array {
  const u = chamferUnits(mask, W, H, 1);
  const d = new Float32Array(W * H);
  for (let i = 0; i < d.length; i++) d[i] = u[i] / 3;
  return d;
}

/** The mask grown by `radius` pixels. `within`: a box known to hold every set pixel (only a hint: same result). */
export function dilate(mask: Uint8Array, W: number, H: number, radius: number, within?: Region): Uint8Array {
  return dilateMany(mask, W, H, [radius], within)[0];
}

/** The mask grown by each of `radii` (one distance transform for all of them). */
export function dilateMany(mask: Uint8Array, W: number, H: number, radii: readonly number[], within?: Region): Uint8Array[] {
  const small = (r: number) => r > 0 && byRows(unitsWithin(r));
  const d = radii.some((r) => r > 0 && !small(r)) ? chamferUnits(mask, W, H, 1) : null;
  return radii.map((radius) => {
    if (small(radius)) return dilateByRows(mask, W, H, unitsWithin(radius), within);
    if (radius <= 0 || !d) return mask.slice();
    const max = unitsWithin(radius);
    const out = new Uint8Array(W * H);
    for (let i = 0; i < out.length; i++) out[i] = d[i] <= max ? 1 : 0;
    return out;
  });
}

/**
 * The mask shrunk by `radius` pixels (pixels outside the image count as unset). `within`: a box known to hold every
 * set pixel (only a hint: same result).
 */
export function erode(mask: Uint8Array, W: number, H: number, radius: number, within?: Region): Uint8Array {
  if (radius <= 0) return mask.slice();
  const max = unitsWithin(radius);
  if (byRows(max)) return erodeByRows(mask, W, H, max, radius, within);
  // Distance to the nearest unset pixel.
  const d = chamferUnits(mask, W, H, 0);
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    const row = y * W;
    // Pixels within `radius` of the image's edge (edge = min(x + 1, y + 1, W - x, H - y) <= radius) stay unset.
    const ey = Math.min(y + 1, H - y);
    for (let x = 0; x < W; x++) {
      const i = row + x;
      const edge = Math.min(x + 1, ey, W - x);
      out[i] = mask[i] && d[i] > max && edge > radius ? 1 : 0;
    }
  }
  return out;
}

/**
 * A mask made on a W x H grid, at width x height: each pixel takes the grid cell its centre falls in (nearest
 * neighbour, so a mask stays a mask; used for the lungs view's kept region and the pictures' lung layers).
 */
export function maskToSize(mask: ArrayLike<number>, W: number, H: number, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const gy = Math.min(H - 1, Math.floor(((y + 0.5) * H) / height));
    for (let x = 0; x < width; x++) {
      const gx = Math.min(W - 1, Math.floor(((x + 0.5) * W) / width));
      out[y * width + x] = mask[gy * W + gx] ? 1 : 0;
    }
  }
  return out;
}

/** Dice overlap of two masks of the same size (any non-zero value is set): 2|A and B| / (|A| + |B|), 1 when both are empty. */
export function maskDice(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let inter = 0, n = 0;
  for (let i = 0; i < a.length; i++) { const x = a[i] ? 1 : 0, y = b[i] ? 1 : 0; inter += x & y; n += x + y; }
  return n ? (2 * inter) / n : 1;
}
