/**
 * What an image file really is, read from its bytes alone. The dataset has JPEGs named `.png`, so nothing here
 * looks at a file name except `extensionFormat`, which exists to report such lies.
 *
 * Headers are parsed by hand instead of asking sharp: it is synchronous, costs microseconds, gives exact error
 * messages for truncated files, and lets the decoder refuse oversized images before allocating anything.
 */
import path from 'node:path';
import { ImageDecodeError } from '../util/errors.js';

export type ImageFormat = 'png' | 'jpeg';

/** Colour mode as stored in the file (PIL's names). CMYK only occurs in JPEGs from print workflows. */
export type ColourMode = 'L' | 'LA' | 'RGB' | 'RGBA' | 'palette' | 'CMYK';

export interface ImageDescription {
  format: ImageFormat;
  width: number;
  height: number;
  /** Samples per pixel as stored: palette images store 1 (an index), JPEG YCbCr counts as 3. */
  channels: number;
  colourMode: ColourMode;
  /** Bits per sample (PNG: 1, 2, 4, 8 or 16; JPEG: the frame's precision, normally 8). */
  bitDepth: number;
  /** JPEG with a progressive frame (SOF2, SOF6, SOF10 or SOF14). Always false for PNG. */
  progressive: boolean;
  /** PNG with Adam7 interlacing. Always false for JPEG. */
  interlaced: boolean;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The format given by the magic number, or null for anything that is neither PNG nor JPEG. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && PNG_MAGIC.every((b, i) => bytes[i] === b)) return 'png';
  // SOI followed by the first marker's 0xFF: a bare FF D8 is too weak a signature on its own.
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/** The format a file name claims (by extension), or null when the extension is not an image one we know. */
export function extensionFormat(fileName: string): ImageFormat | null {
  const ext = path.extname(fileName).toLowerCase();
  if (ext === '.png') return 'png';
  if (ext === '.jpg' || ext === '.jpeg' || ext === '.jpe' || ext === '.jfif') return 'jpeg';
  return null;
}

/**
 * Other image formats, named by their magic number so that a user learns what the file is and what to do,
 * instead of reading a hex dump. None of them is decoded: CT slices come as DICOM, PNG or JPEG.
 */
export function otherImageFormat(bytes: Uint8Array): string | null {
  const ascii = (o: number, n: number): string => String.fromCharCode(...bytes.subarray(o, o + n));
  if (bytes.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'GIF';
  if (bytes.length >= 4 && ((bytes[0] === 0x49 && bytes[1] === 0x49 && bytes[2] === 0x2a && bytes[3] === 0x00) ||
    (bytes[0] === 0x4d && bytes[1] === 0x4d && bytes[2] === 0x00 && bytes[3] === 0x2a))) return 'TIFF';
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') return 'WebP';
  if (bytes.length >= 14 && ascii(0, 2) === 'BM') return 'BMP';
  if (bytes.length >= 12 && ascii(4, 4) === 'ftyp' && /^(heic|heix|mif1|avif|avis)$/.test(ascii(8, 4))) return ascii(8, 4).startsWith('avi') ? 'AVIF' : 'HEIF';
  if (bytes.length >= 12 && bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 0 && bytes[3] === 0x0c && ascii(4, 4) === 'jP  ') return 'JPEG 2000';
  return null;
}

/** The message for bytes that are not a PNG or JPEG: the format's name when known, else the first bytes. */
export function notPngOrJpegMessage(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'not a PNG or JPEG image: the file is empty (0 bytes)';
  const other = otherImageFormat(bytes);
  if (other) return `${/^[AEIOU]/.test(other) ? 'an' : 'a'} ${other} image: not supported; convert to PNG`;
  return `not a PNG or JPEG image (starts with ${describeStart(bytes)})`;
}

/** First bytes in hex plus their printable ASCII, for "not an image" messages: `89 50 4e 47 ("\x89PNG")`. */
export function describeStart(bytes: Uint8Array, n = 8): string {
  if (bytes.length === 0) return 'nothing: the file is empty';
  const head = bytes.subarray(0, n);
  const hex = Array.from(head, (b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = Array.from(head, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
  return `${hex} "${text}"`;
}

/**
 * Format, size and colour mode from the header. Throws ImageDecodeError when the bytes are not a PNG or JPEG,
 * or when the header itself is cut short or malformed. Says nothing about whether the pixel data is whole.
 */
export function describeImage(bytes: Uint8Array): ImageDescription {
  const format = sniffFormat(bytes);
  if (format === 'png') return describePng(bytes);
  if (format === 'jpeg') return describeJpeg(bytes);
  throw new ImageDecodeError(notPngOrJpegMessage(bytes));
}

const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];
const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) + b[o + 1];
const chunkType = (b: Uint8Array, o: number): string => String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]);

