/**
 * Solid tissue that the lung mask encloses but that is not lung: near the diaphragm the liver's and the heart's
 * domes cut through the slice as round islands of soft tissue surrounded by aerated lung, and the segmentation's
 * hole filling (which must keep dense consolidation in the lung, lungs.ts) takes them in. Counted as lung, such a
 * dome is "consolidation" over up to a third of a healthy lung base (CT-MD normal002_114: 29%).
 *
 * What tells a dome from a lesion, by their anatomy and not by any label:
 * - it is solid: as dense as the soft tissue around the lungs (SOLID of the way from the lungs' darkest decile to
 *   the median of the tissue 2-6 px beside them); ground glass is not, and a lesion's ground-glass margin
 *   and air bronchograms are not either. The level is read outside the lungs, so that a lesion that is the
 *   brightest thing in the lung (on whose brightest percentile the involvement scale is anchored) is not taken
 *   for solid tissue;
 * - it is enclosed: aerated lung surrounds most of it (at most a quarter of its border touches what is not lung,
 *   where the dome meets the mediastinum or the diaphragm's edge); a subpleural consolidation rests on the chest
 *   wall along its base;
 * - it is convex, as an organ's cross-section is (area / convex hull >= CONVEXITY); consolidation follows lobules,
 *   airways and the pleura and is ragged;
 * - it is larger than a vessel or a nodule seen in section (AREA of the lung at least).
 * Such islands, with the rim of partial volume around them, are left out of the involvement measure: neither lung
 * nor involved. Pure.
 */

/** Thresholds of the rule above (by anatomy, not fitted). */
export const ENCLOSED_TISSUE = Object.freeze({
  /** Minimum area / convex-hull area of the island. */
  convexity: 0.85,
  /** Maximum share of the island's border (4-neighbour edges) on what is not lung. */
  contact: 0.25,
  /** Minimum area as a share of the lung. */
  area: 0.01,
  /** Rim of partial volume left out with the island (analysis pixels). */
  rim: 2,
  /** Solid: at least this share of the way from the lungs' darkest decile to the surrounding tissue's median. */
  solid: 0.85,
  /** The tissue beside the lungs: analysis pixels this far outside a run of lung, along its row. */
  ring: [2, 6] as const,
});

/**
 * The grey level from which a pixel is solid tissue (see SOLID): `lungLow` (the lungs' darkest decile) and the
 * median of the tissue beside the lungs, read along each row 2-6 px outside every run of lung (the chest wall and
 * the mediastinum); null when there is none.
 */
export function solidLevel(lung: ArrayLike<number>, data: ArrayLike<number>, W: number, H: number, lungLow: number): number | null {
  const hist = new Float64Array(256);
  let n = 0;
  const [inner, outer] = ENCLOSED_TISSUE.ring;
  for (let y = 0; y < H; y++) {
    const row = y * W;
    let before = 0;
    for (let x = 0; x < W; x++) {
      const here = lung[row + x] ? 1 : 0;
      if (here !== before) {
        // A run starts at x (read x - inner .. x - outer) or one ended at x - 1 (read x + inner - 1 .. x + outer - 1):
        // the non-lung pixels there, within the row.
        const from = here ? x - outer : x + inner - 1, to = here ? x - inner : x + outer - 1;
        for (let k = Math.max(0, from); k <= Math.min(W - 1, to); k++) {
          if (lung[row + k]) continue;
          hist[Math.min(255, Math.max(0, Math.round(data[row + k])))]++;
          n++;
        }
      }
      before = here;
    }
  }
  if (n === 0) return null;
  let seen = 0, median = 0;
  for (let g = 0; g < 256; g++) { seen += hist[g]; if (seen >= n / 2) { median = g; break; } }
  return median > lungLow ? lungLow + ENCLOSED_TISSUE.solid * (median - lungLow) : null;
}

