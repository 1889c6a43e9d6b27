/**
 * Where the model's evidence comes from, as a PNG: its map (occlusion for a lungs model, lung-evidence.ts; the class
 * activation map for a whole-slice model) overlaid on the slice (see cam-overlay.ts),
 * at most maxSide pixels on its long side so that API responses stay small.
 */
import sharp from 'sharp';
import type { GreyImage } from '../types.js';
import { resample } from '../data/working-image.js';
import type { WorkingFit } from '../data/preprocess.js';
import type { ActivationMap } from '../model/onnx-engine.js';
import { heatColour, INVOLVED_RGB, OUTLINE_RGB, slicePictureRgb, type SlicePictureInput } from './cam-overlay.js';

export { heatColour, mapToImage, overlayRgb, pictureLungs, workingRegion } from './cam-overlay.js';

/** The lungs of the slice for its picture (see cam-overlay.ts): segmentation, involved mask, the model's framing. */
export type PictureLungs = Pick<SlicePictureInput, 'seg' | 'involved' | 'notLung' | 'lungs'>;

/**
 * The heatmap PNG: the map over the slice (over the lung view's square for a lungs-only model), the lung outline
 * and the involved regions when `lungs` are given and found, and, with `legend`, a strip under the slice that says
 * what the colours mean. The strip is added below rather than drawn over the picture so that it never hides lung
 * (on a small or tightly cropped slice every corner holds some); the page passes `legend: false` and shows its own.
 */
export async function overlayPng(image: GreyImage, cam: ActivationMap | null, fit: WorkingFit, maxSide = Infinity, lungs: PictureLungs = {}, legend = true): Promise<Buffer> {
  const base = await shrink(image, maxSide);
  const rgb = slicePictureRgb(base, { original: { width: image.width, height: image.height }, cam, fit, ...lungs });
  const seg = lungs.seg?.found ? lungs.seg : undefined;
  const strip = legend ? legendSvg(base.width, Boolean(seg), cam !== null, cam?.fullScale) : null;
  if (!strip) return sharp(rgb, { raw: { width: base.width, height: base.height, channels: 3 } }).png().toBuffer();
  const height = base.height + strip.height;
  const canvas = new Uint8Array(base.width * height * 3); // the strip's ground is black
  canvas.set(rgb);
  // The composite adds an alpha channel: drawn, then written as RGB like the picture without a legend.
  const { data, info } = await sharp(canvas, { raw: { width: base.width, height, channels: 3 } })
    .composite([{ input: Buffer.from(strip.svg), left: 0, top: base.height }]).raw().toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).removeAlpha().png().toBuffer();
}

const hex = (c: readonly number[]) => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

/** The legend strip: its SVG (the picture's width, `height` tall) to put under the picture. */
export interface LegendStrip { svg: string; height: number }

/** Below this width the legend's text would be too small to read: such pictures get none. */
export const LEGEND_MIN_WIDTH = 120;

/**
 * The legend, one strip under the picture. With heat: "heat: evidence towards COVID" over a gradient bar of the heat
 * colours from "none" to what full colour means: with `fullScale` (a map of the fall of P, lung-evidence.ts
 * heatFullScale) "P falls by >= X", the same on every slice; without, "this slice's max" (the map scaled to its own
 * maximum: colours compare regions of one slice, not slices). When the lungs are drawn, swatches for the involved
 * lung and the outline beside it.
 * Without heat (a refused slice has no map) only the outline's swatch. Null for pictures too narrow for it and for a
 * picture with neither heat nor lungs (nothing to explain).
 */
