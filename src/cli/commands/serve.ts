import path from 'node:path';
import { access } from 'node:fs/promises';
import type { Command } from '../command.js';
import { intOption, packageRoot, parseCommandArgs, resolveModelDir } from '../command.js';
import { OnnxClassifier } from '../../model/onnx-engine.js';
import { createApp, listen } from '../../server/app.js';
import { DEFAULT_LIMITS, type ApiLimits } from '../../server/api.js';
import { isLoopbackHost, type GuardOptions } from '../../server/guard.js';
import { modelCard, readReportFor, type EvaluationReport } from '../../server/card.js';
import { UserError } from '../../util/errors.js';

export const serveCommand: Command = {
  words: ['serve'],
  summary: 'serve the web app and the HTTP API',
  help: `
Usage: covid-ct serve [--model DIR] [--port N] [--host ADDR] [limits...]

Serves the covid-ct web app and API on http://127.0.0.1:3000/ (PORT and HOST also work):
  /                   the page: drop PNG, JPEG or DICOM files; analysed on this server or, with the switch,
                      on this device (onnxruntime-web; the image never leaves the browser)
  POST /api/predict   multipart field "files" (one or more; PNG, JPEG, DICOM, or a .zip of them);
                      ?heatmap=1 ?preview=1 ?windowWidth=1500 ?windowLevel=-600
  GET  /api/model     the model card;  GET /api/openapi.json  the API description;  GET /healthz
Uploads are processed in memory and never written to disk; file names are shown, never used as paths.

Options:
  --model DIR          model folder (default: the shipped model)
  --report FILE        the model's test evaluation (JSON from covid-ct evaluate --report) for the model card
                       (default: reports/NAME.json for a shipped model models/NAME)
  --port N             port (default $PORT or 3000)
  --host ADDR          address (default $HOST or 127.0.0.1; 0.0.0.0 exposes it to the network and then
                       needs COVID_CT_TOKEN or --no-auth)
  --max-upload-mb N    request body limit (default 50; 413 past it)
  --max-megapixels N   pixels per image or frame (default 50)
  --timeout-s N        seconds per request once uploaded, queueing included (default 60; 504 past it)
  --concurrency N      model passes at once (default 1: onnxruntime already uses every core)
  --queue N            requests that may wait for the model (default 16; 503 + Retry-After past it)
  --request-timeout-s N  seconds a client may take to send its request (default 30)
  --max-files N        files per request (default 1000; 413 past it; a zip counts as one)
  --max-uploads N      uploads in progress at once (default 32; 503 past it)
  --max-uploads-per-client N  uploads in progress at once from one address (default 4; 429 past it)
  --min-upload-kbps N  KB/s an upload must average after 10 s, or it is cut off (default 64; 408)

Security (see docs/deploying.md):
  Only loopback names, the --host address and --allow-host names are answered (DNS rebinding); POSTs from
  pages of other origins are refused. With a --host other than loopback, set COVID_CT_TOKEN: the API then
  requires "Authorization: Bearer <token>" and the page asks for it once. TLS belongs to a reverse proxy.
  --allow-host NAME    also answer to this host name (repeatable), e.g. the name a reverse proxy forwards
  --allow-origin ORIGIN  also accept POSTs from pages of this origin (repeatable), e.g. https://pacs.example.org
  --no-auth            allow a non-loopback --host without COVID_CT_TOKEN (prints a warning: anyone who can
                       reach the port can use the API)
`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      model: { type: 'string' }, report: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' },
      'max-upload-mb': { type: 'string' }, 'max-megapixels': { type: 'string' }, 'timeout-s': { type: 'string' },
      concurrency: { type: 'string' }, queue: { type: 'string' }, 'request-timeout-s': { type: 'string' },
      'max-files': { type: 'string' }, 'max-uploads': { type: 'string' }, 'max-uploads-per-client': { type: 'string' }, 'min-upload-kbps': { type: 'string' },
      'allow-host': { type: 'string', multiple: true }, 'allow-origin': { type: 'string', multiple: true }, 'no-auth': { type: 'boolean' },
    });
    const modelDir = resolveModelDir(values.model);
    const port = intOption(values.port ?? process.env.PORT, 'port', 3000, 0);
    const hostname = values.host ?? process.env.HOST ?? '127.0.0.1';
    const security = securityOptions(hostname, {
      token: process.env.COVID_CT_TOKEN, noAuth: values['no-auth'] === true, allowHosts: values['allow-host'] ?? [], allowOrigins: values['allow-origin'] ?? [],
    });
    const limits: ApiLimits = {
      ...DEFAULT_LIMITS,
      maxFiles: intOption(values['max-files'], 'max-files', DEFAULT_LIMITS.maxFiles, 1),
      maxUploads: intOption(values['max-uploads'], 'max-uploads', DEFAULT_LIMITS.maxUploads, 1),
      maxUploadsPerClient: intOption(values['max-uploads-per-client'], 'max-uploads-per-client', DEFAULT_LIMITS.maxUploadsPerClient, 1),
      minUploadBytesPerSecond: intOption(values['min-upload-kbps'], 'min-upload-kbps', DEFAULT_LIMITS.minUploadBytesPerSecond / 1024, 0) * 1024,
      maxRequestBytes: intOption(values['max-upload-mb'], 'max-upload-mb', DEFAULT_LIMITS.maxRequestBytes / 1024 / 1024, 1) * 1024 * 1024,
      maxPixels: intOption(values['max-megapixels'], 'max-megapixels', DEFAULT_LIMITS.maxPixels / 1e6, 1) * 1e6,
      timeoutMs: intOption(values['timeout-s'], 'timeout-s', DEFAULT_LIMITS.timeoutMs / 1000, 1) * 1000,
      concurrency: intOption(values.concurrency, 'concurrency', DEFAULT_LIMITS.concurrency, 1),
      maxWaiting: intOption(values.queue, 'queue', DEFAULT_LIMITS.maxWaiting, 0),
    };
    const requestTimeoutMs = intOption(values['request-timeout-s'], 'request-timeout-s', 30, 1) * 1000;
    const engine = await OnnxClassifier.load(modelDir);
    const report = await loadReport(values.report, modelDir, engine);
    const app = createApp({ root: packageRoot(), modelDir, engine, card: modelCard(engine.json, report), limits, security });
    const { port: bound } = await listen(app, { port, hostname, requestTimeoutMs }).catch((e: NodeJS.ErrnoException) => {
      throw new UserError(e.code === 'EADDRINUSE' ? `port ${port} on ${hostname} is in use: pick another with --port or PORT` : `cannot listen on ${hostname}:${port}: ${e.message}`);
    });
    if (security.token !== undefined) console.log('covid-ct: the API requires the token of COVID_CT_TOKEN (Authorization: Bearer)');
    console.log(`covid-ct: serving http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${bound}/ (model ${path.relative(process.cwd(), modelDir) || modelDir}); Ctrl-C stops`);
    if ((hostname === '0.0.0.0' || hostname === '::') && (values['allow-host'] ?? []).length === 0) {
      console.log(`covid-ct: answering only to loopback names: clients on the network need the name they use given with --allow-host NAME (see docs/deploying.md)`);
    }
    await new Promise(() => {}); // until the process is stopped
    return 0;
  },
};

