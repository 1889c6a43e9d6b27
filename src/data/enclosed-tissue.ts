/**
 * Solid tissue that the lung mask encloses but that is not lung: near the diaphragm the liver's and the heart's
 * domes cut through the slice as round islands of soft tissue surrounded by aerated lung, and the segmentation's
 * hole filling (which must keep dense consolidation in the lung, lungs.ts) takes them in. Counted as lung, such a
 * dome is "consolidation" over up to a third of a healthy lung base (CT-MD normal002_114: 29%).
 *
 * What tells a dome from a lesion, by their anatomy and not by any label:
 * - it is solid: as dense as the soft tissue around the lungs (SOLID of the way from the lungs' darkest decile to
 *   the median of the tissue 2-4 px beside them); ground glass is not, and a lesion's ground-glass margin
 *   and air bronchograms are not either. The level is read outside the lungs, so that a lesion that is the
 *   brightest thing in the lung (on whose brightest percentile the involvement scale is anchored) is not taken
 *   for solid tissue;
 * - it is enclosed: aerated lung surrounds most of it (at most a quarter of its border touches what is not lung,
 *   where the dome meets the mediastinum or the diaphragm's edge); a subpleural consolidation rests on the chest
 *   wall along its base;
 * - it is convex, as an organ's cross-section is (area / convex hull >= CONVEXITY); consolidation follows lobules,
 *   airways and the pleura and is ragged;
 * - it is larger than a vessel or a nodule seen in section (AREA of the lung at least).
 * A dome with vessels attached is ragged and may reach the lung's edge through them: the rule is read again on what an
 * opening of radius `vesselStrip` leaves of it (domeCore). And at the hila the pulmonary vessels and bronchi leave the
 * mediastinum as solid tubes wider than involvement's vessel opening removes: a solid component near the mediastinum
 * in the hila's rows and nowhere wider than a lobar artery is not lung either (HILAR_TUBE).
 * Such islands, with the rim of partial volume around them, are left out of the involvement measure: neither lung
 * nor involved. Pure.
 */
import { dilate, erode } from './morphology.js';

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
  /**
   * The tissue beside the lungs: analysis pixels this far outside a run of lung, along its row. Not beyond 4 px:
   * what lies farther out (the table, the air, another picture's surroundings) must not move the level (the outside
   * audits keep 4 px round the lungs; at 6 px their noise moved involvement by half as much again).
   */
  ring: [2, 4] as const,
  /**
   * Radius (analysis px) of the opening that strips the vessels attached to a dome before its convexity and contact
   * are read again (see domeCore). A vessel in section near a dome (segmental arteries and veins, 3-8 mm; ~1.4 mm per
   * analysis px) is at most ~6 px across and goes; the smallest island kept (AREA: 1% of a lung of ~10,000 px, a
   * disc of radius ~5.6 px) survives it, and a dome, several cm wide, keeps its outline.
   */
  vesselStrip: 3,
});

