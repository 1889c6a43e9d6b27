/**
 * DICOM Part-10 files to 8-bit grey frames, with dicom-parser for the structure, our own code for native, RLE and
 * JPEG lossless pixels, and npm's wasm codecs for JPEG-LS, JPEG 2000 and lossy JPEG (frame-codec.ts: see
 * docs/dicom.md for the list).
 *
 * Privacy: this module reads only the tags that describe pixels and slice order (see TAGS). Nothing from the
 * file is logged, and the only identifier that leaves it is an opaque hash of the SeriesInstanceUID, used to
 * group slices into scans. Error messages describe the problem, never a value of a patient tag.
 */
import { createHash } from 'node:crypto';
import dicomParser, { type DataSet, type Element } from 'dicom-parser';
import sharp from 'sharp';
import { colourShare } from './colour.js';
import type { GreyImage } from '../types.js';
import { ImageDecodeError, errorMessage } from '../util/errors.js';
import { DEFAULT_MAX_PIXELS } from './decode.js';
import { type ByteBudget, inflateBounded } from './inflate.js';
import { DEFAULT_LUNG_WINDOW, type LungWindow, lungWindowProblem, windowValue } from './window.js';
import { decodeRle } from './rle.js';
import { FRAME_CODECS, decodeFrame } from './frame-codec.js';

/** A DICOM that cannot be turned into pixels; the message says why in plain words and never names the file. */
export class DicomDecodeError extends ImageDecodeError {
  constructor(message: string) {
    super(message);
    this.name = 'DicomDecodeError';
  }
}

/** The only tags read. Patient, study and institution tags are never touched. */
const TAGS = {
  transferSyntax: 'x00020010',
  modality: 'x00080060',
  seriesUid: 'x0020000e',
  instanceNumber: 'x00200013',
  imagePosition: 'x00200032',
  imageOrientation: 'x00200037',
  samplesPerPixel: 'x00280002',
  photometric: 'x00280004',
  planarConfiguration: 'x00280006',
  numberOfFrames: 'x00280008',
  rows: 'x00280010',
  columns: 'x00280011',
  bitsAllocated: 'x00280100',
  bitsStored: 'x00280101',
  highBit: 'x00280102',
  pixelRepresentation: 'x00280103',
  windowCenter: 'x00281050',
  windowWidth: 'x00281051',
  rescaleIntercept: 'x00281052',
  rescaleSlope: 'x00281053',
  pixelData: 'x7fe00010',
  floatPixelData: 'x7fe00008',
  doubleFloatPixelData: 'x7fe00009',
  // Enhanced multi-frame objects keep rescale and geometry in functional group sequences.
  sharedGroups: 'x52009229',
  perFrameGroups: 'x52009230',
  pixelValueTransformation: 'x00289145',
  planePosition: 'x00209113',
  planeOrientation: 'x00209116',
} as const;

/** Transfer syntaxes whose pixel data we read: byte order of the data set. */
const NATIVE_SYNTAXES: Record<string, { littleEndian: boolean }> = {
  '1.2.840.10008.1.2': { littleEndian: true }, // implicit VR little endian
  '1.2.840.10008.1.2.1': { littleEndian: true }, // explicit VR little endian
  '1.2.840.10008.1.2.1.99': { littleEndian: true }, // deflated explicit VR little endian
  '1.2.840.10008.1.2.2': { littleEndian: false }, // explicit VR big endian (retired, still met)
};
const RLE_LOSSLESS = '1.2.840.10008.1.2.5';
/** Compressed syntaxes whose frames decode to little-endian, pixel-interleaved samples (frame-codec.ts, rle.ts). */
const isEncapsulated = (ts: string): boolean => ts === RLE_LOSSLESS || ts in FRAME_CODECS;

