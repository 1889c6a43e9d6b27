/**
 * Class activation maps as pictures, in plain TypeScript with no Node dependency, so that the server, the
 * command line and the browser page draw the same overlay: the map (over the square working image, see
 * onnx-export.ts) is mapped back onto the original slice and blended over it in colour.
 */
import type { GreyImage } from '../types.js';
import type { WorkingFit } from '../data/preprocess.js';
import type { ActivationMap } from '../model/onnx-engine.js';
import type { LungSegmentation } from '../data/lungs.js';
import type { Involvement } from '../data/involvement.js';
import { lungViewRegion, type LungFraming } from '../data/lung-view.js';
import { maskToSize } from '../data/morphology.js';

/** A rectangle of an image, in its pixels. */
export interface ImageRegion { x0: number; y0: number; w: number; h: number }

/** The part of the original image that the working image shows, in original pixels. */
export function workingRegion(width: number, height: number, fit: WorkingFit): ImageRegion {
  if (fit === 'cover') {
    const m = Math.min(width, height);
    return { x0: (width - m) / 2, y0: (height - m) / 2, w: m, h: m };
  }
  if (fit === 'contain') {
    const m = Math.max(width, height);
    return { x0: (width - m) / 2, y0: (height - m) / 2, w: m, h: m };
  }
  return { x0: 0, y0: 0, w: width, h: height };
}

/**
 * The region of the original slice (original pixels) that a model's map covers: for a lungs-only model
 * (`lungs` framing) the lung view's square (lung-view.ts) divided by the segmentation's scale; otherwise, or when
 * the view fell back to the whole analysis image, the working region of the fit.
 */
export function camRegion(width: number, height: number, fit: WorkingFit, seg?: LungSegmentation, lungs?: LungFraming): ImageRegion {
  const sq = seg && lungs ? lungViewRegion(seg, lungs) : null;
  if (!sq || !seg) return workingRegion(width, height, fit);
  return { x0: sq.x0 / seg.scale, y0: sq.y0 / seg.scale, w: sq.side / seg.scale, h: sq.side / seg.scale };
}

/**
 * The map resampled (bilinear, cell centres) onto every pixel of a width x height picture of the original image;
 * pixels outside the region the map covers get NaN (no heat). `where`: the fit of the working image (the
 * whole-slice models), or the covered region in pixels of the original, whose size is `original` (default: the
 * picture's own). Values are the map's own (logit contributions; positive = towards COVID).
 */
