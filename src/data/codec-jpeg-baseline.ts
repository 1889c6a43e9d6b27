/** 8-bit lossy JPEG (DICOM .4.50 baseline) with libjpeg-turbo, from @cornerstonejs/codec-libjpeg-turbo-8bit (wasm). */
import type { DecodedSamples } from './frame-codec.js';
import { decodeWith, emscriptenLoader, type WasmDecoder } from './wasm-codec.js';

interface TurboModule { JPEGDecoder: new () => WasmDecoder; getExceptionMessage?: (e: unknown) => unknown }

const load = emscriptenLoader<TurboModule>('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs');

export function decodeJpegBaseline(data: Uint8Array): Promise<DecodedSamples> {
  // Colour comes out as interleaved RGB (libjpeg converts from YCbCr).
  return decodeWith(load, 'JPEG decoder (libjpeg-turbo)', (m) => new m.JPEGDecoder(), data, (d) => ({ bytes: d.getDecodedBuffer().slice(), bytesPerSample: 1 }));
}
