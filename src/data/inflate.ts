/**
 * Bounded, interruptible inflation shared by zip entries and deflated DICOM: the output is produced in small
 * steps, every byte is charged to one budget per request (refused and duplicate entries included, so a crafted
 * archive cannot re-inflate its way around the total), and between steps the event loop gets control back and
 * the request's abort signal is checked. A bomb therefore costs at most the budget, and never freezes the server.
 */
import { Inflate } from 'fflate';
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

/** Input per step: 16 KB inflates to at most ~17 MB (deflate's ratio is at most 1032:1), a few ms of work. */
const STEP = 16 * 1024;

/**
 * Inflates raw deflate data, stopping as soon as the output passes `max` (`over`) or the budget runs out
 * (BudgetError). A truncated or corrupt stream comes back as `error`. Throws the signal's reason when aborted.
 */
export async function inflateBounded(compressed: Uint8Array, max: number, opts: InflateOptions = {}): Promise<InflateResult> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let over = false;
  let broke = false;
  let finished = false;
  const inflate = new Inflate((chunk, final) => {
    size += chunk.length;
    if (opts.budget && !opts.budget.charge(chunk.length)) broke = true;
    if (size > max) over = true;
    else if (!broke) chunks.push(chunk);
    if (final) finished = true;
  });
  try {
    for (let o = 0; o < compressed.length && !over && !broke; o += STEP) {
      opts.signal?.throwIfAborted();
      const end = Math.min(compressed.length, o + STEP);
      inflate.push(compressed.subarray(o, end), end === compressed.length);
      await yieldToLoop();
    }
    if (compressed.length === 0) inflate.push(new Uint8Array(0), true);
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    return { error: `the compressed data does not inflate (${errorMessage(e)})` };
  }
  chunks.length = over || broke ? 0 : chunks.length;
  if (broke) throw new BudgetError(opts.budget!.message());
  if (over) return { over: true };
  if (!finished) return { error: 'the compressed data ends early (truncated)' };
  const data = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) { data.set(c, o); o += c.length; }
  return { data };
}
