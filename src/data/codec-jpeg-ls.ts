/** JPEG-LS (DICOM .4.80 lossless, .4.81 near-lossless) with CharLS, from @cornerstonejs/codec-charls (wasm). */
import type { DecodedSamples } from './frame-codec.js';
import { decodeWith, emscriptenLoader, type WasmDecoder } from './wasm-codec.js';

interface CharlsDecoder extends WasmDecoder {
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number };
  /** 0: one component per scan (planar output), 1: line interleaved, 2: sample interleaved. */
  getInterleaveMode(): number;
}
interface CharlsModule { JpegLSDecoder: new () => CharlsDecoder; getExceptionMessage?: (e: unknown) => unknown }

const load = emscriptenLoader<CharlsModule>('@cornerstonejs/codec-charls/decodewasmjs');

export function decodeJpegLs(data: Uint8Array): Promise<DecodedSamples> {
  return decodeWith(load, 'JPEG-LS decoder (CharLS)', (m) => new m.JpegLSDecoder(), data, (decoder) => {
    const info = decoder.getFrameInfo();
    const bytesPerSample = info.bitsPerSample > 8 ? 2 : 1;
    // Copied out of the wasm heap before delete() frees it.
    const bytes = decoder.getDecodedBuffer().slice();
    if (info.componentCount > 1 && decoder.getInterleaveMode() === 0) return { bytes: interleave(bytes, info.width * info.height, info.componentCount, bytesPerSample), bytesPerSample };
    return { bytes, bytesPerSample };
  });
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
