/** JPEG-LS (DICOM .4.80 lossless, .4.81 near-lossless) with CharLS, from @cornerstonejs/codec-charls (wasm). */
import type { DecodedSamples } from './frame-codec.js';
import { emscriptenLoader, rejected, wasmErrorText } from './wasm-codec.js';

interface CharlsDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number };
  /** 0: one component per scan (planar output), 1: line interleaved, 2: sample interleaved. */
  getInterleaveMode(): number;
  delete(): void;
}
interface CharlsModule { JpegLSDecoder: new () => CharlsDecoder; getExceptionMessage?: (e: unknown) => unknown }

const load = emscriptenLoader<CharlsModule>('@cornerstonejs/codec-charls/decodewasmjs');

export async function decodeJpegLs(data: Uint8Array): Promise<DecodedSamples> {
  const { module, lastMessage, clearMessage } = await load();
  clearMessage();
  const decoder = new module.JpegLSDecoder();
  try {
    decoder.getEncodedBuffer(data.length).set(data);
    decoder.decode();
    const info = decoder.getFrameInfo();
    const bytesPerSample = info.bitsPerSample > 8 ? 2 : 1;
    // Copied out of the wasm heap before delete() frees it.
    let bytes: Uint8Array = decoder.getDecodedBuffer().slice();
    if (info.componentCount > 1 && decoder.getInterleaveMode() === 0) bytes = interleave(bytes, info.width * info.height, info.componentCount, bytesPerSample);
    return { bytes, bytesPerSample };
  } catch (e) {
    throw rejected('JPEG-LS decoder (CharLS)', wasmErrorText(e, module, lastMessage()));
  } finally {
    decoder.delete();
  }
}

/** Planar (all of component 0, then 1, ...) to pixel-interleaved. */
function interleave(planar: Uint8Array, pixels: number, components: number, bytesPerSample: number): Uint8Array {
  const out = new Uint8Array(planar.length);
  for (let c = 0; c < components; c++) {
    for (let p = 0; p < pixels; p++) {
      for (let b = 0; b < bytesPerSample; b++) out[(p * components + c) * bytesPerSample + b] = planar[(c * pixels + p) * bytesPerSample + b];
    }
  }
  return out;
}