const PNG_MODES: Record<number, { mode: ColourMode; channels: number; depths: number[] }> = {
  0: { mode: 'L', channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { mode: 'RGB', channels: 3, depths: [8, 16] },
  3: { mode: 'palette', channels: 1, depths: [1, 2, 4, 8] },
  4: { mode: 'LA', channels: 2, depths: [8, 16] },
  6: { mode: 'RGBA', channels: 4, depths: [8, 16] },
};

function describePng(b: Uint8Array): ImageDescription {
  // Signature (8) + IHDR length (4) + type (4) + 13 data bytes; the CRC is libpng's business.
  if (b.length < 29) throw new ImageDecodeError(`truncated or corrupt PNG: only ${b.length} bytes, the header needs 29`);
  if (chunkType(b, 12) !== 'IHDR' || u32(b, 8) !== 13) throw new ImageDecodeError('truncated or corrupt PNG: the first chunk is not a 13-byte IHDR');
  const width = u32(b, 16);
  const height = u32(b, 20);
  const bitDepth = b[24];
  const colourType = b[25];
  const spec = PNG_MODES[colourType];
  if (!spec) throw new ImageDecodeError(`truncated or corrupt PNG: unknown colour type ${colourType}`);
  if (!spec.depths.includes(bitDepth)) throw new ImageDecodeError(`truncated or corrupt PNG: bit depth ${bitDepth} is not allowed for colour type ${colourType}`);
  if (width === 0 || height === 0) throw new ImageDecodeError(`truncated or corrupt PNG: size ${width}x${height}`);
  return { format: 'png', width, height, channels: spec.channels, colourMode: spec.mode, bitDepth, progressive: false, interlaced: b[28] === 1 };
}

/**
 * Walks the PNG chunk list and returns what is wrong with its structure (a chunk running past the end of the
 * file, no IDAT, no IEND), or null. libpng decodes a PNG whose IEND was cut off without complaint, so without
 * this walk a file that lost its last bytes would pass as whole. Bytes after IEND are allowed (libpng ignores them).
 */
export function pngStructureProblem(b: Uint8Array): string | null {
  let offset = 8;
  let sawIdat = false;
  let last = 'the signature';
  while (offset < b.length) {
    if (offset + 8 > b.length) return `file ends inside the header of the chunk after ${last} (byte ${offset} of ${b.length})`;
    const length = u32(b, offset);
    const type = chunkType(b, offset + 4);
    const end = offset + 12 + length;
    if (end > b.length) return `file ends inside chunk ${type} at byte ${offset} (the chunk needs ${length + 12} bytes, ${b.length - offset} are left)`;
    if (type === 'IDAT') sawIdat = true;
    if (type === 'IEND') return sawIdat ? null : 'no IDAT (pixel data) chunk before IEND';
    last = `chunk ${type}`;
    offset = end;
  }
  return `file ends after ${last} without an IEND chunk (cut short?)`;
}

function describeJpeg(b: Uint8Array): ImageDescription {
  // Walk the marker segments after SOI until the frame header (SOFn); each segment is FF, marker, 2-byte length.
  let o = 2;
  while (o < b.length) {
    if (b[o] !== 0xff) throw new ImageDecodeError(`truncated or corrupt JPEG: expected a marker at byte ${o}, found 0x${b[o].toString(16)}`);
    while (o < b.length && b[o] === 0xff) o++; // fill bytes before a marker are legal
    if (o >= b.length) break;
    const marker = b[o++];
    // Standalone markers (TEM, RSTn, SOI) carry no length.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue;
    if (marker === 0xd9) throw new ImageDecodeError('truncated or corrupt JPEG: end of image (EOI) before any frame header');
    if (o + 2 > b.length) break;
    const length = u16(b, o);
    if (length < 2) throw new ImageDecodeError(`truncated or corrupt JPEG: marker 0x${marker.toString(16)} has length ${length}`);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (o + 8 > b.length) break;
      const precision = b[o + 2];
      const height = u16(b, o + 3);
      const width = u16(b, o + 5);
      const components = b[o + 7];
      const colourMode: ColourMode | undefined = components === 1 ? 'L' : components === 3 ? 'RGB' : components === 4 ? 'CMYK' : undefined;
      if (!colourMode) throw new ImageDecodeError(`truncated or corrupt JPEG: ${components} colour components`);
      // Height 0 means "given later by a DNL marker"; legal but never seen in practice, and sharp refuses it.
      if (width === 0 || height === 0) throw new ImageDecodeError(`truncated or corrupt JPEG: size ${width}x${height} in the frame header`);
      const progressive = marker === 0xc2 || marker === 0xc6 || marker === 0xca || marker === 0xce;
      return { format: 'jpeg', width, height, channels: components, colourMode, bitDepth: precision, progressive, interlaced: false };
    }
    if (marker === 0xda) throw new ImageDecodeError('truncated or corrupt JPEG: scan data (SOS) before any frame header');
    o += length;
  }
  throw new ImageDecodeError(`truncated or corrupt JPEG: the file ends (${b.length} bytes) before the frame header (SOF)`);
}