async function loadReport(option: string | undefined, modelDir: string, engine: OnnxClassifier): Promise<EvaluationReport | undefined> {
  if (option) return readReportFor(path.resolve(option), engine.json);
  // The shipped model's report, when serving the shipped model and it is there.
  // A shipped model (models/NAME in the package) is shown with its test report, reports/NAME.json.
  if (path.dirname(path.resolve(modelDir)) !== path.resolve(packageRoot(), 'models')) return undefined;
  const file = path.join(packageRoot(), 'reports', `${path.basename(modelDir)}.json`);
  if (!(await access(file).then(() => true, () => false))) return undefined;
  return readReportFor(file, engine.json).catch((e: Error) => {
    console.error(`covid-ct: warning: the model card shows no test metrics: ${e.message}`);
    return undefined;
  });
}

/**
 * Loopback needs no token; any other address does (COVID_CT_TOKEN), unless --no-auth says otherwise out loud.
 * Checked before the model loads, so a misconfigured start fails at once.
 */
export function securityOptions(hostname: string, o: { token?: string; noAuth: boolean; allowHosts: string[]; allowOrigins: string[] }): GuardOptions {
  const token = o.token === undefined || o.token === '' ? undefined : o.token;
  if (token !== undefined && (token.length < 16 || /\s/.test(token))) {
    throw new UserError('COVID_CT_TOKEN must be at least 16 characters without spaces (for example: openssl rand -hex 32)');
  }
  if (!isLoopbackHost(hostname) && token === undefined) {
    if (!o.noAuth) {
      throw new UserError(`refusing to serve on ${hostname} without a token: anyone who can reach it could use the API. Set COVID_CT_TOKEN (for example: export COVID_CT_TOKEN=$(openssl rand -hex 32)), or pass --no-auth if access is controlled elsewhere (see docs/deploying.md)`);
    }
    console.error(`covid-ct: warning: serving on ${hostname} with no token (--no-auth): anyone who can reach this port can send images and use the API`);
  }
  for (const origin of o.allowOrigins) {
    if (!/^https?:\/\/[^/\s]+$/i.test(origin)) throw new UserError(`--allow-origin must be an origin like https://host.example.org or http://host:8080 (no path), got "${origin}"`);
  }
  // The address we are bound to is a name clients may use (0.0.0.0 and :: are not; guard.ts ignores them).
  return { token, allowHosts: [hostname, ...o.allowHosts], allowOrigins: o.allowOrigins };
}
