/**
 * Test-only writer of small DICOM Part-10 files, so that every decoding path is tested on bytes we control:
 * implicit/explicit VR little endian, explicit VR big endian, deflated, RLE Lossless, multi-frame, and
 * JPEG lossless (our own small encoder, jpegLosslessEncode), and encapsulated data under any transfer syntax
 * UID (for the "cannot decode" errors).
 */
import { deflateRawSync, constants as zlibConstants } from 'node:zlib';

export const TS = {
  implicit: '1.2.840.10008.1.2',
  explicit: '1.2.840.10008.1.2.1',
  deflate: '1.2.840.10008.1.2.1.99',
  big: '1.2.840.10008.1.2.2',
  rle: '1.2.840.10008.1.2.5',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegLossless: '1.2.840.10008.1.2.4.57',
  jpegLosslessSV1: '1.2.840.10008.1.2.4.70',
  jpeg2000: '1.2.840.10008.1.2.4.91',
  htj2k: '1.2.840.10008.1.2.4.201',
} as const;

export interface DicomSpec {
  transferSyntax?: string;
  rows: number;
  columns: number;
  frames?: number;
  bitsAllocated?: 8 | 16;
  bitsStored?: number;
  highBit?: number;
  pixelRepresentation?: 0 | 1;
  samplesPerPixel?: 1 | 3;
  /** 0: RGBRGB..., 1: RRR..GGG..BBB... (the `pixels` are always given pixel-interleaved). */
  planarConfiguration?: 0 | 1;
  photometric?: string;
  modality?: string;
  rescaleSlope?: number;
  rescaleIntercept?: number;
  windowCenter?: number;
  windowWidth?: number;
  instanceNumber?: number;
  imagePosition?: number[];
  imageOrientation?: number[];
  seriesUid?: string;
  patientName?: string;
  patientId?: string;
  /** Enhanced multi-frame: one ImagePositionPatient per frame in the per-frame functional groups (explicit VR only). */
  perFramePositions?: number[][];
  /** Enhanced multi-frame: one rescale intercept per frame in the per-frame functional groups. */
  perFrameIntercepts?: number[];
  /** Enhanced multi-frame: orientation and rescale in the shared functional groups (explicit VR only). */
  shared?: { orientation?: number[]; slope?: number; intercept?: number };
  /** Stored sample values, frame after frame, pixel-interleaved; negative values are written two's complement. */
  pixels?: ArrayLike<number>;
  /** Leave out (7FE0,0010) altogether. */
  noPixelData?: boolean;
  /** SOP Class UID, in the meta group and the data set (default CT Image Storage; DICOMDIR_CLASS for an index). */
  sopClass?: string;
  /** Encapsulated frames written as-is (one fragment each), for compressed transfer syntaxes. */
  fragments?: Uint8Array[];
}

interface El { tag: number; vr: string; value: Uint8Array; undefinedLength?: boolean }

const LONG_VRS = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN']);

class Bytes {
  private parts: number[] = [];
  constructor(private readonly le: boolean) {}
  u16(v: number) { this.le ? this.parts.push(v & 255, v >> 8) : this.parts.push(v >> 8, v & 255); return this; }
  u32(v: number) { const b = [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24]; this.parts.push(...(this.le ? b : b.reverse())); return this; }
  bytes(b: ArrayLike<number>) { for (let i = 0; i < b.length; i++) this.parts.push(b[i]); return this; }
  done(): Uint8Array { return Uint8Array.from(this.parts); }
}

const ascii = (s: string, pad = ' '): Uint8Array => {
  const t = s.length % 2 ? s + pad : s;
  return Uint8Array.from(t, (c) => c.charCodeAt(0));
};
const us = (v: number, le: boolean): Uint8Array => new Bytes(le).u16(v).done();

