import type { Command } from '../command.js';
import { parseCommandArgs, resolveModelDir } from '../command.js';
import { loadEngine } from '../../model/load-engine.js';
import { expandPaths, modelThreadsFor, prepareOnFor, scoreFiles, skippedNote } from '../../predict/score-files.js';
import type { PredictFormat } from '../../predict/format.js';
import { reportPredictions } from '../../predict/report.js';
import { DEFAULT_LUNG_WINDOW, type LungWindow, lungWindowProblem } from '../../data/window.js';
import { Progress } from '../../util/progress.js';
import { UserError } from '../../util/errors.js';

export const predictCommand: Command = {
  words: ['predict'],
  summary: 'P(COVID) of image files, DICOM series, zips or folders',
  help: `
Usage: covid-ct predict PATH... [--model DIR] [--format table|json|csv] [--window-width N] [--window-level N]

Scores every image file given, walking folders recursively. The format is detected from the file's bytes
(PNG, JPEG, TIFF, DICOM, a NIfTI volume, or a zip of them), never its name, so DICOM files without an extension
work too. A NIfTI volume (.nii, .nii.gz, in HU) gives one row per axial slice ("ct.nii.gz [slice 3]") and a scan row.
Each row: file, probability (P(COVID), a score, not calibrated), label (COVID or NonCOVID at the model's threshold,
or NotCT when the slice is not read as a chest CT slice), involvement (share of the lung with ground glass or
consolidation), pattern (P(COVID-typical)), category (RSNA-style), refusal and reason (why NotCT: not-ct, no-lungs,
window, or not-axial for a coronal or sagittal reformat; the model reads axial slices), orientation and polarity
(when the slice came turned or as a negative and was read upright, air black), tilt (degrees clockwise, when the
slice came tilted by 10 degrees or more and was read level), error, series (the short hash of
the slice's DICOM series or NIfTI volume, the one its scan row shows: group by it to join slices to their scan;
empty for a lone picture). In CSV every row has all these columns, scan rows too (empty where a field does
not apply). A multi-frame DICOM gives one row per frame ("scan.dcm [frame 3]"), a zip one row per image inside
("series.zip/IM0001"); a zip's files that are no image (a README, a report) are skipped with a note on stderr, its
DICOMDIR, folders and macOS metadata silently. So are the files found in a folder that hold no image and whose
name does not promise one (a CD's README and DICOMDIR, a labels.csv); a file named on the command line always gets
its row. A file that cannot be scored gets a row with the reason and the others go on.

DICOM: stored values are rescaled to Hounsfield units (RescaleSlope, RescaleIntercept) and CT images are
shown to the model through a lung window: grey = round(255 * clamp((HU - (level - width/2)) / width, 0, 1)).
Other monochrome images use the file's own window, else their min-max; RGB becomes grey luminance.
The slices of each DICOM series or NIfTI volume (2 slices or more) are listed in scan order (position along the
slice normal, else instance number) and get a scan row, under "scan (DICOM series)" or "scan (NIfTI volume)": its
score is the mean of the top 10% slice probabilities (at least 1), which ranks scans. A lungs model (the default) labels a scan COVID when its lungs are involved
(lung-weighted involvement of at least 3.5%) and its top slices read as COVID-typical, and gives its category
(negative for pneumonia, typical, indeterminate, atypical); other models label the score at the slice threshold
(not calibrated for whole scans).
Compressed DICOMs are decoded: RLE, deflate, JPEG Lossless, JPEG-LS, JPEG 2000 and JPEG baseline and 12-bit
extended (docs/dicom.md). HTJ2K, JPEG XL, JPIP, the retired JPEG processes and video are reported as errors naming
the compression.

Exit code: 0 when every image was scored, 2 when some were not.

Options:
  --model DIR         model folder (default: the shipped model, models/default)
  --format NAME       table (default), json or csv
  --window-width N    lung window width in HU for CT DICOMs (default ${DEFAULT_LUNG_WINDOW.width})
  --window-level N    lung window level (centre) in HU for CT DICOMs (default ${DEFAULT_LUNG_WINDOW.level});
                      negative values as --window-level -500 or --window-level=-500
  --engine NAME       onnx (default: onnxruntime, fastest) or tfjs (the training engine); same numbers
  --quiet             no progress output
`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(joinNegativeNumbers(argv, ['--window-level', '--window-width']), {
      model: { type: 'string' }, format: { type: 'string' }, engine: { type: 'string' }, quiet: { type: 'boolean' },
      'window-width': { type: 'string' }, 'window-level': { type: 'string' },
    }, true);
    const format = (values.format ?? 'table') as PredictFormat;
    if (!['table', 'json', 'csv'].includes(format)) throw new UserError(`--format must be table, json or csv, got "${values.format}"`);
    const window = windowOption(values['window-width'], values['window-level']);
    if (positionals.length === 0) throw new UserError('give at least one image file or folder (see --help)');
    const { files, missing, skipped } = await expandPaths(positionals);
    if (files.length === 0 && missing.length === 0) {
      throw new UserError(`no ${skipped.length ? 'image ' : ''}files found in ${positionals.join(', ')}${skipped.length ? ` (${skippedNote(skipped)})` : ''}`, 2);
    }
    if (skipped.length) process.stderr.write(`note: ${skippedNote(skipped)}\n`);
    const prepareOn = prepareOnFor(files.length);
    const classifier = await loadEngine(resolveModelDir(values.model), values.engine, modelThreadsFor(prepareOn));
    // Zip members skipped as not images, said once the progress line is done with.
    const notes: string[] = [];
    const progress = new Progress(files.length, 'scoring', { enabled: !values.quiet && files.length > 8 });
    const scored = await scoreFiles(classifier, files, { input: { window, onSkipped: (note) => notes.push(note) }, prepareOn, onProgress: (d) => progress.tick(d - progress.completed) });
    progress.done();
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    classifier.dispose();
    const report = reportPredictions(scored, missing, format, classifier.threshold, classifier.json.reading);
    process.stdout.write(report.text);
    return report.anyError ? 2 : 0;
  },
};

/** --window-width / --window-level as numbers (either may be left out), checked like the web API checks them. */
export function windowOption(width: string | undefined, level: string | undefined): LungWindow {
  const parse = (v: string | undefined, fallback: number): number => (v === undefined || v.trim() === '' ? (v === undefined ? fallback : NaN) : Number(v));
  const w = { width: parse(width, DEFAULT_LUNG_WINDOW.width), level: parse(level, DEFAULT_LUNG_WINDOW.level) };
  const problem = lungWindowProblem(w);
  if (problem) {
    const given = Number.isNaN(w.width) || w.width <= 0 ? `--window-width "${width}"` : `--window-level "${level}"`;
    throw new UserError(`${problem.replace(/, got .*$/, '')} (${given})`);
  }
  return w;
}

/** parseArgs refuses `--window-level -600` as ambiguous; levels are usually negative, so join such pairs. */
export function joinNegativeNumbers(argv: string[], options: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (options.includes(argv[i]) && i + 1 < argv.length && /^-\d/.test(argv[i + 1])) out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}
