/**
 * Reads a .zip held in memory, one entry at a time, with limits that hold whatever the archive claims: sizes in
 * the directory can lie, so inflation is streamed and stopped as soon as the output passes a limit. Entry
 * names are labels only; nothing here (or downstream) uses them as file paths.
 */
import { BudgetError, ByteBudget, inflateBounded, yieldToLoop, type InflateOptions } from './inflate.js';
import { ImageDecodeError } from '../util/errors.js';

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

/** Where an entry's bytes lie in the archive (local header to end of data), read from the directory. */
interface Span { index: number; name: string; start: number; end: number }

/** One directory record, decoded. */
interface DirRecord {
  name: string; flags: number; method: number; crc: number; compressedSize: number; declaredSize: number; localOffset: number;
}

function readDirectory(bytes: Uint8Array, view: DataView, limits: ZipLimits): DirRecord[] {
  const eocd = findEndRecord(bytes, view);
  const count = view.getUint16(eocd + 10, true);
  const dirSize = view.getUint32(eocd + 12, true);
  const dirOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || dirOffset === 0xffffffff || dirSize === 0xffffffff) throw new ZipError('ZIP64 archives are not supported');
  if (count > limits.maxEntries) throw new ZipError(`the archive has ${count} entries, over the limit of ${limits.maxEntries}`);
  if (dirOffset + dirSize > eocd) throw new ZipError('truncated or corrupt zip: the central directory lies outside the file');
  const decoder = new TextDecoder('utf-8');
  const records: DirRecord[] = [];
  let p = dirOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > eocd || view.getUint32(p, true) !== 0x02014b50) throw new ZipError(`truncated or corrupt zip: directory record ${i + 1} of ${count} is damaged`);
    const nameLength = view.getUint16(p + 28, true);
    records.push({
      flags: view.getUint16(p + 8, true), method: view.getUint16(p + 10, true), crc: view.getUint32(p + 16, true),
      compressedSize: view.getUint32(p + 20, true), declaredSize: view.getUint32(p + 24, true), localOffset: view.getUint32(p + 42, true),
      name: decoder.decode(bytes.subarray(p + 46, p + 46 + nameLength)),
    });
    p += 46 + nameLength + view.getUint16(p + 30, true) + view.getUint16(p + 32, true);
  }
  return records;
}

/**
 * Entries whose bytes overlap are the trick of the non-recursive zip bomb (hundreds of records pointing at one
 * compressed stream): no honest archiver writes them, so the whole archive is refused before anything is inflated.
 */
function refuseOverlaps(spans: Span[]): void {
  const sorted = [...spans].sort((a, b) => a.start - b.start || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1], sorted[i]];
    if (b.start < a.end) {
      throw new ZipError(`the archive's entries overlap (records ${Math.min(a.index, b.index) + 1} and ${Math.max(a.index, b.index) + 1} share their bytes, a zip bomb pattern): refused, nothing was unpacked`);
    }
  }
}

export interface ReadZipOptions extends InflateOptions {}

/**
 * Yields the archive's files in directory order (folders, `__MACOSX/` and dot-files skipped). Problems with one
 * entry (encrypted, unsupported method, over the per-entry limit, corrupt) come back as that entry's `error`;
 * problems with the archive (no directory, too many entries, overlapping entries, over the total limit) throw
 * ZipError, and a request's spent byte budget throws BudgetError. Every inflated or stored byte is charged to
 * `opts.budget`, refused entries included. Inflation runs in small steps that yield to the event loop and check
 * `opts.signal`.
 */
