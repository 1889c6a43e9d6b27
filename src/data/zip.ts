/**
 * Reads a .zip held in memory, one entry at a time, with limits that hold whatever the archive claims: sizes in
 * the directory can lie, so inflation is streamed and stopped as soon as the output passes a limit. Entry
 * names are labels only; nothing here (or downstream) uses them as file paths.
 */
import { Inflate } from 'fflate';
import { ImageDecodeError, errorMessage } from '../util/errors.js';

export interface ZipLimits {
  /** Directory records (files and folders) in the archive. */
  maxEntries: number;
  /** Uncompressed bytes of one entry. */
  maxEntryBytes: number;
  /** Uncompressed bytes of all entries together. */
  maxTotalBytes: number;
}

/**
 * 2000 entries: a thin-slice chest CT has 300-800 slices. 50 MB per entry: a 512x512x16-bit slice is 0.5 MB and
 * a 1000-frame multi-frame CT 500 MB would not fit the pixel limit anyway. 300 MB in total: a whole series with
 * room to spare, while the worst case stays a bounded allocation.
 */
export const DEFAULT_ZIP_LIMITS: Readonly<ZipLimits> = Object.freeze({ maxEntries: 2000, maxEntryBytes: 50 * 2 ** 20, maxTotalBytes: 300 * 2 ** 20 });

/** A problem with the archive as a whole (the remaining entries cannot be read). */
export class ZipError extends ImageDecodeError {
  constructor(message: string) {
    super(message);
    this.name = 'ZipError';
  }
}

/** One file of the archive: its bytes, or why it was not extracted. */
export interface ZipEntry {
  name: string;
  bytes?: Uint8Array;
  error?: string;
}

/** A local file header ("PK\3\4") or an empty archive's end record ("PK\5\6"). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));
}

/**
 * Why an entry's name is unsafe (it climbs out of the archive, is absolute or has a drive letter), or null.
 * Names are never used as paths here, but an archive with such names was made by mistake or to attack an
 * unzipper: its entry gets a row saying so instead of vanishing with the hidden files.
 */
export function unsafeEntryName(name: string): string | null {
  const parts = name.split(/[\\/]/);
  if (parts.includes('..')) return `unsafe name "${name}" (it climbs out of the archive with ".."): skipped`;
  if (name.startsWith('/') || name.startsWith('\\')) return `unsafe name "${name}" (an absolute path): skipped`;
  if (/^[A-Za-z]:/.test(name)) return `unsafe name "${name}" (a drive letter): skipped`;
  return null;
}

/** Folders, macOS resource forks and hidden files are not slices. */
function skipped(name: string): boolean {
  return name.endsWith('/') || name.split('/').some((part) => (part.startsWith('.') && part !== '..') || part === '__MACOSX');
}

const MB = (n: number): string => `${Math.round(n / 2 ** 20)} MB`;

/**
 * Yields the archive's files in directory order (folders, `__MACOSX/` and dot-files skipped). Problems with one
 * entry (encrypted, unsupported method, over the per-entry limit, corrupt) come back as that entry's `error`;
 * problems with the archive (no directory, too many entries, over the total limit) throw ZipError.
 */
