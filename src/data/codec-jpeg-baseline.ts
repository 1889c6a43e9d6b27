/** 8-bit lossy JPEG (DICOM .4.50 baseline) with libjpeg-turbo, from @cornerstonejs/codec-libjpeg-turbo-8bit (wasm). */
import type { DecodedSamples } from './frame-codec.js';
import { emscriptenLoader, rejected, wasmErrorText } from './wasm-codec.js';

interface TurboDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number };
  delete(): void;
}
interface TurboModule { JPEGDecoder: new () => TurboDecoder; getExceptionMessage?: (e: unknown) => unknown }

const load = emscriptenLoader<TurboModule>('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs');

export async function decodeJpegBaseline(data: Uint8Array): Promise<DecodedSamples> {
  const { module, lastMessage, clearMessage } = await load();
  clearMessage();
  const decoder = new module.JPEGDecoder();
  try {
    decoder.getEncodedBuffer(data.length).set(data);
    decoder.decode();
    // Colour comes out as interleaved RGB (libjpeg converts from YCbCr).
    return { bytes: decoder.getDecodedBuffer().slice(), bytesPerSample: 1 };
  } catch (e) {
    throw rejected('JPEG decoder (libjpeg-turbo)', wasmErrorText(e, module, lastMessage()));
  } finally {
    decoder.delete();
  }
}
