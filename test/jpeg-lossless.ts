/**
 * A small JPEG lossless (process 14, SOF3, one component) decoder for the tests: the project's DICOM reader
 * refuses transfer syntax 1.2.840.10008.1.2.4.70 (JPEG lossless, first-order prediction), which is what the
 * CT-MD sample DICOMs use, and the lung tests need their raw values. Test-only code: not shipped.
 */
import dicomParser from 'dicom-parser';

interface Huffman { maxcode: Int32Array; valptr: Int32Array; mincode: Int32Array; values: Uint8Array }

function buildHuffman(counts: Uint8Array, values: Uint8Array): Huffman {
  const maxcode = new Int32Array(18).fill(-1), valptr = new Int32Array(17), mincode = new Int32Array(17);
  let code = 0, k = 0;
  for (let l = 1; l <= 16; l++) {
    valptr[l] = k;
    mincode[l] = code;
    code += counts[l - 1];
    k += counts[l - 1];
    maxcode[l] = counts[l - 1] ? code - 1 : -1;
    code <<= 1;
  }
  maxcode[17] = 0x7fffffff;
  return { maxcode, valptr, mincode, values };
}

/** Decodes one JPEG lossless frame of one component into unsigned samples (Uint16Array, row-major). */
export function decodeJpegLossless(buf: Uint8Array): { width: number; height: number; precision: number; data: Uint16Array } {
  let pos = 2;
  if (buf[0] !== 0xff || buf[1] !== 0xd8) throw new Error('not a JPEG stream (no SOI)');
  const tables: Huffman[] = [];
  let width = 0, height = 0, precision = 0, restart = 0;
  const u16 = (p: number) => (buf[p] << 8) | buf[p + 1];
  for (;;) {
    while (buf[pos] === 0xff && buf[pos + 1] === 0xff) pos++;
    if (buf[pos] !== 0xff) throw new Error(`JPEG marker expected at ${pos}`);
    const marker = buf[pos + 1];
    const len = u16(pos + 2);
    const seg = pos + 4;
    if (marker === 0xc4) {
      let p = seg;
      while (p < pos + 2 + len) {
        const th = buf[p] & 15;
        const counts = buf.subarray(p + 1, p + 17);
        let total = 0;
        for (const c of counts) total += c;
        tables[th] = buildHuffman(counts, buf.subarray(p + 17, p + 17 + total));
        p += 17 + total;
      }
    } else if (marker === 0xc3) {
      precision = buf[seg];
      height = u16(seg + 1);
      width = u16(seg + 3);
      if (buf[seg + 5] !== 1) throw new Error('only one-component JPEG lossless is supported');
    } else if (marker === 0xdd) {
      restart = u16(seg);
    } else if (marker === 0xda) {
      const ns = buf[seg];
      if (ns !== 1) throw new Error('only one-component scans are supported');
      const table = tables[buf[seg + 2] >> 4];
      const p0 = seg + 1 + 2 * ns;
      const predictor = buf[p0], pt = buf[p0 + 2] & 15;
      return { width, height, precision, data: decodeScan(buf, pos + 2 + len, width, height, precision, predictor, pt, table, restart) };
    } else if (marker === 0xd9) {
      throw new Error('JPEG stream without a scan');
    } else if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      throw new Error(`unsupported JPEG process (SOF${marker - 0xc0})`);
    }
    pos += 2 + len;
  }
}

function decodeScan(buf: Uint8Array, start: number, w: number, h: number, precision: number, predictor: number, pt: number, table: Huffman, restart: number): Uint16Array {
  let pos = start, bits = 0, nbits = 0;
  const readBit = (): number => {
    if (nbits === 0) {
      let b = buf[pos++];
      if (b === 0xff) {
        const next = buf[pos];
        if (next === 0) pos++;
        else if (next >= 0xd0 && next <= 0xd7) { pos++; b = buf[pos++]; } // tolerate a restart marker
        else b = 0; // a marker: pad with zeros
      }
      bits = b;
      nbits = 8;
    }
    nbits--;
    return (bits >> nbits) & 1;
  };
  const receive = (s: number): number => { let v = 0; for (let i = 0; i < s; i++) v = (v << 1) | readBit(); return v; };
  const decodeSymbol = (): number => {
    let code = readBit(), l = 1;
    while (code > table.maxcode[l]) { code = (code << 1) | readBit(); l++; if (l > 16) throw new Error('bad Huffman code'); }
    return table.values[table.valptr[l] + code - table.mincode[l]];
  };
  const out = new Uint16Array(w * h);
  const mask = (1 << 16) - 1;
  const initial = 1 << (precision - pt - 1);
  let sinceRestart = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let first = false;
      if (restart && sinceRestart === restart) { sinceRestart = 0; nbits = 0; first = true; }
      sinceRestart++;
      const s = decodeSymbol();
      let diff = 0;
      if (s === 16) diff = 32768;
      else if (s > 0) { diff = receive(s); if (diff < 1 << (s - 1)) diff -= (1 << s) - 1; }
      let pred: number;
      if ((y === 0 && x === 0) || first) pred = initial;
      else if (y === 0) pred = out[i - 1];
      else if (x === 0) pred = out[i - w];
      else {
        const ra = out[i - 1], rb = out[i - w], rc = out[i - w - 1];
        switch (predictor) {
          case 1: pred = ra; break;
          case 2: pred = rb; break;
          case 3: pred = rc; break;
          case 4: pred = ra + rb - rc; break;
          case 5: pred = ra + ((rb - rc) >> 1); break;
          case 6: pred = rb + ((ra - rc) >> 1); break;
          case 7: pred = (ra + rb) >> 1; break;
          default: throw new Error(`bad predictor ${predictor}`);
        }
      }
      out[i] = (pred + diff) & mask;
    }
  }
  if (pt) for (let i = 0; i < out.length; i++) out[i] = (out[i] << pt) & mask;
  return out;
}

/** Hounsfield units of a one-frame CT DICOM compressed with JPEG lossless (stored value * slope + intercept). */
export function dicomHu(bytes: Uint8Array): { width: number; height: number; hu: Float32Array } {
  const ds = dicomParser.parseDicom(bytes);
  const rows = ds.uint16('x00280010')!, cols = ds.uint16('x00280011')!;
  const bitsStored = ds.uint16('x00280101') ?? 16;
  const signed = ds.uint16('x00280103') === 1;
  const slope = Number(ds.string('x00281053') ?? 1), intercept = Number(ds.string('x00281052') ?? 0);
  const el = ds.elements.x7fe00010;
  const frame = dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, el.fragments!.length);
  const j = decodeJpegLossless(frame);
  if (j.width !== cols || j.height !== rows) throw new Error(`JPEG ${j.width}x${j.height} in a ${cols}x${rows} DICOM`);
  const hu = new Float32Array(rows * cols);
  const sh = 32 - bitsStored;
  for (let i = 0; i < hu.length; i++) {
    let v = j.data[i] & ((1 << bitsStored) - 1);
    if (signed) v = (v << sh) >> sh;
    hu[i] = v * slope + intercept;
  }
  return { width: cols, height: rows, hu };
}
