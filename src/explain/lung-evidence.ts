/**
 * Where in the lungs a lungs-only model's evidence comes from, measured by occlusion (pure arithmetic: the same
 * maps in Node and in the browser).
 *
 * Why not the plain class activation map: a lungs model sees a view that is a constant fill outside the dilated
 * lung mask (lung-view.ts), so its P depends on nothing there but the mask's shape; yet every cell of its map, fill
 * cells included, adds to the logit (constant cells a bias-like amount, and receptive fields spread lung evidence
 * over neighbouring fill cells), so the CAM puts much of its heat on the fill (docs/explain-maps.md).
 *
 * The occlusion map asks the model instead: for every cell of a grid over the view that holds any pixel of the
 * slice (any pixel not equal to the fill), the cell is set to the fill, which is exactly what the view shows where
 * it hides the slice, and the drop of the logit is that cell's value (mean over the identity view and its mirror,
 * the views the CAM used, with the mirrored cell hidden in the mirror). A cell that is fill already cannot change
 * the input, so its value is 0 by measurement, not by a mask. Positive = hiding that lung patch lowers P(COVID).
 *
 * A model with a reading design reads P = gate x pattern, and its gate (P(involvement present), from the involved
 * share of the lung) depends on the lung's pixels too. Its map hides each cell from both stages: the pattern sees
 * the cell as fill, and the gate is read again with the cell's lung pixels left out of the measurement (its
 * involved pixels and its measured lung both). A cell's value is then the drop of P itself. So the map explains
 * the verdict the user sees, not the pattern model alone (docs/explain-maps.md).
 */
import type { LungSegmentation } from '../data/lungs.js';
import type { Involvement } from '../data/involvement.js';
import { lungViewRegion, type LungFraming, type LungViewRegion } from '../data/lung-view.js';
import { sigmoid } from '../model/head.js';

/** An occlusion plan: which cells of a grid x grid tiling of the size x size views are hidden, one at a time. */
export interface OcclusionPlan {
  grid: number;
  size: number;
  /** The view value of the lungs view's fill (as renderView gives it): pixels at it show nothing of the slice. */
  fill: number;
  /** Indices (y * grid + x) of the cells that hold some of the slice, in increasing order. */
  cells: number[];
  /** Views used: the identity view and, when there is one, its mirror (as meanViewMap). */
  views: number;
}

/** The value renderView gives a constant working-image grey (the identity view's arithmetic; bilinear of a constant). */
export function fillValue(grey: number): number {
  return Math.fround(Math.min(1, Math.max(0, (grey / 255 - 0.5) * 1 + 0.5 + 0)));
}

/** Anything closer than this to the fill counts as fill (float rounding of the resampling; far below a grey level). */
const SAME = 1e-5;

/**
 * The cells that hold some of the slice in view 0 (views must be identity and mirror, size x size each; size a
 * multiple of grid). When the mirror exists, a cell counts when it or its mirror image holds the slice.
 */
export function occlusionPlan(views: Float32Array[], size: number, grid: number, fill: number): OcclusionPlan {
  if (size % grid !== 0) throw new Error(`occlusion grid ${grid} does not divide the view size ${size}`);
  const used = Math.min(views.length, 2);
  const step = size / grid;
  const cells: number[] = [];
  for (let gy = 0; gy < grid; gy++) for (let gx = 0; gx < grid; gx++) {
    let holds = false;
    for (let v = 0; v < used && !holds; v++) {
      const cx = v === 1 ? grid - 1 - gx : gx;
      const view = views[v];
      for (let y = gy * step; y < (gy + 1) * step && !holds; y++) {
        for (let x = cx * step; x < (cx + 1) * step; x++) if (Math.abs(view[y * size + x] - fill) > SAME) { holds = true; break; }
      }
    }
    if (holds) cells.push(gy * grid + gx);
  }
  return { grid, size, fill, cells, views: used };
}

/**
 * The views to run: for each planned cell (in plan order), each used view with that cell's slice pixels (those
 * not at the fill) set to the fill (in the mirror, the mirrored cell): the whole cell becomes fill.
 * Cell-major: views [cell0 view0, cell0 view1, cell1 view0, ...].
 */
export function occludedViews(views: Float32Array[], plan: OcclusionPlan): Float32Array[] {
  const { grid, size, fill, cells } = plan;
  const step = size / grid;
  const out: Float32Array[] = [];
  for (const c of cells) {
    const gy = Math.floor(c / grid), gx = c % grid;
    for (let v = 0; v < plan.views; v++) {
      const copy = views[v].slice();
      const cx = v === 1 ? grid - 1 - gx : gx;
      for (let y = gy * step; y < (gy + 1) * step; y++) {
        for (let i = y * size + cx * step; i < y * size + (cx + 1) * step; i++) {
          if (Math.abs(copy[i] - fill) > SAME) copy[i] = fill;
        }
      }
      out.push(copy);
    }
  }
  return out;
}

