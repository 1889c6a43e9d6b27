/**
 * covid-ct's HTTP server (hono): the web page, the model card, and the files that let the browser run the
 * model itself with onnxruntime-web, all served from this package; no CDN, nothing leaves the machine.
 */
import { Hono } from 'hono';
import type { ModelJson } from '../model/model-files.js';
import { assetReader, assetTable } from './assets.js';

export interface ServerOptions {
  /** The package root (where node_modules and dist are). */
  root: string;
  modelDir: string;
  model: ModelJson;
}

/** The part of model.json the page needs, without anything about the machine it was trained on. */
export function publicCard(model: ModelJson) {
  const card = model.card as Record<string, unknown>;
  return {
    name: card.name, task: card.task, intendedUse: card.intendedUse, threshold: model.threshold,
    preprocessing: model.preprocessing, backbone: { architecture: model.backbone.architecture, taps: model.backbone.taps },
    val: card.val, pretrained: card.pretrained, seed: card.seed,
  };
}

export function createApp(opts: ServerOptions): Hono {
  const app = new Hono();
  const assets = assetTable(opts.root, opts.modelDir);
  const read = assetReader();
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/api/model', (c) => c.json(publicCard(opts.model)));
  app.get('*', async (c) => {
    const asset = assets.get(c.req.path);
    if (!asset) return c.json({ error: `not found: ${c.req.path}` }, 404);
    try {
      const body = await read(asset);
      return c.body(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer, 200, {
        'content-type': asset.type,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      });
    } catch {
      return c.json({ error: `missing on the server: ${c.req.path}` }, 500);
    }
  });
  return app;
}
