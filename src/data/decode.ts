/**
 * The one way covid-ct turns a file into pixels: PNG, JPEG or TIFF, decided by content, reduced to one 8-bit grey
 * channel. Every file property (format, colour mode, bit depth, progressive) predicts the label on COVID-CT, so
 * all of them must be erased here and nothing but the grey pixels may leave this module. The one exception is
 * the share of strongly coloured pixels of a colour picture (colour.ts), which only the not-CT refusal reads.
 */
import { readFile } from 'node:fs/promises';
import sharp, { type OutputInfo } from 'sharp';
import type { GreyImage } from '../types.js';
import { ImageDecodeError, errorMessage } from '../util/errors.js';
import { describeImage, pngStructureProblem, type ColourMode, type ImageFormat } from './format.js';
import { describeTiff, isTiff, type TiffDescription } from './tiff.js';
import { colourShare } from './colour.js';
import { greyOf16 } from './grey16.js';
import type { LungWindow } from './window.js';

/** 50 megapixels: 30x the largest COVID-CT slice, and an RGBA decode of it still fits in 200 MB. */
export const DEFAULT_MAX_PIXELS = 50_000_000;

export interface DecodeOptions {
  /** Refuse images with more pixels than this (checked from the header, before any pixel is decoded). */
  maxPixels?: number;
  /** The lung window for a 16-bit grey PNG of CT numbers (grey16.ts; default DEFAULT_LUNG_WINDOW). */
  window?: LungWindow;
}

/**
 * Decodes a PNG (1-16 bit; L, LA, RGB, RGBA, palette), a JPEG (baseline or progressive) or a one-page integer TIFF
 * into one 8-bit grey channel: alpha is dropped (COVID-CT has no transparent pixel, and dropping keeps RGBA equal to
 * its RGB), 16- and 32-bit integer grey goes through grey16.ts (CT numbers are read in HU through `opts.window`;
 * other such pictures keep their top byte or are stretched), other 16-bit is scaled to 8-bit, colour becomes
 * luminance (grey pixels keep their value; libvips computes it in linear light, so pure red is 127, not Rec.601's
 * 76). Embedded ICC profiles and EXIF orientation are ignored, as PIL does.
 * Throws ImageDecodeError for anything else and for truncated or corrupt files; the message names the problem,
 * not the file.
 */
export async function decodeGrey(bytes: Uint8Array, opts: DecodeOptions = {}): Promise<GreyImage> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const info: PixelInfo = isTiff(bytes) ? tiffInfo(describeTiff(bytes)) : describeImage(bytes); // throws "not a PNG or JPEG image (starts with ...)"
  const pixels = info.width * info.height;
  if (pixels > maxPixels) {
    throw new ImageDecodeError(
      `image is ${info.width}x${info.height} = ${megapixels(pixels)} megapixels, over the limit of ${megapixels(maxPixels)} megapixels`,
    );
  }
  if (info.format === 'png') {
    const problem = pngStructureProblem(bytes);
    if (problem) throw new ImageDecodeError(`truncated or corrupt PNG: ${problem}`);
  }
  // failOn makes truncated data an error instead of a half-decoded image, grey below the cut ('none' would).
  // JPEG gets the strictest level: libjpeg reports damaged scan data ("Corrupt JPEG data: premature end of
  // data segment") only as a warning, and such a file decodes to garbage. PNG stops at 'error': libpng warns
  // about harmless things such as a slightly wrong sRGB profile, common in PNGs from elsewhere, and reports
  // real damage (bad CRC, broken zlib stream) as errors anyway. All 746 COVID-CT files pass at these levels.
  // TIFF too: libtiff warns about unknown private tags, which scanners' exports carry.
  const failOn = info.format === 'jpeg' ? 'warning' : 'error';
  // ignoreIcc: the stored values are the pixels. 66 COVID-CT files embed a profile; applying it moves six
  // greyscale non-COVID JPEGs by ~13 grey levels (a print "dot gain" profile), a shift tied to one source,
  // and PIL-based pipelines (the published baselines) ignore profiles too.
  const load = () => sharp(bytes, { failOn, limitInputPixels: maxPixels, ignoreIcc: true });
  // The picture as 8-bit RGB (alpha dropped): what the colour share is read from.
  const rgbOf = () => load().removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const grey = info.colourMode === 'L' || info.colourMode === 'LA';
  let out: { data: Buffer; info: OutputInfo };
  let share: number | undefined;
  try {
    if (grey && info.bitDepth >= 16) {
      // 16-bit grey (or a TIFF's 32-bit integers): display picture, CT numbers or a narrow range, told apart by the
      // values (grey16.ts). Signed samples (a TIFF of HU) are shifted by 32768 into the unsigned range, the coding
      // grey16.ts knows; 32-bit samples are read as floats (libvips' grey16 would rescale them) and clipped to 16 bits.
      const shift = info.signed ? 32768 : 0;
      let values: Uint16Array, width: number, height: number;
      if (info.bitDepth > 16) {
        const raw = await load().toColourspace('b-w').raw({ depth: 'float' }).toBuffer({ resolveWithObject: true });
        ({ width, height } = raw.info);
        const f = new Float32Array(raw.data.buffer.slice(raw.data.byteOffset, raw.data.byteOffset + raw.data.length));
        values = new Uint16Array(width * height);
        for (let i = 0; i < values.length; i++) values[i] = Math.max(0, Math.min(65535, Math.round(f[i * raw.info.channels] + shift)));
      } else {
        const raw = await (info.signed ? load().linear(1, shift) : load()).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
        ({ width, height } = raw.info);
        const bytes16 = raw.data.byteOffset % 2 === 0 ? raw.data : Buffer.from(raw.data);
        const samples = new Uint16Array(bytes16.buffer, bytes16.byteOffset, bytes16.length >> 1);
        values = raw.info.channels === 1 ? samples : samples.filter((_, i) => i % raw.info.channels === 0);
      }
      if (width !== info.width || height !== info.height || values.length !== width * height) {
        throw new Error(`decodeGrey: sharp returned ${width}x${height} (${values.length} samples) for a ${info.width}x${info.height} image`);
      }
      return greyOf16(values, width, height, opts.window).image;
    }
    if (!grey && info.bitDepth === 8 && (info.colourMode === 'RGB' || info.colourMode === 'RGBA')) {
      // 8-bit colour: one decode to RGB gives the colour share (read only by the not-CT refusal, colour.ts) and,
      // through libvips' own greyscale of those samples, the same grey as decoding straight to grey (byte for
      // byte on all 821 colour files of COVID-CT, CT-MD and the non-CT set; test/colour.test.ts checks it too).
      const rgb = await rgbOf();
      const { width, height } = rgb.info;
      share = colourShare(rgb.data, width, height, 3);
      out = await sharp(rgb.data, { raw: { width, height, channels: 3 } }).greyscale().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    } else {
      // toBuffer wraps libvips' memory without copying; toUint8Array would copy it once more.
      out = await load().greyscale().removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      // Palette, 16-bit and CMYK colour pictures (rare): a second decode measures their colour.
      if (!grey) {
        const rgb = await rgbOf();
        share = colourShare(rgb.data, rgb.info.width, rgb.info.height, 3);
      }
    }
  } catch (e) {
    throw new ImageDecodeError(`truncated or corrupt ${info.format.toUpperCase()}: ${sharpReason(e)}`);
  }
  const { width, height, channels } = out.info;
  if (channels !== 1 || width !== info.width || height !== info.height || out.data.length !== width * height) {
    // Would be a bug in the sharp pipelines above, not a bad file.
    throw new Error(`decodeGrey: sharp returned ${width}x${height}x${channels} (${out.data.length} bytes) for a ${info.width}x${info.height} image`);
  }
  // A plain Uint8Array view on the same memory, so that callers see the type they were promised, not a Buffer.
  const image: GreyImage = { width, height, data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length) };
  return share === undefined ? image : { ...image, colourShare: share };
}