/**
 * The occlusion map on the plan's grid: for each planned cell, the mean over the used views of
 * logit(view) - logit(view with the cell hidden); 0 on cells that hold only fill. `base`: the logits of the used
 * views; `occluded`: the logits of occludedViews' output, in its order.
 */
export function occlusionMap(plan: OcclusionPlan, base: ArrayLike<number>, occluded: ArrayLike<number>): Float32Array {
  const { grid, cells, views } = plan;
  if (occluded.length !== cells.length * views) throw new Error(`occlusion: ${occluded.length} logits for ${cells.length} cells x ${views} views`);
  const map = new Float32Array(grid * grid);
  cells.forEach((c, k) => {
    let drop = 0;
    for (let v = 0; v < views; v++) drop += base[v] - occluded[k * views + v];
    map[c] = drop / views;
  });
  return map;
}

/** The gate of a reading design, and what it was read from, for readingMap. */
export interface GateEvidence {
  /** P(involvement present) of an involved share of the lung (reading.ts' gateOf with the model's design). */
  present: (fraction: number) => number;
  involvement: Involvement;
  seg: LungSegmentation;
  framing: LungFraming;
}

/**
 * The gate evidence of a slice, or undefined when its P has no gate to explain (a whole-slice model, or no
 * involvement measured: then P is the pattern's, or 0, and the map is the logit's drop).
 */
export function gateEvidence(
  gate: ((fraction: number) => number) | undefined, lungs: { seg: LungSegmentation; involvement: Involvement | null }, framing: LungFraming | undefined,
): GateEvidence | undefined {
  return gate && framing && lungs.involvement ? { present: gate, involvement: lungs.involvement, seg: lungs.seg, framing } : undefined;
}

/**
 * Per cell of the plan's grid: the measured lung pixels and the involved ones (involvement.ts, analysis grid) in the
 * part of the slice that cell of the identity view shows (its mirror cell shows the same part). A pixel belongs to
 * the cell its centre falls in.
 */
export function cellCounts(plan: OcclusionPlan, region: LungViewRegion, inv: Involvement, W: number): { lung: Float64Array; involved: Float64Array } {
  const { grid, size } = plan;
  const lung = new Float64Array(grid * grid), involved = new Float64Array(grid * grid);
  const per = (size / grid) * (region.side / size); // analysis px per cell
  const H = inv.measured.length / W;
  for (let y = Math.max(0, region.y0); y < Math.min(H, region.y0 + region.side); y++) {
    const gy = Math.floor((y + 0.5 - region.y0) / per);
    if (gy < 0 || gy >= grid) continue;
    for (let x = Math.max(0, region.x0); x < Math.min(W, region.x0 + region.side); x++) {
      const i = y * W + x;
      if (!inv.measured[i]) continue;
      const gx = Math.floor((x + 0.5 - region.x0) / per);
      if (gx < 0 || gx >= grid) continue;
      lung[gy * grid + gx]++;
      if (inv.mask[i]) involved[gy * grid + gx]++;
    }
  }
  return { lung, involved };
}

/** Involvement's counts per cell of the grid (cellCounts), and the slice's totals. */
export interface CellInvolvement { lungPixels: number; involvedPixels: number; lung: Float64Array; involved: Float64Array }

/** The counts of a slice's gate evidence on the plan's grid (null when the view shows no lungs region). */
export function cellInvolvement(plan: OcclusionPlan, gate: GateEvidence): CellInvolvement | null {
  const region = lungViewRegion(gate.seg, gate.framing);
  if (!region) return null;
  const { lungPixels, fraction } = gate.involvement;
  return { lungPixels, involvedPixels: Math.round(fraction * lungPixels), ...cellCounts(plan, region, gate.involvement, gate.seg.analysis.width) };
}

/**
 * The reading's occlusion map: for each planned cell, P - P' where P = present(share) x pattern as read (pattern =
 * the mean sigmoid of the used views' logits, share = involvedPixels / lungPixels) and P' the same with the cell
 * hidden from both stages (pattern: the occluded views' logits; share: the cell's measured and involved pixels
 * left out). 0 on cells that hold only fill.
 */
