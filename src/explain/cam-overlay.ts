/**
 * Class activation maps as pictures, in plain TypeScript with no Node dependency, so that the server, the
 * command line and the browser page draw the same overlay: the map (over the square working image, see
 * onnx-export.ts) is mapped back onto the original slice and blended over it in colour.
 */
import type { GreyImage } from '../types.js';
import type { WorkingFit } from '../data/preprocess.js';
import type { ActivationMap } from '../model/onnx-engine.js';

/** The part of the original image that the working image shows, in original pixels. */
export function workingRegion(width: number, height: number, fit: WorkingFit): { x0: number; y0: number; w: number; h: number } {
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
 * The map resampled (bilinear, cell centres) onto every pixel of the original image; pixels outside the
 * working region get NaN. Values are the map's own (logit contributions; positive = towards COVID).
 */
export function mapToImage(cam: ActivationMap, width: number, height: number, fit: WorkingFit): Float32Array {
  const { grid, values } = cam;
  const r = workingRegion(width, height, fit);
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
 * Grad-CAM style display: only evidence towards COVID (ReLU), scaled by its maximum, blended over the grey
 * slice with an opacity that grows with the evidence. Returns RGB bytes.
 */
export function overlayRgb(image: GreyImage, heat: Float32Array, maxOpacity = 0.6): Uint8Array {
  let max = 0;
  for (const v of heat) if (v > max) max = v;
  const out = new Uint8Array(image.width * image.height * 3);
  for (let i = 0; i < image.data.length; i++) {
    const g = image.data[i];
    const v = heat[i];
    const t = Number.isNaN(v) || max <= 0 ? 0 : Math.max(0, v) / max;
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
