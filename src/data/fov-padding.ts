/**
 * The scanner's padding outside its field of view, in an 8-bit picture. A CT slice is reconstructed in a disc; a
 * square picture's corners outside that disc hold no measurement, only a fill value (PixelPaddingValue, -2000 or
 * -3024 HU). Through a window that fill is black, like air; but a naive export (a signed array cast to unsigned,
 * so the padding wraps to the top of the range) or a viewer that paints it shows the corners white or grey. The
 * lung stage then meets a bright frame around the body that no scanner measured. Here a fill brighter than air is
 * given air's grey (the darkest the field measured), which is what the corners show through any window. Pure; the
 * same module runs on the server and in the page.
 *
 * Only a region that is certainly padding is touched: one flat grey joining all four corners of a near-square
 * picture, lying wholly outside the inscribed disc (so a page or background running into the picture is never
 * taken for it) and filling most of the area outside the disc.
 */
import type { GreyImage } from '../types.js';

export const FOV_PADDING = Object.freeze({
  /** Grey levels a flat fill may vary by after JPEG. */
  tolerance: 4,
  /** Width and height within this share of each other: a square reconstruction grid. */
  maxAspectGap: 0.05,
  /** The fill may reach this far into the disc (share of the radius): resampling blurs the disc's edge. */
  innerEdge: 0.97,
  /** The fill covers at least this share of the area outside the disc (the four corners). */
  minCornerCover: 0.8,
  /** Air's grey: this quantile of the grey inside the disc. */
  airQuantile: 0.01,
});

/** The picture with a bright field-of-view padding set to air's grey; the same object when there is none to fill. */
export function fillFovPadding(img: GreyImage): GreyImage {
  // A picture in HU went through a window: its padding is black already, as its air.
  if (img.hu) return img;
  const { width: w, height: h, data } = img;
  const c = FOV_PADDING;
  if (w < 16 || h < 16 || Math.abs(w - h) > c.maxAspectGap * Math.max(w, h)) return img;
  const fill = data[0];
  const near = (v: number) => Math.abs(v - fill) <= c.tolerance;
  if (!near(data[w - 1]) || !near(data[(h - 1) * w]) || !near(data[h * w - 1])) return img;
  // A fill within tolerance of the picture's darkest grey is no brighter than air (air's grey, below, is at least
  // that): the common case, black corners, is left before the fill is traced.
  let darkest = 255;
  for (let i = 0; i < w * h; i++) if (data[i] < darkest) darkest = data[i];
  if (fill - darkest <= c.tolerance) return img;
  const cx = (w - 1) / 2, cy = (h - 1) / 2, r = Math.min(w, h) / 2;
  const dist = (i: number) => Math.hypot((i % w) - cx, ((i / w) | 0) - cy);

  // The flat region joined to the corners (4-neighbours); it must stay outside the disc.
  const region = new Uint8Array(w * h);
  const stack = [0, w - 1, (h - 1) * w, h * w - 1];
  for (const i of stack) region[i] = 1;
  let size = 0;
  while (stack.length) {
    const i = stack.pop()!;
    size++;
    if (dist(i) < c.innerEdge * r) return img;
    const x = i % w;
    for (const j of [x > 0 ? i - 1 : -1, x < w - 1 ? i + 1 : -1, i - w, i + w]) {
      if (j >= 0 && j < w * h && !region[j] && near(data[j])) { region[j] = 1; stack.push(j); }
    }
  }
  let outside = 0;
  for (let i = 0; i < w * h; i++) if (dist(i) > r) outside++;
  if (size < c.minCornerCover * outside) return img;

  // Air's grey: the darkest of what the field measured (its 1st percentile). Through any window the padding is at
  // least as dark as air; a fill darker already is as a scanner exports it, and is left alone.
  const hist = new Uint32Array(256);
  let n = 0;
  for (let i = 0; i < w * h; i++) if (dist(i) < c.innerEdge * r) { hist[data[i]]++; n++; }
  let acc = 0, air = 0;
  for (; air < 255; air++) { acc += hist[air]; if (acc > c.airQuantile * n) break; }
  if (fill - air <= c.tolerance) return img;
  const out = data.slice();
  for (let i = 0; i < w * h; i++) if (region[i]) out[i] = air;
  return { ...img, data: out };
}
