/**
 * Views as pure arithmetic on a grey working image: no I/O and no native code, so the same module renders the
 * views in Node and in the browser ("analyse on this device") and both see the same pixels.
 */
import type { GreyImage } from '../types.js';
import type { Rng } from '../util/prng.js';

/** Parameters of one view. The identity (evaluation) view is IDENTITY_VIEW. */
export interface ViewParams {
  /** Crop centre and size as fractions of the working image. */
  cx: number; cy: number; cw: number; ch: number;
  /** Rotation in radians. */
  angle: number;
  flip: boolean;
  /** Intensity in [0,1] becomes (v - 0.5) * contrast + 0.5 + brightness, clamped. */
  brightness: number;
  contrast: number;
}

export const IDENTITY_VIEW: ViewParams = { cx: 0.5, cy: 0.5, cw: 1, ch: 1, angle: 0, flip: false, brightness: 0, contrast: 1 };
export const FLIP_VIEW: ViewParams = { ...IDENTITY_VIEW, flip: true };

/** Ranges of the training augmentation. */
export interface AugmentConfig {
  /** Crop area as a fraction of the image, and log-uniform aspect ratio range (torchvision's RandomResizedCrop). */
  scale: [number, number];
  ratio: [number, number];
  /** Maximum rotation in degrees (uniform in +-). */
  rotateDeg: number;
  flipProbability: number;
  brightness: number;
  contrast: number;
}

export const DEFAULT_AUGMENT: AugmentConfig = {
  scale: [0.6, 1], ratio: [3 / 4, 4 / 3], rotateDeg: 10, flipProbability: 0.5, brightness: 0.1, contrast: 0.15,
};

export function sampleView(rng: Rng, cfg: AugmentConfig): ViewParams {
  const area = rng.uniform(cfg.scale[0], cfg.scale[1]);
  const logRatio = rng.uniform(Math.log(cfg.ratio[0]), Math.log(cfg.ratio[1]));
  const r = Math.exp(logRatio);
  const cw = Math.min(1, Math.sqrt(area * r));
  const ch = Math.min(1, Math.sqrt(area / r));
  const cx = rng.uniform(cw / 2, 1 - cw / 2);
  const cy = rng.uniform(ch / 2, 1 - ch / 2);
  const angle = (rng.uniform(-cfg.rotateDeg, cfg.rotateDeg) * Math.PI) / 180;
  const flip = rng.next() < cfg.flipProbability;
  const brightness = rng.uniform(-cfg.brightness, cfg.brightness);
  const contrast = 1 + rng.uniform(-cfg.contrast, cfg.contrast);
  return { cx, cy, cw, ch, angle, flip, brightness, contrast };
}

/**
 * Renders one view as size x size intensities in [0,1] by bilinear sampling; outside the image is black
 * (the background of a CT slice).
 */
export function renderView(img: GreyImage, v: ViewParams, size: number, out = new Float32Array(size * size)): Float32Array {
  if (v.angle === 0) return renderUnrotated(img, v, size, out);
  const { width: W, height: H, data } = img;
  const cos = Math.cos(v.angle);
  const sin = Math.sin(v.angle);
  for (let oy = 0; oy < size; oy++) {
    const py = (oy + 0.5) / size - 0.5;
    for (let ox = 0; ox < size; ox++) {
      let px = (ox + 0.5) / size - 0.5;
      if (v.flip) px = -px;
      const qx = cos * px - sin * py;
      const qy = sin * px + cos * py;
      const sx = (v.cx + qx * v.cw) * W - 0.5;
      const sy = (v.cy + qy * v.ch) * H - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const at = (x: number, y: number): number => (x < 0 || y < 0 || x >= W || y >= H ? 0 : data[y * W + x]);
      const val = (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) + (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy;
      const t = (val / 255 - 0.5) * v.contrast + 0.5 + v.brightness;
      out[oy * size + ox] = t < 0 ? 0 : t > 1 ? 1 : t;
    }
  }
  return out;
}


/**
 * renderView without rotation (every test-time view): the sampling positions of a column or a row are the same
 * for all rows or columns, so they are computed once. The arithmetic is the general path's, operation for
 * operation (with cos = 1 and sin = 0 its rotation leaves px and py exactly unchanged), so the result is
 * bit-identical; it is only faster.
 */
function renderUnrotated(img: GreyImage, v: ViewParams, size: number, out: Float32Array): Float32Array {
  const { width: W, height: H, data } = img;
  const xs = new Int32Array(size), fxs = new Float64Array(size);
  const ys = new Int32Array(size), fys = new Float64Array(size);
  for (let o = 0; o < size; o++) {
    let px = (o + 0.5) / size - 0.5;
    if (v.flip) px = -px;
    const sx = (v.cx + px * v.cw) * W - 0.5;
    xs[o] = Math.floor(sx);
    fxs[o] = sx - xs[o];
    const py = (o + 0.5) / size - 0.5;
    const sy = (v.cy + py * v.ch) * H - 0.5;
    ys[o] = Math.floor(sy);
    fys[o] = sy - ys[o];
  }
  const at = (x: number, y: number): number => (x < 0 || y < 0 || x >= W || y >= H ? 0 : data[y * W + x]);
  for (let oy = 0; oy < size; oy++) {
    const y0 = ys[oy], fy = fys[oy];
    for (let ox = 0; ox < size; ox++) {
      const x0 = xs[ox], fx = fxs[ox];
      const val = (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) + (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy;
      const t = (val / 255 - 0.5) * v.contrast + 0.5 + v.brightness;
      out[oy * size + ox] = t < 0 ? 0 : t > 1 ? 1 : t;
    }
  }
  return out;
}
