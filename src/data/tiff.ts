/**
 * The header of a TIFF file, read by hand as format.ts reads PNG and JPEG: size, samples and their type, and the
 * number of pages, so that the decoder can refuse what it cannot read before libvips decodes any pixel. Research
 * CT sets ship TIFF slices of CT numbers (COVID-CTset: 16-bit grey, the scanner's stored values); grey16.ts reads them.
 */
import { ImageDecodeError } from '../util/errors.js';

export interface TiffDescription {
  width: number;
  height: number;
  /** Samples per pixel (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA or CMYK). */
  channels: number;
  /** Bits of the first sample. */
  bitDepth: number;
  /** 1 unsigned integers, 2 signed integers, 3 floating point (TIFF's SampleFormat). */
  sampleFormat: number;
  /** TIFF's PhotometricInterpretation: 0 min-is-white, 1 min-is-black, 2 RGB, 3 palette, 5 CMYK, 6 YCbCr... */
  photometric: number;
  /** Pages (image file directories) in the file, counted up to MAX_PAGES_COUNTED. */
  pages: number;
}

const MAX_PAGES_COUNTED = 1000;

/** Whether the bytes start like a TIFF (little- or big-endian; classic or BigTIFF). */
export function isTiff(b: Uint8Array): boolean {
  return b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[3] === 0x00 && (b[2] === 42 || b[2] === 43)) ||
    (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0x00 && (b[3] === 42 || b[3] === 43)));
}

/** The first page's description. Throws ImageDecodeError with what is wrong for a damaged or unsupported header. */
export function describeTiff(b: Uint8Array): TiffDescription {
  const bad = (why: string): never => { throw new ImageDecodeError(`truncated or corrupt TIFF: ${why}`); };
  if (!isTiff(b) || b.length < 8) bad(`only ${b.length} bytes, the header needs 8`);
  const le = b[0] === 0x49;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint16(2, le) === 43) throw new ImageDecodeError('a BigTIFF image: not supported; save the slice as a classic TIFF or a PNG');
  const u16 = (o: number): number => (o + 2 <= b.length ? dv.getUint16(o, le) : bad('a directory runs past the end of the file'));
  const u32 = (o: number): number => (o + 4 <= b.length ? dv.getUint32(o, le) : bad('a directory runs past the end of the file'));
  const first = u32(4);
  const tags = new Map<number, number>();
  const n = u16(first);
  for (let k = 0; k < n; k++) {
    const p = first + 2 + 12 * k;
    const tag = u16(p), type = u16(p + 2), count = u32(p + 4);
    // The first value: inline when it fits in 4 bytes, else at the offset the entry holds.
    const size = type === 3 ? 2 : type === 4 ? 4 : 0;
    if (size === 0) continue;
    const at = count * size <= 4 ? p + 8 : u32(p + 8);
    tags.set(tag, size === 2 ? u16(at) : u32(at));
  }
  let pages = 1;
  for (let next = u32(first + 2 + 12 * n), seen = new Set([first]); next !== 0 && pages < MAX_PAGES_COUNTED && !seen.has(next); pages++) {
    seen.add(next);
    next = u32(next + 2 + 12 * u16(next));
  }
  const width = tags.get(256) ?? bad('no image width');
  const height = tags.get(257) ?? bad('no image length');
  if (width === 0 || height === 0) bad(`size ${width}x${height}`);
  return {
    width, height, channels: tags.get(277) ?? 1, bitDepth: tags.get(258) ?? 1, sampleFormat: tags.get(339) ?? 1,
    photometric: tags.get(262) ?? bad('no photometric interpretation'), pages,
  };
}
