/** JPEG 2000 (DICOM .4.90 lossless, .4.91) with OpenJPEG, from @cornerstonejs/codec-openjpeg (wasm). */
import { j2kCodestreamStart } from './codestream-header.js';
import type { DecodedSamples } from './frame-codec.js';
import { emscriptenLoader, rejected, wasmErrorText } from './wasm-codec.js';

interface J2kDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  readHeader(): void;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean };
  delete(): void;
}
interface OpenJpegModule { J2KDecoder: new () => J2kDecoder; getExceptionMessage?: (e: unknown) => unknown }

const load = emscriptenLoader<OpenJpegModule>('@cornerstonejs/codec-openjpeg/decodewasmjs');

export async function decodeJpeg2000(data: Uint8Array): Promise<DecodedSamples> {
  const { module, lastMessage, clearMessage } = await load();
  // A JP2 file (not allowed in DICOM, still met) is decoded from the codestream inside it.
  const codestream = data.subarray(j2kCodestreamStart(data));
  clearMessage();
  const decoder = new module.J2KDecoder();
  try {
    decoder.getEncodedBuffer(codestream.length).set(codestream);
    decoder.decode();
    const info = decoder.getFrameInfo();
    // OpenJPEG gives 8-bit components one byte each and deeper ones two (little endian), pixel-interleaved.
    return { bytes: decoder.getDecodedBuffer().slice(), bytesPerSample: info.bitsPerSample > 8 ? 2 : 1 };
  } catch (e) {
    throw rejected('JPEG 2000 decoder (OpenJPEG)', wasmErrorText(e, module, lastMessage()));
  } finally {
    decoder.delete();
  }
}
