import type { Command } from '../command.js';
import { parseCommandArgs, resolveModelDir } from '../command.js';
import { loadEngine } from '../../model/load-engine.js';
import { expandPaths, scoreFiles } from '../../predict/score-files.js';
import { formatPredictions, type PredictFormat } from '../../predict/format.js';
import { Progress } from '../../util/progress.js';
import { UserError } from '../../util/errors.js';

export const predictCommand: Command = {
  words: ['predict'],
  summary: 'P(COVID) of image files or folders',
  help: `
Usage: covid-ct predict PATH... [--model DIR] [--format table|json|csv]

Scores every image file given, walking folders recursively. The format is detected from the file's bytes
(PNG or JPEG), never its name. Each row: file, probability (P(COVID)), label (COVID or NonCOVID at the model's
threshold), error. A file that cannot be scored gets a row with the reason and the others go on.
Exit code: 0 when every file was scored, 2 when some were not.

Options:
  --model DIR      model folder (default: the shipped model, models/default)
  --format NAME    table (default), json or csv
  --engine NAME    onnx (default: onnxruntime, fastest) or tfjs (the training engine); same numbers
  --quiet          no progress output
`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      model: { type: 'string' }, format: { type: 'string' }, engine: { type: 'string' }, quiet: { type: 'boolean' },
    }, true);
    const format = (values.format ?? 'table') as PredictFormat;
    if (!['table', 'json', 'csv'].includes(format)) throw new UserError(`--format must be table, json or csv, got "${values.format}"`);
    if (positionals.length === 0) throw new UserError('give at least one image file or folder (see --help)');
    const { files, missing } = await expandPaths(positionals);
    const classifier = await loadEngine(resolveModelDir(values.model), values.engine);
    const progress = new Progress(files.length, 'scoring', { enabled: !values.quiet && files.length > 8 });
    const preds = await scoreFiles(classifier, files, { onProgress: (d) => progress.tick(d - progress.completed) });
    progress.done();
    classifier.dispose();
    for (const m of missing) preds.push({ file: m, probability: null, label: null, error: 'no such file or folder' });
    process.stdout.write(formatPredictions(preds, format, classifier.threshold));
    return preds.some((p) => p.error) ? 2 : 0;
  },
};
