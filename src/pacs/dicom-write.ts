/**
 * A small DICOM Part 10 writer for what covid-ct stores back into a PACS (a structured report, secondary-capture
 * images): explicit VR little endian, nested sequences with defined lengths, text as UTF-8 (declared ISO_IR 192
 * when any of it is not ASCII). Pure: a dataset in, bytes out. Written here rather than taken from npm because
 * the dcmjs versions that run on Node 20 are old, and what we write is a few dozen plain attributes.
 */

export type Vr =
  | 'AE' | 'AS' | 'CS' | 'DA' | 'DS' | 'DT' | 'IS' | 'LO' | 'LT' | 'PN' | 'SH' | 'ST' | 'TM' | 'UC' | 'UI' | 'UR' | 'UT'
  | 'US' | 'UL' | 'SS' | 'SL' | 'FL' | 'FD' | 'OB' | 'OW' | 'UN' | 'SQ';

/** One attribute; `value` is text (or several, joined by backslashes), numbers, bytes or the items of a sequence. */
export interface DicomElement {
  /** (group << 16) | element, e.g. 0x00100010 for PatientName. */
  tag: number;
  vr: Vr;
  value: string | string[] | number[] | Uint8Array | DicomDataset[];
}

export type DicomDataset = DicomElement[];

export const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';
/** covid-ct's implementation class UID (a UUID-derived 2.25 root) and name, in every file's meta header. */
export const IMPLEMENTATION_CLASS_UID = '2.25.261335913934218473628496451592640418641';
export const IMPLEMENTATION_VERSION = 'COVID_CT_010';

const TEXT_VRS = new Set<Vr>(['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT']);
/** VRs with a 2-byte reserved field and a 4-byte length in explicit VR. */
const LONG_VRS = new Set<Vr>(['OB', 'OW', 'UN', 'SQ', 'UC', 'UR', 'UT']);
/** Maximum lengths (bytes) of the text VRs that have one, so that we never write what a reader must refuse. */
const MAX_LENGTH: Partial<Record<Vr, number>> = { AE: 16, AS: 4, CS: 16, DA: 8, DS: 16, DT: 26, IS: 12, LO: 64, SH: 16, TM: 14, UI: 64, PN: 64 * 3 + 2 };

const utf8 = new TextEncoder();

/** The bytes of an element's value, padded to even length (UI with NUL, other text with a space, binary with 0). */
export function encodeValue(el: DicomElement): Uint8Array {
  const { vr, value } = el;
  if (vr === 'SQ') throw new Error('encodeValue: sequences are written by writeDataset');
  if (TEXT_VRS.has(vr)) {
    const parts = Array.isArray(value) ? (value as (string | number)[]).map(String) : [String(value)];
    const max = MAX_LENGTH[vr];
    for (const p of parts) {
      if (max !== undefined && utf8.encode(p).length > max) throw new RangeError(`${tagName(el.tag)} ${vr} value longer than ${max} bytes: "${p.slice(0, 80)}"`);
      if (vr !== 'LT' && vr !== 'ST' && vr !== 'UT' && p.includes('\\')) {
        // A value with a backslash would read back as several values.
        throw new RangeError(`${tagName(el.tag)} ${vr} value contains a backslash: "${p.slice(0, 80)}"`);
      }
    }
    const bytes = utf8.encode(parts.join('\\'));
    return pad(bytes, vr === 'UI' ? 0 : 0x20);
  }
  if (value instanceof Uint8Array) return pad(value, 0);
  const nums = value as number[];
  const size = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8 }[vr as 'US'];
  if (!size) throw new Error(`${tagName(el.tag)}: ${vr} needs bytes, got numbers`);
  const out = new Uint8Array(nums.length * size);
  const dv = new DataView(out.buffer);
  nums.forEach((n, i) => {
    const o = i * size;
    if (vr === 'US') dv.setUint16(o, n, true);
    else if (vr === 'SS') dv.setInt16(o, n, true);
    else if (vr === 'UL') dv.setUint32(o, n, true);
    else if (vr === 'SL') dv.setInt32(o, n, true);
    else if (vr === 'FL') dv.setFloat32(o, n, true);
    else dv.setFloat64(o, n, true);
  });
  return out;
}

function pad(bytes: Uint8Array, fill: number): Uint8Array {
  if (bytes.length % 2 === 0) return bytes;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  out[bytes.length] = fill;
  return out;
}

const tagName = (tag: number) => `(${(tag >>> 16).toString(16).padStart(4, '0')},${(tag & 0xffff).toString(16).padStart(4, '0')})`.toUpperCase();

