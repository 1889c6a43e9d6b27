/**
 * Reads a request body into memory under limits that hold whatever the client does: at most `maxBytes`, no
 * slower than `minBytesPerSecond` on average once `graceMs` have passed (a client trickling bytes is cut), and
 * at most `maxParts` multipart parts (counted on the raw bytes, before any form parser allocates per part).
 * Pure of HTTP frameworks: it takes a web ReadableStream and throws BodyError with the status to answer.
 */

export interface BodyLimits {
  maxBytes: number;
  /** Average bytes per second an upload must keep once the grace period has passed. */
  minBytesPerSecond: number;
  graceMs: number;
  /** Multipart parts (files) per request. */
  maxParts: number;
}

export class BodyError extends Error {
  constructor(readonly status: 400 | 408 | 413, message: string) {
    super(message);
    this.name = 'BodyError';
  }
}

const formatBytes = (n: number): string => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(0)} MB` : `${(n / 1024).toFixed(0)} KB`);

export async function readBody(body: ReadableStream<Uint8Array> | null, limits: BodyLimits, boundary?: string): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const started = performance.now();
  let size = 0;
  // Chunks kept as they come and joined once at the end (growing one buffer cost ~1 s per 27 MB under load).
  const chunks: Uint8Array[] = [];
  let tooSlow: BodyError | undefined;
  // Checked on a timer too: a client that sends nothing at all never wakes the reader.
  const check = () => {
    const elapsed = performance.now() - started;
    if (elapsed > limits.graceMs && size < (limits.minBytesPerSecond * elapsed) / 1000) {
      tooSlow = new BodyError(408, `the upload was too slow (under ${formatBytes(limits.minBytesPerSecond)}/s after ${limits.graceMs / 1000} s): cut off`);
      return true;
    }
    return false;
  };
  const timer = setInterval(() => { if (check()) reader.cancel(tooSlow).catch(() => undefined); }, Math.max(50, Math.min(1000, limits.graceMs / 4)));
  try {
    for (;;) {
      const { done, value } = await reader.read().catch((e: unknown) => { if (tooSlow) throw tooSlow; throw e; });
      if (tooSlow) throw tooSlow;
      if (done) break;
      size += value.length;
      if (size > limits.maxBytes) {
        reader.cancel().catch(() => undefined);
        throw new BodyError(413, `the upload is larger than the limit of ${formatBytes(limits.maxBytes)} per request`);
      }
      if (check()) { reader.cancel().catch(() => undefined); throw tooSlow!; }
      chunks.push(value);
    }
  } finally {
    clearInterval(timer);
  }
  const bytes = await join(chunks, size);
  if (boundary !== undefined) {
    // Counting stops one past the limit: 400,000 parts cost no more than 1001.
    if (countParts(bytes, boundary, limits.maxParts + 1) > limits.maxParts) {
      throw new BodyError(413, `the upload holds more than ${limits.maxParts} files, over the limit of ${limits.maxParts} files per request (zip a whole series into one file)`);
    }
  }
  return bytes;
}

/**
 * The chunks as one array, copied in 2 MB steps with a turn for the event loop between them: on some hosts
 * touching fresh memory costs ~30 ms per MB, and a 50 MB body must not hold /healthz for a second and a half.
 */
async function join(chunks: Uint8Array[], size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let o = 0, sinceYield = 0;
  for (let i = 0; i < chunks.length; i++) {
    out.set(chunks[i], o);
    o += chunks[i].length;
    sinceYield += chunks[i].length;
    chunks[i] = EMPTY; // dropped as soon as copied
    if (sinceYield >= 2 << 20) { sinceYield = 0; await new Promise((r) => setImmediate(r)); }
  }
  return out;
}
const EMPTY = new Uint8Array(0);

/**
 * Multipart parts in a body: delimiters "--boundary" at the start or after CRLF (the closing "--boundary--" not
 * counted), up to `stopAt`.
 */
export function countParts(bytes: Uint8Array, boundary: string, stopAt = Infinity): number {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  let n = 0;
  for (let at = buf.indexOf(delimiter); at >= 0; at = buf.indexOf(delimiter, at + delimiter.length)) {
    // The delimiter begins the body or follows CRLF; the closing delimiter ends with "--".
    if (at > 1 && !(buf[at - 2] === 0x0d && buf[at - 1] === 0x0a)) continue;
    const after = at + delimiter.length;
    if (buf[after] === 0x2d && buf[after + 1] === 0x2d) continue;
    if (++n >= stopAt) break;
  }
  return n;
}

/** The boundary parameter of a multipart/form-data content type, if any. */
export function multipartBoundary(contentType: string): string | undefined {
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}