export function legendSvg(width: number, lungs: boolean, heat = true, fullScale?: number): LegendStrip | null {
  if (width < LEGEND_MIN_WIDTH || (!heat && !lungs)) return null;
  // Laid out for 320 px, the swatches beside the bar (that row takes 296 of 320), and scaled down below it; under
  // 240 px the swatches go under the bar, which keeps the text larger (the title, 197 units, is then the widest row).
  const stacked = heat && lungs && width < 240;
  const s = Math.min(1, width / (stacked ? 200 : 320));
  const font = Math.round(11 * s * 10) / 10, small = Math.round(font * 9) / 10;
  const pad = Math.round(6 * s), bar = Math.round(120 * s), bh = Math.round(8 * s), rowH = Math.round(font + 5 * s), sw = Math.round(10 * s);
  const labels = pad + rowH + bh + font;
  const height = !heat ? Math.round(pad * 2 + rowH) : Math.round(labels + pad + (stacked ? 2 * rowH : 0));
  const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => `<stop offset="${t}" stop-color="${hex(heatColour(t))}"/>`).join('');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`,
    `<defs><linearGradient id="heat">${stops}</linearGradient><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="4" height="4" fill="${hex(INVOLVED_RGB)}" fill-opacity="0.45"/><rect width="1.3" height="4" fill="${hex(INVOLVED_RGB)}"/></pattern></defs>`,
    `<rect width="${width}" height="${height}" fill="#000000"/>`,
    `<g font-family="DejaVu Sans, sans-serif" font-size="${font}" fill="#ffffff">`,
  ];
  const swatch = (x: number, baseline: number, fill: string, text: string) => parts.push(
    `<rect x="${x}" y="${baseline - sw + 1}" width="${sw}" height="${sw}" ${fill}/>`,
    `<text x="${x + sw + Math.round(4 * s)}" y="${baseline}">${text}</text>`,
  );
  const outline = `fill="none" stroke="${hex(OUTLINE_RGB)}" stroke-width="1.5"`;
  if (!heat) {
    // A refused slice: its outline only (nothing was measured or read inside it).
    swatch(pad, pad + font, outline, 'lungs found (not read)');
  } else {
    parts.push(
      `<text x="${pad}" y="${pad + font}">heat: evidence towards COVID</text>`,
      `<rect x="${pad}" y="${pad + rowH}" width="${bar}" height="${bh}" fill="url(#heat)"/>`,
      `<text x="${pad}" y="${labels}" font-size="${small}">none</text>`,
      `<text x="${pad + bar}" y="${labels}" font-size="${small}" text-anchor="end">${fullScale ? `P falls by &#8805; ${fullScale.toFixed(2)}` : 'this slice\'s max'}</text>`,
    );
    if (lungs && stacked) {
      swatch(pad, labels + rowH, 'fill="url(#hatch)"', 'involved lung');
      swatch(pad, labels + 2 * rowH, outline, 'lung outline');
    } else if (lungs) {
      const x = pad + Math.round(195 * s);
      swatch(x, pad + font, 'fill="url(#hatch)"', 'involved lung');
      swatch(x, labels, outline, 'lung outline');
    }
  }
  parts.push('</g></svg>');
  return { svg: parts.join(''), height };
}

/** The grey slice as a PNG, at most maxSide pixels on its long side (a preview of what the model was given). */
export async function greyPng(image: GreyImage, maxSide = Infinity): Promise<Buffer> {
  const base = await shrink(image, maxSide);
  return sharp(base.data, { raw: { width: base.width, height: base.height, channels: 1 } }).png().toBuffer();
}

/**
 * The slice at most maxSide pixels on its long side, by the project's own antialiased Lanczos resampler: sharp's
 * resize of one-channel raw input returns three channels, which read as one came out as horizontal stripes for any
 * slice wider than maxSide (issue 12).
 */
async function shrink(image: GreyImage, maxSide: number): Promise<GreyImage> {
  const long = Math.max(image.width, image.height);
  if (long <= maxSide) return image;
  const width = Math.max(1, Math.round((image.width * maxSide) / long));
  const height = Math.max(1, Math.round((image.height * maxSide) / long));
  return resample(image, { x0: 0, y0: 0, w: image.width, h: image.height }, width, height);
}
