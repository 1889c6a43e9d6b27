/**
 * multipart/related bodies (RFC 2387) as DICOMweb uses them: WADO-RS answers with one part per instance, STOW-RS
 * takes one part per file. Pure: bytes in, parts out, and back.
 */

export interface Part {
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: Uint8Array;
}

/** The boundary parameter of a multipart Content-Type; throws with the header shown when there is none. */
export function boundaryOf(contentType: string): string {
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!/^multipart\//i.test(contentType.trim()) || !m) throw new Error(`not a multipart answer (Content-Type: ${contentType || 'none'})`);
  return m[1] ?? m[2];
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  outer: for (let i = hay.indexOf(first, from); i !== -1 && i <= hay.length - needle.length; i = hay.indexOf(first, i + 1)) {
    for (let k = 1; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The parts of a multipart body; a body cut short (no closing delimiter) is an error, not fewer parts. */
export function parseMultipart(body: Uint8Array, boundary: string): Part[] {
  const delim = enc.encode(`--${boundary}`);
  const parts: Part[] = [];
  let at = indexOf(body, delim, 0);
  if (at < 0) throw new Error('multipart body without its boundary');
  for (;;) {
    let start = at + delim.length;
    if (body[start] === 0x2d && body[start + 1] === 0x2d) return parts; // closing "--boundary--"
    // The rest of the delimiter line (transport padding), then CRLF.
    const eol = indexOf(body, enc.encode('\r\n'), start);
    if (eol < 0) break;
    start = eol + 2;
    const headerEnd = indexOf(body, enc.encode('\r\n\r\n'), start);
    const next = indexOf(body, enc.encode(`\r\n--${boundary}`), start);
    if (next < 0) break;
    const headers: Record<string, string> = {};
    let bodyStart = start;
    if (headerEnd >= 0 && headerEnd <= next) {
      for (const line of dec.decode(body.subarray(start, headerEnd)).split('\r\n')) {
        const c = line.indexOf(':');
        if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
      }
      bodyStart = headerEnd + 4;
    } else if (body[start] === 0x0d && body[start + 1] === 0x0a) {
      bodyStart = start + 2; // a part with no headers
    }
    parts.push({ headers, body: body.subarray(bodyStart, next) });
    at = next + 2;
  }
  throw new Error(`multipart body cut short after ${parts.length} part(s)`);
}

/** A multipart/related body of `parts`, each with its Content-Type. */
export function buildMultipart(parts: { contentType: string; body: Uint8Array }[], boundary: string): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    chunks.push(enc.encode(`--${boundary}\r\nContent-Type: ${p.contentType}\r\nContent-Length: ${p.body.length}\r\n\r\n`), p.body, enc.encode('\r\n'));
  }
  chunks.push(enc.encode(`--${boundary}--\r\n`));
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}
