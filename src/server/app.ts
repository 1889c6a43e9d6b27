/**
 * covid-ct's HTTP server (hono): the API (see api.ts), the web page, and the files that let the browser run
 * the model itself with onnxruntime-web, all served from this package; no CDN, nothing leaves the machine.
 */
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { createApi, type ApiOptions } from './api.js';
import { assetReader, assetTable } from './assets.js';

export interface ServerOptions extends ApiOptions {
  /** The package root (where node_modules and dist are). */
  root: string;
  modelDir: string;
}

export function createApp(opts: ServerOptions): OpenAPIHono {
  const app = createApi(opts);
  const assets = assetTable(opts.root, opts.modelDir);
  const read = assetReader();
  // The API's POST-only path read with GET (a browser, a mistyped curl): say which method it takes.
  app.get('/api/predict', (c) => c.json({ error: 'method not allowed here: POST the files (multipart, field "files") to /api/predict' }, 405, { allow: 'POST' }));
  app.get('*', async (c) => {
    const asset = assets.get(c.req.path);
    // The requested path is not echoed back (it is the client's text).
    if (!asset) return c.json({ error: 'not found' }, 404);
    try {
      const body = await read(asset);
      return c.body(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer, 200, {
        'content-type': asset.type,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        // The page runs only our own scripts and talks only to this server.
        'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      });
    } catch {
      return c.json({ error: 'a file of the page is missing on the server (reinstall covid-ct)' }, 500);
    }
  });
  app.all('*', (c) => c.json({ error: 'method not allowed here' }, 405));
  return app;
}

export interface ListenOptions {
  port: number;
  hostname: string;
  /** Milliseconds a client may take to send a whole request (slow clients are cut off). */
  requestTimeoutMs?: number;
}

/** Starts listening; resolves with the node server and the port it got (port 0 picks a free one). */
export function listen(app: Pick<OpenAPIHono, 'fetch'>, opts: ListenOptions): Promise<{ server: Server; port: number }> {
  const limit = opts.requestTimeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const server = serve({
      fetch: app.fetch, port: opts.port, hostname: opts.hostname,
      // A slow client is cut off once its request has taken `limit`; node checks on connectionsCheckingInterval.
      serverOptions: { requestTimeout: limit, headersTimeout: Math.min(limit, 20_000), connectionsCheckingInterval: Math.min(1000, limit) },
    }, (info) => resolve({ server, port: info.port })) as Server;
    server.once('error', reject);
  });
}
