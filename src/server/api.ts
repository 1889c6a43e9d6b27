/**
 * The HTTP API, described with OpenAPI (served at /api/openapi.json) by the same zod schemas that validate
 * every request: POST /api/predict, GET /api/model, GET /healthz.
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { OnnxClassifier } from '../model/onnx-engine.js';
import { analyseFiles, DEFAULT_REQUEST_BUDGET, type UploadedFile } from '../predict/analyse.js';
import { DEFAULT_LUNG_WINDOW } from '../data/inputs.js';
import type { ModelCard } from './card.js';
import { QueueFullError, WorkQueue } from './queue.js';
import { errorMessage } from '../util/errors.js';
import { BodyError, multipartBoundary, readBody } from './body.js';
import { guard, type GuardOptions } from './guard.js';
import { UploadGate, UploadsFullError } from './uploads.js';

export interface ApiLimits {
  /** Bytes of one request body (413 past it). */
  maxRequestBytes: number;
  /** Pixels of one image or frame (decompression bombs). */
  maxPixels: number;
  /** Milliseconds from the end of the upload to the answer, queueing included (504 past it). */
  timeoutMs: number;
  concurrency: number;
  /** Uploaded requests that may wait for a scoring place (503 past it). */
  maxWaiting: number;
  /** Files (multipart parts) per request (413 past it). */
  maxFiles: number;
  /** Bytes all files of one request may unpack to (zip entries, deflated DICOM), refused entries included. */
  maxUnpackedBytes: number;
  /** Decoded pixels of all files of one request together. */
  maxTotalPixels: number;
  /** Uploads in progress at once, all clients together (503 past it), and from one client address (429 past it). */
  maxUploads: number;
  maxUploadsPerClient: number;
  /** An upload slower than this on average after the grace period is cut off (408). */
  minUploadBytesPerSecond: number;
  uploadGraceMs: number;
}

/**
 * 1000 files: a thin-slice CT series sent as loose DICOM files (a zip counts as one). 32 uploads at once, 4 per
 * address: a 50 MB upload at the slowest allowed rate (64 KB/s after 10 s) still finishes within the request
 * timeout, and the body memory held by uploads stays under 32 x 50 MB even under attack.
 */
export const DEFAULT_LIMITS: ApiLimits = {
  maxRequestBytes: 50 * 1024 * 1024, maxPixels: 50_000_000, timeoutMs: 60_000, concurrency: 1, maxWaiting: 16,
  maxFiles: 1000, maxUnpackedBytes: DEFAULT_REQUEST_BUDGET.maxUnpackedBytes, maxTotalPixels: DEFAULT_REQUEST_BUDGET.maxTotalPixels,
  maxUploads: 32, maxUploadsPerClient: 4, minUploadBytesPerSecond: 64 * 1024, uploadGraceMs: 10_000,
};

export interface ApiOptions {
  engine: OnnxClassifier;
  card: ModelCard;
  limits: ApiLimits;
  /** Host names, origins and the token (see guard.ts); loopback only, same origin only, no token by default. */
  security?: GuardOptions;
}

const ErrorBody = z.object({ error: z.string() }).openapi('Error');

const flag = z.enum(['0', '1', 'true', 'false']).optional().transform((v) => v === '1' || v === 'true');
const PredictQuery = z.object({
  heatmap: flag.openapi({ description: 'add a PNG heatmap (where the evidence towards COVID comes from: occlusion over the lungs for a lungs model, the class activation map for a whole-slice model) per image', example: '1' }),
  legend: z.enum(['0', '1', 'true', 'false']).optional().transform((v) => v !== '0' && v !== 'false').openapi({ description: 'with heatmap: a strip under each heatmap saying what its colours mean (default 1; 0 gives the picture alone, the slice\'s size)' }),
  preview: flag.openapi({ description: 'add a PNG of the grey slice the model was given (after the DICOM window)' }),
  windowWidth: z.coerce.number().gt(0).max(10000).optional().openapi({ description: `DICOM lung window width in HU (default ${DEFAULT_LUNG_WINDOW.width})` }),
  windowLevel: z.coerce.number().min(-2000).max(4000).optional().openapi({ description: `DICOM lung window level in HU (default ${DEFAULT_LUNG_WINDOW.level})` }),
});

const Upload = z.instanceof(File).openapi({ type: 'string', format: 'binary' });
const PredictForm = z.object({
  files: z.union([Upload, z.array(Upload)]).openapi({ description: 'one or more PNG, JPEG, TIFF, DICOM or NIfTI (.nii, .nii.gz) files, or a .zip of them (field repeated)' }),
});