export function mapToImage(cam: ActivationMap, width: number, height: number, where: WorkingFit | ImageRegion = 'cover', original?: { width: number; height: number }): Float32Array {
  const { grid, values } = cam;
  let r: ImageRegion;
  if (typeof where === 'string') r = workingRegion(width, height, where);
  else {
    const sx = original ? width / original.width : 1, sy = original ? height / original.height : 1;
    r = { x0: where.x0 * sx, y0: where.y0 * sy, w: where.w * sx, h: where.h * sy };
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const gy = ((y + 0.5 - r.y0) / r.h) * grid - 0.5;
    for (let x = 0; x < width; x++) {
      const gx = ((x + 0.5 - r.x0) / r.w) * grid - 0.5;
      if (gx < -0.5 || gy < -0.5 || gx > grid - 0.5 || gy > grid - 0.5) { out[y * width + x] = NaN; continue; }
      const cx = Math.min(Math.max(gx, 0), grid - 1);
      const cy = Math.min(Math.max(gy, 0), grid - 1);
      const x0 = Math.min(Math.floor(cx), grid - 2 < 0 ? 0 : grid - 2);
      const y0 = Math.min(Math.floor(cy), grid - 2 < 0 ? 0 : grid - 2);
      const fx = grid > 1 ? cx - x0 : 0;
      const fy = grid > 1 ? cy - y0 : 0;
      const at = (i: number, j: number) => values[Math.min(j, grid - 1) * grid + Math.min(i, grid - 1)];
      out[y * width + x] = (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) + (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy;
    }
  }
  return out;
}

/** A perceptually ordered colour ramp (dark blue -> cyan -> yellow -> red) for t in [0, 1]. */
export function heatColour(t: number): [number, number, number] {
  const stops: [number, number, number, number][] = [[0, 20, 30, 140], [0.35, 0, 170, 220], [0.65, 250, 220, 40], [1, 220, 30, 20]];
  const u = Math.min(1, Math.max(0, t));
  let i = 0;
  while (i < stops.length - 2 && u > stops[i + 1][0]) i++;
  const [a, b] = [stops[i], stops[i + 1]];
  const f = (u - a[0]) / (b[0] - a[0]);
  return [0, 1, 2].map((k) => Math.round(a[k + 1] + (b[k + 1] - a[k + 1]) * f)) as [number, number, number];
}

/**
 * Grad-CAM style display: only evidence towards COVID (ReLU), scaled by `fullScale` (values above it drawn as it)
 * or, without one, by the map's own maximum, blended over the grey slice with an opacity that grows with the
 * evidence. Returns RGB bytes.
 */
export function overlayRgb(image: GreyImage, heat: Float32Array, maxOpacity = 0.6, fullScale?: number): Uint8Array {
  let max = 0;
  if (fullScale !== undefined && fullScale > 0) max = fullScale;
  else for (const v of heat) if (v > max) max = v;
  const out = new Uint8Array(image.width * image.height * 3);
  for (let i = 0; i < image.data.length; i++) {
    const g = image.data[i];
    const v = heat[i];
    const t = Number.isNaN(v) || max <= 0 ? 0 : Math.min(1, Math.max(0, v) / max);
    const a = maxOpacity * Math.sqrt(t);
    const [r, gg, b] = heatColour(t);
    out[i * 3] = Math.round(g * (1 - a) + r * a);
    out[i * 3 + 1] = Math.round(g * (1 - a) + gg * a);
    out[i * 3 + 2] = Math.round(g * (1 - a) + b * a);
  }
  return out;
}

/**
 * The map of one image from the maps of its test-time views (view 0 the image, view 1 its horizontal mirror,
 * see view-plan.ts): those two are brought back to the unflipped image and averaged. Further views (crops and
 * rotations, which count in the probability) are left out of the map: they do not map back onto the whole image.
 */
export function meanViewMap(cams: Float32Array, grid: number, views: number): Float32Array {
  const used = Math.min(views, 2);
  const values = new Float32Array(grid * grid);
  for (let i = 0; i < used; i++) {
    const mirrored = i === 1;
    for (let y = 0; y < grid; y++) for (let x = 0; x < grid; x++) {
      values[y * grid + x] += cams[i * grid * grid + y * grid + (mirrored ? grid - 1 - x : x)] / used;
    }
  }
  return values;
}

/** A mask on the analysis grid (W x H) brought to a width x height picture of the same image, nearest neighbour. */
export function gridToImage(mask: Uint8Array, W: number, H: number, width: number, height: number): Uint8Array {
  return maskToSize(mask, W, H, width, height);
}

/** The 1-pixel boundary of a mask (mask pixels with a 4-neighbour outside it or on the picture's edge). */
export function maskOutline(mask: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const i = y * width + x;
    if (!mask[i]) continue;
    if (x === 0 || y === 0 || x === width - 1 || y === height - 1 || !mask[i - 1] || !mask[i + 1] || !mask[i - width] || !mask[i + width]) out[i] = 1;
  }
  return out;
}

/** Colours of the lung layers (also the legend's). */
export const OUTLINE_RGB: readonly [number, number, number] = [0, 255, 255];
export const INVOLVED_RGB: readonly [number, number, number] = [40, 220, 60];

/** The lung layers of a picture: where the lungs' outline and the involved lung fall, on its pixels. */
export interface LungLayers { outline: Uint8Array; involved: Uint8Array }

/**
 * The lung layers of a width x height picture of the original slice, upsampled from the analysis grid with
 * nearest neighbour: the outline of the lungs (1 px in the picture) and the involved regions (involvement.ts).
 */