/**
 * The grey level from which a pixel is solid tissue (see SOLID): `lungLow` (the lungs' darkest decile) and the
 * median of the tissue beside the lungs, read along each row 2-4 px outside every run of lung (the chest wall and
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
        // A run starts at x (read x - outer .. x - inner) or one ended at x - 1 (read x + inner - 1 .. x + outer - 1):
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
export function enclosedTissue(lung: ArrayLike<number>, data: ArrayLike<number>, W: number, H: number, solid: number, options: TissueOptions = { stripVessels: true, hilarTubes: true }): Uint8Array {
  const n = W * H;
  const out = new Uint8Array(n);
  // The lung's area, and (for the hila) the x of each lung's centroid: the mediastinum lies between them.
  let lungArea = 0, s1 = 0, n1 = 0, s2 = 0, n2 = 0, top = H, bottom = -1;
  for (let y = 0, i = 0; y < H; y++) {
    for (let x = 0; x < W; x++, i++) {
      const l = lung[i];
      if (!l) continue;
      lungArea++;
      if (y < top) top = y;
      bottom = y;
      if (l === 1) { s1 += x; n1++; } else if (l === 2) { s2 += x; n2++; }
    }
  }
  if (lungArea === 0) return out;
  const hila = options.hilarTubes && n1 > 0 && n2 > 0;
  const lo = Math.min(s1 / n1, s2 / n2), hi = Math.max(s1 / n1, s2 / n2);
  // The hila's rows: the middle of the lungs' front-to-back extent (HILAR_BAND).
  const y0 = top + HILAR_BAND[0] * (bottom + 1 - top), y1 = top + HILAR_BAND[1] * (bottom + 1 - top);
  // Within HILAR_GAP of the mediastinum at the hila (a pixel not lung between the two centroids, in the band).
  const nearMediastinum = (i: number): boolean => {
    const x = i % W, y = (i - x) / W;
    for (const [dx, dy] of GAP_OFFSETS) {
      const xx = x + dx, yy = y + dy;
      if (xx > lo && xx < hi && yy >= y0 && yy < y1 && !lung[yy * W + xx]) return true;
    }
    return false;
  };
  if (fillBuf.seen.length < n) fillBuf = { seen: new Uint8Array(n), stack: new Int32Array(n), pixels: new Int32Array(n) };
  const seen = fillBuf.seen, stack = fillBuf.stack, pixels = fillBuf.pixels;
  seen.fill(0, 0, n);
  for (let start = 0; start < n; start++) {
    if (seen[start] || !lung[start] || data[start] < solid) continue;
    // One 4-connected component of solid lung pixels.
    let count = 0, border = 0, contact = 0, sp = 0;
    seen[start] = 1;
    stack[sp++] = start;
    while (sp > 0) {
      const i = stack[--sp];
      pixels[count++] = i;
      const x = i % W, y = (i - x) / W;
      // The four neighbours; the picture's edge counts as not lung: an island cut by the frame is not known to be
      // enclosed.
      for (let k = 0; k < 4; k++) {
        const inside = k === 0 ? x > 0 : k === 1 ? x < W - 1 : k === 2 ? y > 0 : y < H - 1;
        const j = k === 0 ? i - 1 : k === 1 ? i + 1 : k === 2 ? i - W : i + W;
        if (!inside || !lung[j]) { border++; contact++; continue; }
        if (data[j] < solid) { border++; continue; }
        if (!seen[j]) { seen[j] = 1; stack[sp++] = j; }
      }
    }
    const island = pixels.subarray(0, count);
    if (count >= ENCLOSED_TISSUE.area * lungArea) {
      if (contact <= ENCLOSED_TISSUE.contact * border && count >= ENCLOSED_TISSUE.convexity * hullArea(island, W)) {
        for (let k = 0; k < count; k++) out[island[k]] = 1;
        continue;
      }
      // Vessels attached to a dome make it ragged (convexity 0.6-0.8) and may carry it to the lung's edge: the rule
      // read again on the component without them.
      if (options.stripVessels) {
        const core = domeCore(island, W);
        if (core.length >= ENCLOSED_TISSUE.area * lungArea && isEnclosed(core, W, H, lung) && core.length >= ENCLOSED_TISSUE.convexity * hullArea(core, W)) {
          for (const i of core) out[i] = 1;
          continue;
        }
      }
    }
    if (hila && island.some(nearMediastinum) && !isWide(island, W, HILAR_TUBE)) {
      for (let k = 0; k < island.length; k++) out[island[k]] = 1;
    }
  }
  return out;
}

/** Which of the rules beyond the convex islands apply (each a switch, to measure what it does). */
export interface TissueOptions {
  /** Domes with vessels attached: convexity and contact read again once an opening has stripped them (domeCore). */
  stripVessels: boolean;
  /** Solid tubes leaving the mediastinum (hilar vessels and bronchi, see HILAR_TUBE) are not lung either. */
  hilarTubes: boolean;
}

/**
 * Solid tubes at the hila: the pulmonary arteries and veins and the bronchial walls that leave the mediastinum into
 * each lung are blood or soft tissue, and where they leave it they are wider than involvement's vessel opening removes
 * (lobar arteries 10-15 mm). A 4-connected component of solid lung pixels that comes within HILAR_GAP of the
 * mediastinum (what is not lung between the two lungs' centroids, along x) and that an erosion of radius HILAR_TUBE
 * leaves empty (nowhere wider than a lobar artery) is left out with the islands. Consolidation reaching the
 * mediastinum wider than that stays; COVID's lesions, peripheral and mostly ground glass (not solid), are not touched.
 */
export const HILAR_TUBE = 5.5;
/**
 * How near (analysis px) the mediastinum a tube must come: the lung border lies in the partial volume of the
 * mediastinal edge, where a vessel leaving it reads below the solid level for 1-3 px (the 2 px rim that
 * involvement's erosion leaves out, and one more).
 */
export const HILAR_GAP = 3;
/**
 * The rows of the hila, as shares of the lungs' front-to-back extent: the main bronchi and the pulmonary arteries
 * and veins enter each lung at the middle of its medial surface. In front of it (the cardiophrenic angles) and behind
 * it (the paravertebral gutters, the posterior recesses around the liver's dome at the bases) the lung meets the
 * mediastinum or the diaphragm without a hilum, and dependent consolidation lies there.
 */
export const HILAR_BAND = [0.25, 0.75] as const;
const GAP_OFFSETS = discOffsets(HILAR_GAP);
const STRIP_OFFSETS = discOffsets(ENCLOSED_TISSUE.vesselStrip);