export function readingMap(plan: OcclusionPlan, base: ArrayLike<number>, occluded: ArrayLike<number>, present: (share: number) => number, counts: CellInvolvement): Float32Array {
  const { grid, cells, views } = plan;
  if (occluded.length !== cells.length * views) throw new Error(`occlusion: ${occluded.length} logits for ${cells.length} cells x ${views} views`);
  const share = (inv: number, n: number) => (n > 0 ? inv / n : 0);
  let pattern = 0;
  for (let v = 0; v < views; v++) pattern += sigmoid(base[v]) / views;
  const p = present(share(counts.involvedPixels, counts.lungPixels)) * pattern;
  const map = new Float32Array(grid * grid);
  cells.forEach((c, k) => {
    let hidden = 0;
    for (let v = 0; v < views; v++) hidden += sigmoid(occluded[k * views + v]) / views;
    map[c] = p - present(share(counts.involvedPixels - counts.involved[c], counts.lungPixels - counts.lung[c])) * hidden;
  });
  return map;
}

/**
 * The map on the view's own pixels (size x size): each slice pixel of view 0 (not at the fill) takes its cell's
 * value, fill pixels 0. The drop of a cell was caused by changing exactly those pixels (the fill ones were not
 * changed), so this draws each measured drop where the change was made, at the view's resolution.
 */
export function onChangedPixels(plan: OcclusionPlan, cellMap: Float32Array, view0: Float32Array): Float32Array {
  const { grid, size, fill } = plan;
  const step = size / grid;
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    const i = y * size + x;
    if (Math.abs(view0[i] - fill) > SAME) out[i] = cellMap[Math.floor(y / step) * grid + Math.floor(x / step)];
  }
  return out;
}

/** The logit of each view from its CAM (the map's mean is the logit exactly; onnx-export.ts). */
export function logitsOfCams(cams: ArrayLike<number>, grid: number, count: number): Float64Array {
  const g = grid * grid;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let k = 0; k < g; k++) sum += cams[i * g + k];
    out[i] = sum / g;
  }
  return out;
}

/**
 * Which map a heatmap shows: `cam`, the class activation map; `occlusion`, the logit's drop when each cell of a
 * lungs view is hidden with the fill. (Other maps measured and not shipped: docs/explain-maps.md, branch `cam`.)
 */
export type MapMethod = 'cam' | 'occlusion';

/** The occlusion grid: cells of 16 x 16 pixels of the 128-pixel view (the CAM's own 8 x 8 grid). */
export const OCCLUSION_GRID = 8;

/**
 * The map a model's heatmap shows for a slice: occlusion when the model saw a lungs view (a lungs model whose
 * view found the lungs: only then is there a fill that stands for "hidden"), else its class activation map (a
 * whole-slice model sees everything, so every cell is evidence it may use; its CAM is exact, onnx-export.ts).
 */
export function mapMethodFor(preprocessing: { lungs?: LungFraming }, seg: LungSegmentation | undefined): MapMethod {
  return preprocessing.lungs && seg && lungViewRegion(seg, preprocessing.lungs) ? 'occlusion' : 'cam';
}

/**
 * The occlusion map of a lungs view, the same in Node and in the browser: `views` the slice's views (identity,
 * mirror, ...), `base` the logits of its first two, `logitsOf` runs the model on views and returns their logits
 * (the engine's or onnxruntime-web's); `gate` for a model with a reading design whose involvement was measured
 * (the drop of P, readingMap), else the drop of the logit. Returns the map on the view's pixels (grid = view
 * size): each cell's drop drawn on the pixels hiding it changed.
 */
export async function occlusionEvidence(
  views: Float32Array[], base: ArrayLike<number>, size: number, lungs: LungFraming,
  logitsOf: (views: Float32Array[]) => Promise<ArrayLike<number>>, gate?: GateEvidence,
): Promise<{ grid: number; values: Float32Array; units: 'P' | 'logit' }> {
  const plan = occlusionPlan(views, size, OCCLUSION_GRID, fillValue(lungs.tissueGrey));
  const occluded = plan.cells.length ? await logitsOf(occludedViews(views, plan)) : new Float64Array(0);
  const counts = gate ? cellInvolvement(plan, gate) : null;
  const inP = Boolean(gate && counts);
  const cells = inP ? readingMap(plan, base, occluded, gate!.present, counts!) : occlusionMap(plan, base, occluded);
  // readingMap is in units of P (its fall when a cell is hidden); occlusionMap in units of the logit.
  return { grid: size, values: onChangedPixels(plan, cells, views[0]), units: inP ? 'P' : 'logit' };
}

/**
 * The heat drawn in full colour for a map in `units`: for a map of the fall of P (readingMap), the model's decision
 * threshold, the same on every slice: a region shown red alone carries as much as a slice at the threshold has in
 * all, and a slice far below the threshold (a clear lung) shows no more than faint colour instead of its own noise
 * stretched to red. A logit map (no involvement to gate by) keeps each picture's own maximum (undefined).
 */
export function heatFullScale(units: 'P' | 'logit', threshold: number): number | undefined {
  return units === 'P' && threshold > 0 ? threshold : undefined;
}