function encodeElement(e: El, explicit: boolean, le: boolean): Uint8Array {
  const b = new Bytes(le).u16(e.tag >>> 16).u16(e.tag & 0xffff);
  const length = e.undefinedLength ? 0xffffffff : e.value.length;
  if (explicit) {
    b.bytes(ascii(e.vr));
    if (LONG_VRS.has(e.vr)) b.u16(0).u32(length);
    else b.u16(length);
  } else {
    b.u32(length);
  }
  return concat([b.done(), e.value]);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** PackBits as DICOM RLE uses it: repeat runs of 2..128 bytes, literal runs of 1..128 bytes. */
export function packBits(src: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  while (i < src.length) {
    let run = 1;
    while (i + run < src.length && src[i + run] === src[i] && run < 128) run++;
    if (run >= 2) { out.push(257 - run, src[i]); i += run; continue; }
    let j = i + 1;
    while (j < src.length && j - i < 128 && !(j + 1 < src.length && src[j] === src[j + 1])) j++;
    out.push(j - i - 1, ...src.subarray(i, j));
    i = j;
  }
  if (out.length % 2) out.push(0x80); // segments are padded to even length with a no-op
  return Uint8Array.from(out);
}

/** One RLE frame: header + one segment per byte plane (MSB plane first for each sample). */
function rleFrame(samples: number[], pixels: number, spp: number, bytesPerSample: number): Uint8Array {
  const segments: Uint8Array[] = [];
  for (let s = 0; s < spp; s++) {
    for (let byte = bytesPerSample - 1; byte >= 0; byte--) {
      const plane = new Uint8Array(pixels);
      for (let p = 0; p < pixels; p++) plane[p] = (samples[p * spp + s] >> (8 * byte)) & 255;
      segments.push(packBits(plane));
    }
  }
  const header = new Bytes(true).u32(segments.length);
  let offset = 64;
  for (let k = 0; k < 15; k++) {
    header.u32(k < segments.length ? offset : 0);
    if (k < segments.length) offset += segments[k].length;
  }
  return concat([header.done(), ...segments]);
}

function encapsulated(frames: Uint8Array[]): Uint8Array {
  const item = (data: Uint8Array) => concat([new Bytes(true).u16(0xfffe).u16(0xe000).u32(data.length).done(), data]);
  const padded = frames.map((f) => (f.length % 2 ? concat([f, new Uint8Array(1)]) : f));
  return concat([item(new Uint8Array(0)), ...padded.map(item), new Bytes(true).u16(0xfffe).u16(0xe0dd).u32(0).done()]);
}

/** A complete Part-10 file (preamble, DICM, meta header, data set) for the spec. */
export function writeDicom(spec: DicomSpec): Uint8Array {
  const ts = spec.transferSyntax ?? TS.explicit;
  const le = ts !== TS.big;
  const explicit = ts !== TS.implicit;
  const frames = spec.frames ?? 1;
  const spp = spec.samplesPerPixel ?? 1;
  const ba = spec.bitsAllocated ?? 16;
  const str = (tag: number, vr: string, v: string): El => ({ tag, vr, value: ascii(v, vr === 'UI' ? '\0' : ' ') });
  const els: El[] = [
    str(0x00080016, 'UI', spec.sopClass ?? '1.2.840.10008.5.1.4.1.1.2'),
    str(0x00080018, 'UI', '1.2.3.4.5.6.7.8.1'),
    str(0x00100010, 'PN', spec.patientName ?? 'DOE^JANE'),
    str(0x00100020, 'LO', spec.patientId ?? 'PID-12345'),
    { tag: 0x00280002, vr: 'US', value: us(spp, le) },
    str(0x00280004, 'CS', spec.photometric ?? (spp === 3 ? 'RGB' : 'MONOCHROME2')),
    { tag: 0x00280010, vr: 'US', value: us(spec.rows, le) },
    { tag: 0x00280011, vr: 'US', value: us(spec.columns, le) },
    { tag: 0x00280100, vr: 'US', value: us(ba, le) },
    { tag: 0x00280101, vr: 'US', value: us(spec.bitsStored ?? ba, le) },
    { tag: 0x00280102, vr: 'US', value: us(spec.highBit ?? (spec.bitsStored ?? ba) - 1, le) },
    { tag: 0x00280103, vr: 'US', value: us(spec.pixelRepresentation ?? 0, le) },
  ];
  if (spec.modality) els.push(str(0x00080060, 'CS', spec.modality));
  if (spec.seriesUid) els.push(str(0x0020000e, 'UI', spec.seriesUid));
  if (spec.instanceNumber !== undefined) els.push(str(0x00200013, 'IS', String(spec.instanceNumber)));
  if (spec.imagePosition) els.push(str(0x00200032, 'DS', spec.imagePosition.join('\\')));
  if (spec.imageOrientation) els.push(str(0x00200037, 'DS', spec.imageOrientation.join('\\')));
  if (spp === 3) els.push({ tag: 0x00280006, vr: 'US', value: us(spec.planarConfiguration ?? 0, le) });
  if (frames > 1) els.push(str(0x00280008, 'IS', String(frames)));
  if (spec.windowCenter !== undefined) els.push(str(0x00281050, 'DS', String(spec.windowCenter)));
  if (spec.windowWidth !== undefined) els.push(str(0x00281051, 'DS', String(spec.windowWidth)));
  if (spec.rescaleIntercept !== undefined) els.push(str(0x00281052, 'DS', String(spec.rescaleIntercept)));
  if (spec.rescaleSlope !== undefined) els.push(str(0x00281053, 'DS', String(spec.rescaleSlope)));

  // Sequences with defined lengths: SQ -> items (FFFE,E000) -> elements, all explicit VR little endian.
  const item = (children: El[]): Uint8Array => {
    const body = concat(children.sort((x, y) => x.tag - y.tag).map((e) => encodeElement(e, explicit, le)));
    return concat([new Bytes(le).u16(0xfffe).u16(0xe000).u32(body.length).done(), body]);
  };
  const sq = (tag: number, items: El[][]): El => ({ tag, vr: 'SQ', value: concat(items.map(item)) });
  if (spec.perFramePositions || spec.perFrameIntercepts) {
    els.push(sq(0x52009230, Array.from({ length: frames }, (_, f) => {
      const group: El[] = [];
      const p = spec.perFramePositions?.[f];
      if (p) group.push(sq(0x00209113, [[str(0x00200032, 'DS', p.join('\\'))]]));
      const intercept = spec.perFrameIntercepts?.[f];
      if (intercept !== undefined) group.push(sq(0x00289145, [[str(0x00281052, 'DS', String(intercept)), str(0x00281053, 'DS', '1')]]));
      return group;
    })));
  }
  if (spec.shared) {
    const groups: El[] = [];
    if (spec.shared.orientation) groups.push(sq(0x00209116, [[str(0x00200037, 'DS', spec.shared.orientation.join('\\'))]]));
    if (spec.shared.slope !== undefined || spec.shared.intercept !== undefined) {
      groups.push(sq(0x00289145, [[str(0x00281052, 'DS', String(spec.shared.intercept ?? 0)), str(0x00281053, 'DS', String(spec.shared.slope ?? 1))]]));
    }
    els.push(sq(0x52009229, [groups]));
  }
  if (!spec.noPixelData) {
    const pixels = spec.rows * spec.columns;
    const samples = Array.from(spec.pixels ?? new Array(pixels * spp * frames).fill(0), (v) => v & (ba === 16 ? 0xffff : 0xff));
    if (spec.fragments) {
      els.push({ tag: 0x7fe00010, vr: 'OB', value: encapsulated(spec.fragments), undefinedLength: true });
    } else if (ts === TS.rle) {
      const perFrame = pixels * spp;
      const rle = Array.from({ length: frames }, (_, f) => rleFrame(samples.slice(f * perFrame, (f + 1) * perFrame), pixels, spp, ba / 8));
      els.push({ tag: 0x7fe00010, vr: 'OB', value: encapsulated(rle), undefinedLength: true });
    } else {
      let ordered = samples;
      if (spp === 3 && spec.planarConfiguration === 1) {
        ordered = [];
        for (let f = 0; f < frames; f++) for (let c = 0; c < 3; c++) for (let p = 0; p < pixels; p++) ordered.push(samples[(f * pixels + p) * 3 + c]);
      }
      const b = new Bytes(le);
      if (ba === 16) for (const v of ordered) b.u16(v); else b.bytes(ordered);
      let value = b.done();
      if (value.length % 2) value = concat([value, new Uint8Array(1)]);
      els.push({ tag: 0x7fe00010, vr: ba === 16 ? 'OW' : 'OB', value });
    }
  }
  els.sort((a, b) => a.tag - b.tag);
  let dataSet = concat(els.map((e) => encodeElement(e, explicit, le)));
  if (ts === TS.deflate) dataSet = deflateRawSync(dataSet);

  const meta = [
    { tag: 0x00020001, vr: 'OB', value: Uint8Array.of(0, 1) },
    str(0x00020002, 'UI', spec.sopClass ?? '1.2.840.10008.5.1.4.1.1.2'),
    str(0x00020003, 'UI', '1.2.3.4.5.6.7.8.1'),
    str(0x00020010, 'UI', ts),
    str(0x00020012, 'UI', '1.2.3.4.99'),
  ].map((e) => encodeElement(e, true, true));
  const metaBytes = concat(meta);
  const groupLength = encodeElement({ tag: 0x00020000, vr: 'UL', value: new Bytes(true).u32(metaBytes.length).done() }, true, true);
  const preamble = new Uint8Array(132);
  preamble.set(ascii('DICM'), 128);
  return concat([preamble, groupLength, metaBytes, dataSet]);
}

/** A stored zip entry or deflated entry written by hand, with sizes and CRC as given (they may lie). */
export interface RawZipEntry { name: string; data: Uint8Array; method: 0 | 8; crc: number; declaredSize: number }

/** A zip archive from raw entries: local headers, data, central directory, end record. */
export function writeRawZip(entries: RawZipEntry[]): Uint8Array {
  const locals: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Uint8Array.from(Buffer.from(e.name, 'utf8'));
    const local = concat([new Bytes(true).u32(0x04034b50).u16(20).u16(0x800).u16(e.method).u16(0).u16(0).u32(e.crc).u32(e.data.length).u32(e.declaredSize).u16(name.length).u16(0).done(), name, e.data]);
    central.push(concat([new Bytes(true).u32(0x02014b50).u16(20).u16(20).u16(0x800).u16(e.method).u16(0).u16(0).u32(e.crc).u32(e.data.length).u32(e.declaredSize).u16(name.length).u16(0).u16(0).u16(0).u16(0).u32(0).u32(offset).done(), name]));
    locals.push(local);
    offset += local.length;
  }
  const dir = concat(central);
  const end = new Bytes(true).u32(0x06054b50).u16(0).u16(0).u16(entries.length).u16(entries.length).u32(dir.length).u32(offset).u16(0).done();
  return concat([...locals, dir, end]);
}

