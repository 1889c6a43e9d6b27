/**
 * Back-pressure for the API. Model passes are CPU-bound and onnxruntime already uses every core, so running
 * more of them at once only adds memory; a request is therefore admitted only while fewer than
 * `concurrency + maxWaiting` are in the house (checked before its body is read, so a flood of uploads cannot
 * pile up in memory), and its model work runs in one of `concurrency` slots, first come first served.
 */

export interface QueueLimits {
  /** Model passes that may run at the same time. */
  concurrency: number;
  /** Admitted requests that may wait for a slot; more get 503 at once. */
  maxWaiting: number;
}

export class QueueFullError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('the server is busy: too many requests are waiting; retry later');
  }
}

export class WorkQueue {
  private admitted = 0;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Mean seconds of one job, for Retry-After (exponential moving average). */
  private meanJobSeconds = 1;

  constructor(readonly limits: QueueLimits) {
    if (!(limits.concurrency >= 1) || !(limits.maxWaiting >= 0)) throw new Error(`bad queue limits ${JSON.stringify(limits)}`);
  }

  /** Requests admitted and not yet released (running, waiting, or still uploading). */
  get pending(): number {
    return this.admitted;
  }

  /** Jobs running right now (never more than limits.concurrency). */
  get active(): number {
    return this.running;
  }

  /** Admits a request or throws QueueFullError; call the returned function exactly once when it is done. */
  admit(): () => void {
    if (this.admitted >= this.limits.concurrency + this.limits.maxWaiting) {
      const ahead = this.admitted / this.limits.concurrency;
      throw new QueueFullError(Math.max(1, Math.ceil(ahead * this.meanJobSeconds)));
    }
    this.admitted++;
    let released = false;
    return () => {
      if (!released) { released = true; this.admitted--; }
    };
  }

  /** Runs job in a slot, waiting (first come first served) until one is free. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.limits.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    const started = performance.now();
    try {
      return await job();
    } finally {
      this.meanJobSeconds = 0.8 * this.meanJobSeconds + 0.2 * ((performance.now() - started) / 1000);
      // Hand the slot straight to the next waiter (running stays the same) or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