export function lungLayers(seg: LungSegmentation, involved: Uint8Array | null, width: number, height: number, notLung?: Uint8Array | null): LungLayers {
  const { width: W, height: H } = seg.analysis;
  // Organ domes the mask encloses and the hilar vessels are not lung: the outline goes round them too (as involvement leaves them out).
  const lungGrid = notLung ? seg.labels.map((v, i) => (notLung[i] ? 0 : v)) : seg.labels;
  const lung = gridToImage(lungGrid, W, H, width, height);
  return { outline: maskOutline(lung, width, height), involved: involved ? gridToImage(involved, W, H, width, height) : new Uint8Array(width * height) };
}

/**
 * Draws the lung layers on RGB bytes, in place: involved lung semi-transparent green with denser diagonal hatching
 * (visible over any heat colour), then the outline in cyan on top.
 */
export function drawLungLayers(rgb: Uint8Array, width: number, layers: LungLayers): Uint8Array {
  const [ir, ig, ib] = INVOLVED_RGB;
  for (let i = 0; i < layers.involved.length; i++) {
    if (!layers.involved[i]) continue;
    const x = i % width, y = (i / width) | 0;
    const a = (x + y) % 4 === 0 ? 0.85 : 0.35;
    rgb[3 * i] = Math.round(rgb[3 * i] * (1 - a) + ir * a);
    rgb[3 * i + 1] = Math.round(rgb[3 * i + 1] * (1 - a) + ig * a);
    rgb[3 * i + 2] = Math.round(rgb[3 * i + 2] * (1 - a) + ib * a);
  }
  for (let i = 0; i < layers.outline.length; i++) {
    if (!layers.outline[i]) continue;
    rgb[3 * i] = OUTLINE_RGB[0]; rgb[3 * i + 1] = OUTLINE_RGB[1]; rgb[3 * i + 2] = OUTLINE_RGB[2];
  }
  return rgb;
}

/** What a slice picture needs besides the grey picture and the map: the original's size and its lungs. */
export interface SlicePictureInput {
  /** The original slice's size (the picture may be a smaller copy). */
  original: { width: number; height: number };
  /** The map to draw; null draws none (a slice refused as not a chest CT gets no heat). */
  cam: ActivationMap | null;
  fit: WorkingFit;
  /** The model's lungs framing (lungs-only models). */
  lungs?: LungFraming;
  seg?: LungSegmentation;
  /** The involved mask on the analysis grid. */
  involved?: Uint8Array | null;
  /** The organ domes and hilar vessels left out of the lung (Involvement.islands), on the analysis grid. */
  notLung?: Uint8Array | null;
}

/** The lungs a slice picture draws, from what the lung stages found (involvement.ts' findLungs) and the model's framing. */
export function pictureLungs(found: { seg: LungSegmentation; involvement: Involvement | null }, lungs: LungFraming | undefined): Pick<SlicePictureInput, 'seg' | 'involved' | 'notLung' | 'lungs'> {
  const { seg, involvement } = found;
  return { seg, involved: involvement?.mask ?? null, notLung: involvement?.islands ?? null, lungs };
}

/**
 * The heatmap picture of a slice as RGB bytes: the map over the region it covers (no heat elsewhere), then the
 * lung outline and the involved regions when the lungs were found. The same in Node and the browser.
 */
export function slicePictureRgb(picture: GreyImage, input: SlicePictureInput): Uint8Array {
  const { width, height } = picture;
  const heat = input.cam
    ? mapToImage(input.cam, width, height, camRegion(input.original.width, input.original.height, input.fit, input.seg, input.lungs), input.original)
    : new Float32Array(width * height);
  const rgb = overlayRgb(picture, heat, 0.6, input.cam?.fullScale);
  if (input.seg?.found) drawLungLayers(rgb, width, lungLayers(input.seg, input.involved ?? null, width, height, input.notLung));
  return rgb;
}