const SliceOrderSchema = z.object({
  series: z.string(), instance: z.number().optional(), position: z.number().optional(), frame: z.number().optional(),
  volume: z.literal(true).optional().openapi({ description: 'set for the slices of a NIfTI volume (series is then the volume\'s key, a hash of its bytes)' }),
});
const SliceResultSchema = z.object({
  file: z.string().openapi({ description: 'the uploaded name (for a zip or multi-frame DICOM, which entry or frame)' }),
  probability: z.number().nullable().openapi({ description: 'P(COVID), null when the file could not be scored. For a lungs model: P(involvement present) x pattern. A NotCT slice keeps this raw score for research (0 when no lungs were found, nothing being measured): it carries no verdict, so do not threshold or rank NotCT rows with the others' }),
  label: z.enum(['COVID', 'NonCOVID', 'NotCT']).nullable().openapi({ description: 'COVID or NonCOVID at the threshold; NotCT when the slice shows no plausible pair of lungs, its pixels are unlike any CT slice (flat colours, no grain, mostly horizontal and vertical edges, noise; src/data/chest-check.ts) or its window hides the lungs (only a model with a reading design says NotCT; no COVID verdict is given then, see refusal and reason); null on error' }),
  threshold: z.number(),
  involvement: z.number().nullable().openapi({ description: 'share of the lung (0..1) with raised attenuation (ground glass or consolidation), vessels, hilar vessels and organ domes left out; null when no lungs were found or they could not be measured' }),
  pattern: z.number().nullable().openapi({ description: 'P(COVID-typical pattern) from the model (for a whole-slice model, its P(COVID)); null on error' }),
  category: z.enum(['negative for pneumonia', 'typical', 'indeterminate', 'atypical']).nullable().openapi({ description: 'RSNA-style category of the slice (models with a reading design only; null otherwise, and for a NotCT slice: see refusal)' }),
  refusal: z.enum(['not-ct', 'no-lungs', 'window', 'not-axial']).optional().openapi({ description: "the kind of refusal when NotCT: 'not-ct' (not like a CT slice: colour, texture, or features far from the training slices), 'no-lungs' (no plausible pair of lungs found, e.g. the neck or abdomen of a chest series), 'window' (a CT slice whose display window hides the lungs: send it in a lung window), 'not-axial' (a coronal or sagittal reformat: send the series' axial slices)" }),
  reason: z.string().optional().openapi({ description: 'why the slice is NotCT, in words' }),
  orientation: z.enum(['flipped', 'transposed', 'transposed-flipped']).optional().openapi({ description: 'set when the slice came turned by 90 degrees or upside down and was read upright (src/data/orientation.ts): how the picture as sent was turned (transposed: x and y swapped; flipped: top to bottom). The heatmap and the preview are then of the upright slice' }),
  tilt: z.number().optional().openapi({ description: 'set when the upright slice\'s body was tilted in its picture by 10 degrees or more and the slice was turned level before it was read (src/data/tilt.ts): the tilt found, in degrees, clockwise positive. The heatmap and the preview are then of the level slice' }),
  polarity: z.enum(['negative']).optional().openapi({ description: "set when the slice came as a negative (air white, bone black; a viewer's invert key) and was read as its inverse, 255 - grey, which gives the original's reading exactly (src/data/polarity.ts). The heatmap and the preview are then of the slice with air black" }),
  error: z.string().optional(),
  heatmap: z.string().optional().openapi({ description: 'data:image/png;base64 overlay: the map of evidence (for a lungs model, by occlusion: how much the logit falls when each lung patch of its view is hidden; for a whole-slice model its class activation map), the lung outline (cyan) and involved lung (hatched green), with a legend strip below the slice unless legend=0; not given for a NotCT slice' }),
  preview: z.string().optional(),
  dicom: SliceOrderSchema.optional(),
}).openapi('SliceResult');
const PredictResponse = z.object({
  results: z.array(SliceResultSchema),
  scans: z.array(z.object({
    series: z.string().openapi({ description: 'an opaque key of the series or volume (a hash; no DICOM identifier is returned): the series of its slices\' dicom' }),
    kind: z.enum(['DICOM series', 'NIfTI volume']).openapi({ description: 'what the scan is made of' }),
    slices: z.number(), probability: z.number(), method: z.literal('mean of top k'), k: z.number(),
    label: z.enum(['COVID', 'NonCOVID']).openapi({ description: 'lungs models: COVID when the scan\'s lungs are involved (P(involvement present) >= 0.5) and its top k slices read as COVID-typical (mean pattern >= the pattern threshold); other models: the score at the slice threshold (not calibrated for whole scans)' }),
    labelRule: z.enum(['involvement and pattern', 'score at the slice threshold']),
    category: z.enum(['negative for pneumonia', 'typical', 'indeterminate', 'atypical']).nullable().openapi({ description: 'RSNA-style category of the scan (lungs models), by the slice rules; null otherwise' }),
    involvementPresent: z.number().nullable().openapi({ description: 'P(involvement present) of the scan\'s involvement (lungs models)' }),
    pattern: z.number().nullable().openapi({ description: 'mean P(COVID-typical pattern) of the top k slices by P (lungs models)' }),
    involvement: z.number().nullable().openapi({ description: 'the scan\'s lung involvement: its CT slices\' involvement averaged with weights by lung area; null when none was measured' }),
    notCt: z.number().openapi({ description: 'slices of the series left out of the scan score as NotCT (no lungs in them)' }),
  })).openapi({ description: 'one per DICOM series or NIfTI volume of two or more scored CT slices (NotCT slices left out): the mean of the top k = ceil(n/10) slice probabilities' }),
}).openapi('PredictResponse');

