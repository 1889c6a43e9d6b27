/**
 * The image size a compressed frame announces, read from its own header before any decoder runs: the JPEG frame
 * header (SOFn, ITU T.81), the JPEG-LS one (SOF55, T.87) or the JPEG 2000 image size (SIZ, T.800). Knowing it
 * first lets the caller refuse a frame that would decode to more than the DICOM header promises (a decompression
 * bomb) without handing the stream to a wasm decoder. Pure: bytes in, numbers out.
 */

export interface CodestreamHeader {
  width: number;
  height: number;
  components: number;
  /** Bits per sample (the largest over the components). */
  precision: number;
  /** JPEG 2000 only: the components are signed. */
  signed?: boolean;
  /** Which header it came from, for messages: 'SOF0'..'SOF15', 'SOF55' (JPEG-LS) or 'SIZ' (JPEG 2000). */
  marker: string;
}

/** The JPEG or JPEG-LS frame header of a stream (the first SOFn or SOF55 before the first scan). */
export function jpegHeader(data: Uint8Array): CodestreamHeader {
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) throw new Error('the JPEG stream does not start with an SOI marker (FFD8)');
  let pos = 2;
  while (pos + 4 <= data.length) {
    if (data[pos] !== 0xff) throw new Error(`the JPEG stream is corrupt: no marker where one is expected (byte ${pos})`);
    while (pos < data.length && data[pos] === 0xff) pos++; // fill bytes
    const marker = data[pos++];
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no segment
    if (marker === 0xd9) break;
    if (pos + 2 > data.length) break;
    const length = (data[pos] << 8) | data[pos + 1];
    if (length < 2 || pos + length > data.length) throw new Error(`the JPEG marker segment FF${hex(marker)} runs past the end of the stream (corrupt, or cut short)`);
    const isSof = (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) || marker === 0xf7;
    if (isSof) {
      if (length < 8) throw new Error('the JPEG frame header is too short');
      const s = pos + 2;
      return {
        precision: data[s], height: (data[s + 1] << 8) | data[s + 2], width: (data[s + 3] << 8) | data[s + 4], components: data[s + 5],
        marker: marker === 0xf7 ? 'SOF55' : `SOF${marker - 0xc0}`,
      };
    }
    if (marker === 0xda) throw new Error('the JPEG stream has a scan before its frame header');
    pos += length;
  }
  throw new Error('the JPEG stream ends before its frame header (cut short?)');
}

/**
 * The SIZ marker of a JPEG 2000 codestream (SOC FF4F then SIZ FF51), or of the codestream inside a JP2 file (some
 * archives store JP2 files in DICOM, against the standard; the decoder is given the bare codestream in that case).
 */
export function j2kHeader(data: Uint8Array): CodestreamHeader {
  const start = j2kCodestreamStart(data);
  const s = start + 4; // SOC, SIZ marker
  if (data.length < s + 2) throw new Error('the JPEG 2000 codestream ends before its image size (SIZ) marker');
  const length = (data[s] << 8) | data[s + 1];
  if (length < 41 || s + length > data.length) throw new Error('the JPEG 2000 image size (SIZ) marker runs past the end of the stream (corrupt, or cut short)');
  const u32 = (at: number) => ((data[at] << 24) >>> 0) + (data[at + 1] << 16) + (data[at + 2] << 8) + data[at + 3];
  const xsiz = u32(s + 4), ysiz = u32(s + 8), xo = u32(s + 12), yo = u32(s + 16);
  const components = (data[s + 36] << 8) | data[s + 37];
  if (components < 1 || s + 38 + 3 * components > s + length) throw new Error('the JPEG 2000 image size (SIZ) marker is inconsistent');
  let precision = 0, signed = false;
  for (let c = 0; c < components; c++) {
    const ssiz = data[s + 38 + 3 * c];
    precision = Math.max(precision, (ssiz & 0x7f) + 1);
    signed ||= (ssiz & 0x80) !== 0;
  }
  return { width: xsiz - xo, height: ysiz - yo, components, precision, signed, marker: 'SIZ' };
}

/** Byte offset of the JPEG 2000 codestream (SOC followed by SIZ): 0 for a bare codestream, inside `jp2c` for JP2. */
export function j2kCodestreamStart(data: Uint8Array): number {
  if (data.length >= 4 && data[0] === 0xff && data[1] === 0x4f && data[2] === 0xff && data[3] === 0x51) return 0;
  const jp2 = data.length >= 12 && data[4] === 0x6a && data[5] === 0x50 && data[6] === 0x20 && data[7] === 0x20; // "jP  " box
  if (jp2) {
    // Walk the top-level boxes to the contiguous codestream box.
    let pos = 0;
    while (pos + 8 <= data.length) {
      let size = ((data[pos] << 24) >>> 0) + (data[pos + 1] << 16) + (data[pos + 2] << 8) + data[pos + 3];
      const type = String.fromCharCode(data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]);
      let header = 8;
      if (size === 1) { // 64-bit length: files this small never need the high word
        if (pos + 16 > data.length) break;
        size = ((data[pos + 12] << 24) >>> 0) + (data[pos + 13] << 16) + (data[pos + 14] << 8) + data[pos + 15];
        header = 16;
      }
      if (type === 'jp2c') {
        const at = pos + header;
        if (data[at] === 0xff && data[at + 1] === 0x4f && data[at + 2] === 0xff && data[at + 3] === 0x51) return at;
        break;
      }
      if (size === 0 || size < header) break;
      pos += size;
    }
  }
  throw new Error('not a JPEG 2000 codestream (no SOC and SIZ markers, FF4F FF51, at its start)');
}

/**
 * Whether the stream ends with its end marker (EOI FFD9 for JPEG and JPEG-LS, EOC FFD9 for JPEG 2000), allowing
 * the zero padding DICOM adds to odd-length fragments. The decoders accept a stream cut short and fill the rest
 * with grey; a missing end marker is how we tell a truncated frame from a whole one.
 */
export function endsWithEndMarker(data: Uint8Array): boolean {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0x00 && end > data.length - 8) end--;
  return end >= 2 && data[end - 2] === 0xff && data[end - 1] === 0xd9;
}

const hex = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');
