/**
 * From a decoded grey image to the square views the backbone sees. Every view is an affine warp of one
 * "working image" (the whole slice resized to a fixed square, antialiased; working-image.ts), so the evaluation view
 * is exactly the identity augmentation and training views differ from it only by the sampled parameters.
 */
import sharp from 'sharp';
import type { GreyImage } from '../types.js';
import { WORKING_SIZE, workingImage, type WorkingFit } from './working-image.js';

export { WORKING_SIZE, type WorkingFit } from './working-image.js';

/** The working image (pure TypeScript, identical in the browser; see working-image.ts). */
export async function toWorkingImage(img: GreyImage, size = WORKING_SIZE, fit: WorkingFit = 'cover'): Promise<GreyImage> {
  return workingImage(img, size, fit);
}

export { IDENTITY_VIEW, FLIP_VIEW, DEFAULT_AUGMENT, sampleView, renderView, type ViewParams, type AugmentConfig } from './render-view.js';

/**
 * Re-encodes the working image as JPEG at the given quality and decodes it again. Used as augmentation so
 * that the model cannot rely on compression artefacts, which in this dataset differ by label (source).
 */
export async function reencodeJpeg(img: GreyImage, quality: number): Promise<GreyImage> {
  const jpg = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } }).jpeg({ quality }).toBuffer();
  const raw = await sharp(jpg).greyscale().raw().toBuffer();
  return { width: img.width, height: img.height, data: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) };
}

/** Downscales by `factor` and back up: loses fine texture as a low-resolution scanner or export would. */
export async function blurByRescale(img: GreyImage, factor: number): Promise<GreyImage> {
  const w = Math.max(8, Math.round(img.width / factor));
  const h = Math.max(8, Math.round(img.height / factor));
  const small = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } }).resize(w, h, { fit: 'fill' }).toColourspace('b-w').raw().toBuffer();
  const back = await sharp(small, { raw: { width: w, height: h, channels: 1 } }).resize(img.width, img.height, { fit: 'fill' }).toColourspace('b-w').raw().toBuffer();
  return { width: img.width, height: img.height, data: new Uint8Array(back.buffer, back.byteOffset, back.byteLength) };
}