/** The flood fill's marks, its stack and the component's pixels (in the order they are taken), reused. */
let fillBuf = { seen: new Uint8Array(0), stack: new Int32Array(0), pixels: new Int32Array(0) };

/**
 * The mask (W x H) of solid islands enclosed by the lung (see above). `lung`: the lung mask (non-zero = lung);
 * `data`: the analysis grey levels; `solid`: the grey level of consolidation (pixels >= solid are solid).
 */
export function enclosedTissue(lung: ArrayLike<number>, data: ArrayLike<number>, W: number, H: number, solid: number): Uint8Array {
  const n = W * H;
  const out = new Uint8Array(n);
  let lungArea = 0;
  for (let i = 0; i < n; i++) if (lung[i]) lungArea++;
  if (lungArea === 0) return out;
  if (fillBuf.seen.length < n) fillBuf = { seen: new Uint8Array(n), stack: new Int32Array(n), pixels: new Int32Array(n) };
  const seen = fillBuf.seen, stack = fillBuf.stack, pixels = fillBuf.pixels;
  seen.fill(0, 0, n);
  for (let start = 0; start < n; start++) {
    if (seen[start] || !lung[start] || data[start] < solid) continue;
    // One 4-connected component of solid lung pixels.
    let count = 0, border = 0, contact = 0, top = 0;
    seen[start] = 1;
    stack[top++] = start;
    while (top > 0) {
      const i = stack[--top];
      pixels[count++] = i;
      const x = i % W, y = (i - x) / W;
      // The four neighbours; the picture's edge counts as not lung: an island cut by the frame is not known to be
      // enclosed.
      for (let k = 0; k < 4; k++) {
        const inside = k === 0 ? x > 0 : k === 1 ? x < W - 1 : k === 2 ? y > 0 : y < H - 1;
        const j = k === 0 ? i - 1 : k === 1 ? i + 1 : k === 2 ? i - W : i + W;
        if (!inside || !lung[j]) { border++; contact++; continue; }
        if (data[j] < solid) { border++; continue; }
        if (!seen[j]) { seen[j] = 1; stack[top++] = j; }
      }
    }
    if (contact > ENCLOSED_TISSUE.contact * border || count < ENCLOSED_TISSUE.area * lungArea) continue;
    const island = pixels.subarray(0, count);
    if (count < ENCLOSED_TISSUE.convexity * hullArea(island, W)) continue;
    for (let k = 0; k < count; k++) out[island[k]] = 1;
  }
  return out;
}

/** Area of the convex hull of pixel squares (their corners), by the monotone chain. */
export function hullArea(pixels: ArrayLike<number>, W: number): number {
  // Per row, the leftmost and rightmost pixel's outer corners are the only candidates.
  const rows = new Map<number, [number, number]>();
  for (let k = 0; k < pixels.length; k++) {
    const i = pixels[k];
    const x = i % W, y = (i - x) / W;
    const r = rows.get(y);
    if (!r) rows.set(y, [x, x]);
    else { if (x < r[0]) r[0] = x; if (x > r[1]) r[1] = x; }
  }
  const pts: [number, number][] = [];
  for (const [y, [a, b]] of rows) pts.push([a, y], [a, y + 1], [b + 1, y], [b + 1, y + 1]);
  pts.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  const cross = (o: [number, number], a: [number, number], b: [number, number]) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const half = (list: [number, number][]) => {
    const h: [number, number][] = [];
    for (const p of list) {
      while (h.length >= 2 && cross(h[h.length - 2], h[h.length - 1], p) <= 0) h.pop();
      h.push(p);
    }
    h.pop();
    return h;
  };
  const hull = [...half(pts), ...half([...pts].reverse())];
  let area = 0;
  for (let k = 0; k < hull.length; k++) {
    const [x1, y1] = hull[k], [x2, y2] = hull[(k + 1) % hull.length];
    area += x1 * y2 - x2 * y1;
  }
  return Math.abs(area) / 2;
}
