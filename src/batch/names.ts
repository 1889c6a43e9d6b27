/**
 * Where batch scoring lives in Redis. One BullMQ queue per model (its hash in the name), so a worker only takes
 * jobs meant for the model it loaded, and results are keyed by the model's hash and the input's content hash.
 */

/** BullMQ key prefix: every queue key is `covid-ct:score-<model>:...`. */
export const QUEUE_PREFIX = 'covid-ct';

/** Hex digits of the model hash used in names (64 bits: no collision between the models of one site). */
const MODEL_DIGITS = 16;

/** The queue of one model (BullMQ queue names may not hold ':'). */
export const queueName = (modelHash: string): string => `score-${modelHash.slice(0, MODEL_DIGITS)}`;

/** The stored result of one job: `covid-ct:result:<model>:<unit content hash>`. */
export const resultKey = (modelHash: string, unitHash: string): string => `${QUEUE_PREFIX}:result:${modelHash.slice(0, MODEL_DIGITS)}:${unitHash}`;

/** A Redis URL with its password hidden, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(an invalid URL)';
  }
}
