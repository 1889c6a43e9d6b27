/**
 * The one entry point from uploaded or local bytes to model-ready grey slices: PNG, JPEG, DICOM or a zip of
 * them, decided by content alone (never by the name). Bad content never throws: every problem becomes the
 * error of one slice, so one broken file in a series leaves the others scored.
 */
import type { GreyImage, SliceOrder } from '../types.js';
import { errorMessage } from '../util/errors.js';
import { DEFAULT_MAX_PIXELS, decodeGrey } from './decode.js';
import { decodeDicom, isDicom, isDicomDirectory, opaqueContentKey, opaqueKey } from './dicom.js';
import { describeStart, otherImageFormat, sniffFormat } from './format.js';
import { isTiff } from './tiff.js';
import { DEFAULT_LUNG_WINDOW, type LungWindow, huOfWindow, lungWindowProblem } from './window.js';
import { DEFAULT_ZIP_LIMITS, type ZipLimits, isZip, readZip } from './zip.js';
import { ByteBudget, gzipPayload, inflateBounded, formatMB } from './inflate.js';
import { isGzip, isNifti, niftiSlices } from './nifti.js';

export { DEFAULT_LUNG_WINDOW, huOfWindow, lungWindowProblem, type LungWindow, type SliceOrder };
export { DEFAULT_ZIP_LIMITS, type ZipLimits, ByteBudget };

export interface InputOptions {
  /** Window applied to CT DICOMs, in HU (default DEFAULT_LUNG_WINDOW: width 1500, level -600). */
  window?: LungWindow;
  /** Pixel limit per image file (all frames of a DICOM together); default DEFAULT_MAX_PIXELS. */
  maxPixels?: number;
  /** Limits for zip archives; default DEFAULT_ZIP_LIMITS. */
  zipLimits?: ZipLimits;
  /** Decoded pixels of all slices of one zip together; default DEFAULT_MAX_TOTAL_PIXELS. */
  maxTotalPixels?: number;
  /**
   * One request's unpacking budget: every byte inflated or stored from zips and deflated DICOM, across all of its
   * files, refused entries included. Once spent, the rest of the request's archives are not unpacked.
   */
  budget?: ByteBudget;
  /** One request's decoded pixels across all of its files (bounds its memory); past it, files are not decoded. */
  pixelBudget?: ByteBudget;
  /** Checked while unpacking: a request that timed out stops. */
  signal?: AbortSignal;
  /**
   * Told of each zip member skipped as not an image (a README, a report), in one line naming the zip and the member;
   * DICOMDIR indexes, folders and macOS metadata are skipped without a word.
   */
  onSkipped?: (note: string) => void;
}

/**
 * 300 megapixels (300 MB of 8-bit grey) per zip: a 1000-slice 512x512 CT is 262. Without it, 2000 small PNG
 * entries that each decode to the per-image limit would need 100 GB.
 */
export const DEFAULT_MAX_TOTAL_PIXELS = 300_000_000;


/** One image to score, or why it cannot be: `image` xor `error`. `dicom` is set for DICOM slices only. */
export interface InputSlice {
  name: string;
  image?: GreyImage;
  error?: string;
  dicom?: SliceOrder;
}


/** Throws a RangeError with a clear message unless the window is usable (finite numbers, width > 0). */
export function checkLungWindow(w: { width: unknown; level: unknown }): LungWindow {
  const problem = lungWindowProblem(w);
  if (problem) throw new RangeError(problem);
  return { width: w.width as number, level: w.level as number };
}

/**
 * Decodes one uploaded or local file into slices: PNG/JPEG/TIFF -> one slice named `name`; DICOM -> one per frame
 * (`name`, or `name [frame 3]` for multi-frame files); NIfTI (.nii, .nii.gz) -> one per axial slice
 * (`name [slice 3]`); zip -> the slices of every entry (`name/IM0001`), with
 * nested zips refused. Anything else is one slice with an error. Never throws for bad content.
 */
