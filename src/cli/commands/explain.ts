import path from 'node:path';
import type { Command } from '../command.js';
import { parseCommandArgs, resolveModelDir } from '../command.js';
import { OnnxClassifier } from '../../model/onnx-engine.js';
import { readAndDecodeGrey } from '../../data/decode.js';
import { overlayPng } from '../../explain/heatmap.js';
import { writeFileAtomic } from '../../eval/report.js';
import { UserError, errorMessage } from '../../util/errors.js';

export const explainCommand: Command = {
  words: ['explain'],
  summary: 'P(COVID) of one image and a heatmap of where the model looked',
  help: `
Usage: covid-ct explain FILE --out heatmap.png [--model DIR]

Scores one image and writes it as a PNG with the class activation map overlaid: warm colours show the regions
whose features pushed the score towards COVID (for this model's pooled-features + linear head, the class
activation map equals Grad-CAM; see src/model/onnx-export.ts). The map covers the square the model sees: the
working image of the slice, or for a lungs model the square around the lungs (elsewhere there is no heat). The
lungs' outline (cyan) and the involved lung (hatched green) are drawn over it, with a legend. Prints P(COVID), the
involvement, the pattern and the category (or NotCT and why).

Options:
  --out FILE     the overlay PNG to write
  --model DIR    model folder (default: the shipped model, models/default)
  --json         print {file, probability, label, involvement, pattern, category, reason, threshold, heatmap} as JSON
`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { out: { type: 'string' }, model: { type: 'string' }, json: { type: 'boolean' } }, true);
    if (positionals.length !== 1) throw new UserError('give exactly one image file (see --help)');
    if (!values.out) throw new UserError('--out FILE.png is required');
    const file = positionals[0];
    const image = await readAndDecodeGrey(file).catch((e: unknown) => { throw new UserError(`${file}: ${errorMessage(e)}`, 2); });
    const engine = await OnnxClassifier.load(resolveModelDir(values.model));
    const [prepared] = await engine.prepare([image]);
    const { reading: r, cam } = await engine.explainPrepared(prepared);
    const { seg, involvement } = prepared.lungs;
    const lungs = { seg, involved: involvement?.mask ?? null, lungs: engine.json.preprocessing.lungs };
    await writeFileAtomic(path.resolve(values.out), await overlayPng(image, cam, engine.json.preprocessing.fit, Infinity, lungs));
    engine.dispose();
    if (values.json) {
      console.log(JSON.stringify({
        file, probability: r.probability, label: r.label, involvement: r.involvement, pattern: r.pattern, category: r.category,
        reason: r.reason ?? null, threshold: engine.threshold, heatmap: values.out,
      }));
      return 0;
    }
    const inv = r.involvement === null ? 'not measured' : `${(100 * r.involvement).toFixed(1)}% of the lung`;
    const verdict = r.label === 'NotCT'
      ? `NotCT: not a chest CT slice (${r.reason ?? 'no plausible pair of lungs'}); no COVID verdict`
      : `${r.label} (threshold ${engine.threshold.toFixed(4)})${r.category ? `, ${r.category}` : ''}`;
    console.log(`${file}: P(COVID) = ${r.probability.toFixed(4)}; involvement ${inv}; pattern ${r.pattern.toFixed(4)} -> ${verdict}; heatmap written to ${values.out}`);
    return 0;
  },
};
