/**
 * JPEG lossless (ITU T.81 process 14, annex H): SOF3 frames with Huffman coding, predictors 1-7, point
 * transform and restart markers. This is what DICOM calls JPEG Lossless (1.2.840.10008.1.2.4.57) and JPEG
 * Lossless first-order prediction (.4.70, predictor 1). Arithmetic coding, hierarchical frames and DNL are refused.
 */

/** What the caller expects to find, checked against the frame header before anything is allocated. */
export interface JpegLosslessExpected {
  width: number;
  height: number;
  components: number;
}

export interface JpegLosslessImage {
  width: number;
  height: number;
  components: number;
  /** Sample precision P in bits (2-16). */
  precision: number;
  /** Samples, pixel-interleaved, each the P-bit pattern as coded (two's complement data stays a bit pattern). */
  samples: Uint16Array;
}

interface Component {
  id: number;
  h: number;
  v: number;
}

const SOF_NAMES: Record<number, string> = {
  0xc0: 'baseline DCT (lossy)', 0xc1: 'extended DCT (lossy)', 0xc2: 'progressive DCT (lossy)',
  0xc5: 'hierarchical', 0xc6: 'hierarchical', 0xc7: 'hierarchical lossless',
  0xc9: 'arithmetic-coded', 0xca: 'arithmetic-coded', 0xcb: 'arithmetic-coded lossless',
  0xcd: 'arithmetic-coded hierarchical', 0xce: 'arithmetic-coded hierarchical', 0xcf: 'arithmetic-coded hierarchical lossless',
};

/**
 * Decodes one JPEG lossless image. Throws a plain Error with the reason (the caller adds the context), for a
 * stream that is not lossless JPEG, does not match `expected`, or is truncated or corrupt.
 */
export function decodeJpegLossless(data: Uint8Array, expected: JpegLosslessExpected): JpegLosslessImage {
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) throw new Error('the JPEG stream does not start with an SOI marker (FFD8)');
  let pos = 2;
  const tables: (Int32Array | undefined)[] = [];
  let restartInterval = 0;
  let frame: { width: number; height: number; precision: number; components: Component[] } | undefined;
  let out: Uint16Array | undefined;
  const decoded = new Set<number>();

  const u16 = (at: number): number => {
    if (at + 2 > data.length) throw new Error('the JPEG stream ends inside a marker segment');
    return (data[at] << 8) | data[at + 1];
  };

  for (;;) {
    // Next marker: 0xFF (any fill bytes) then a code other than 0x00 and 0xFF.
    while (pos < data.length && data[pos] !== 0xff) pos++;
    while (pos < data.length && data[pos] === 0xff) pos++;
    if (pos >= data.length) break; // no EOI: accepted if the image is complete (checked below)
    const marker = data[pos++];
    if (marker === 0x00) continue; // a stuffed byte outside a scan: skip it
    if (marker === 0xd9) break; // EOI
    if (marker >= 0xd0 && marker <= 0xd7) continue; // stray RST
    if (marker === 0x01) continue; // TEM, no segment
    const length = u16(pos);
    const end = pos + length;
    if (length < 2 || end > data.length) throw new Error(`the JPEG marker segment FF${hex(marker)} is cut short (needs ${length} bytes)`);
    const seg = data.subarray(pos + 2, end);
    pos = end;
    if (marker === 0xc3) {
      if (frame) throw new Error('the JPEG stream has two frame headers');
      if (seg.length < 6) throw new Error('the JPEG frame header (SOF3) is too short');
      const precision = seg[0];
      const height = (seg[1] << 8) | seg[2];
      const width = (seg[3] << 8) | seg[4];
      const count = seg[5];
      if (precision < 2 || precision > 16) throw new Error(`JPEG sample precision ${precision} is invalid (2 to 16 bits)`);
      if (height === 0) throw new Error('the JPEG frame gives its height in a DNL marker, which is not supported');
      if (width !== expected.width || height !== expected.height || count !== expected.components) {
        throw new Error(`the JPEG image is ${width}x${height} with ${count} component(s), the DICOM header says ${expected.width}x${expected.height} with ${expected.components}`);
      }
      if (seg.length < 6 + 3 * count) throw new Error('the JPEG frame header (SOF3) is too short for its components');
      const components: Component[] = [];
      for (let c = 0; c < count; c++) {
        const sampling = seg[7 + 3 * c];
        components.push({ id: seg[6 + 3 * c], h: sampling >> 4, v: sampling & 15 });
        if (sampling !== 0x11) throw new Error('JPEG lossless with subsampled components is not supported');
      }
      frame = { width, height, precision, components };
      out = new Uint16Array(width * height * count);
    } else if (SOF_NAMES[marker]) {
      throw new Error(`the JPEG stream is ${SOF_NAMES[marker]} (SOF${marker - 0xc0}), not lossless process 14 (SOF3)`);
    } else if (marker === 0xcc) {
      throw new Error('the JPEG stream uses arithmetic coding, which is not supported');
    } else if (marker === 0xc4) {
      readHuffmanTables(seg, tables);
    } else if (marker === 0xdd) {
      if (seg.length < 2) throw new Error('the JPEG restart interval segment (DRI) is too short');
      restartInterval = (seg[0] << 8) | seg[1];
    } else if (marker === 0xdc) {
      throw new Error('the JPEG stream has a DNL marker, which is not supported');
    } else if (marker === 0xda) {
      if (!frame || !out) throw new Error('the JPEG scan comes before the frame header (SOF3)');
      const ns = seg[0];
      if (!ns || seg.length < 1 + 2 * ns + 3) throw new Error('the JPEG scan header (SOS) is too short');
      const scan: { index: number; table: Int32Array }[] = [];
      for (let k = 0; k < ns; k++) {
        const id = seg[1 + 2 * k];
        const index = frame.components.findIndex((c) => c.id === id);
        if (index < 0) throw new Error(`the JPEG scan names component ${id}, which the frame does not have`);
        const tableId = seg[2 + 2 * k] >> 4;
        const table = tables[tableId];
        if (!table) throw new Error(`the JPEG scan uses Huffman table ${tableId}, which is not defined`);
        scan.push({ index, table });
        decoded.add(index);
      }
      const predictor = seg[1 + 2 * ns];
      const pointTransform = seg[3 + 2 * ns] & 15;
      if (predictor < 1 || predictor > 7) throw new Error(`JPEG lossless predictor ${predictor} is invalid (1 to 7)`);
      if (pointTransform >= frame.precision) throw new Error(`JPEG point transform ${pointTransform} is invalid for ${frame.precision}-bit samples`);
      pos = decodeScan(data, pos, frame.width, frame.height, frame.components.length, frame.precision, scan, predictor, pointTransform, restartInterval, out);
    }
    // APPn, COM, DQT, DHP, EXP and the rest: skipped
  }
  if (!frame || !out) throw new Error('the JPEG stream has no frame header (SOF3)');
  if (decoded.size < frame.components.length) throw new Error('the JPEG stream ends before any scan of the image (cut short?)');
  return { width: frame.width, height: frame.height, components: frame.components.length, precision: frame.precision, samples: out };
}

