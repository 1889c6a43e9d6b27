/** JPEG 2000 (DICOM .4.90 lossless, .4.91) with OpenJPEG, from @cornerstonejs/codec-openjpeg (wasm). */
import { j2kCodestreamStart } from './codestream-header.js';
import type { DecodedSamples } from './frame-codec.js';
import { decodeWith, emscriptenLoader, type WasmDecoder } from './wasm-codec.js';

interface J2kDecoder extends WasmDecoder {
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean };
}
interface OpenJpegModule { J2KDecoder: new () => J2kDecoder; getExceptionMessage?: (e: unknown) => unknown }

const load = emscriptenLoader<OpenJpegModule>('@cornerstonejs/codec-openjpeg/decodewasmjs');

export function decodeJpeg2000(data: Uint8Array): Promise<DecodedSamples> {
  // A JP2 file (not allowed in DICOM, still met) is decoded from the codestream inside it.
  const codestream = data.subarray(j2kCodestreamStart(data));
  // OpenJPEG gives 8-bit components one byte each and deeper ones two (little endian), pixel-interleaved.
  return decodeWith(load, 'JPEG 2000 decoder (OpenJPEG)', (m) => new m.J2KDecoder(), codestream,
    (d) => ({ bytes: d.getDecodedBuffer().slice(), bytesPerSample: d.getFrameInfo().bitsPerSample > 8 ? 2 : 1 }));
}
