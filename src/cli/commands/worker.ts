import type { Command } from '../command.js';
import { intOption, parseCommandArgs, resolveModelDir } from '../command.js';
import { loadEngine } from '../../model/load-engine.js';
import { modelKey } from '../../model/model-files.js';
import { queueName, redactUrl } from '../../batch/names.js';
import { connectRedis } from '../../batch/redis.js';
import { startWorker } from '../../batch/worker-loop.js';
import { UserError } from '../../util/errors.js';

export const workerCommand: Command = {
  words: ['worker'],
  summary: 'score batch jobs from a Redis queue (run one per machine; see docs/batch.md)',
  help: `
Usage: covid-ct worker --redis URL [--concurrency N] [--model DIR] [--lock-seconds S] [--result-ttl-days D] [--verbose]

Takes scoring jobs that \`covid-ct batch\` put on the Redis queue of this worker's model, scores them exactly as
\`covid-ct predict\` does, and stores each result in Redis under the content hash of the input and the model's
hash. Run as many workers as you like, on as many machines: each job is scored by one worker at a time. The
files are read at the absolute path the batch client saw: mount the archive at the same path on every machine.

A worker that dies (killed, machine lost) loses nothing: after --lock-seconds its jobs go to another worker.
SIGTERM or SIGINT stops taking jobs, finishes the ones in hand, then exits 0 (systemd, Kubernetes).

Options:
  --redis URL            redis://[user:password@]host:port[/db] (or $COVID_CT_REDIS_URL); rediss:// for TLS
  --concurrency N        jobs scored at once by this process (default 1; the model already uses every core)
  --model DIR            model folder (default: the shipped model); the batch client must name the same model
  --lock-seconds S       a job held this long without a sign of life from its worker goes to another worker (default 30)
  --result-ttl-days D    stored results expire after D days (default 30; 0 = kept until deleted)
  --verbose              one line per job on stderr (started, done, failed)
`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      redis: { type: 'string' }, concurrency: { type: 'string' }, model: { type: 'string' }, 'lock-seconds': { type: 'string' },
      'result-ttl-days': { type: 'string' }, verbose: { type: 'boolean' },
    });
    const url = values.redis ?? process.env.COVID_CT_REDIS_URL;
    if (!url) throw new UserError('give the queue with --redis redis://host:6379 (or set COVID_CT_REDIS_URL)');
    const concurrency = intOption(values.concurrency, 'concurrency', 1, 1);
    const lockMs = 1000 * Number(values['lock-seconds'] ?? 30);
    if (!(lockMs >= 1000)) throw new UserError(`--lock-seconds must be a number >= 1, got "${values['lock-seconds']}"`);
    const ttlDays = Number(values['result-ttl-days'] ?? 30);
    if (!(ttlDays >= 0)) throw new UserError(`--result-ttl-days must be a number >= 0, got "${values['result-ttl-days']}"`);
    const modelDir = resolveModelDir(values.model);
    const connection = await connectRedis(url);
    const engine = await loadEngine(modelDir);
    const hash = modelKey(engine.json);
    const log = (line: string) => process.stderr.write(`worker ${process.pid}: ${line}\n`);
    const worker = startWorker({
      connection, engine, modelHash: hash, concurrency, lockMs, resultTtlSeconds: Math.round(ttlDays * 86400), log, verbose: values.verbose ?? false,
    });
    await worker.waitUntilReady();
    log(`taking jobs from ${redactUrl(url)} queue ${queueName(hash)} (model ${modelDir}, concurrency ${concurrency})`);
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log(`${signal}: finishing the jobs in hand, then stopping`);
        worker.close().then(resolve, resolve);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    engine.dispose();
    connection.disconnect();
    log('stopped');
    return 0;
  },
};
