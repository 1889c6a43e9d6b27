/**
 * Lungs already cut out of their slice onto black, with no rim of chest wall: several public sets ship their slices
 * so (CC-CCII's segmented slices, many Kaggle sets). There the lungs are no "dark region enclosed by tissue", so the
 * search of lungs.ts finds none; here the picture's non-black regions are taken as the lungs when the picture looks
 * cut out: a large share of it is one darkest grey (the black the maker painted), and nearly all that is not black
 * is one or two regions that a lung's shape rules allow (lungs.ts: size, thickness, not a filled box; lung-pair.ts:
 * side by side, balance). Pure arithmetic on the analysis image, the same in Node and in the browser; nothing fitted.
 *
 * Whether such a picture is a CT slice at all (an icon or a logo on black also passes here) is the chest check's
 * question (chest-check.ts), read on the lungs themselves: there is no tissue around them to read.
 */
import type { GreyImage } from '../types.js';
import { distanceToSet } from './morphology.js';
import { histogramQuantile } from './histogram.js';
import { notAPartner, sideBySide, type Region } from './lung-pair.js';
import { LUNG_SHAPE, lungShaped, runsAlongEdge } from './lung-shape.js';
import { flood4 } from './flood.js';

export const CUT_OUT_LIMITS = Object.freeze({
  /**
   * Black: greys within this of the picture's darkest. A painted background is one exact grey; JPEG (quality 75 and
   * up) keeps a flat block exact and moves the blocks at the lungs' edge by a few levels, which then join the lungs.
   */
  blackTolerance: 2,
  /**
   * At least this share of the picture is black. Two lungs fill at most about half of a picture framed on them
   * (a chest is wider than its lungs and framed with a margin), and a whole slice has no such one-grey area: its
   * air carries the scanner's noise and its body fills most of the picture.
   */
  minBlackShare: 0.35,
  /**
   * The lungs hold at least this share of the non-black pixels in pieces of a lung's size at least (lung-shape.ts):
   * nothing else as large (tissue, a second shape) is left on the black. Smaller specks are not counted: JPEG rings
   * round the cut's edge as hundreds of specks of a few px (CT-MD cut out, quality 75: 5-10% of the non-black pixels,
   * none over 30 px or brighter than 42).
   */
  minLungShare: 0.9,
  /**
   * The black was painted round the lungs: one region holds at least this share of it (lungs' holes aside). Black
   * corners left by turning a picture, or black bars above and below it, are several regions, each in a corner or
   * along an edge; what they frame is the whole picture (a slice without lungs turned by 30 degrees would pass as
   * one lung).
   */
  minSurround: 0.9,
});

/** Lungs found on black: labels as lungs.ts writes them (1 = the lung on the picture's left, 2 = the other). */
export interface CutOutLungs {
  labels: Uint8Array;
  /** Lung pixels per lung, in label order of the kept lungs (left first). */
  areas: number[];
  /** The picture's black: greys at or below it are background. */
  black: number;
  /** The box of the lung pixels, ends exclusive. */
  box: { x0: number; y0: number; x1: number; y1: number };
}

interface Piece extends Region {
  id: number;
  border: number;
  /** Its own non-black pixels (area also counts the holes filled). */
  ownArea?: number;
}

/**
 * The lungs of a picture cut out onto black (see the module's comment), or why it does not look so: `reason` is
 * only for reports (the caller keeps its own reason, since a picture that is not cut out has nothing to learn here).
 */
