/** JPEG lossless (DICOM .4.57 and .4.70): our own decoder, jpeg-lossless.ts, behind the same interface as the wasm ones. */
import type { DecodedSamples, FrameInfo } from './frame-codec.js';
import { decodeJpegLossless } from './jpeg-lossless.js';

export async function decodeJpegLosslessFrame(data: Uint8Array, info: FrameInfo): Promise<DecodedSamples> {
  const image = decodeJpegLossless(data, { width: info.columns, height: info.rows, components: info.samplesPerPixel });
  if (image.precision > info.bitsAllocated) throw new Error(`${image.precision}-bit JPEG samples do not fit BitsAllocated ${info.bitsAllocated}`);
  const s = image.samples;
  if (info.bitsAllocated === 8) return { bytes: Uint8Array.from(s), bytesPerSample: 1 };
  const bytes = new Uint8Array(s.length * 2);
  for (let i = 0, o = 0; i < s.length; i++, o += 2) {
    bytes[o] = s[i] & 255;
    bytes[o + 1] = s[i] >> 8;
  }
  return { bytes, bytesPerSample: 2 };
}