/** A component (pixel indices on a W-wide grid) as a w x h bitmap over its own bounding box, whose corner is (x0, y0). */
function onOwnBox(pixels: ArrayLike<number>, W: number): { local: Uint8Array; w: number; h: number; x0: number; y0: number } {
  let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  for (let k = 0; k < pixels.length; k++) {
    const x = pixels[k] % W, y = (pixels[k] - x) / W;
    if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
  }
  const w = x1 - x0 + 1, h = y1 - y0 + 1;
  const local = new Uint8Array(w * h);
  for (let k = 0; k < pixels.length; k++) { const x = pixels[k] % W, y = (pixels[k] - x) / W; local[(y - y0) * w + x - x0] = 1; }
  return { local, w, h, x0, y0 };
}

/** Whether an erosion of `radius` leaves anything of a component (pixel indices on a W-wide grid). */
function isWide(pixels: ArrayLike<number>, W: number, radius: number): boolean {
  const { local, w, h } = onOwnBox(pixels, W);
  if (Math.min(w, h) < 2 * radius) return false;
  const core = erode(local, w, h, radius);
  for (let i = 0; i < core.length; i++) if (core[i]) return true;
  return false;
}

/**
 * The largest piece (4-connected) of a component (pixel indices on a W-wide grid) that an opening of radius
 * ENCLOSED_TISSUE.vesselStrip leaves: the component without what is narrower than about twice the radius (the
 * vessels attached to a dome). Empty when nothing is left.
 */
export function domeCore(pixels: ArrayLike<number>, W: number): number[] {
  const r = ENCLOSED_TISSUE.vesselStrip;
  // The component on its own box (outside the box counts as unset, which is what an opening of the component needs).
  const { local, w, h, x0, y0 } = onOwnBox(pixels, W);
  const opened = dilate(erode(local, w, h, r), w, h, r);
  // Its largest piece, by a flood fill over the opened pixels (which lie within the component).
  let best: number[] = [];
  const seen = new Uint8Array(w * h);
  for (let s = 0; s < w * h; s++) {
    if (!opened[s] || !local[s] || seen[s]) continue;
    const piece: number[] = [], stack = [s];
    seen[s] = 1;
    while (stack.length) {
      const i = stack.pop()!;
      piece.push(i);
      const x = i % w;
      for (const j of [x > 0 ? i - 1 : -1, x < w - 1 ? i + 1 : -1, i >= w ? i - w : -1, i + w < w * h ? i + w : -1]) {
        if (j >= 0 && !seen[j] && opened[j] && local[j]) { seen[j] = 1; stack.push(j); }
      }
    }
    if (piece.length > best.length) best = piece;
  }
  return best.map((i) => (y0 + Math.floor(i / w)) * W + x0 + (i % w));
}

/**
 * Whether at most ENCLOSED_TISSUE.contact of a piece's border (4-neighbour edges to pixels outside it) lies on or near
 * what is not lung (or the picture's edge): near, within the strip radius, because the opening that made the piece
 * rounds off and pulls back a patch that rests on the chest wall by up to that much.
 */
function isEnclosed(piece: readonly number[], W: number, H: number, lung: ArrayLike<number>): boolean {
  const inside = new Uint8Array(W * H);
  for (const i of piece) inside[i] = 1;
  const nearEdge = (j: number): boolean => {
    const x = j % W, y = (j - x) / W;
    for (const [dx, dy] of STRIP_OFFSETS) {
      const xx = x + dx, yy = y + dy;
      if (xx < 0 || yy < 0 || xx >= W || yy >= H || !lung[yy * W + xx]) return true;
    }
    return false;
  };
  let border = 0, contact = 0;
  for (const i of piece) {
    const x = i % W, y = (i - x) / W;
    for (let k = 0; k < 4; k++) {
      const ok = k === 0 ? x > 0 : k === 1 ? x < W - 1 : k === 2 ? y > 0 : y < H - 1;
      const j = k === 0 ? i - 1 : k === 1 ? i + 1 : k === 2 ? i - W : i + W;
      if (ok && inside[j]) continue;
      border++;
      if (!ok || nearEdge(j)) contact++;
    }
  }
  return contact <= ENCLOSED_TISSUE.contact * border;
}

/** Offsets within a disc of radius r (analysis px). */
function discOffsets(r: number): readonly (readonly [number, number])[] {
  const o: [number, number][] = [];
  const R = Math.floor(r);
  for (let dy = -R; dy <= R; dy++) for (let dx = -R; dx <= R; dx++) if (dx * dx + dy * dy <= r * r) o.push([dx, dy]);
  return o;
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