/** Compressed transfer syntaxes we know by name but cannot decode, for the error message. */
export const UNDECODABLE_SYNTAXES: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2.4.92': 'JPEG 2000 part 2 multi-component (lossless)',
  '1.2.840.10008.1.2.4.93': 'JPEG 2000 part 2 multi-component',
  '1.2.840.10008.1.2.4.94': 'JPIP referenced (the pixels are on a server)',
  '1.2.840.10008.1.2.4.95': 'JPIP referenced deflate (the pixels are on a server)',
  '1.2.840.10008.1.2.4.100': 'MPEG-2 video',
  '1.2.840.10008.1.2.4.100.1': 'MPEG-2 video',
  '1.2.840.10008.1.2.4.101': 'MPEG-2 video (high level)',
  '1.2.840.10008.1.2.4.101.1': 'MPEG-2 video (high level)',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 video',
  '1.2.840.10008.1.2.4.102.1': 'MPEG-4 AVC/H.264 video',
  '1.2.840.10008.1.2.4.103': 'MPEG-4 AVC/H.264 video',
  '1.2.840.10008.1.2.4.103.1': 'MPEG-4 AVC/H.264 video',
  '1.2.840.10008.1.2.4.104': 'MPEG-4 AVC/H.264 video',
  '1.2.840.10008.1.2.4.104.1': 'MPEG-4 AVC/H.264 video',
  '1.2.840.10008.1.2.4.105': 'MPEG-4 AVC/H.264 video',
  '1.2.840.10008.1.2.4.105.1': 'MPEG-4 AVC/H.264 video',
  '1.2.840.10008.1.2.4.106': 'MPEG-4 AVC/H.264 video',
  '1.2.840.10008.1.2.4.106.1': 'MPEG-4 AVC/H.264 video',
  '1.2.840.10008.1.2.4.107': 'HEVC/H.265 video',
  '1.2.840.10008.1.2.4.108': 'HEVC/H.265 video',
  '1.2.840.10008.1.2.4.110': 'JPEG XL (lossless)',
  '1.2.840.10008.1.2.4.111': 'JPEG XL (JPEG recompression)',
  '1.2.840.10008.1.2.4.112': 'JPEG XL',
  '1.2.840.10008.1.2.4.201': 'HTJ2K (high-throughput JPEG 2000, lossless)',
  '1.2.840.10008.1.2.4.202': 'HTJ2K (high-throughput JPEG 2000, lossless RPCL)',
  '1.2.840.10008.1.2.4.203': 'HTJ2K (high-throughput JPEG 2000)',
  '1.2.840.10008.1.2.8.1': 'deflated image frames',
};

export interface DicomOptions {
  /** Window for CT images, in HU (default DEFAULT_LUNG_WINDOW). */
  window?: LungWindow;
  /** Refuse files with more than this many pixels over all frames, checked from the header before allocating. */
  maxPixels?: number;
  /** The request's unpacking budget, charged with every inflated byte of a deflated data set. */
  budget?: ByteBudget;
  /** Checked while inflating: a request that timed out stops. */
  signal?: AbortSignal;
}

/** How stored values became grey levels; says which window a score was computed on. */
export type GreyMapping = 'lung window' | 'file window' | 'min-max' | 'RGB luminance';

export interface DicomFrame {
  image: GreyImage;
  /** Position along the slice normal (mm): dot(ImagePositionPatient, row x column direction); absent if unknown. */
  position?: number;
}

export interface DecodedDicom {
  frames: DicomFrame[];
  /** opaqueKey(SeriesInstanceUID): groups the slices of one scan without showing the UID. */
  series?: string;
  instance?: number;
  mapping: GreyMapping;
}

/** Part 10 files: a 128-byte preamble, then "DICM". Decided by content only. */
export function isDicom(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
}

/** Media Storage SOP Class of a DICOMDIR, the index of a DICOM CD or export: it names files and holds no image. */
export const DICOMDIR_CLASS = '1.2.840.10008.1.3.10';

/**
 * The Media Storage SOP Class UID (0002,0002) of a Part-10 file, read from its file meta group (always explicit VR
 * little endian, right after "DICM"); undefined when it is not there or the group is cut short. Pure.
 */