export function cutOutLungs(img: GreyImage): CutOutLungs | { reason: string } {
  const { width: w, height: h, data } = img;
  const n = w * h;
  const L = CUT_OUT_LIMITS;
  let darkest = 255;
  for (let i = 0; i < n; i++) if (data[i] < darkest) darkest = data[i];
  const black = darkest + L.blackTolerance;
  let nBlack = 0;
  for (let i = 0; i < n; i++) if (data[i] <= black) nBlack++;
  if (nBlack < L.minBlackShare * n) return { reason: 'no black background' };
  if (nBlack === n) return { reason: 'all black' };

  // 4-connected pieces of non-black.
  const comp = new Int32Array(n);
  const pieces: Piece[] = [];
  const stack = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    if (comp[s] || data[s] <= black) continue;
    const p: Piece = { id: pieces.length + 1, area: 0, cx: 0, cy: 0, x0: w, y0: h, x1: 0, y1: 0, border: 0 };
    pieces.push(p);
    flood4(w, h, [s], (i) => {
      if (comp[i] || data[i] <= black) return false;
      comp[i] = p.id;
      const x = i % w, y = (i - x) / w;
      p.area++; p.cx += x; p.cy += y;
      if (x < p.x0) p.x0 = x;
      if (y < p.y0) p.y0 = y;
      if (x >= p.x1) p.x1 = x + 1;
      if (y >= p.y1) p.y1 = y + 1;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1) p.border++;
      return true;
    }, undefined, stack);
    p.cx /= p.area; p.cy /= p.area;
  }
  // Black holes inside a piece (airways, emphysema in a dark window) are lung: each piece's holes are filled first,
  // so that its shape is the lung's.
  fillHoles(comp, pieces, w, h);
  if (surroundShare(comp, w, h) < L.minSurround) return { reason: 'the black does not surround one region' };
  const sized = pieces.filter((p) => p.area >= LUNG_SHAPE.minFraction * n).sort((a, b) => b.area - a.area);
  if (sized.length === 0) return { reason: 'nothing lung-sized on the black' };
  const lungLike = sized.slice(0, 3).filter((p) => plausibleLung(p, comp, w, h));
  let kept = lungLike.slice(0, 2);
  if (kept.length === 2 && (notAPartner(kept[0], kept[1], w) || !sideBySide(kept[0], kept[1]))) kept = [kept[0]];
  if (kept.length === 0) return { reason: 'no lung-shaped region on the black' };
  // Own areas (the holes filled are black, not counted there), against those of all the lung-sized pieces.
  const own = (p: Piece) => p.ownArea ?? p.area;
  let keptOwn = 0, sizedOwn = 0;
  for (const p of kept) keptOwn += own(p);
  for (const p of sized) sizedOwn += own(p);
  if (keptOwn < L.minLungShare * sizedOwn) return { reason: 'more than lungs on the black' };
  trimRinging(kept, comp, data, black, w, h);
  kept.sort((a, b) => a.cx - b.cx);
  const labelOf = kept.length === 2 ? [1, 2] : [kept[0].cx < w / 2 ? 1 : 2];
  const labels = new Uint8Array(n);
  const areas = kept.map(() => 0);
  const box = { x0: w, y0: h, x1: 0, y1: 0 };
  kept.forEach((p, k) => {
    for (let y = p.y0; y < p.y1; y++) {
      for (let x = p.x0, i = y * w + x; x < p.x1; x++, i++) {
        if (comp[i] !== p.id) continue;
        labels[i] = labelOf[k]; areas[k]++;
        if (x < box.x0) box.x0 = x;
        if (x >= box.x1) box.x1 = x + 1;
        if (y < box.y0) box.y0 = y;
        if (y >= box.y1) box.y1 = y + 1;
      }
    }
  });
  return { labels, areas, black, box };
}

/**
 * Gives back to the black what JPEG rang into it at the cut's edge: from the black outside the kept pieces, the
 * pieces' pixels darker than halfway from the black to the lungs' median grey, as far as they connect (the cut's
 * edge lies halfway between the two, as lungs.ts puts a lung's border halfway between parenchyma and tissue).
 * Air inside a lung (a bronchus) is walled by lung and stays. Clears those pixels in comp; updates the areas.
 */
function trimRinging(kept: Piece[], comp: Int32Array, data: Uint8Array, black: number, w: number, h: number): void {
  const isKept = new Set(kept.map((p) => p.id));
  const hist = new Float64Array(256);
  let n = 0;
  for (const p of kept) {
    for (let y = p.y0; y < p.y1; y++) for (let x = p.x0, i = y * w + x; x < p.x1; x++, i++) if (comp[i] === p.id && data[i] > black) { hist[data[i]]++; n++; }
  }
  const t = black + (histogramQuantile(hist, n, 0.5) - black) / 2;
  // Seeds: the kept pieces' pixels below t with a 4-neighbour outside every kept piece.
  const seeds: number[] = [];
  const out = (j: number) => !isKept.has(comp[j]);
  for (const p of kept) {
    for (let y = p.y0; y < p.y1; y++) {
      for (let x = p.x0, i = y * w + x; x < p.x1; x++, i++) {
        if (comp[i] !== p.id || data[i] >= t) continue;
        if ((x > 0 && out(i - 1)) || (x < w - 1 && out(i + 1)) || (y > 0 && out(i - w)) || (y < h - 1 && out(i + w)) || x === 0 || y === 0 || x === w - 1 || y === h - 1) seeds.push(i);
      }
    }
  }
  flood4(w, h, seeds, (j) => {
    if (comp[j] <= 0 || !isKept.has(comp[j]) || data[j] >= t) return false;
    comp[j] = -comp[j];
    return true;
  });
  for (const p of kept) {
    for (let y = p.y0; y < p.y1; y++) {
      for (let x = p.x0, i = y * w + x; x < p.x1; x++, i++) if (comp[i] === -p.id) { comp[i] = 0; p.area--; }
    }
  }
}

