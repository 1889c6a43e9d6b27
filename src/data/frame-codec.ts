/**
 * One compressed DICOM frame -> the bytes of the same frame uncompressed: pixel-interleaved, little-endian samples
 * of BitsAllocated bits, the layout of native little-endian pixel data, so that sign, BitsStored, rescale and
 * window are applied by the same code for every transfer syntax (dicom.ts).
 *
 * Each codec is an adapter in its own module (codec-*.ts) behind `FrameDecoder`; the wasm ones are imported on
 * first use only. Before a wasm decoder sees a stream, the size the stream announces is checked against the DICOM
 * header (codestream-header.ts), so a frame never decodes to more than rows x columns x samples x bytes.
 */
import { endsWithEndMarker, j2kHeader, jpegHeader, type CodestreamHeader } from './codestream-header.js';

/** What the DICOM header says one frame is. */
export interface FrameInfo {
  rows: number;
  columns: number;
  samplesPerPixel: 1 | 3;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  signed: boolean;
}

/** A decoder's output: pixel-interleaved samples, 1 byte each or 2 (little endian). */
export interface DecodedSamples {
  bytes: Uint8Array;
  bytesPerSample: 1 | 2;
}

export type FrameDecoder = (data: Uint8Array, info: FrameInfo, header?: CodestreamHeader) => Promise<DecodedSamples>;

interface Codec {
  /** Plain name, for messages and docs. */
  name: string;
  lossy: boolean;
  /** The header read before decoding (absent: the decoder checks the size itself before it allocates). */
  header?: { family: 'JPEG' | 'JPEG-LS' | 'JPEG 2000'; read: (data: Uint8Array) => CodestreamHeader };
  decoder: () => Promise<FrameDecoder>;
}

const jpeg = { family: 'JPEG', read: jpegHeader } as const;
const jpegLs = { family: 'JPEG-LS', read: jpegHeader } as const;
const j2k = { family: 'JPEG 2000', read: j2kHeader } as const;

/** Every compressed transfer syntax we decode (RLE apart, see rle.ts). */
export const FRAME_CODECS: Readonly<Record<string, Codec>> = {
  '1.2.840.10008.1.2.4.57': { name: 'JPEG lossless', lossy: false, decoder: async () => (await import('./codec-jpeg-lossless.js')).decodeJpegLosslessFrame },
  '1.2.840.10008.1.2.4.70': { name: 'JPEG lossless (first-order prediction)', lossy: false, decoder: async () => (await import('./codec-jpeg-lossless.js')).decodeJpegLosslessFrame },
  '1.2.840.10008.1.2.4.50': { name: 'JPEG baseline (8-bit lossy)', lossy: true, header: jpeg, decoder: async () => (await import('./codec-jpeg-baseline.js')).decodeJpegBaseline },
  '1.2.840.10008.1.2.4.51': { name: 'JPEG extended (12-bit lossy)', lossy: true, header: jpeg, decoder: async () => (await import('./codec-jpeg-12bit.js')).decodeJpeg12 },
  '1.2.840.10008.1.2.4.80': { name: 'JPEG-LS lossless', lossy: false, header: jpegLs, decoder: async () => (await import('./codec-jpeg-ls.js')).decodeJpegLs },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS near-lossless', lossy: true, header: jpegLs, decoder: async () => (await import('./codec-jpeg-ls.js')).decodeJpegLs },
  '1.2.840.10008.1.2.4.90': { name: 'JPEG 2000 (lossless)', lossy: false, header: j2k, decoder: async () => (await import('./codec-jpeg2000.js')).decodeJpeg2000 },
  '1.2.840.10008.1.2.4.91': { name: 'JPEG 2000', lossy: true, header: j2k, decoder: async () => (await import('./codec-jpeg2000.js')).decodeJpeg2000 },
};

/**
 * Decodes one frame of a compressed transfer syntax listed in FRAME_CODECS. Throws a plain Error saying what is
 * wrong (the caller adds which file and frame): a stream whose size or depth differs from the DICOM header, a
 * stream cut short, or one the decoder rejects.
 */
export async function decodeFrame(syntax: string, data: Uint8Array, info: FrameInfo): Promise<Uint8Array> {
  const codec = FRAME_CODECS[syntax];
  if (!codec) throw new Error(`transfer syntax ${syntax} is not one we decode`);
  let header: CodestreamHeader | undefined;
  if (codec.header) {
    header = codec.header.read(data);
    const { family } = codec.header;
    if (header.width !== info.columns || header.height !== info.rows || header.components !== info.samplesPerPixel) {
      throw new Error(`the ${family} image is ${header.width}x${header.height} with ${header.components} component(s), the DICOM header says ${info.columns}x${info.rows} with ${info.samplesPerPixel}`);
    }
    if (header.precision > info.bitsAllocated) throw new Error(`${header.precision}-bit ${family} samples do not fit BitsAllocated ${info.bitsAllocated}`);
    // The decoders fill a stream cut short with grey and say nothing: its missing end marker gives it away.
    if (!endsWithEndMarker(data)) throw new Error(`the ${family} stream has no end marker (FFD9): the frame is cut short`);
  }
  const decode = await codec.decoder();
  const out = await decode(data, info, header);
  const pixels = info.rows * info.columns * info.samplesPerPixel;
  if (out.bytes.length !== pixels * out.bytesPerSample) {
    throw new Error(`the decoder gave ${out.bytes.length} bytes, ${info.columns}x${info.rows}${info.samplesPerPixel === 3 ? ' RGB' : ''} at ${8 * out.bytesPerSample} bits needs ${pixels * out.bytesPerSample}`);
  }
  if (out.bytesPerSample === 2 && info.bitsAllocated === 8) throw new Error(`16-bit decoded samples do not fit BitsAllocated 8`);
  if (out.bytesPerSample === 1 && info.bitsAllocated === 16) {
    const wide = new Uint8Array(pixels * 2);
    for (let i = 0; i < pixels; i++) wide[2 * i] = out.bytes[i];
    return wide;
  }
  return out.bytes;
}
