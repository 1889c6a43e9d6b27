/**
 * Pretrained backbone weights given by the user as `--pretrained FILE`. Nothing is downloaded: the file is read
 * from disk, identified by its sha256, and its licence and attribution travel into the trained model.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConvLayer } from './mobilenetv2.js';
import { mobileNetV2FromOnnx } from './onnx-import.js';
import { mobileNetV2FromNsfwjs } from './nsfwjs-import.js';
import type { InputNormalisation } from './backbone.js';
import { UserError, errorMessage } from '../util/errors.js';

export interface PretrainedSource {
  file: string;
  sha256: string;
  description: string;
  licence: string;
  attribution: string;
  normalisation: InputNormalisation;
}

export const NSFWJS_ATTRIBUTION = [
  'The backbone of this model is the MobileNetV2 bundled in the npm package nsfwjs@4.4.0 (Copyright Infinite Red,',
  'Inc., MIT licence), itself ImageNet weights fine-tuned on NSFW photos from block_11 on. BatchNorm was folded into',
  'its convolutions, the starting point of this model (what covid-ct trained on top is said below).',
].join('\n');

/** The fallback that needs no file: nsfwjs's MobileNetV2 (weaker on CT than the ImageNet file). */
export async function loadNsfwjsPretrained(): Promise<{ layers: ConvLayer[]; source: PretrainedSource }> {
  return {
    layers: await mobileNetV2FromNsfwjs(),
    source: {
      file: 'nsfwjs@4.4.0/models/mobilenet_v2', sha256: 'bundled', description: 'nsfwjs@4.4.0 Keras MobileNetV2 (ImageNet, then NSFW-tuned)',
      licence: 'MIT', attribution: NSFWJS_ATTRIBUTION, normalisation: 'unit',
    },
  };
}

/** sha256 of the ONNX Model Zoo's mobilenetv2-12-int8.onnx, as documented in ../shared/README.md. */
export const IMAGENET_MOBILENETV2_SHA256 = '83530ad811bc31d2b60a5599a21265a5057608c9b044b4ee758cc22f2309f54f';

export const IMAGENET_ATTRIBUTION = [
  'The backbone of this model is derived from MobileNetV2 trained on ImageNet, from the ONNX Model Zoo',
  '(mobilenetv2-12-int8.onnx, a torchvision MobileNetV2 quantised to int8 by ONNX Runtime), licensed under the',
  'Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0). Its convolutions were dequantised and are',
  'the starting point of this model (what covid-ct trained on top is said below). MobileNetV2: Sandler et al.,',
  '"MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018.',
].join('\n');

export async function loadPretrained(file: string): Promise<{ layers: ConvLayer[]; source: PretrainedSource }> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    throw new UserError(`cannot read the pretrained weights ${file}: ${errorMessage(e)}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let layers: ConvLayer[];
  try {
    layers = mobileNetV2FromOnnx(bytes);
  } catch (e) {
    throw new UserError(`${file} is not a MobileNetV2 ONNX file we can read: ${errorMessage(e)}`);
  }
  const known = sha256 === IMAGENET_MOBILENETV2_SHA256;
  return {
    layers,
    source: {
      file: path.basename(file),
      sha256,
      description: known ? 'ImageNet MobileNetV2, ONNX Model Zoo mobilenetv2-12-int8.onnx' : 'MobileNetV2 ONNX file (unrecognised sha256)',
      licence: known ? 'Apache-2.0' : 'unknown: check the licence of the file you supplied',
      attribution: known ? IMAGENET_ATTRIBUTION : `The backbone was derived from ${path.basename(file)} (sha256 ${sha256}), supplied by the user.`,
      normalisation: 'imagenet',
    },
  };
}