/** A 64x64 CT slice with some structure: a disc of soft tissue in air, varying with `seed`. */
export function ctSlice(seed: number, extra: Partial<DicomSpec> = {}): Uint8Array {
  const n = 64;
  const pixels: number[] = [];
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const r = Math.hypot(x - 32, y - 32);
      const hu = r < 26 ? (r < 20 ? -850 + ((x * 7 + y * 13 + seed * 31) % 200) : 40) : -1000;
      pixels.push(hu + 1024);
    }
  }
  return writeDicom({ rows: n, columns: n, modality: 'CT', pixelRepresentation: 1, rescaleIntercept: -1024, rescaleSlope: 1,
    pixels, seriesUid: '1.2.3.4.5.6.7', imageOrientation: [1, 0, 0, 0, 1, 0], imagePosition: [0, 0, seed * 5], instanceNumber: seed,
    patientName: 'SECRET^PATIENT', patientId: 'ID-424242', ...extra });
}

/**
 * The deflate data of a zip bomb: 1 GB of zeros in under 2 MB. 1 MB of zeros deflated and sync-flushed ends on a
 * byte boundary with the block still open; 1024 copies are a valid stream of 1 GB (each copy's first literal
 * continues the run), closed by an empty final fixed block.
 */
export function zipBombStream(): Uint8Array {
  const chunk = deflateRawSync(new Uint8Array(1 << 20), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  return concat([...new Array(1024).fill(chunk), Uint8Array.of(0x03, 0x00)]);
}

export interface JpegLosslessSpec {
  width: number;
  height: number;
  /** Sample precision P, 2-16 bits. */
  precision: number;
  /** 1 grey, 3 colour (pixel-interleaved in `samples`, one interleaved scan). */
  components?: number;
  /** Selection value 1-7 (default 1, first-order prediction). */
  predictor?: number;
  /** Point transform Pt: the low Pt bits of every sample are dropped (they must be zero for a round trip). */
  pointTransform?: number;
  /** Restart interval in samples (MCUs); a multiple of the width; 0 or absent for none. */
  restartInterval?: number;
}

/**
 * A tiny JPEG lossless encoder (T.81 process 14, annex H): SOI, DHT (one fixed table over difference categories
 * 0-16), SOF3, DRI, SOS, Huffman-coded differences with FF00 stuffing, RSTm markers, EOI. Samples are P-bit
 * patterns (two's complement values masked to P bits). Independent of the decoder: it only shares the standard.
 */
export function jpegLosslessEncode(samples: ArrayLike<number>, spec: JpegLosslessSpec): Uint8Array {
  const { width, height, precision } = spec;
  const nc = spec.components ?? 1;
  const predictor = spec.predictor ?? 1;
  const pt = spec.pointTransform ?? 0;
  const ri = spec.restartInterval ?? 0;
  // Code lengths: categories 0-14 get 4 bits (0000..1110), 15 gets 11110, 16 gets 111110 (no all-ones code).
  const lengths = [...new Array(15).fill(4), 5, 6];
  const codes: number[] = [];
  let code = 0;
  for (let len = 1, k = 0; len <= 16; len++) {
    for (; k < 17 && lengths[k] === len; k++) codes.push(code++);
    code <<= 1;
  }
  const counts = new Array(16).fill(0);
  for (const l of lengths) counts[l - 1]++;
  const seg = (marker: number, body: number[]): number[] => [0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 255, ...body];
  const head: number[] = [0xff, 0xd8];
  head.push(...seg(0xc4, [0x00, ...counts, ...Array.from({ length: 17 }, (_, i) => i)]));
  const comps: number[] = [];
  for (let c = 0; c < nc; c++) comps.push(c + 1, 0x11, 0);
  head.push(...seg(0xc3, [precision, height >> 8, height & 255, width >> 8, width & 255, nc, ...comps]));
  if (ri) head.push(...seg(0xdd, [ri >> 8, ri & 255]));
  const scanComps: number[] = [];
  for (let c = 0; c < nc; c++) scanComps.push(c + 1, 0x00);
  head.push(...seg(0xda, [nc, ...scanComps, predictor, 0, pt]));

  const out: number[] = [];
  let acc = 0, nbits = 0;
  const put = (value: number, n: number): void => {
    for (let i = n - 1; i >= 0; i--) {
      acc = (acc << 1) | ((value >> i) & 1);
      if (++nbits === 8) { out.push(acc); if (acc === 0xff) out.push(0); acc = 0; nbits = 0; }
    }
  };
  const flush = (): void => { if (nbits) put(0x7f, 8 - nbits); }; // pad with 1 bits
  const mask = (1 << (precision - pt)) - 1;
  const at = (x: number, y: number, c: number): number => (samples[(y * width + x) * nc + c] >> pt) & mask;
  const rowsPerRestart = ri ? ri / width : 0;
  let restarts = 0;
  for (let y = 0; y < height; y++) {
    const first = y === 0 || (rowsPerRestart > 0 && y % rowsPerRestart === 0);
    if (y > 0 && first) { flush(); out.push(0xff, 0xd0 + (restarts++ % 8)); }
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < nc; c++) {
        let p: number;
        if (first) p = x === 0 ? 1 << (precision - pt - 1) : at(x - 1, y, c);
        else if (x === 0) p = at(0, y - 1, c);
        else {
          const ra = at(x - 1, y, c), rb = at(x, y - 1, c), rc = at(x - 1, y - 1, c);
          p = [0, ra, rb, rc, ra + rb - rc, ra + ((rb - rc) >> 1), rb + ((ra - rc) >> 1), (ra + rb) >> 1][predictor];
        }
        let d = (at(x, y, c) - p) & 0xffff;
        if (d >= 32768) d -= 65536;
        if (d === -32768) { put(codes[16], lengths[16]); continue; }
        const cat = d === 0 ? 0 : 32 - Math.clz32(Math.abs(d));
        put(codes[cat], lengths[cat]);
        if (cat) put(d >= 0 ? d : d + (1 << cat) - 1, cat);
      }
    }
  }
  flush();
  return Uint8Array.from([...head, ...out, 0xff, 0xd9]);
}