export async function* readZip(bytes: Uint8Array, limits: ZipLimits = DEFAULT_ZIP_LIMITS, opts: ReadZipOptions = {}): AsyncGenerator<ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records = readDirectory(bytes, view, limits);
  // Where each entry's data lies; entries whose local header is missing or runs past the end get their error below.
  const located = records.map((r, index) => {
    if (skipped(r.name) || r.localOffset + 30 > bytes.length || view.getUint32(r.localOffset, true) !== 0x04034b50) return undefined;
    const start = r.localOffset + 30 + view.getUint16(r.localOffset + 26, true) + view.getUint16(r.localOffset + 28, true);
    return { index, name: r.name, start: r.localOffset, dataStart: start, end: start + r.compressedSize };
  });
  refuseOverlaps(located.filter((s): s is NonNullable<typeof s> => s !== undefined && s.end <= bytes.length));
  // The archive's own total (limits.maxTotalBytes) and the request's budget, charged together.
  const archive = new ByteBudget(limits.maxTotalBytes);
  for (let i = 0; i < records.length; i++) {
    const { name, flags, method, crc, declaredSize } = records[i];
    if (skipped(name)) continue;
    opts.signal?.throwIfAborted();
    // A turn for the event loop per entry: the caller decodes each entry before asking for the next, so
    // thousands of entries (each a DICOM decoded in JS) must not hold /healthz and other clients.
    await yieldToLoop();
    const fail = (error: string): ZipEntry => ({ name, error });
    const unsafe = unsafeEntryName(name);
    if (unsafe) { yield fail(unsafe); continue; }
    if (flags & 1) { yield fail('the entry is encrypted'); continue; }
    if (method !== 0 && method !== 8) { yield fail(`the entry uses compression method ${method} (only stored and deflate are supported)`); continue; }
    const at = located[i];
    if (!at) { yield fail('truncated or corrupt zip: the entry\'s local header is missing'); continue; }
    if (at.end > bytes.length) { yield fail('truncated zip: the entry\'s data runs past the end of the file'); continue; }
    const compressed = bytes.subarray(at.dataStart, at.end);
    let data: Uint8Array;
    const archiveFull = () => new ZipError(`the archive inflates to more than ${MB(limits.maxTotalBytes)} in total, over the limit; the remaining entries were not read`);
    if (method === 0) {
      if (compressed.length > limits.maxEntryBytes) { yield fail(`the entry is larger than the limit of ${MB(limits.maxEntryBytes)}`); continue; }
      if (!archive.charge(compressed.length)) throw archiveFull();
      if (opts.budget && !opts.budget.charge(compressed.length)) throw new BudgetError(opts.budget.message());
      data = compressed;
    } else {
      const max = Math.min(limits.maxEntryBytes, archive.remaining);
      const spent = opts.budget?.spent ?? 0;
      const result = await inflateBounded(compressed, max, opts);
      const inflated = (opts.budget?.spent ?? 0) - spent;
      if ('error' in result) {
        archive.charge(inflated);
        yield fail(/ends early/.test(result.error) ? 'truncated zip entry: the compressed data ends early' : `corrupt zip entry: ${result.error}`);
        continue;
      }
      if ('over' in result) {
        if (max < limits.maxEntryBytes) throw archiveFull();
        // What a refused entry inflated still counts toward the archive's total (and the request's budget).
        if (!archive.charge(max)) throw archiveFull();
        yield fail(`the entry inflates to more than ${MB(limits.maxEntryBytes)}, over the limit (declared ${declaredSize} bytes): refused`);
        continue;
      }
      data = result.data;
      if (!archive.charge(data.length)) throw archiveFull();
    }
    if (data.length !== declaredSize) { yield fail(`corrupt zip entry: it holds ${data.length} bytes but declares ${declaredSize}`); continue; }
    if ((await crc32Async(data, opts.signal)) !== crc) { yield fail('corrupt zip entry: its checksum (CRC-32) does not match'); continue; }
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

/** CRC-32 in 4 MB steps with a turn for the event loop between them (a 50 MB entry takes a while in JS). */
async function crc32Async(data: Uint8Array, signal?: AbortSignal): Promise<number> {
  const STEP = 4 << 20;
  let c = 0xffffffff;
  for (let o = 0; o < data.length; o += STEP) {
    if (o > 0) { signal?.throwIfAborted(); await yieldToLoop(); }
    c = crc32Update(c, data.subarray(o, Math.min(data.length, o + STEP)));
  }
  return (c ^ 0xffffffff) >>> 0;
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
  return (crc32Update(0xffffffff, data) ^ 0xffffffff) >>> 0;
}

function crc32Update(c: number, data: Uint8Array): number {
  if (!crcTable) crc32(new Uint8Array(0));
  const table = crcTable!;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return c;
}
