/**
 * 12-bit lossy JPEG (DICOM .4.51 extended, processes 2 and 4) with the libjpeg 12-bit decoder compiled into
 * dcmjs-codecs' wasm. The cornerstone libjpeg-turbo build is 8-bit only; this is the npm decoder that reads
 * 12-bit DCT JPEG. Its module (and dcmjs, which it requires) is loaded only when such a frame is met.
 */
import { createRequire } from 'node:module';
import type { DecodedSamples, FrameInfo } from './frame-codec.js';

const require = createRequire(import.meta.url);

interface Context { getDecodedBuffer(): Uint8Array }
interface DcmjsCodecs {
  NativeCodecs: { initializeAsync(opts?: { logCodecsInfo?: boolean; logCodecsTrace?: boolean }): Promise<void>; decodeJpeg(c: Context, p?: Record<string, unknown>): Context };
  Context: new (attrs: Record<string, unknown>) => Context;
}

let loading: Promise<DcmjsCodecs> | undefined;
function load(): Promise<DcmjsCodecs> {
  loading ??= (async () => {
    const codecs = require('dcmjs-codecs') as DcmjsCodecs;
    await codecs.NativeCodecs.initializeAsync({ logCodecsInfo: false, logCodecsTrace: false });
    return codecs;
  })();
  loading.catch(() => { loading = undefined; });
  return loading;
}

export async function decodeJpeg12(data: Uint8Array, info: FrameInfo): Promise<DecodedSamples> {
  const { NativeCodecs, Context } = await load();
  try {
    const context = new Context({
      width: info.columns, height: info.rows, bitsAllocated: info.bitsAllocated, bitsStored: info.bitsStored, samplesPerPixel: info.samplesPerPixel,
      pixelRepresentation: info.signed ? 1 : 0, planarConfiguration: 0, photometricInterpretation: info.samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2',
      encodedBuffer: data,
    });
    const bytes = NativeCodecs.decodeJpeg(context).getDecodedBuffer();
    return { bytes: Uint8Array.from(bytes), bytesPerSample: info.bitsAllocated === 16 ? 2 : 1 };
  } catch (e) {
    throw new Error(`the 12-bit JPEG decoder (libjpeg in dcmjs-codecs) rejected the stream: ${e instanceof Error ? e.message : String(e)}`);
  }
}
