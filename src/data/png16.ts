/**
 * The samples of a 16-bit grey PNG (colour type 0, or 4 with alpha dropped), for the page: a browser's canvas keeps
 * 8 bits of each sample, and a file of CT numbers (grey16.ts) needs all 16. Pure TypeScript except the zlib
 * inflation, which the caller supplies (DecompressionStream in the browser). The server decodes with libvips.
 */

export interface Png16Header {
  width: number;
  height: number;
  /** 0 = grey, 4 = grey + alpha. */
  colourType: 0 | 4;
  interlaced: boolean;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];
const typeAt = (b: Uint8Array, o: number): string => String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]);

/** The header of a 16-bit grey PNG, or null for any other file (the first 29 bytes suffice). */
export function png16Header(b: Uint8Array): Png16Header | null {
  if (b.length < 29 || SIGNATURE.some((v, i) => b[i] !== v) || typeAt(b, 12) !== 'IHDR') return null;
  const colourType = b[25];
  if (b[24] !== 16 || (colourType !== 0 && colourType !== 4)) return null;
  return { width: u32(b, 16), height: u32(b, 20), colourType, interlaced: b[28] === 1 };
}

/** Adam7's passes: first column, first row, column step, row step. */
const ADAM7: readonly (readonly [number, number, number, number])[] = [
  [0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2],
];

/** Undoes the filter of one row in place (PNG filters 0-4; bpp bytes per pixel). */
function unfilterRow(filter: number, row: Uint8Array, prev: Uint8Array | null, bpp: number): void {
  const n = row.length;
  switch (filter) {
    case 0: return;
    case 1: for (let i = bpp; i < n; i++) row[i] = (row[i] + row[i - bpp]) & 255; return;
    case 2: if (prev) for (let i = 0; i < n; i++) row[i] = (row[i] + prev[i]) & 255; return;
    case 3:
      for (let i = 0; i < n; i++) {
        const left = i >= bpp ? row[i - bpp] : 0, up = prev ? prev[i] : 0;
        row[i] = (row[i] + ((left + up) >> 1)) & 255;
      }
      return;
    case 4:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? row[i - bpp] : 0, b = prev ? prev[i] : 0, c = prev && i >= bpp ? prev[i - bpp] : 0;
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        row[i] = (row[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 255;
      }
      return;
    default: throw new Error(`truncated or corrupt PNG: unknown row filter ${filter}`);
  }
}

/**
 * The grey samples (row-major, alpha dropped) of a 16-bit grey PNG. `inflate` turns the zlib stream of the joined
 * IDAT chunks into bytes. Throws an Error whose message says what is wrong with a damaged file.
 */
export async function decodePng16(b: Uint8Array, inflate: (zlib: Uint8Array) => Promise<Uint8Array>): Promise<{ width: number; height: number; values: Uint16Array }> {
  const head = png16Header(b);
  if (!head) throw new Error('not a 16-bit grey PNG');
  const { width, height, colourType, interlaced } = head;
  if (width === 0 || height === 0) throw new Error(`truncated or corrupt PNG: size ${width}x${height}`);
  const parts: Uint8Array[] = [];
  let at = 8, ended = false;
  while (at + 8 <= b.length) {
    const len = u32(b, at), type = typeAt(b, at + 4);
    if (at + 12 + len > b.length) throw new Error(`truncated or corrupt PNG: the ${type} chunk runs past the end of the file`);
    if (type === 'IDAT') parts.push(b.subarray(at + 8, at + 8 + len));
    at += 12 + len;
    if (type === 'IEND') { ended = true; break; }
  }
  if (!ended || parts.length === 0) throw new Error('truncated or corrupt PNG: no image data or no end');
  const joined = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  parts.reduce((o, p) => (joined.set(p, o), o + p.length), 0);
  const raw = await inflate(joined);
  const bpp = colourType === 0 ? 2 : 4;
  const values = new Uint16Array(width * height);
  let pos = 0;
  for (const [x0, y0, dx, dy] of interlaced ? ADAM7 : [[0, 0, 1, 1] as const]) {
    const pw = width > x0 ? Math.ceil((width - x0) / dx) : 0;
    const ph = height > y0 ? Math.ceil((height - y0) / dy) : 0;
    if (pw === 0 || ph === 0) continue;
    const rowBytes = pw * bpp;
    let prev: Uint8Array | null = null;
    for (let r = 0; r < ph; r++) {
      if (pos + 1 + rowBytes > raw.length) throw new Error('truncated or corrupt PNG: the image data ends early');
      const row = raw.subarray(pos + 1, pos + 1 + rowBytes);
      unfilterRow(raw[pos], row, prev, bpp);
      const y = y0 + r * dy;
      for (let k = 0; k < pw; k++) values[y * width + x0 + k * dx] = (row[k * bpp] << 8) | row[k * bpp + 1];
      prev = row;
      pos += 1 + rowBytes;
    }
  }
  return { width, height, values };
}
