import type { Command } from '../command.js';
import { intOption, parseCommandArgs, resolveModelDir } from '../command.js';
import { joinNegativeNumbers, windowOption } from './predict.js';
import { writeFile } from 'node:fs/promises';
import { modelKey, readModelJson } from '../../model/model-files.js';
import { queueName } from '../../batch/names.js';
import { connectRedis } from '../../batch/redis.js';
import { runBatch } from '../../batch/submit.js';
import { expandPaths, skippedNote } from '../../predict/score-files.js';
import type { PredictFormat } from '../../predict/format.js';
import { reportPredictions } from '../../predict/report.js';
import { DEFAULT_LUNG_WINDOW } from '../../data/window.js';
import { Progress } from '../../util/progress.js';
import { UserError } from '../../util/errors.js';

export const batchCommand: Command = {
  words: ['batch'],
  summary: 'score many files on a Redis queue with `covid-ct worker`s; same output as predict',
  help: `
Usage: covid-ct batch PATH... --redis URL [--out FILE] [--format csv|json|table] [--model DIR] [--in-flight N]
                                [--window-width N] [--window-level N] [--quiet]

Puts one job per image file or per DICOM series (up to 64 files of a series per job) on the Redis queue that
\`covid-ct worker\`s of the same model take jobs from, waits for them, and writes exactly what
\`covid-ct predict\` writes for the same paths: the same rows, scan rows and errors, byte for byte.

A job's id is the hash of its content, and results are stored under it and the model's hash: files already
scored (by this or an earlier batch, under any path) are not scored again, and re-running an interrupted
batch picks up where it stopped. At most --in-flight jobs are outstanding at once. Progress and an ETA go to
stderr. Workers read the files at their absolute path: mount the archive at the same path on every worker.

Exit code: 0 when every image was scored, 2 when some were not.

Options:
  --redis URL         redis://[user:password@]host:port[/db] (or $COVID_CT_REDIS_URL)
  --out FILE          write the output there (default: stdout)
  --format NAME       csv (default), json or table
  --model DIR         the workers' model folder (default: the shipped model); names the queue and the results
  --in-flight N       jobs outstanding at most (default 256)
  --window-width N    lung window width in HU for CT DICOMs (default ${DEFAULT_LUNG_WINDOW.width})
  --window-level N    lung window level in HU for CT DICOMs (default ${DEFAULT_LUNG_WINDOW.level})
  --quiet             no progress output
`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(joinNegativeNumbers(argv, ['--window-level', '--window-width']), {
      redis: { type: 'string' }, out: { type: 'string' }, format: { type: 'string' }, model: { type: 'string' }, 'in-flight': { type: 'string' },
      'window-width': { type: 'string' }, 'window-level': { type: 'string' }, quiet: { type: 'boolean' },
    }, true);
    const format = (values.format ?? 'csv') as PredictFormat;
    if (!['table', 'json', 'csv'].includes(format)) throw new UserError(`--format must be csv, json or table, got "${values.format}"`);
    const url = values.redis ?? process.env.COVID_CT_REDIS_URL;
    if (!url) throw new UserError('give the queue with --redis redis://host:6379 (or set COVID_CT_REDIS_URL)');
    const maxInFlight = intOption(values['in-flight'], 'in-flight', 256, 1);
    const window = windowOption(values['window-width'], values['window-level']);
    if (positionals.length === 0) throw new UserError('give at least one image file or folder (see --help)');
    const modelDir = resolveModelDir(values.model);
    // Only model.json is read here (its key names the queue, its threshold and reading design label scans): the workers load the weights.
    const json = await readModelJson(modelDir);
    const hash = modelKey(json);
    const threshold = json.threshold;
    const { files, missing, skipped } = await expandPaths(positionals);
    if (skipped.length) process.stderr.write(`note: ${skippedNote(skipped)}\n`);
    const connection = await connectRedis(url);
    const quiet = values.quiet ?? false;
    const progress = new Progress(files.length, 'scored', { enabled: !quiet && files.length > 0 });
    if (!quiet) process.stderr.write(`batch: ${files.length} files to queue ${queueName(hash)}\n`);
    // Ctrl-C loses nothing (jobs stay queued, results stored): say how to pick up, and leave without a trace.
    const onInterrupt = () => {
      process.stderr.write(`\nbatch: interrupted; the queued jobs are still scored by the workers and their results kept: run the same command again to collect them\n`);
      connection.disconnect();
      process.exit(130);
    };
    process.once('SIGINT', onInterrupt);
    try {
      const outcome = await runBatch(files, {
        connection, modelHash: hash, window, maxInFlight,
        onProgress: (done) => progress.tick(done - progress.completed),
        warn: (line) => process.stderr.write(`\nbatch: ${line}\n`),
      });
      progress.done();
      if (!quiet) process.stderr.write(`batch: ${outcome.jobsSubmitted} jobs submitted (a job already queued is not queued twice), ${outcome.alreadyStored} results already stored\n`);
      const report = reportPredictions(outcome.predictions, missing, format, threshold, json.reading);
      if (values.out) await writeFile(values.out, report.text);
      else process.stdout.write(report.text);
      return report.anyError ? 2 : 0;
    } finally {
      process.off('SIGINT', onInterrupt);
      connection.disconnect();
    }
  },
};

