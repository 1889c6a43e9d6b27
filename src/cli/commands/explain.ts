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
activation map equals Grad-CAM; see src/model/onnx-export.ts). The map covers the centre square the model sees.

Options:
  --out FILE     the overlay PNG to write
  --model DIR    model folder (default: the shipped model, models/default)
  --json         print {file, probability, label, threshold, heatmap} as JSON
`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { out: { type: 'string' }, model: { type: 'string' }, json: { type: 'boolean' } }, true);
    if (positionals.length !== 1) throw new UserError('give exactly one image file (see --help)');
    if (!values.out) throw new UserError('--out FILE.png is required');
    const file = positionals[0];
    const image = await readAndDecodeGrey(file).catch((e: unknown) => { throw new UserError(`${file}: ${errorMessage(e)}`, 2); });
    const engine = await OnnxClassifier.load(resolveModelDir(values.model));
    const ex = await engine.explain(image);
    await writeFileAtomic(path.resolve(values.out), await overlayPng(image, ex.cam, engine.json.preprocessing.fit));
    engine.dispose();
    const label = engine.labelOf(ex.probability);
    if (values.json) console.log(JSON.stringify({ file, probability: ex.probability, label, threshold: engine.threshold, heatmap: values.out }));
    else console.log(`${file}: P(COVID) = ${ex.probability.toFixed(4)} -> ${label} (threshold ${engine.threshold.toFixed(4)}); heatmap written to ${values.out}`);
    return 0;
  },
};