/**
 * DHT: one or more tables. Each becomes a 65536-entry lookup on the next 16 bits: (code length << 8) | value,
 * 0 for a bit pattern that starts no code.
 */
function readHuffmanTables(seg: Uint8Array, tables: (Int32Array | undefined)[]): void {
  let p = 0;
  while (p < seg.length) {
    if (p + 17 > seg.length) throw new Error('the JPEG Huffman table segment (DHT) is cut short');
    const cls = seg[p] >> 4;
    const id = seg[p] & 15;
    if (cls !== 0 || id > 3) throw new Error(`the JPEG Huffman table class ${cls} id ${id} is invalid for a lossless stream`);
    const counts = seg.subarray(p + 1, p + 17);
    let total = 0;
    for (const c of counts) total += c;
    if (p + 17 + total > seg.length) throw new Error('the JPEG Huffman table segment (DHT) is cut short');
    const values = seg.subarray(p + 17, p + 17 + total);
    const table = new Int32Array(65536);
    let code = 0;
    let k = 0;
    for (let len = 1; len <= 16; len++) {
      for (let i = 0; i < counts[len - 1]; i++, k++) {
        if (code >= 1 << len) throw new Error('the JPEG Huffman table is invalid (more codes than its lengths allow)');
        const value = values[k];
        if (value > 16) throw new Error(`the JPEG Huffman table codes a difference category ${value} (at most 16)`);
        const shift = 16 - len;
        const first = code << shift;
        table.fill((len << 8) | value, first, first + (1 << shift));
        code++;
      }
      code <<= 1;
    }
    tables[id] = table;
    p += 17 + total;
  }
}

/**
 * Decodes one scan (annex H.2) into `out` and returns the position just after its entropy-coded data. The
 * bit reader feeds zero bytes at a marker or at the end of the data; consuming any of them means the data
 * was cut short or corrupt.
 */