/** Of the black pixels outside every piece (comp 0, holes filled), the share in the largest 4-connected region. */
function surroundShare(comp: Int32Array, w: number, h: number): number {
  const n = w * h;
  const seen = new Uint8Array(n);
  const stack = new Int32Array(n);
  const enter = (j: number) => (comp[j] === 0 && !seen[j] ? (seen[j] = 1, true) : false);
  let total = 0, largest = 0;
  for (let s = 0; s < n; s++) {
    if (comp[s] !== 0 || seen[s]) continue;
    const size = flood4(w, h, [s], enter, undefined, stack);
    total += size;
    if (size > largest) largest = size;
  }
  return total ? largest / total : 0;
}

/** Marks (in comp) the black pixels enclosed by each piece as that piece's; records the piece's own area first. */
function fillHoles(comp: Int32Array, pieces: Piece[], w: number, h: number): void {
  // Black regions (comp 0) not touching the picture's edge, with every neighbour in one piece, are that piece's holes.
  const seen = new Uint8Array(w * h);
  const stack = new Int32Array(w * h);
  const region: number[] = [];
  for (const p of pieces) p.ownArea = p.area;
  let edge = false, owner = 0, mixed = false;
  // A black pixel is taken; a piece's pixel next to the region names its owner (two owners: not a hole).
  const enter = (j: number): boolean => {
    const c = comp[j];
    if (c === 0) { if (seen[j]) return false; seen[j] = 1; return true; }
    if (owner === 0) owner = c; else if (c !== owner) mixed = true;
    return false;
  };
  const take = (i: number): void => {
    region.push(i);
    const x = i % w, y = (i - x) / w;
    if (x === 0 || y === 0 || x === w - 1 || y === h - 1) edge = true;
  };
  for (let s = 0; s < w * h; s++) {
    if (comp[s] || seen[s]) continue;
    region.length = 0;
    edge = false; owner = 0; mixed = false;
    flood4(w, h, [s], enter, take, stack);
    if (edge || mixed || owner === 0) continue;
    const p = pieces[owner - 1];
    for (const i of region) {
      comp[i] = owner;
      const x = i % w, y = (i - x) / w;
      p.cx = (p.cx * p.area + x) / (p.area + 1); p.cy = (p.cy * p.area + y) / (p.area + 1); p.area++;
    }
  }
}

/** A lung's shape (lung-shape.ts): not a band along the picture's edge, thick enough for its size, a solid core, not a filled box. */
function plausibleLung(p: Piece, comp: Int32Array, w: number, h: number): boolean {
  if (p.border > 0 && runsAlongEdge(p.border, p.area)) return false;
  // Distance to the nearest pixel outside the piece, within its box grown by 1 px (the picture's edge does not end it).
  const x0 = Math.max(0, p.x0 - 1), y0 = Math.max(0, p.y0 - 1), x1 = Math.min(w, p.x1 + 1), y1 = Math.min(h, p.y1 + 1);
  const bw = x1 - x0, bh = y1 - y0;
  const outside = new Uint8Array(bw * bh);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) outside[(y - y0) * bw + (x - x0)] = comp[y * w + x] === p.id ? 0 : 1;
  const d = distanceToSet(outside, bw, bh);
  let max = 0, core = 0;
  for (let i = 0; i < d.length; i++) {
    if (outside[i]) continue;
    if (d[i] > max) max = d[i];
    if (d[i] >= 2) core++;
  }
  return lungShaped({ area: p.area, core, halfThickness: max, x0: p.x0, y0: p.y0, x1: p.x1, y1: p.y1 });
}
