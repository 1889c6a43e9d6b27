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
import { gridToImage, heatColour, INVOLVED_RGB, OUTLINE_RGB, slicePictureRgb, type SlicePictureInput } from './cam-overlay.js';

export { heatColour, mapToImage, overlayRgb, pictureLungs, workingRegion } from './cam-overlay.js';

/** The lungs of the slice for its picture (see cam-overlay.ts): segmentation, involved mask, the model's framing. */
export type PictureLungs = Pick<SlicePictureInput, 'seg' | 'involved' | 'notLung' | 'lungs'>;

/**
 * The heatmap PNG: the map over the slice (over the lung view's square for a lungs-only model), the lung outline
 * and the involved regions when `lungs` are given and found, and a legend of the colours.
 */
export async function overlayPng(image: GreyImage, cam: ActivationMap | null, fit: WorkingFit, maxSide = Infinity, lungs: PictureLungs = {}): Promise<Buffer> {
  const base = await shrink(image, maxSide);
  const rgb = slicePictureRgb(base, { original: { width: image.width, height: image.height }, cam, fit, ...lungs });
  const png = sharp(rgb, { raw: { width: base.width, height: base.height, channels: 3 } });
  const seg = lungs.seg?.found ? lungs.seg : undefined;
  const lungMask = seg ? gridToImage(seg.labels, seg.analysis.width, seg.analysis.height, base.width, base.height) : null;
  const heat = cam !== null;
  const legend = legendSvg(base.width, base.height, Boolean(seg), legendBox(base.width, base.height, Boolean(seg), lungMask, heat), heat);
  if (!legend) return png.png().toBuffer();
  // The composite adds an alpha channel: drawn first, then written as RGB like the picture without a legend.
  const { data, info } = await png.composite([{ input: Buffer.from(legend), left: 0, top: 0 }]).raw().toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).removeAlpha().png().toBuffer();
}

const hex = (c: readonly number[]) => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

/** The legend's box on the picture, in pixels. */
export interface LegendBox { x: number; y: number; w: number; h: number }

interface LegendGeometry { scale: number; font: number; bar: number; pad: number; bh: number; rowH: number; w: number; h: number }

function legendGeometry(width: number, lungs: boolean, heat: boolean): LegendGeometry {
  const scale = Math.min(1, width / 320);
  const font = Math.round(11 * scale * 10) / 10;
  const bar = Math.round(110 * scale), pad = Math.round(6 * scale), bh = heat ? Math.round(8 * scale) : 0;
  const rows = heat ? (lungs ? 4 : 1) : 1;
  const rowH = Math.round(font + 5 * scale);
  return { scale, font, bar, pad, bh, rowH, w: Math.min(width - 2, Math.round(bar + 2 * pad + 56 * scale)), h: Math.round(pad * 2 + rows * rowH + bh) };
}

/**
 * Where the legend goes: the picture corner whose box covers the fewest lung pixels of `lungMask` (the lungs at the
 * picture's size), so that it does not hide the lung a reader must see; bottom-left on a tie or without lungs.
 * Null for pictures too small for a legend, and for a picture with neither heat nor lungs (nothing to explain).
 */
export function legendBox(width: number, height: number, lungs: boolean, lungMask: Uint8Array | null = null, heat = true): LegendBox | null {
  if (width < 120 || height < 80 || (!heat && !lungs)) return null;
  const { w, h } = legendGeometry(width, lungs, heat);
  const corners: LegendBox[] = [
    { x: 2, y: height - h - 2, w, h }, { x: width - w - 2, y: height - h - 2, w, h },
    { x: 2, y: 2, w, h }, { x: width - w - 2, y: 2, w, h },
  ].map((b) => ({ ...b, x: Math.max(0, b.x), y: Math.max(0, b.y) }));
  if (!lungMask) return corners[0];
  let best = corners[0], fewest = Infinity;
  for (const b of corners) {
    let n = 0;
    for (let y = b.y; y < Math.min(height, b.y + h); y++) for (let x = b.x; x < Math.min(width, b.x + w); x++) n += lungMask[y * width + x] ? 1 : 0;
    if (n < fewest) { fewest = n; best = b; }
  }
  return best;
}

/**
 * The legend, as an SVG the size of the picture: a gradient bar of the heat colours from "low" to "high" and,
 * when the lungs are drawn, swatches for the outline and the involved lung, in `box` (default: bottom-left).
 * Without heat (a refused slice has no map) only the outline's swatch. Left out of pictures too small for it.
 */
export function legendSvg(width: number, height: number, lungs: boolean, where?: LegendBox | null, heat = true): string | null {
  const box = where === undefined ? legendBox(width, height, lungs, null, heat) : where;
  if (!box) return null;
  const { scale, font, bar, pad, bh, rowH } = legendGeometry(width, lungs, heat);
  const left = box.x, top = box.y, boxW = box.w, boxH = box.h;
  const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => `<stop offset="${t}" stop-color="${hex(heatColour(t))}"/>`).join('');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`,
    `<defs><linearGradient id="heat">${stops}</linearGradient><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="4" height="4" fill="${hex(INVOLVED_RGB)}" fill-opacity="0.45"/><rect width="1.3" height="4" fill="${hex(INVOLVED_RGB)}"/></pattern></defs>`,
    `<g font-family="DejaVu Sans, sans-serif" font-size="${font}" fill="#ffffff">`,
    `<rect x="${left}" y="${top}" width="${boxW}" height="${boxH}" rx="3" fill="#000000" fill-opacity="0.6"/>`,
  ];
  if (heat) {
    parts.push(
      `<text x="${left + pad}" y="${top + pad + font}">heat: evidence towards COVID</text>`,
      `<rect x="${left + pad}" y="${top + pad + rowH}" width="${bar}" height="${bh}" fill="url(#heat)"/>`,
      `<text x="${left + pad}" y="${top + pad + rowH + bh + font}" font-size="${font * 0.9}">low</text>`,
      `<text x="${left + pad + bar}" y="${top + pad + rowH + bh + font}" font-size="${font * 0.9}" text-anchor="end">high</text>`,
    );
  }
  const sw = Math.round(10 * scale);
  if (lungs && !heat) {
    // A refused slice: its outline only (nothing was measured or read inside it).
    parts.push(
      `<rect x="${left + pad}" y="${top + pad}" width="${sw}" height="${sw}" fill="none" stroke="${hex(OUTLINE_RGB)}" stroke-width="1.5"/>`,
      `<text x="${left + pad + sw + 4}" y="${top + pad + sw}">lungs found (not read)</text>`,
    );
  } else if (lungs) {
    const y = top + pad + rowH + bh + font + 4 * scale;
    parts.push(
      `<rect x="${left + pad}" y="${y}" width="${sw}" height="${sw}" fill="url(#hatch)"/>`,
      `<text x="${left + pad + sw + 4}" y="${y + sw}">involved lung</text>`,
      `<rect x="${left + pad}" y="${y + rowH}" width="${sw}" height="${sw}" fill="none" stroke="${hex(OUTLINE_RGB)}" stroke-width="1.5"/>`,
      `<text x="${left + pad + sw + 4}" y="${y + rowH + sw}">lung outline</text>`,
    );
  }
  parts.push('</g></svg>');
  return parts.join('');
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