/** What decodeGrey needs to know of a picture before decoding it. */
interface PixelInfo {
  format: ImageFormat | 'tiff';
  width: number;
  height: number;
  colourMode: ColourMode;
  bitDepth: number;
  /** Signed integer samples (TIFF only). */
  signed?: boolean;
}

/** A TIFF's first page as decodeGrey reads it; what it cannot read is refused here, with what to do instead. */
function tiffInfo(t: TiffDescription): PixelInfo {
  if (t.pages > 1) throw new ImageDecodeError(`a TIFF of ${t.pages}${t.pages >= 1000 ? '+' : ''} pages: one slice per file is read; save each page as a file of its own`);
  if (t.sampleFormat === 3) throw new ImageDecodeError(`a TIFF of ${t.bitDepth}-bit floating-point samples: not supported; save the slice as 16-bit integers (CT numbers) or as a PNG`);
  const colourMode: ColourMode = t.photometric === 3 ? 'palette' : t.photometric === 5 ? 'CMYK'
    : t.photometric <= 1 ? (t.channels >= 2 ? 'LA' : 'L') : t.channels >= 4 ? 'RGBA' : 'RGB';
  return { format: 'tiff', width: t.width, height: t.height, colourMode, bitDepth: t.bitDepth, signed: t.sampleFormat === 2 };
}

/**
 * Reads a file's bytes for decoding. An unreadable file is an ImageDecodeError whose message leaves out the
 * path, so that callers can prefix the name their user knows.
 */
export async function readImageBytes(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // Node's message ends in ", open '/the/path'": drop it, the caller names the file.
    const reason = err.code ? errorMessage(e).replace(/, \w+ '.*'$/s, '') : errorMessage(e);
    throw new ImageDecodeError(`cannot read the file (${reason})`);
  }
}

/** Reads a file and decodes it like decodeGrey; every failure is an ImageDecodeError (see readImageBytes). */
export async function readAndDecodeGrey(file: string, opts: DecodeOptions = {}): Promise<GreyImage> {
  return decodeGrey(await readImageBytes(file), opts);
}

function megapixels(n: number): string {
  const mp = n / 1e6;
  return mp >= 10 ? mp.toFixed(0) : mp.toPrecision(2);
}

/** sharp's messages carry libvips' layer names and newlines ("VipsJpeg: premature end of JPEG image\n"). */
function sharpReason(e: unknown): string {
  const text = errorMessage(e).split('\n').map((l) => l.trim()).filter(Boolean).join('; ');
  return text.replace(/^(vipspng|VipsJpeg|VipsForeignLoad\w*):\s*/i, '').replace(/:$/, '') || 'the decoder gave no reason';
}
