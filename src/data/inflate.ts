/**
 * Bounded, interruptible inflation shared by zip entries and deflated DICOM: zlib inflates on libuv's thread
 * pool (the event loop stays free for other requests and /healthz), every output byte is charged to one budget
 * per request (refused and duplicate entries included, so a crafted archive cannot re-inflate its way around the
 * total), and the request's abort signal stops it. A bomb therefore costs at most the budget.
 */
import { createInflateRaw } from 'node:zlib';
import { errorMessage } from '../util/errors.js';

/** A problem that ends the whole request's unpacking (its byte budget is spent). */
export class BudgetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BudgetError';
  }
}

/** Bytes a request may still produce by unpacking (inflated or stored), across all of its files. */
export class ByteBudget {
  private used = 0;

  constructor(readonly limit: number, readonly what = 'the request') {
    if (!(limit >= 0)) throw new RangeError(`bad byte budget ${limit}`);
  }

  get spent(): number {
    return this.used;
  }

  get remaining(): number {
    return Math.max(0, this.limit - this.used);
  }

  /** Charges n bytes; false once the total passes the limit (the bytes are charged all the same). */
  charge(n: number): boolean {
    this.used += n;
    return this.used <= this.limit;
  }

  get exhausted(): boolean {
    return this.used > this.limit;
  }

  message(): string {
    return `the files of ${this.what} unpack to more than ${formatMB(this.limit)} in total, over the limit; the remaining data was not unpacked`;
  }
}

export const formatMB = (n: number): string => `${Math.round(n / 2 ** 20)} MB`;

export interface InflateOptions {
  /** Shared by every inflation of one request; when it runs out, BudgetError is thrown. */
  budget?: ByteBudget;
  /** Checked between steps: a request that timed out stops unpacking. */
  signal?: AbortSignal;
}

export type InflateResult = { data: Uint8Array } | { over: true } | { error: string };

/** Gives the event loop a turn (timers, sockets, /healthz) between steps of long work. */
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Inflates raw deflate data with node's zlib stream (the work runs on libuv's thread pool, off the event loop),
 * stopping as soon as the output passes `max` (`over`) or the budget runs out (BudgetError): the stream is
 * destroyed and what it produced dropped. A truncated or corrupt stream comes back as `error`. Throws the
 * signal's reason when aborted.
 */
export async function inflateBounded(compressed: Uint8Array, max: number, opts: InflateOptions = {}): Promise<InflateResult> {
  opts.signal?.throwIfAborted();
  const chunks: Buffer[] = [];
  // (The limit overshoots by at most one output buffer before the stream is destroyed.)
  let size = 0;
  const outcome = await new Promise<'done' | 'over' | 'broke' | 'aborted' | { error: string }>((resolve) => {
    // 32 MB output buffers: glibc serves allocations this large with mmap and unmaps them when freed, so the
    // memory of a refused bomb goes back to the system (with 1 MB chunks the idle server stayed ~300 MB larger
    // after one deflated-DICOM bomb: freed, but kept by malloc). Pages are touched only as they are written.
    const inflate = createInflateRaw({ chunkSize: 32 << 20 });
    const stop = (why: 'over' | 'broke' | 'aborted') => { inflate.removeAllListeners('data'); inflate.destroy(); chunks.length = 0; resolve(why); };
    const onAbort = () => stop('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    inflate.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (opts.budget && !opts.budget.charge(chunk.length)) return stop('broke');
      if (size > max) return stop('over');
      chunks.push(chunk);
    });
    inflate.on('end', () => resolve('done'));
    inflate.on('error', (e: NodeJS.ErrnoException) => {
      chunks.length = 0;
      resolve({ error: e.code === 'Z_BUF_ERROR' || /unexpected end/i.test(e.message) ? 'the compressed data ends early (truncated)' : `the compressed data does not inflate (${errorMessage(e).replace(/\.$/, '')})` });
    });
    inflate.on('close', () => opts.signal?.removeEventListener('abort', onAbort));
    inflate.end(compressed);
  });
  if (outcome === 'aborted') opts.signal!.throwIfAborted();
  if (outcome === 'broke') throw new BudgetError(opts.budget!.message());
  if (outcome === 'over') return { over: true };
  if (typeof outcome === 'object') return outcome;
  const data = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) { data.set(c, o); o += c.length; }
  return { data };
}

/**
 * The raw deflate stream of a gzip member (RFC 1952: the header's optional extra field, name, comment and header
 * CRC skipped), for inflateBounded; null when the header is cut short.
 */
export function gzipPayload(b: Uint8Array): Uint8Array | null {
  if (b.length < 18 || b[0] !== 0x1f || b[1] !== 0x8b || b[2] !== 8) return null;
  const flags = b[3];
  let at = 10;
  if (flags & 4) { if (at + 2 > b.length) return null; at += 2 + (b[at] | (b[at + 1] << 8)); }
  for (const bit of [8, 16]) if (flags & bit) { while (at < b.length && b[at] !== 0) at++; at++; }
  if (flags & 2) at += 2;
  return at < b.length ? b.subarray(at) : null;
}