const predictRoute = createRoute({
  method: 'post', path: '/api/predict',
  // Needed only when the server was started with a token (COVID_CT_TOKEN); on loopback by default it is not.
  security: [{ bearer: [] }],
  summary: 'P(COVID) of each uploaded image, slice or DICOM series',
  request: {
    query: PredictQuery,
    body: { required: true, content: { 'multipart/form-data': { schema: PredictForm } } },
  },
  responses: {
    200: { description: 'one result per image or slice (per-file errors inside)', content: { 'application/json': { schema: PredictResponse } } },
    400: { description: 'invalid request (no files, bad parameters)', content: { 'application/json': { schema: ErrorBody } } },
    401: { description: 'a token is required (the server was started with COVID_CT_TOKEN)', content: { 'application/json': { schema: ErrorBody } } },
    403: { description: 'cross-origin request refused', content: { 'application/json': { schema: ErrorBody } } },
    408: { description: 'the upload was too slow', content: { 'application/json': { schema: ErrorBody } } },
    429: { description: 'too many uploads in progress from this address', content: { 'application/json': { schema: ErrorBody } } },
    413: { description: 'upload larger than the limit, or more files than the limit', content: { 'application/json': { schema: ErrorBody } } },
    421: { description: 'unknown Host name (the server answers only to its own names: --allow-host)', content: { 'application/json': { schema: ErrorBody } } },
    431: { description: 'request headers too large', content: { 'application/json': { schema: ErrorBody } } },
    503: { description: 'queue or upload places full; see Retry-After', content: { 'application/json': { schema: ErrorBody } } },
    504: { description: 'took longer than the time limit', content: { 'application/json': { schema: ErrorBody } } },
  },
});

const modelRoute = createRoute({
  method: 'get', path: '/api/model', summary: 'the model card',
  security: [{ bearer: [] }],
  responses: { 200: { description: 'model card', content: { 'application/json': { schema: z.object({}).passthrough().openapi('ModelCard') } } } },
});

const healthRoute = createRoute({
  method: 'get', path: '/healthz', summary: 'liveness and load',
  responses: { 200: { description: 'ok', content: { 'application/json': { schema: z.object({ ok: z.boolean(), pending: z.number(), active: z.number(), uploading: z.number() }) } } } },
});

/**
 * A client's file name for display: its last path component, printable, at most 200 characters. Never a path.
 * Bidirectional controls (U+202A-U+202E, U+2066-U+2069) are removed: "scan\u202Egnp.exe" must not show as
 * "scanexe.png".
 */
export function displayName(name: string | undefined): string {
  const base = (name ?? '').split(/[\\/]/).pop() ?? '';
  const clean = base.replace(/[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]/g, '').trim().slice(0, 200);
  return clean || 'upload';
}

