/**
 * Where the model looked, as a PNG: the class activation map overlaid on the slice (see cam-overlay.ts),
 * at most maxSide pixels on its long side so that API responses stay small.
 */
import sharp from 'sharp';
import type { GreyImage } from '../types.js';
import type { WorkingFit } from '../data/preprocess.js';
import type { ActivationMap } from '../model/onnx-engine.js';
import { mapToImage, overlayRgb } from './cam-overlay.js';

export { heatColour, mapToImage, overlayRgb, workingRegion } from './cam-overlay.js';

export async function overlayPng(image: GreyImage, cam: ActivationMap, fit: WorkingFit, maxSide = Infinity): Promise<Buffer> {
  const base = await shrink(image, maxSide);
  const heat = mapToImage(cam, base.width, base.height, fit);
  return sharp(overlayRgb(base, heat), { raw: { width: base.width, height: base.height, channels: 3 } }).png().toBuffer();
}

/** The grey slice as a PNG, at most maxSide pixels on its long side (a preview of what the model was given). */
export async function greyPng(image: GreyImage, maxSide = Infinity): Promise<Buffer> {
  const base = await shrink(image, maxSide);
  return sharp(base.data, { raw: { width: base.width, height: base.height, channels: 1 } }).png().toBuffer();
}

async function shrink(image: GreyImage, maxSide: number): Promise<GreyImage> {
  const long = Math.max(image.width, image.height);
  if (long <= maxSide) return image;
  const width = Math.max(1, Math.round((image.width * maxSide) / long));
  const height = Math.max(1, Math.round((image.height * maxSide) / long));
  const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 1 } })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
  return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}
