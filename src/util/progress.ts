/**
 * A progress line on stderr for long loops: "checked 300/746 (40%), 95/s, ETA 5s". On a terminal it rewrites
 * itself; otherwise (CI logs, pipes) it prints a line at each quarter so that logs stay short. stdout is never
 * touched, so a command can print JSON there while showing progress.
 */

export interface ProgressOptions {
  /** Where to write; stderr by default. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** false silences it entirely (tests, --quiet). */
  enabled?: boolean;
  /** Minimum milliseconds between two redraws on a terminal. */
  intervalMs?: number;
}

export class Progress {
  private count = 0;
  private readonly started = Date.now();
  private lastDraw = 0;
  private nextQuarter = 1;
  private finished = false;
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly tty: boolean;
  private readonly enabled: boolean;
  private readonly intervalMs: number;

  /** `label` is the verb shown before the counts, e.g. "checked". */
  constructor(readonly total: number, readonly label: string, opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.enabled = opts.enabled ?? true;
    this.intervalMs = opts.intervalMs ?? 100;
  }

  /** How many ticks so far. */
  get completed(): number {
    return this.count;
  }

  tick(n = 1): void {
    this.count += n;
    if (!this.enabled || this.finished) return;
    const now = Date.now();
    if (this.tty) {
      if (now - this.lastDraw >= this.intervalMs || this.count >= this.total) {
        this.lastDraw = now;
        const line = this.line(now);
        const width = this.stream.columns || 80; // 0 when the terminal reports no size
        this.stream.write(`\r${line.slice(0, Math.max(10, width - 1))}\x1b[K`);
      }
    } else if (this.total > 0 && this.count < this.total && this.count >= (this.total * this.nextQuarter) / 4) {
      while (this.count >= (this.total * this.nextQuarter) / 4) this.nextQuarter++;
      this.stream.write(this.line(now) + '\n');
    }
  }

  /** Final line with the elapsed time; idempotent. */
  done(): void {
    if (!this.enabled || this.finished) return;
    this.finished = true;
    const seconds = (Date.now() - this.started) / 1000;
    const rate = seconds > 0 ? ` (${formatRate(this.count / seconds)})` : '';
    const text = `${this.label} ${this.count}/${this.total} in ${formatSeconds(seconds)}${rate}`;
    this.stream.write(this.tty ? `\r${text}\x1b[K\n` : text + '\n');
  }

  private line(now: number): string {
    const seconds = (now - this.started) / 1000;
    const pct = this.total > 0 ? Math.floor((100 * this.count) / this.total) : 100;
    let text = `${this.label} ${this.count}/${this.total} (${pct}%)`;
    if (seconds > 0.2 && this.count > 0) {
      const rate = this.count / seconds;
      text += `, ${formatRate(rate)}, ETA ${formatSeconds(Math.max(0, this.total - this.count) / rate)}`;
    }
    return text;
  }
}

function formatRate(perSecond: number): string {
  return perSecond >= 10 ? `${Math.round(perSecond)}/s` : `${perSecond.toFixed(1)}/s`;
}

function formatSeconds(s: number): string {
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 120) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
}