/** Raw deflate of `mb` MB of zeros (a bomb: ~1 KB per MB), as a complete stream (see zipBombStream). */
export function zeros(mb: number): Uint8Array {
  const chunk = deflateRawSync(new Uint8Array(1 << 20), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  return concat([...new Array(mb).fill(chunk), Uint8Array.of(0x03, 0x00)]);
}

/** `n` directory records that all point at one local entry holding deflated `data` (the non-recursive zip bomb). */
export function overlappingZip(n: number, data: Uint8Array): Uint8Array {
  const name = Buffer.from('IM0000');
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt16LE(8, 8);
  local.writeUInt32LE(data.length, 18); local.writeUInt32LE(1000, 22); local.writeUInt16LE(name.length, 26);
  const head = Buffer.concat([local, name, data]);
  const records = Array.from({ length: n }, (_, i) => {
    const nm = Buffer.from(`IM${String(i).padStart(4, '0')}`);
    const r = Buffer.alloc(46);
    r.writeUInt32LE(0x02014b50, 0); r.writeUInt16LE(20, 4); r.writeUInt16LE(20, 6); r.writeUInt16LE(8, 10);
    r.writeUInt32LE(data.length, 20); r.writeUInt32LE(1000, 24); r.writeUInt16LE(nm.length, 28); r.writeUInt32LE(0, 42);
    return Buffer.concat([r, nm]);
  });
  const dir = Buffer.concat(records);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(n, 8); end.writeUInt16LE(n, 10);
  end.writeUInt32LE(dir.length, 12); end.writeUInt32LE(head.length, 16);
  return new Uint8Array(Buffer.concat([head, dir, end]));
}

/** The start of a deflated-transfer-syntax DICOM (preamble and meta group) followed by `mb` MB of deflated zeros. */
export function deflatedDicomBomb(mb: number): Uint8Array {
  const meta = writeDicom({ rows: 64, columns: 64, modality: 'CT', transferSyntax: TS.deflate, noPixelData: true });
  const v = new DataView(meta.buffer, meta.byteOffset, meta.byteLength);
  return concat([meta.subarray(0, 132 + 12 + v.getUint32(140, true)), zeros(mb)]);
}

/** The byte offset of `tag` (group, element, little endian) in `bytes`, after the 132-byte preamble. */
function tagAt(bytes: Uint8Array, tag: number): number {
  const want = Uint8Array.of((tag >>> 16) & 255, tag >>> 24, tag & 255, (tag >>> 8) & 255);
  for (let i = 132; i + 4 <= bytes.length; i++) if (want.every((b, k) => bytes[i + k] === b)) return i;
  throw new Error(`tag ${tag.toString(16)} not found`);
}

/**
 * Kinds of broken or hostile DICOM Part-10 files, each a few KB, all carrying a patient name and ID (which must
 * never come back in an answer or a log): truncated files, lying lengths and counts, impossible sizes, data
 * that does not decode. A name per kind; `readsAsIntact` marks the one damage a reader should look past (the
 * file then reads as ctSlice(1)).
 */
export function malformedDicoms(patientName = 'SECRET^PATIENT', patientId = 'ID-424242'): { name: string; bytes: Uint8Array; readsAsIntact?: true }[] {
  const who = { patientName, patientId };
  const good = ctSlice(1, who);
  const patched = (src: Uint8Array, edit: (b: Uint8Array, v: DataView) => void): Uint8Array => {
    const b = src.slice();
    edit(b, new DataView(b.buffer, b.byteOffset, b.byteLength));
    return b;
  };
  const small = (extra: Partial<DicomSpec>) => writeDicom({ rows: 8, columns: 8, modality: 'CT', ...who, ...extra });
  const rleHeader = new Uint8Array(64);
  new DataView(rleHeader.buffer).setUint32(0, 15, true); // 15 segments
  for (let s = 1; s <= 15; s++) new DataView(rleHeader.buffer).setUint32(s * 4, 0xfffffff0, true); // offsets far past the end
  return [
    { name: 'truncated.dcm', bytes: good.subarray(0, Math.floor(good.length * 0.6)) },
    { name: 'wrong-preamble.dcm', bytes: patched(good, (b) => b.set([0x44, 0x49, 0x43, 0x58], 128)) }, // "DICX"
    { name: 'preamble-only.dcm', bytes: good.subarray(0, 132) },
    // The pixel data (OW, 32-bit length) says 2 GB; the file holds 8 KB.
    { name: 'lying-pixel-length.dcm', bytes: patched(good, (b, v) => v.setUint32(tagAt(b, 0x7fe00010) + 8, 0x7ffffff0, true)) },
    // The meta group length says 4 GB: readers walk the meta elements themselves, so it reads as the intact slice.
    { name: 'lying-meta-length.dcm', bytes: patched(good, (_, v) => v.setUint32(140, 0xfffffff0, true)), readsAsIntact: true },
    { name: 'huge-rows-columns.dcm', bytes: patched(small({}), (b, v) => { v.setUint16(tagAt(b, 0x00280010) + 8, 65535, true); v.setUint16(tagAt(b, 0x00280011) + 8, 65535, true); }) },
    { name: 'zero-length-pixels.dcm', bytes: small({ rows: 64, columns: 64, pixels: [] }) },
    { name: 'no-pixel-data.dcm', bytes: small({ noPixelData: true }) },
    { name: 'unknown-transfer-syntax.dcm', bytes: small({ transferSyntax: '1.2.3.999.1', fragments: [new Uint8Array(64)] }) },
    { name: 'corrupt-jpeg-lossless.dcm', bytes: small({ transferSyntax: TS.jpegLosslessSV1, fragments: [Uint8Array.from({ length: 200 }, (_, i) => (i * 37) & 255)] }) },
    { name: 'rle-lying-offsets.dcm', bytes: small({ transferSyntax: TS.rle, fragments: [rleHeader] }) },
    { name: 'corrupt-deflate.dcm', bytes: patched(small({ transferSyntax: TS.deflate }), (b, v) => b.fill(0xff, 132 + 12 + v.getUint32(140, true))) },
    // NumberOfFrames says 99; the data holds 10 frames.
    { name: 'lying-frame-count.dcm', bytes: patched(small({ frames: 10 }), (b) => b.set([0x39, 0x39], tagAt(b, 0x00280008) + 8)) },
    { name: 'bits-stored-over-allocated.dcm', bytes: small({ bitsStored: 32, highBit: 31 }) },
  ];
}
