import path from 'node:path';
import type { Command } from '../command.js';
import { parseCommandArgs, resolveModelDir } from '../command.js';
import { loadModel } from '../../model/model-files.js';
import { exportOnnx } from '../../model/onnx-export.js';
import { writeFileAtomic } from '../../eval/report.js';
import { UserError } from '../../util/errors.js';

export const exportCommand: Command = {
  words: ['export'],
  summary: 'write a model as a standard ONNX file',
  help: `
Usage: covid-ct export [--model DIR] --out model.onnx

Writes the model (MobileNetV2 with BatchNorm folded, the standardisation and the logistic head) as an ONNX file
(opset 13) that onnxruntime runs in Node or in a browser. Input "views": float32 [N,1,S,S], grey in [0,1], the
square views of the slice (see README); outputs "probability" [N,1] per view and "cam" [N,1,G,G], the class
activation map whose mean is the view's logit. A model folder's own model.onnx is used by predict/evaluate.

Options:
  --model DIR   model folder (default: the shipped model, models/default)
  --out FILE    the .onnx file to write (default: model.onnx inside the model folder)
`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { model: { type: 'string' }, out: { type: 'string' } });
    const dir = resolveModelDir(values.model);
    const model = await loadModel(dir);
    const out = path.resolve(values.out ?? path.join(dir, 'model.onnx'));
    if (!out.endsWith('.onnx')) throw new UserError(`--out should name a .onnx file, got ${out}`);
    const bytes = exportOnnx(model);
    await writeFileAtomic(out, Buffer.from(bytes));
    console.log(`wrote ${out} (${(bytes.byteLength / 1e6).toFixed(1)} MB)`);
    return 0;
  },
};
