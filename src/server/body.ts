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
  let buffer = new Uint8Array(0);
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
      const offset = size;
      size += value.length;
      if (size > limits.maxBytes) {
        reader.cancel().catch(() => undefined);
        throw new BodyError(413, `the upload is larger than the limit of ${formatBytes(limits.maxBytes)} per request`);
      }
      if (check()) { reader.cancel().catch(() => undefined); throw tooSlow!; }
      if (size > buffer.length) {
        const grown = new Uint8Array(Math.min(limits.maxBytes, Math.max(size, buffer.length * 2, 64 * 1024)));
        grown.set(buffer.subarray(0, offset));
        buffer = grown;
      }
      buffer.set(value, offset);
    }
  } finally {
    clearInterval(timer);
  }
  const bytes = buffer.subarray(0, size);
  if (boundary !== undefined) {
    const parts = countParts(bytes, boundary);
    if (parts > limits.maxParts) {
      throw new BodyError(413, `the upload holds ${parts} files, over the limit of ${limits.maxParts} files per request (zip a whole series into one file)`);
    }
  }
  return bytes;
}

/** Multipart parts in a body: occurrences of the delimiter "--boundary" (the closing one, "--boundary--", not counted). */
export function countParts(bytes: Uint8Array, boundary: string): number {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  let n = 0;
  for (let at = buf.indexOf(delimiter); at >= 0; at = buf.indexOf(delimiter, at + delimiter.length)) {
    // The delimiter begins the body or follows CRLF; the closing delimiter ends with "--".
    if (at > 1 && !(buf[at - 2] === 0x0d && buf[at - 1] === 0x0a)) continue;
    const after = at + delimiter.length;
    if (buf[after] === 0x2d && buf[after + 1] === 0x2d) continue;
    n++;
  }
  return n;
}

/** The boundary parameter of a multipart/form-data content type, if any. */
export function multipartBoundary(contentType: string): string | undefined {
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}
