/**
 * The heatmap picture of one DICOM slice as raw RGB for a secondary capture: decoded like `predict` decodes it,
 * prepared and explained by the model in one pass, drawn by src/explain/heatmap.ts (map, lung outline, legend).
 */
import sharp from 'sharp';
import type { OnnxClassifier } from '../model/onnx-engine.js';
import { decodeInput } from '../data/inputs.js';
import { overlayPng, pictureLungs } from '../explain/heatmap.js';
import type { RgbPicture } from './secondary-capture.js';

/** What the PACS loop needs of an engine: scoring (Engine) and the map of evidence (onnx engine; lung-evidence.ts). */
export type ExplainingEngine = Pick<OnnxClassifier, 'prepare' | 'readPrepared' | 'explainPrepared' | 'json' | 'threshold'>;

/** `frame`: 0-based, for a multi-frame instance. */
export async function heatmapPicture(engine: ExplainingEngine, name: string, bytes: Uint8Array, frame = 0): Promise<{ picture: RgbPicture; probability: number }> {
  const slice = (await decodeInput(name, bytes))[frame];
  if (!slice?.image) throw new Error(`${name}: ${slice?.error ?? 'no image'}`);
  const [prepared] = await engine.prepare([slice.image]);
  const { reading, cam } = await engine.explainPrepared(prepared);
  // Drawn on the slice as read: upright and air black when the stages turned or inverted it (orientation.ts, polarity.ts).
  const png = await overlayPng(prepared.image, cam, engine.json.preprocessing.fit, Infinity, pictureLungs(prepared.lungs, engine.json.preprocessing.lungs));
  const { data, info } = await sharp(png).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`heatmap of ${name}: ${info.channels} channels, expected RGB`);
  return { picture: { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) }, probability: reading.probability };
}