export function createApi(opts: ApiOptions): OpenAPIHono {
  const { limits } = opts;
  const queue = new WorkQueue({ concurrency: limits.concurrency, maxWaiting: limits.maxWaiting });
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) return c.json({ error: describeIssues(result.error.issues) }, 400);
    },
  });

  app.use('*', guard(opts.security));

  // Uploads in progress are counted apart from scoring places, per client address and in total, and the body is
  // read here under the size, rate and file-count limits; only a fully read request asks for a scoring place.
  const uploads = new UploadGate({ maxUploads: limits.maxUploads, maxUploadsPerClient: limits.maxUploadsPerClient });
  app.use('/api/predict', async (c, next) => {
    if (c.req.method !== 'POST') return next();
    // An upload that is not multipart never reaches the form validator (it would see an empty body).
    const type = c.req.header('content-type') ?? '';
    const boundary = multipartBoundary(type);
    if (!/^multipart\/form-data/i.test(type) || !boundary) return c.json({ error: 'send the files as multipart/form-data, field "files"' }, 400);
    const declared = Number(c.req.header('content-length') ?? NaN);
    if (declared > limits.maxRequestBytes) return c.json({ error: `the upload is larger than the limit of ${formatBytes(limits.maxRequestBytes)} per request` }, 413);
    let leave: () => void;
    try {
      leave = uploads.enter(clientAddress(c));
    } catch (e) {
      if (!(e instanceof UploadsFullError)) throw e;
      c.header('Retry-After', '5');
      return c.json({ error: e.message }, e.perClient ? 429 : 503);
    }
    let body: Uint8Array;
    try {
      body = await readBody(c.req.raw.body, {
        maxBytes: limits.maxRequestBytes, minBytesPerSecond: limits.minUploadBytesPerSecond, graceMs: limits.uploadGraceMs, maxParts: limits.maxFiles,
      }, boundary);
    } catch (e) {
      if (!(e instanceof BodyError)) throw e;
      c.header('Connection', 'close');
      return c.json({ error: e.message }, e.status);
    } finally {
      leave();
    }
    let release: () => void;
    try {
      release = queue.admit();
    } catch (e) {
      if (!(e instanceof QueueFullError)) throw e;
      c.header('Retry-After', String(e.retryAfterSeconds));
      return c.json({ error: e.message }, 503);
    }
    try {
      c.req.raw = new Request(c.req.raw.url, { method: 'POST', headers: c.req.raw.headers, body: body as Uint8Array<ArrayBuffer> });
      await next();
    } finally {
      release();
    }
  });

  app.openapi(predictRoute, async (c) => {
    const query = c.req.valid('query');
    const form = c.req.valid('form');
    const uploads = (Array.isArray(form.files) ? form.files : [form.files]);
    const files: UploadedFile[] = await Promise.all(uploads.map(async (f) => ({ name: displayName(f.name), bytes: new Uint8Array(await f.arrayBuffer()) })));
    const window = {
      width: query.windowWidth ?? DEFAULT_LUNG_WINDOW.width,
      level: query.windowLevel ?? DEFAULT_LUNG_WINDOW.level,
    };
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), limits.timeoutMs);
    try {
      const analysis = await queue.run(async () => {
        abort.signal.throwIfAborted();
        return analyseFiles(opts.engine, files, {
          window, maxPixels: limits.maxPixels, heatmap: query.heatmap, legend: query.legend, preview: query.preview, signal: abort.signal,
          maxUnpackedBytes: limits.maxUnpackedBytes, maxTotalPixels: limits.maxTotalPixels,
        });
      });
      return c.json(analysis, 200);
    } catch (e) {
      if (abort.signal.aborted) return c.json({ error: `the analysis took longer than the limit of ${limits.timeoutMs / 1000} s (the server's --timeout-s): send fewer slices per request, or ask without heatmap=1 (the heatmaps take most of the time)` }, 504);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  });

  app.openapi(modelRoute, (c) => c.json(opts.card as unknown as Record<string, never>, 200));
  app.openapi(healthRoute, (c) => c.json({ ok: true, pending: queue.pending, active: queue.active, uploading: uploads.inProgress }, 200));
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http', scheme: 'bearer', description: 'the token the server was started with (COVID_CT_TOKEN); required only then',
  });
  app.doc('/api/openapi.json', {
    openapi: '3.0.0',
    info: { title: 'covid-ct', version: '1', description: `P(COVID-19) of chest CT slices. ${opts.card.intendedUse}` },
  });
  app.onError((e, c) => {
    const status = (e as { status?: number }).status;
    if (status && status >= 400 && status < 500) return c.json({ error: errorMessage(e) }, status as 400);
    // The path is the client's text: it is not logged.
    console.error(`covid-ct server: ${c.req.method} request failed: ${errorMessage(e)}`);
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}

function describeIssues(issues: { path: PropertyKey[]; message: string }[]): string {
  return issues.map((i) => {
    const where = i.path.map(String).join('.');
    if (where === 'files' || where.startsWith('files.')) return 'no files: send one or more files as multipart/form-data, field "files"';
    return `${where || 'request'}: ${i.message}`;
  }).filter((m, k, all) => all.indexOf(m) === k).join('; ');
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(0)} MB` : `${(n / 1024).toFixed(0)} KB`;
}


/** The client's address (node server), or "local" for in-process requests (tests). */
function clientAddress(c: Parameters<Parameters<OpenAPIHono['use']>[1]>[0]): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'local';
  }
}
