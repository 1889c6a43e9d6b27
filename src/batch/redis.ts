/**
 * Connections to Redis (ioredis, as BullMQ wants them: commands wait through reconnects instead of failing), and
 * the store of results. The first connection is checked at once, so a wrong URL is one clear line, not a hang.
 */
import { Redis } from 'ioredis';
import { UserError, errorMessage } from '../util/errors.js';
import { redactUrl } from './names.js';

/** Connects and pings within `timeoutMs`; a UserError naming the (redacted) URL when Redis cannot be reached. */
export async function connectRedis(url: string, timeoutMs = 10_000): Promise<Redis> {
  if (!/^rediss?:\/\//.test(url)) throw new UserError(`--redis must be a redis:// or rediss:// URL, got "${redactUrl(url)}"`);
  // No retry while connecting: a wrong host or port is reported at once. Once connected, reconnect for ever
  // (a Redis restart must not kill the workers; BullMQ's commands wait for the connection to come back).
  const redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true, retryStrategy: () => null });
  let lastError = '';
  redis.on('error', (e: Error) => { lastError = e.message; });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect().then(() => redis.ping()),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs / 1000} s`)), timeoutMs); }),
    ]);
  } catch (e) {
    redis.disconnect();
    throw new UserError(`cannot reach Redis at ${redactUrl(url)} (${lastError || errorMessage(e)})`);
  } finally {
    clearTimeout(timer);
  }
  redis.options.retryStrategy = (n: number) => Math.min(200 * n, 5000);
  return redis;
}

/** Results of jobs, as JSON strings under resultKey(); they expire after `ttlSeconds` (0 = kept). */
export class ResultStore {
  constructor(private readonly redis: Redis, private readonly ttlSeconds = 0) {}

  async has(key: string): Promise<boolean> {
    return (await this.redis.exists(key)) === 1;
  }

  /** Values of many keys at once (null where absent), in chunks so that one call never grows too large. */
  async getMany(keys: string[]): Promise<(string | null)[]> {
    const out: (string | null)[] = [];
    for (let i = 0; i < keys.length; i += 500) out.push(...(await this.redis.mget(keys.slice(i, i + 500))));
    return out;
  }

  /** Idempotent: the same job always stores the same value, so a second write (a retried job) changes nothing. */
  async put(key: string, value: string): Promise<void> {
    if (this.ttlSeconds > 0) await this.redis.set(key, value, 'EX', this.ttlSeconds);
    else await this.redis.set(key, value);
  }
}