export function* readZip(bytes: Uint8Array, limits: ZipLimits = DEFAULT_ZIP_LIMITS): Generator<ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = findEndRecord(bytes, view);
  const count = view.getUint16(eocd + 10, true);
  const dirSize = view.getUint32(eocd + 12, true);
  const dirOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || dirOffset === 0xffffffff || dirSize === 0xffffffff) throw new ZipError('ZIP64 archives are not supported');
  if (count > limits.maxEntries) throw new ZipError(`the archive has ${count} entries, over the limit of ${limits.maxEntries}`);
  if (dirOffset + dirSize > eocd) throw new ZipError('truncated or corrupt zip: the central directory lies outside the file');
  const decoder = new TextDecoder('utf-8');
  let total = 0;
  let p = dirOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > eocd || view.getUint32(p, true) !== 0x02014b50) throw new ZipError(`truncated or corrupt zip: directory record ${i + 1} of ${count} is damaged`);
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    const compressedSize = view.getUint32(p + 20, true);
    const declaredSize = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    const localOffset = view.getUint32(p + 42, true);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLength));
    p += 46 + nameLength + extraLength + commentLength;
    if (skipped(name)) continue;
    const fail = (error: string): ZipEntry => ({ name, error });
    const unsafe = unsafeEntryName(name);
    if (unsafe) { yield fail(unsafe); continue; }
    if (flags & 1) { yield fail('the entry is encrypted'); continue; }
    if (method !== 0 && method !== 8) { yield fail(`the entry uses compression method ${method} (only stored and deflate are supported)`); continue; }
    if (localOffset + 30 > bytes.length || view.getUint32(localOffset, true) !== 0x04034b50) { yield fail('truncated or corrupt zip: the entry\'s local header is missing'); continue; }
    const start = localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    const end = start + compressedSize;
    if (end > bytes.length) { yield fail('truncated zip: the entry\'s data runs past the end of the file'); continue; }
    const compressed = bytes.subarray(start, end);
    let data: Uint8Array;
    if (method === 0) {
      if (compressed.length > limits.maxEntryBytes) { yield fail(`the entry is larger than the limit of ${MB(limits.maxEntryBytes)}`); continue; }
      if (total + compressed.length > limits.maxTotalBytes) throw new ZipError(`the archive holds more than ${MB(limits.maxTotalBytes)} in total, over the limit; the remaining entries were not read`);
      data = compressed;
    } else {
      const budget = Math.min(limits.maxEntryBytes, limits.maxTotalBytes - total);
      const result = inflateBounded(compressed, budget);
      if ('error' in result) { yield fail(result.error); continue; }
      if (result.over) {
        if (budget < limits.maxEntryBytes) throw new ZipError(`the archive inflates to more than ${MB(limits.maxTotalBytes)} in total, over the limit; the remaining entries were not read`);
        yield fail(`the entry inflates to more than ${MB(limits.maxEntryBytes)}, over the limit (declared ${declaredSize} bytes): refused`);
        continue;
      }
      data = result.data;
    }
    total += data.length;
    if (data.length !== declaredSize) { yield fail(`corrupt zip entry: it holds ${data.length} bytes but declares ${declaredSize}`); continue; }
    if (crc32(data) !== crc) { yield fail('corrupt zip entry: its checksum (CRC-32) does not match'); continue; }
    yield { name, bytes: data };
  }
}

function findEndRecord(bytes: Uint8Array, view: DataView): number {
  // The end record is 22 bytes plus a comment of up to 65535 bytes, so it starts in the last 65557 bytes.
  for (let o = bytes.length - 22; o >= Math.max(0, bytes.length - 65557); o--) {
    if (view.getUint32(o, true) === 0x06054b50) return o;
  }
  throw new ZipError('truncated or corrupt zip: no end of central directory record (cut short?)');
}

/** Inflates in 16 KB input steps (at most ~17 MB of output each), stopping as soon as the output passes `max`. */
function inflateBounded(compressed: Uint8Array, max: number): { data: Uint8Array; over?: undefined } | { over: true } | { error: string } {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let over = false;
  let finished = false;
  const inflate = new Inflate((chunk, final) => {
    size += chunk.length;
    if (size > max) over = true;
    else chunks.push(chunk);
    if (final) finished = true;
  });
  const STEP = 16 * 1024;
  try {
    for (let o = 0; o < compressed.length && !over; o += STEP) {
      const end = Math.min(compressed.length, o + STEP);
      inflate.push(compressed.subarray(o, end), end === compressed.length);
    }
    if (compressed.length === 0) inflate.push(new Uint8Array(0), true);
  } catch (e) {
    return { error: `corrupt zip entry: the compressed data does not inflate (${errorMessage(e)})` };
  }
  if (over) return { over: true };
  if (!finished) return { error: 'truncated zip entry: the compressed data ends early' };
  const data = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) { data.set(c, o); o += c.length; }
  return { data };
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE, as zip uses); node:zlib only has it from Node 20.15. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