/** Byte chunks of one element, explicit VR little endian; sequences and items with defined lengths. */
function writeElement(el: DicomElement, out: Uint8Array[]): number {
  const head = (length: number): Uint8Array => {
    const long = LONG_VRS.has(el.vr);
    const h = new Uint8Array(long ? 12 : 8);
    const dv = new DataView(h.buffer);
    dv.setUint16(0, el.tag >>> 16, true);
    dv.setUint16(2, el.tag & 0xffff, true);
    h[4] = el.vr.charCodeAt(0);
    h[5] = el.vr.charCodeAt(1);
    if (long) dv.setUint32(8, length, true);
    else {
      if (length > 0xfffe) throw new RangeError(`${tagName(el.tag)} ${el.vr} value of ${length} bytes is too long for its VR`);
      dv.setUint16(6, length, true);
    }
    return h;
  };
  if (el.vr === 'SQ') {
    const items: Uint8Array[] = [];
    let body = 0;
    for (const item of el.value as DicomDataset[]) {
      const chunks: Uint8Array[] = [];
      const len = writeDataset(item, chunks);
      const ih = new Uint8Array(8);
      const dv = new DataView(ih.buffer);
      dv.setUint16(0, 0xfffe, true);
      dv.setUint16(2, 0xe000, true);
      dv.setUint32(4, len, true);
      items.push(ih, ...chunks);
      body += 8 + len;
    }
    const h = head(body);
    out.push(h, ...items);
    return h.length + body;
  }
  const v = encodeValue(el);
  const h = head(v.length);
  out.push(h, v);
  return h.length + v.length;
}

/** Appends a dataset's elements (sorted by tag, as DICOM requires) to `out`; returns the bytes written. */
export function writeDataset(ds: DicomDataset, out: Uint8Array[]): number {
  const sorted = [...ds].sort((a, b) => a.tag - b.tag);
  for (let i = 1; i < sorted.length; i++) if (sorted[i].tag === sorted[i - 1].tag) throw new Error(`duplicate attribute ${tagName(sorted[i].tag)}`);
  let n = 0;
  for (const el of sorted) n += writeElement(el, out);
  return n;
}

function hasNonAscii(ds: DicomDataset): boolean {
  return ds.some((e) => {
    if (e.vr === 'SQ') return (e.value as DicomDataset[]).some(hasNonAscii);
    if (!TEXT_VRS.has(e.vr)) return false;
    const parts = Array.isArray(e.value) ? e.value : [e.value];
    return parts.some((p) => /[^\x00-\x7f]/.test(String(p)));
  });
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}

/**
 * A Part 10 file: 128-byte preamble, "DICM", the file meta group (SOP class and instance taken from the dataset's
 * (0008,0016) and (0008,0018)), then the dataset in explicit VR little endian.
 */
export function writePart10(ds: DicomDataset): Uint8Array {
  const get = (tag: number) => ds.find((e) => e.tag === tag)?.value;
  const sopClass = get(0x00080016), sopInstance = get(0x00080018);
  if (typeof sopClass !== 'string' || typeof sopInstance !== 'string') throw new Error('writePart10: the dataset needs SOPClassUID and SOPInstanceUID');
  const meta: DicomDataset = [
    { tag: 0x00020001, vr: 'OB', value: new Uint8Array([0, 1]) },
    { tag: 0x00020002, vr: 'UI', value: sopClass },
    { tag: 0x00020003, vr: 'UI', value: sopInstance },
    { tag: 0x00020010, vr: 'UI', value: EXPLICIT_VR_LE },
    { tag: 0x00020012, vr: 'UI', value: IMPLEMENTATION_CLASS_UID },
    { tag: 0x00020013, vr: 'SH', value: IMPLEMENTATION_VERSION },
  ];
  const metaChunks: Uint8Array[] = [];
  const metaLength = writeDataset(meta, metaChunks);
  const groupLength: Uint8Array[] = [];
  writeElement({ tag: 0x00020000, vr: 'UL', value: [metaLength] }, groupLength);
  const body: Uint8Array[] = [];
  const data = ds.filter((e) => e.tag >>> 16 !== 0x0002 && e.tag !== 0x00080005);
  // UTF-8 is declared only when needed: readers (dcmtk's VR checker among them) take the default repertoire best.
  if (hasNonAscii(data)) data.push({ tag: 0x00080005, vr: 'CS', value: 'ISO_IR 192' });
  writeDataset(data, body);
  const preamble = new Uint8Array(132);
  preamble.set([0x44, 0x49, 0x43, 0x4d], 128);
  return concat([preamble, ...groupLength, ...metaChunks, ...body]);
}

/**
 * A decimal string (DS: at most 16 characters) as close to `x` as fits; the exact value goes in an FD beside it
 * where the IOD allows (see sr.ts).
 */
export function decimalString(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`DS cannot hold ${x}`);
  for (let p = 16; p >= 1; p--) {
    const s = String(Number(x.toPrecision(p)));
    if (s.length <= 16) return s;
  }
  return x.toExponential(6);
}
