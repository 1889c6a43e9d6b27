/** One entry point for any uploaded or local file (placeholder until DICOM and zip land: PNG and JPEG only). */
import type { GreyImage } from '../types.js';
import { decodeGrey } from './decode.js';
import { errorMessage } from '../util/errors.js';

export interface LungWindow { width: number; level: number }
export const DEFAULT_LUNG_WINDOW: LungWindow = { width: 1500, level: -600 };
export interface InputOptions { window?: LungWindow; maxPixels?: number }
export interface SliceOrder { series: string; instance?: number; position?: number; frame?: number }
export interface InputSlice { name: string; image?: GreyImage; error?: string; dicom?: SliceOrder }

export async function decodeInput(name: string, bytes: Uint8Array, opts: InputOptions = {}): Promise<InputSlice[]> {
  try {
    return [{ name, image: await decodeGrey(bytes, { maxPixels: opts.maxPixels }) }];
  } catch (e) {
    return [{ name, error: errorMessage(e) }];
  }
}