export function mediaStorageClass(bytes: Uint8Array): string | undefined {
  if (!isDicom(bytes)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const LONG = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN', 'UC', 'UR', 'OD', 'OL', 'OV']);
  let p = 132;
  while (p + 8 <= bytes.length && view.getUint16(p, true) === 0x0002) {
    const element = view.getUint16(p + 2, true);
    const vr = String.fromCharCode(bytes[p + 4], bytes[p + 5]);
    const long = LONG.has(vr);
    if (long && p + 12 > bytes.length) return undefined;
    const length = long ? view.getUint32(p + 8, true) : view.getUint16(p + 6, true);
    const start = p + (long ? 12 : 8);
    if (start + length > bytes.length) return undefined;
    if (element === 0x0002) return new TextDecoder('latin1').decode(bytes.subarray(start, start + length)).replace(/[\0 ]+$/, '');
    p = start + length;
  }
  return undefined;
}

/** A DICOMDIR (by its content, not its name): an index, never a slice. */
export const isDicomDirectory = (bytes: Uint8Array): boolean => mediaStorageClass(bytes) === DICOMDIR_CLASS;

/**
 * 12 hex digits of sha256: an opaque, stable key that groups slices without showing the UID. Unsalted on
 * purpose (the same series gets the same key in every run); someone who already holds a UID could confirm a
 * match, but the key alone reveals nothing about the patient.
 */
export function opaqueKey(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
}

/**
 * opaqueKey of a file's bytes (after `kind`, so that keys of different kinds never meet): the same file gets the same
 * key wherever it is and whatever it is called, so the command line (given a path) and the page (given a name) agree.
 */
export function opaqueContentKey(kind: string, bytes: Uint8Array): string {
  return createHash('sha256').update(`${kind}:`).update(bytes).digest('hex').slice(0, 12);
}

/**
 * Decodes every frame of a DICOM Part-10 file into 8-bit grey. Greyscale: stored value -> (sign, BitsStored)
 * -> value * RescaleSlope + RescaleIntercept -> for CT the lung window (`opts.window`), otherwise the file's
 * own WindowCenter/WindowWidth, otherwise the frame's min-max -> inverted for MONOCHROME1 (not CT in HU). RGB: luminance, as
 * for an RGB PNG. Throws DicomDecodeError for anything it cannot decode.
 */
export async function decodeDicom(bytes: Uint8Array, opts: DicomOptions = {}): Promise<DecodedDicom> {
  if (!isDicom(bytes)) throw new DicomDecodeError('not a DICOM file (no "DICM" after the 128-byte preamble)');
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const window = opts.window ?? DEFAULT_LUNG_WINDOW;
  const windowProblem = lungWindowProblem(window);
  if (windowProblem) throw new RangeError(windowProblem); // the caller's mistake, not the file's
  const ds = await parse(bytes, maxPixels, opts);
  const geometry = readGeometry(ds, maxPixels);
  const rawFrames = await frameBytes(ds, geometry);
  const order = readOrder(ds, geometry.frames);
  let mapping: GreyMapping;
  let images: GreyImage[];
  if (geometry.samplesPerPixel === 3) {
    mapping = 'RGB luminance';
    images = [];
    for (const f of rawFrames) images.push(await rgbToGrey(f, geometry));
  } else {
    // Enhanced multi-frame CT may give each frame its own rescale, in the per-frame functional groups.
    const perFrame = ds.elements[TAGS.perFrameGroups]?.items;
    const specs = rawFrames.map((_, i) => greyscaleMapping(ds, window, perFrame?.length === rawFrames.length ? perFrame[i].dataSet : undefined));
    mapping = specs[0].mapping;
    images = rawFrames.map((f, i) => greyFrame(f, geometry, specs[i]));
  }
  return {
    frames: images.map((image, i) => ({ image, position: order.positions[i] })),
    series: order.series,
    instance: order.instance,
    mapping,
  };
}

/** Thrown by the first pass's inflater: the deflated data set starts at `position`. */
class Deflated {
  constructor(readonly position: number) {}
}

/**
 * Parses the structure. A deflated data set is inflated by us, off the parser: dicom-parser calls its inflater
 * synchronously, so a first pass only learns where the deflated part starts, the inflation runs in steps that
 * yield to the event loop (bounded by the limit and the request's budget, so a deflate bomb stops early and its
 * memory is dropped), and a second pass parses the result.
 */
async function parse(bytes: Uint8Array, maxPixels: number, opts: DicomOptions): Promise<DataSet> {
  // The pixels of the largest allowed image (6 bytes: 16-bit RGB) plus 16 MB of other tags.
  const maxInflated = Math.min(maxPixels * 6, 1 << 30) + (16 << 20);
  const run = (inflater: (arr: Uint8Array, position: number) => Uint8Array): DataSet =>
    // The .d.ts types the inflater as returning void; dicom-parser uses its return value as the new byte array.
    dicomParser.parseDicom(bytes, { inflater: inflater as unknown as (arr: Uint8Array, position: number) => void });
  try {
    return run((_arr, position) => { throw new Deflated(position); });
  } catch (e) {
    if (!(e instanceof Deflated)) throw new DicomDecodeError(`truncated or corrupt DICOM: ${parserReason(e)}`);
    const position = e.position;
    const result = await inflateBounded(bytes.subarray(position), maxInflated, { budget: opts.budget, signal: opts.signal });
    if ('over' in result) throw new DicomDecodeError(`the deflated DICOM inflates to more than ${Math.round(maxInflated / 2 ** 20)} MB, over the limit`);
    if ('error' in result) throw new DicomDecodeError(`truncated or corrupt DICOM: the deflated data set does not inflate (${result.error})`);
    const out = new Uint8Array(position + result.data.length);
    out.set(bytes.subarray(0, position));
    out.set(result.data, position);
    try {
      return run(() => out);
    } catch (e2) {
      throw new DicomDecodeError(`truncated or corrupt DICOM: ${parserReason(e2)}`);
    }
  }
}

/** dicom-parser throws strings, Errors, or {exception, dataSet}; its messages start with the function name. */
function parserReason(e: unknown): string {
  const inner = typeof e === 'object' && e !== null && 'exception' in e ? (e as { exception: unknown }).exception : e;
  const text = typeof inner === 'string' ? inner : errorMessage(inner);
  if (/0002,0010/.test(text)) return 'the file meta header has no transfer syntax (0002,0010)';
  if (/buffer overrun|past end of buffer|beyond end/i.test(text)) return 'the file ends before the data it announces (cut short?)';
  return text.replace(/^dicomParser[.:][\w.]*:?\s*/, '').replace(/\.$/, '') || 'the parser gave no reason';
}

export interface Geometry {
  rows: number;
  columns: number;
  frames: number;
  samplesPerPixel: 1 | 3;
  planar: boolean;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  highBit: number;
  signed: boolean;
  monochrome1: boolean;
  /** Byte order of the native pixel data as we hold it (RLE and every codec's output is little endian). */
  littleEndian: boolean;
  transferSyntax: string;
}

function readGeometry(ds: DataSet, maxPixels: number): Geometry {
  const pixel = ds.elements[TAGS.pixelData];
  if (!pixel || pixel.length === 0) {
    if (ds.elements[TAGS.floatPixelData] || ds.elements[TAGS.doubleFloatPixelData]) {
      throw new DicomDecodeError('this DICOM stores floating-point pixel data (a parametric map), which is not supported');
    }
    throw new DicomDecodeError('this DICOM has no pixel data: it may be a report, a structured document or a presentation state rather than an image, or a file cut short before its pixels');
  }
  const transferSyntax = (ds.string(TAGS.transferSyntax) ?? '').replace(/\0/g, '').trim();
  const named = UNDECODABLE_SYNTAXES[transferSyntax];
  if (named) throw new DicomDecodeError(`this DICOM uses a compression we cannot decode: ${named}`);
  // The retired JPEG processes (.4.52 to .4.66) are all compressed too.
  if (/^1\.2\.840\.10008\.1\.2\.4\.\d+$/.test(transferSyntax) && !FRAME_CODECS[transferSyntax]) throw new DicomDecodeError(`this DICOM uses a compression we cannot decode: JPEG (retired process, transfer syntax ${transferSyntax})`);
  if (!NATIVE_SYNTAXES[transferSyntax] && !isEncapsulated(transferSyntax)) {
    throw new DicomDecodeError(`this DICOM uses a transfer syntax we do not know (${shown(transferSyntax, /^[0-9.]{1,64}$/) || 'none given'}), so its pixels cannot be read`);
  }
  const rows = ds.uint16(TAGS.rows);
  const columns = ds.uint16(TAGS.columns);
  if (!rows || !columns) throw new DicomDecodeError(`this DICOM has pixel data but no valid image size (Rows ${rows ?? 'missing'}, Columns ${columns ?? 'missing'})`);
  const framesText = ds.string(TAGS.numberOfFrames);
  const frames = framesText === undefined || framesText === '' ? 1 : Number(framesText);
  if (!Number.isInteger(frames) || frames < 1) throw new DicomDecodeError(`this DICOM has an invalid number of frames (${shown(framesText ?? '', /^[-+0-9. ]{1,16}$/)})`);
  const total = rows * columns * frames;
  if (total > maxPixels) {
    throw new DicomDecodeError(`image is ${columns}x${rows}${frames > 1 ? ` x ${frames} frames` : ''} = ${megapixels(total)} megapixels, over the limit of ${megapixels(maxPixels)} megapixels`);
  }
  const samplesPerPixel = ds.uint16(TAGS.samplesPerPixel) ?? 1;
  const photometric = shown((ds.string(TAGS.photometric) ?? (samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2')).toUpperCase(), /^[A-Z0-9_ ]{1,16}$/);
  if (samplesPerPixel === 1) {
    if (photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2') {
      throw new DicomDecodeError(`photometric interpretation ${photometric} is not supported (MONOCHROME1, MONOCHROME2 and RGB are)`);
    }
  } else if (samplesPerPixel === 3) {
    if (photometric !== 'RGB') throw new DicomDecodeError(`photometric interpretation ${photometric} is not supported (MONOCHROME1, MONOCHROME2 and RGB are)`);
  } else {
    throw new DicomDecodeError(`${samplesPerPixel} samples per pixel is not supported (1 for grey, 3 for RGB)`);
  }
  const bitsAllocated = ds.uint16(TAGS.bitsAllocated);
  if (bitsAllocated !== 8 && bitsAllocated !== 16) throw new DicomDecodeError(`BitsAllocated ${bitsAllocated ?? 'missing'} is not supported (8 and 16 are)`);
  if (samplesPerPixel === 3 && bitsAllocated !== 8) throw new DicomDecodeError('16-bit RGB is not supported (8-bit RGB is)');
  const bitsStored = ds.uint16(TAGS.bitsStored) ?? bitsAllocated;
  const highBit = ds.uint16(TAGS.highBit) ?? bitsStored - 1;
  if (bitsStored < 1 || bitsStored > bitsAllocated || highBit >= bitsAllocated || highBit < bitsStored - 1) {
    throw new DicomDecodeError(`inconsistent pixel description: BitsAllocated ${bitsAllocated}, BitsStored ${bitsStored}, HighBit ${highBit}`);
  }
  return {
    rows, columns, frames, samplesPerPixel, bitsAllocated, bitsStored, highBit,
    // RLE and the codecs decode to pixel-interleaved samples whatever PlanarConfiguration says.
    planar: samplesPerPixel === 3 && ds.uint16(TAGS.planarConfiguration) === 1 && !isEncapsulated(transferSyntax),
    signed: ds.uint16(TAGS.pixelRepresentation) === 1,
    monochrome1: photometric === 'MONOCHROME1',
    littleEndian: isEncapsulated(transferSyntax) ? true : NATIVE_SYNTAXES[transferSyntax].littleEndian,
    transferSyntax,
  };
}

/** The bytes of each frame, uncompressed, checked against the size the header promises. */
async function frameBytes(ds: DataSet, g: Geometry): Promise<Uint8Array[]> {
  const pixel = ds.elements[TAGS.pixelData];
  const perFrame = g.rows * g.columns * g.samplesPerPixel * (g.bitsAllocated / 8);
  const described = `${g.columns}x${g.rows}${g.frames > 1 ? ` x ${g.frames} frames` : ''}, ${g.bitsAllocated}-bit${g.samplesPerPixel === 3 ? ' RGB' : ''}`;
  if (g.transferSyntax === RLE_LOSSLESS) {
    if (!pixel.encapsulatedPixelData || !pixel.fragments) throw new DicomDecodeError('inconsistent DICOM: RLE transfer syntax but the pixel data is not encapsulated');
    const out: Uint8Array[] = [];
    for (let i = 0; i < g.frames; i++) {
      const data = encapsulatedFrame(ds, pixel, i, g.frames);
      try {
        out.push(decodeRle(data, g.rows * g.columns, g.samplesPerPixel, g.bitsAllocated / 8));
      } catch (e) {
        throw new DicomDecodeError(`truncated or corrupt RLE pixel data${g.frames > 1 ? ` in frame ${i + 1}` : ''}: ${errorMessage(e)}`);
      }
    }
    return out;
  }
  const codec = FRAME_CODECS[g.transferSyntax];
  if (codec) {
    if (!pixel.encapsulatedPixelData || !pixel.fragments) throw new DicomDecodeError(`inconsistent DICOM: ${codec.name} transfer syntax but the pixel data is not encapsulated`);
    const info = { rows: g.rows, columns: g.columns, samplesPerPixel: g.samplesPerPixel, bitsAllocated: g.bitsAllocated, bitsStored: g.bitsStored, signed: g.signed };
    const out: Uint8Array[] = [];
    for (let i = 0; i < g.frames; i++) {
      const data = encapsulatedFrame(ds, pixel, i, g.frames);
      try {
        out.push(await decodeFrame(g.transferSyntax, data, info));
      } catch (e) {
        throw new DicomDecodeError(`truncated or corrupt ${codec.name} pixel data${g.frames > 1 ? ` in frame ${i + 1}` : ''}: ${errorMessage(e)}`);
      }
    }
    return out;
  }
  if (pixel.encapsulatedPixelData) throw new DicomDecodeError('inconsistent DICOM: the pixel data is encapsulated (compressed) but the transfer syntax says uncompressed');
  const expected = perFrame * g.frames;
  const available = Math.max(0, Math.min(pixel.length, ds.byteArray.length - pixel.dataOffset));
  if (available < expected) {
    throw new DicomDecodeError(`truncated or inconsistent DICOM: the pixel data has ${available} bytes, ${described} needs ${expected}`);
  }
  const out: Uint8Array[] = [];
  for (let i = 0; i < g.frames; i++) {
    const start = pixel.dataOffset + i * perFrame;
    out.push(ds.byteArray.subarray(start, start + perFrame));
  }
  return out;
}

/** One frame's compressed bytes from the fragments (with or without a basic offset table). */
function encapsulatedFrame(ds: DataSet, pixel: Element, index: number, frames: number): Uint8Array {
  const fragments = pixel.fragments ?? [];
  const end = ds.byteArray.length;
  for (const f of fragments) {
    if (f.position + f.length > end) throw new DicomDecodeError('truncated DICOM: the compressed pixel data is cut short');
  }
  try {
    if (frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, fragments.length);
    if (pixel.basicOffsetTable && pixel.basicOffsetTable.length === frames) return dicomParser.readEncapsulatedImageFrame(ds, pixel, index);
    if (fragments.length === frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, index, 1);
  } catch (e) {
    throw new DicomDecodeError(`truncated or corrupt DICOM: ${parserReason(e)}`);
  }
  throw new DicomDecodeError(`inconsistent DICOM: ${frames} frames in ${fragments.length} compressed fragments and no offset table to split them`);
}

interface GreyMappingSpec {
  mapping: Exclude<GreyMapping, 'RGB luminance'>;
  slope: number;
  intercept: number;
  window?: LungWindow;
}

/**
 * Which window turns this file's values into grey: the lung window for CT, else the file's, else min-max.
 * Rescale: the top-level tags, else this frame's functional group, else the shared functional group.
 */
function greyscaleMapping(ds: DataSet, lung: LungWindow, frameGroup?: DataSet): GreyMappingSpec {
  const sources = [ds, firstItem(frameGroup, TAGS.pixelValueTransformation), firstItem(firstItem(ds, TAGS.sharedGroups), TAGS.pixelValueTransformation)];
  const num = (tag: string): number | undefined => {
    for (const source of sources) {
      const v = source?.floatString(tag);
      if (v !== undefined && Number.isFinite(v)) return v;
    }
    return undefined;
  };
  const slope = num(TAGS.rescaleSlope) ?? 1;
  const intercept = num(TAGS.rescaleIntercept) ?? 0;
  const modality = (ds.string(TAGS.modality) ?? '').toUpperCase();
  if (modality === 'CT') return { mapping: 'lung window', slope, intercept, window: lung };
  const centre = ds.floatString(TAGS.windowCenter, 0);
  const width = ds.floatString(TAGS.windowWidth, 0);
  if (centre !== undefined && width !== undefined && Number.isFinite(centre) && Number.isFinite(width) && width > 0) {
    return { mapping: 'file window', slope, intercept, window: { width, level: centre } };
  }
  return { mapping: 'min-max', slope, intercept };
}

/**
 * Greyscale frame -> 8-bit grey through a lookup table over every stored value (at most 65536 entries), so
 * the per-pixel work is one read and one table lookup whatever the window.
 */
function greyFrame(bytes: Uint8Array, g: Geometry, spec: GreyMappingSpec): GreyImage {
  const n = g.rows * g.columns;
  const codes = storedCodes(bytes, n, g);
  const levels = 2 ** g.bitsStored;
  // Stored code (the BitsStored-bit pattern) -> modality value (HU for CT).
  const valueOf = (code: number): number => {
    const v = g.signed && code >= levels / 2 ? code - levels : code;
    return v * spec.slope + spec.intercept;
  };
  let window = spec.window;
  if (!window) {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = valueOf(codes[i]);
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    // A flat frame has no contrast to stretch: it becomes black (MONOCHROME2) rather than a division by zero.
    window = hi > lo ? { level: (lo + hi) / 2, width: hi - lo } : { level: lo + 0.5, width: 1 };
  }
  // MONOCHROME1 asks a viewer to show low values white. CT values are Hounsfield units whatever the display (the
  // rescale is defined on the stored values alone), and the lung stage reads grey as rising HU: air stays black.
  const invert = g.monochrome1 && spec.mapping !== 'lung window';
  const lut = new Uint8Array(levels);
  for (let c = 0; c < levels; c++) {
    const grey = windowValue(valueOf(c), window);
    lut[c] = invert ? 255 - grey : grey;
  }
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = lut[codes[i]];
  return { width: g.columns, height: g.rows, data };
}

/** The BitsStored-bit code of every pixel (bits above HighBit and below the stored field dropped). */
function storedCodes(bytes: Uint8Array, n: number, g: Geometry): Uint16Array | Uint8Array {
  const shift = g.highBit + 1 - g.bitsStored;
  const mask = 2 ** g.bitsStored - 1;
  if (g.bitsAllocated === 8) {
    if (shift === 0 && g.bitsStored === 8) return bytes.subarray(0, n);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = (bytes[i] >> shift) & mask;
    return out;
  }
  const out = new Uint16Array(n);
  if (g.littleEndian) {
    for (let i = 0, o = 0; i < n; i++, o += 2) out[i] = ((bytes[o] | (bytes[o + 1] << 8)) >> shift) & mask;
  } else {
    for (let i = 0, o = 0; i < n; i++, o += 2) out[i] = (((bytes[o] << 8) | bytes[o + 1]) >> shift) & mask;
  }
  return out;
}

/** 8-bit RGB -> grey with the same sharp/libvips luminance decodeGrey applies to an RGB PNG. */
async function rgbToGrey(bytes: Uint8Array, g: Geometry): Promise<GreyImage> {
  const n = g.rows * g.columns;
  let rgb = bytes.subarray(0, 3 * n);
  if (g.planar) {
    rgb = new Uint8Array(3 * n);
    for (let i = 0; i < n; i++) {
      rgb[3 * i] = bytes[i];
      rgb[3 * i + 1] = bytes[n + i];
      rgb[3 * i + 2] = bytes[2 * n + i];
    }
  }
  const out = await sharp(rgb, { raw: { width: g.columns, height: g.rows, channels: 3 } }).greyscale().raw({ depth: 'uchar' }).toBuffer();
  // A colour frame (a secondary capture, a screenshot) carries its colour share for the not-CT refusal, as decode.ts's.
  return { width: g.columns, height: g.rows, data: new Uint8Array(out.buffer, out.byteOffset, out.length), colourShare: colourShare(rgb, g.columns, g.rows, 3) };
}

interface Order {
  series?: string;
  instance?: number;
  positions: (number | undefined)[];
}

/** Slice order: instance number, and each frame's position along the slice normal (from the geometry tags). */
function readOrder(ds: DataSet, frames: number): Order {
  const uid = ds.string(TAGS.seriesUid)?.replace(/\0/g, '').trim();
  const instanceText = ds.string(TAGS.instanceNumber);
  const instance = instanceText ? Number(instanceText) : undefined;
  const shared = firstItem(ds, TAGS.sharedGroups);
  const orientation = numbers(ds, TAGS.imageOrientation, 6) ?? numbers(firstItem(shared, TAGS.planeOrientation), TAGS.imageOrientation, 6);
  const perFrame = ds.elements[TAGS.perFrameGroups]?.items;
  const topPosition = numbers(ds, TAGS.imagePosition, 3);
  const positions: (number | undefined)[] = [];
  for (let i = 0; i < frames; i++) {
    const ipp = perFrame && perFrame.length === frames ? numbers(firstItem(perFrame[i].dataSet, TAGS.planePosition), TAGS.imagePosition, 3) : frames === 1 ? topPosition : undefined;
    positions.push(orientation && ipp ? alongNormal(ipp, orientation) : undefined);
  }
  return {
    series: uid ? opaqueKey(uid) : undefined,
    instance: instance !== undefined && Number.isFinite(instance) ? instance : undefined,
    positions,
  };
}

/** dot(position, row x column): where the slice lies along the scan axis, whatever the patient orientation. */
function alongNormal(ipp: number[], iop: number[]): number | undefined {
  const [rx, ry, rz, cx, cy, cz] = iop;
  const nx = ry * cz - rz * cy, ny = rz * cx - rx * cz, nz = rx * cy - ry * cx;
  const len = Math.hypot(nx, ny, nz);
  if (!(len > 1e-6)) return undefined;
  return (ipp[0] * nx + ipp[1] * ny + ipp[2] * nz) / len;
}

function numbers(ds: DataSet | undefined, tag: string, count: number): number[] | undefined {
  if (!ds || !ds.elements[tag] || ds.numStringValues(tag) !== count) return undefined;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const v = ds.floatString(tag, i);
    if (v === undefined || !Number.isFinite(v)) return undefined;
    out.push(v);
  }
  return out;
}

function firstItem(ds: DataSet | undefined, tag: string): DataSet | undefined {
  return ds?.elements[tag]?.items?.[0]?.dataSet;
}

/**
 * A coded value from the file, fit to appear in a message only when it looks like a code (a crafted file could
 * put any text, even a name, in any tag): otherwise a placeholder.
 */
function shown(value: string, pattern: RegExp): string {
  return value === '' || pattern.test(value) ? value : '(an unreadable value)';
}

function megapixels(n: number): string {
  const mp = n / 1e6;
  return mp >= 10 ? mp.toFixed(0) : mp.toPrecision(2);
}