export async function decodeInput(name: string, bytes: Uint8Array, opts: InputOptions = {}): Promise<InputSlice[]> {
  if (opts.pixelBudget?.exhausted) return [{ name, error: pixelBudgetMessage(opts.pixelBudget) }];
  const slices = isZip(bytes) ? await decodeZip(name, bytes, opts) : await decodeSingle(name, bytes, opts);
  if (!opts.pixelBudget) return slices;
  // The request's pixels: slices past the budget are dropped (their memory freed) and replaced by one error.
  const kept: InputSlice[] = [];
  for (const s of slices) {
    if (s.image && !opts.pixelBudget.charge(s.image.width * s.image.height)) {
      kept.push({ name: s.name, error: pixelBudgetMessage(opts.pixelBudget) });
      break;
    }
    kept.push(s);
  }
  return kept;
}

const pixelBudgetMessage = (b: ByteBudget): string =>
  `the images of ${b.what} add up to more than ${Math.round(b.limit / 1e6)} megapixels, over the limit; the remaining images were not decoded`;

async function decodeSingle(name: string, bytes: Uint8Array, opts: InputOptions): Promise<InputSlice[]> {
  try {
    const window = opts.window ?? DEFAULT_LUNG_WINDOW;
    const problem = lungWindowProblem(window);
    // The window also applies to 16-bit PNGs of CT numbers (grey16.ts).
    if (sniffFormat(bytes) || isTiff(bytes)) return [{ name, image: await decodeGrey(bytes, { maxPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS, window: problem ? undefined : window }) }];
    if (isGzip(bytes) || isNifti(bytes)) {
      if (problem) return [{ name, error: problem }];
      return await decodeNifti(name, bytes, window, opts);
    }
    if (isDicom(bytes)) {
      if (problem) return [{ name, error: problem }];
      const d = await decodeDicom(bytes, { window, maxPixels: opts.maxPixels, budget: opts.budget, signal: opts.signal });
      // A file with no SeriesInstanceUID is its own series; its name is hashed like a UID, never shown as a key.
      const series = d.series ?? opaqueKey(`file:${name}`);
      const multi = d.frames.length > 1;
      return d.frames.map((f, i) => ({
        name: multi ? `${name} [frame ${i + 1}]` : name,
        // CT values through the lung window: the grey levels' HU are known, and the lung stages use them.
        image: d.mapping === 'lung window' ? { ...f.image, hu: huOfWindow(window) } : f.image,
        dicom: { series, instance: d.instance, position: f.position, frame: multi ? i + 1 : undefined },
      }));
    }
    if (isZip(bytes)) return [{ name, error: 'a zip inside a zip is not opened (zip the slices in one archive)' }];
    if (bytes.length === 0) return [{ name, error: 'not a PNG, JPEG, TIFF or DICOM image: the file is empty (0 bytes)' }];
    const other = otherImageFormat(bytes);
    if (other) return [{ name, error: `${/^[AEIOU]/.test(other) ? 'an' : 'a'} ${other} image: not supported; convert to PNG (or send the DICOM)` }];
    return [{ name, error: `not a PNG, JPEG, TIFF or DICOM image (starts with ${describeStart(bytes)})` }];
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    return [{ name, error: errorMessage(e) }];
  }
}

/** Volumes unpack to at most this many bytes (a 1000-slice 512 x 512 CT of int16 is 524 MB). */
export const MAX_VOLUME_BYTES = 1 << 30;

/**
 * A NIfTI volume (`.nii`, or `.nii.gz` inflated within the request's budget): its axial slices in HU through the
 * window (nifti.ts), named `name [slice k]` in file order and ordered into one scan by their positions.
 */
