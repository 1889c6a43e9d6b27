import { serve } from '@hono/node-server';
import type { Command } from '../command.js';
import { intOption, packageRoot, parseCommandArgs, resolveModelDir } from '../command.js';
import { loadModel } from '../../model/model-files.js';
import { createApp } from '../../server/app.js';

export const serveCommand: Command = {
  words: ['serve'],
  summary: 'serve the web page that runs the model in the browser',
  help: `
Usage: covid-ct serve [--model DIR] [--port N] [--host ADDR]

Serves the covid-ct page: pick a CT image and it is analysed on this device by onnxruntime-web (wasm, served
from this package; the image never leaves the browser). Listens on 127.0.0.1:3000 unless told otherwise
(PORT and HOST also work).

Options:
  --model DIR   model folder (default: the shipped model)
  --port N      port (default $PORT or 3000)
  --host ADDR   address (default $HOST or 127.0.0.1)
`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { model: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } });
    const modelDir = resolveModelDir(values.model);
    const model = await loadModel(modelDir);
    const port = intOption(values.port ?? process.env.PORT, 'port', 3000, 0);
    const hostname = values.host ?? process.env.HOST ?? '127.0.0.1';
    const app = createApp({ root: packageRoot(), modelDir, model: model.json });
    await new Promise<void>((resolve) => {
      serve({ fetch: app.fetch, port, hostname }, (info) => {
        console.log(`covid-ct: serving http://${hostname}:${info.port}/ (model ${modelDir}); Ctrl-C stops`);
        resolve();
      });
    });
    await new Promise(() => {}); // until the process is stopped
    return 0;
  },
};