function decodeScan(
  data: Uint8Array, start: number, width: number, height: number, stride: number, precision: number,
  scan: { index: number; table: Int32Array }[], predictor: number, pt: number, restartInterval: number, out: Uint16Array,
): number {
  const ns = scan.length;
  if (restartInterval > 0 && restartInterval % width !== 0) {
    throw new Error(`the JPEG restart interval (${restartInterval} samples) is not a whole number of ${width}-sample lines`);
  }
  const restartRows = restartInterval > 0 ? restartInterval / width : 0;
  const initial = 1 << (precision - pt - 1);
  const mask = (1 << (precision - pt)) - 1;
  // The reconstructed (point-transformed) values of the previous and current line, per scan component.
  let prev = scan.map(() => new Int32Array(width));
  let cur = scan.map(() => new Int32Array(width));

  let pos = start;
  let acc = 0; // bit buffer: the low `bits` bits are unread, most significant first
  let bits = 0;
  let fake = 0; // how many of those bits are zeros fed at a marker or the end of data
  let atMarker = false;
  const fill = (): void => {
    while (bits <= 24) {
      let b = 0;
      if (atMarker || pos >= data.length) {
        fake += 8;
      } else if (data[pos] === 0xff) {
        if (data[pos + 1] === 0x00) { b = 0xff; pos += 2; } else { atMarker = true; fake += 8; }
      } else {
        b = data[pos++];
      }
      acc = ((acc << 8) | b) >>> 0;
      bits += 8;
    }
  };
  const overrun = (row: number): Error => new Error(atMarker || pos < data.length
    ? `the JPEG data is corrupt: the coded data of line ${row + 1} of ${height} runs into a marker`
    : `the JPEG data ends at line ${row + 1} of ${height} (cut short?)`);
  let restartsSeen = 0;
  for (let y = 0; y < height; y++) {
    const firstLine = y === 0 || (restartRows > 0 && y % restartRows === 0);
    if (y > 0 && firstLine) {
      // Expect RSTm (m = restarts so far mod 8) and restart the bit reader after it.
      if (bits - fake > 7) throw new Error(`the JPEG data is corrupt: data left over before restart marker ${restartsSeen + 1}`);
      acc = 0; bits = 0; fake = 0; atMarker = false;
      while (pos < data.length && data[pos] === 0xff && data[pos + 1] === 0xff) pos++;
      const expectedMarker = 0xd0 + (restartsSeen % 8);
      if (pos + 1 >= data.length) throw new Error(`the JPEG data ends at line ${y + 1} of ${height} (cut short?)`);
      if (data[pos] !== 0xff || data[pos + 1] !== expectedMarker) throw new Error(`the JPEG data is corrupt: restart marker RST${restartsSeen % 8} missing before line ${y + 1}`);
      pos += 2;
      restartsSeen++;
    }
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < ns; k++) {
        if (bits < 16) fill();
        const entry = scan[k].table[(acc >>> (bits - 16)) & 0xffff];
        if (entry === 0) {
          if (fake > 0 && bits - fake < 16) throw overrun(y);
          throw new Error(`the JPEG data is corrupt: an invalid Huffman code at line ${y + 1} of ${height}`);
        }
        bits -= entry >> 8;
        const s = entry & 0xff;
        let diff = 0;
        if (s === 16) {
          diff = 32768;
        } else if (s > 0) {
          if (bits < s) fill();
          const v = (acc >>> (bits - s)) & ((1 << s) - 1);
          bits -= s;
          diff = v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
        }
        const c = cur[k];
        let p: number;
        if (firstLine) {
          p = x === 0 ? initial : c[x - 1];
        } else if (x === 0) {
          p = prev[k][0];
        } else {
          const ra = c[x - 1], rb = prev[k][x], rc = prev[k][x - 1];
          switch (predictor) {
            case 1: p = ra; break;
            case 2: p = rb; break;
            case 3: p = rc; break;
            case 4: p = ra + rb - rc; break;
            case 5: p = ra + ((rb - rc) >> 1); break;
            case 6: p = rb + ((ra - rc) >> 1); break;
            default: p = (ra + rb) >> 1; break;
          }
        }
        // Reconstruction is modulo 2^16 (H.2.2), then the sample keeps its P - Pt bits.
        const value = ((p + diff) & 0xffff) & mask;
        c[x] = value;
        out[(y * width + x) * stride + scan[k].index] = value << pt;
      }
    }
    if (fake > bits) throw overrun(y);
    const t = prev; prev = cur; cur = t;
  }
  return pos;
}

function hex(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}