async function decodeNifti(name: string, bytes: Uint8Array, window: LungWindow, opts: InputOptions): Promise<InputSlice[]> {
  let volume = bytes;
  if (isGzip(bytes)) {
    const payload = gzipPayload(bytes);
    if (!payload) return [{ name, error: 'truncated or corrupt gzip file: the header is cut short' }];
    const r = await inflateBounded(payload, MAX_VOLUME_BYTES, { budget: opts.budget, signal: opts.signal });
    if ('over' in r) return [{ name, error: `a gzip file that unpacks to more than ${formatMB(MAX_VOLUME_BYTES)}, over the limit` }];
    if ('error' in r) return [{ name, error: `truncated or corrupt gzip file: ${r.error}` }];
    volume = r.data;
    if (!isNifti(volume)) return [{ name, error: 'a gzip file that holds no NIfTI volume (of compressed files, .nii.gz volumes are read; send slices as PNG, JPEG, TIFF or DICOM)' }];
  }
  // Keyed by the file's bytes, not its name: the command line (a path) and the page (a file name) name it differently.
  const series = opaqueContentKey('nifti', bytes);
  // Voxels are bounded before any slice is made: by the per-archive pixel limit and what the request has left.
  const maxVoxels = Math.min(opts.maxTotalPixels ?? DEFAULT_MAX_TOTAL_PIXELS, opts.pixelBudget?.remaining ?? Infinity);
  const slices = niftiSlices(volume, window, maxVoxels);
  return slices.map((s, k) => ({ name: `${name} [slice ${k + 1}]`, image: s.image, dicom: { series, position: s.position, frame: k + 1, volume: true } }));
}

/**
 * What a zip member or a file found in a folder is when it is no image to read: a DICOMDIR (an index: skipped
 * silently) or a file of no image format at all (a README, a report, a CSV: skipped with a note); undefined for
 * anything that may be an image, which is then decoded (and, if it fails, gets an error row). Decided by content (the
 * first bytes are enough: formats are told by their start): a README.TXT that holds a PNG is read.
 */
export function noImageKind(bytes: Uint8Array): 'index' | 'not an image' | undefined {
  if (isDicom(bytes)) return isDicomDirectory(bytes) ? 'index' : undefined;
  const image = sniffFormat(bytes) || isTiff(bytes) || isGzip(bytes) || isNifti(bytes) || isZip(bytes) || (bytes.length > 0 && otherImageFormat(bytes));
  return image ? undefined : 'not an image';
}

async function decodeZip(name: string, bytes: Uint8Array, opts: InputOptions): Promise<InputSlice[]> {
  const out: InputSlice[] = [];
  const maxTotal = opts.maxTotalPixels ?? DEFAULT_MAX_TOTAL_PIXELS;
  let pixels = 0;
  let skipped = 0;
  try {
    for await (const entry of readZip(bytes, opts.zipLimits ?? DEFAULT_ZIP_LIMITS, { budget: opts.budget, signal: opts.signal })) {
      const entryName = `${name}/${entry.name}`;
      if (entry.error !== undefined || !entry.bytes) { out.push({ name: entryName, error: entry.error ?? 'the entry could not be read' }); continue; }
      // A series as a viewer or a PACS exports it comes with a DICOMDIR, a README or a report: not slices, and no
      // reason to fail the run (exit 2) when every image was read.
      const skip = noImageKind(entry.bytes);
      if (skip) {
        skipped++;
        if (skip === 'not an image') opts.onSkipped?.(`${name}: skipped ${entry.name} (not a PNG, JPEG, TIFF, DICOM or NIfTI image)`);
        continue;
      }
      const slices = await decodeSingle(entryName, entry.bytes, opts);
      for (const s of slices) pixels += s.image ? s.image.width * s.image.height : 0;
      if (pixels > maxTotal) {
        out.push({ name, error: `the images in the archive add up to more than ${Math.round(maxTotal / 1e6)} megapixels, over the limit; the remaining entries were not read` });
        break;
      }
      out.push(...slices);
    }
  } catch (e) {
    // A timed-out request stops; an archive-level problem (or the request's spent budget, BudgetError): what was
    // read stays, and the archive itself gets the error.
    if (opts.signal?.aborted) throw e;
    out.push({ name, error: errorMessage(e) });
  }
  if (out.length === 0) {
    out.push({ name, error: skipped ? `the zip archive holds no PNG, JPEG, TIFF, DICOM or NIfTI image (${skipped} other file(s) skipped)` : 'the zip archive holds no files' });
  }
  return out;
}
