import path from 'node:path';
import type { Command } from '../command.js';
import { intOption, parseCommandArgs, resolveModelDir } from '../command.js';
import { OnnxClassifier } from '../../model/onnx-engine.js';
import { REFUSAL_HEADINGS } from '../../model/reading.js';
import { sliceNote } from '../../data/polarity.js';
import { readImageBytes } from '../../data/decode.js';
import { decodeInput } from '../../data/inputs.js';
import { orderForDisplay } from '../../predict/series.js';
import { DEFAULT_LUNG_WINDOW, lungWindowProblem } from '../../data/window.js';
import { overlayPng, pictureLungs } from '../../explain/heatmap.js';
import { writeFileAtomic } from '../../eval/report.js';
import { UserError, errorMessage } from '../../util/errors.js';
import { tiltField } from '../../data/tilt.js';

export const explainCommand: Command = {
  words: ['explain'],
  summary: 'P(COVID) of one image and a heatmap of where its evidence comes from',
  help: `
Usage: covid-ct explain FILE --out heatmap.png [--model DIR] [--frame N]

FILE is a PNG, a JPEG or a DICOM slice (a CT DICOM is shown through the lung window, as predict does; a
multi-frame DICOM, a zip or a NIfTI volume needs --frame N to pick one slice: N counts the slices in the order
predict lists them, i.e. scan order, so --frame 3 is the third row predict prints for FILE). Scores that slice
and writes it as a PNG with a map of the model's evidence overlaid: warm colours show where the evidence
towards COVID comes from. For a lungs model (the shipped default) the map is by occlusion: each patch of the
lungs view that shows lung is hidden in turn (set to the view's fill, as outside the lungs) and its heat is
how much the score's logit falls, drawn on the pixels hidden; so there is heat only where the model reads the
slice (the lungs), and each value was measured. For a whole-slice model (models/official) it is the class
activation map over its square (equal to Grad-CAM for its head; see src/model/onnx-export.ts). The lungs'
outline (cyan) and the involved lung (hatched green) are drawn over it, and a legend strip under the slice says
what the colours mean (lungs model: full colour where hiding that patch alone makes P(COVID) fall by the
threshold, the same scale on every slice; whole-slice model: its own maximum). Prints P(COVID), the
involvement, the pattern and the category (or NotCT and why: then the picture is the slice as read, with any
lungs found outlined, and no heat).

Options:
  --out FILE     the overlay PNG to write
  --model DIR    model folder (default: the shipped model, models/default)
  --frame N      the slice to explain in a multi-frame DICOM, a zip or a NIfTI volume: the N-th of its rows in
                 predict's output (1 = first; scan order: position along the slice normal, else instance number,
                 else frame; not the order of the zip's members or of the frames in the file)
  --window-width N, --window-level N   lung window for CT DICOMs (default ${DEFAULT_LUNG_WINDOW.width} / ${DEFAULT_LUNG_WINDOW.level} HU)
  --no-legend    the picture alone, at the slice's size (no legend strip under it)
  --json         print {file, probability, label, involvement, pattern, category, refusal, reason, threshold, heatmap} as JSON
                 (heatmap is null for a NotCT slice; its picture without heat is then named by picture)
`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(joinNegative(argv), {
      out: { type: 'string' }, model: { type: 'string' }, json: { type: 'boolean' }, 'no-legend': { type: 'boolean' }, frame: { type: 'string' },
      'window-width': { type: 'string' }, 'window-level': { type: 'string' },
    }, true);
    if (positionals.length !== 1) throw new UserError('give exactly one image file (see --help)');
    if (!values.out) throw new UserError('--out FILE.png is required');
    const file = positionals[0];
    const window = {
      width: values['window-width'] === undefined ? DEFAULT_LUNG_WINDOW.width : Number(values['window-width']),
      level: values['window-level'] === undefined ? DEFAULT_LUNG_WINDOW.level : Number(values['window-level']),
    };
    const windowProblem = lungWindowProblem(window);
    if (windowProblem) throw new UserError(windowProblem);
    const frame = values.frame === undefined ? undefined : intOption(values.frame, 'frame', 1, 1);
    const bytes = await readImageBytes(file).catch((e: unknown) => { throw new UserError(`${file}: ${errorMessage(e)}`, 2); });
    // The same decoding as predict: PNG, JPEG, DICOM (Hounsfield units through the lung window), zip; and the same
    // order as predict's rows (scan order), so that --frame N is the N-th row predict shows for this file.
    const slices = orderForDisplay(await decodeInput(file, bytes, { window }));
    if (slices.length > 1 && frame === undefined) {
      throw new UserError(`${file} holds ${slices.length} slices: pick one with --frame N (1 to ${slices.length})`, 2);
    }
    const slice = slices[(frame ?? 1) - 1];
    if (!slice) throw new UserError(`${file}: --frame ${frame} is past the last slice (${slices.length})`, 2);
    if (!slice.image) throw new UserError(`${slice.name}: ${slice.error ?? 'could not be decoded'}`, 2);
    const image = slice.image;
    const engine = await OnnxClassifier.load(resolveModelDir(values.model));
    const [prepared] = await engine.prepare([image]);
    const { reading: r, cam } = await engine.explainPrepared(prepared);
    // The map is of the slice the model read: upright and air black when the stages turned or inverted it (said below).
    // A slice refused as not a chest CT gets no heat, as on the page and in the API: there is no verdict to explain.
    const refused = r.label === 'NotCT';
    const lungs = { ...pictureLungs(prepared.lungs, engine.json.preprocessing.lungs), ...(refused ? { involved: null } : {}) };
    await writeFileAtomic(path.resolve(values.out), await overlayPng(prepared.image, refused ? null : cam, engine.json.preprocessing.fit, Infinity, lungs, !values['no-legend']));
    engine.dispose();
    if (values.json) {
      console.log(JSON.stringify({
        file: slice.name, probability: r.probability, label: r.label, involvement: r.involvement, pattern: r.pattern, category: r.category,
        refusal: r.refusal ?? null, reason: r.reason ?? null, threshold: engine.threshold, heatmap: refused ? null : values.out,
        ...(refused ? { picture: values.out } : {}),
        ...(prepared.orientation !== 'as-sent' ? { orientation: prepared.orientation } : {}),
        ...(prepared.polarity !== 'as-sent' ? { polarity: prepared.polarity } : {}), ...tiltField(prepared.tilt),
      }));
      return 0;
    }
    const inv = r.involvement === null ? 'not measured' : `${(100 * r.involvement).toFixed(1)}% of the lung`;
    const verdict = r.label === 'NotCT'
      ? `NotCT: ${REFUSAL_HEADINGS[r.refusal ?? 'not-ct']} (${r.reason ?? 'no plausible pair of lungs'}); no COVID verdict`
      // Says what the model did, not a diagnosis: NonCOVID is a score below the threshold, not a clinical negative.
      : `${r.label} (${r.label === 'COVID' ? 'at or above' : 'below'} the model's threshold ${engine.threshold.toFixed(4)}; P is a score, not a calibrated probability)${r.category ? `, ${r.category}` : ''}`;
    const note = sliceNote(prepared.orientation, prepared.polarity, prepared.tilt);
    const turned = note ? ` (${note}; the heatmap is of the slice as read)` : '';
    const written = refused
      ? `no heatmap; the slice as read${lungs.seg?.found ? ', with the lungs found outlined,' : ''} written to ${values.out}`
      : `heatmap written to ${values.out}`;
    console.log(`${slice.name}: P(COVID) = ${r.probability.toFixed(4)}; involvement ${inv}; pattern ${r.pattern.toFixed(4)} -> ${verdict}; ${written}${turned}`);
    return 0;
  },
};

/** `--window-level -600`: parseArgs takes -600 for an option; join such pairs as predict does. */
function joinNegative(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if ((argv[i] === '--window-level' || argv[i] === '--window-width') && /^-\d/.test(argv[i + 1] ?? '')) out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}
