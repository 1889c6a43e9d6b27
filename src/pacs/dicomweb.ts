/**
 * A DICOMweb client (PS3.18) for what the PACS loop needs: QIDO-RS searches, WADO-RS retrieval of single
 * instances, STOW-RS storage. It speaks to any DICOMweb server (Orthanc's plugin, dcm4chee, Google/Azure
 * healthcare APIs); authentication is HTTP Basic or a Bearer token. Errors name the request and the server's answer.
 */
import { boundaryOf, buildMultipart, parseMultipart } from './multipart.js';
import { UserError } from '../util/errors.js';

/** An attribute of a DICOM JSON dataset (PS3.18 F.2). */
export interface JsonAttribute {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
}
export type JsonDataset = Record<string, JsonAttribute>;

export type Auth = { kind: 'basic'; user: string; password: string } | { kind: 'bearer'; token: string };

/** Parses --auth: "user:password" (HTTP Basic) or "bearer:TOKEN". */
export function parseAuth(text: string): Auth {
  const bearer = /^bearer:(.+)$/i.exec(text);
  if (bearer) return { kind: 'bearer', token: bearer[1] };
  const c = text.indexOf(':');
  if (c <= 0) throw new UserError('--auth must be user:password or bearer:TOKEN');
  return { kind: 'basic', user: text.slice(0, c), password: text.slice(c + 1) };
}

function authHeader(auth: Auth): string {
  return auth.kind === 'bearer' ? `Bearer ${auth.token}` : `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
}

/** Text of the first value of `tag` ("0020000E"), or undefined; person names as their alphabetic form. */
export function jsonString(ds: JsonDataset, tag: string): string | undefined {
  const v = ds[tag]?.Value?.[0];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') {
    const pn = v as { Alphabetic?: string; Ideographic?: string; Phonetic?: string };
    const groups = [pn.Alphabetic ?? '', pn.Ideographic ?? '', pn.Phonetic ?? ''];
    while (groups.length > 1 && groups[groups.length - 1] === '') groups.pop();
    return groups.join('=');
  }
  return String(v);
}

export function jsonNumber(ds: JsonDataset, tag: string): number | undefined {
  const s = jsonString(ds, tag);
  const n = s === undefined ? NaN : Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** WADO-RS: the instance as stored (no transcoding), or a transfer syntax the server picks when it cannot. */
const DICOM_ACCEPT = ['multipart/related; type="application/dicom"; transfer-syntax=*', 'multipart/related; type="application/dicom"'];

export interface ClientOptions {
  auth?: Auth;
  /** Per-request timeout; default two minutes (a large instance over a slow link). */
  timeoutMs?: number;
  /** Aborts every request in flight (Ctrl-C). */
  signal?: AbortSignal;
}

export class DicomWebClient {
  readonly base: string;
  private readonly auth?: Auth;
  private acceptIndex = 0;

  /** `url` is the DICOMweb root, e.g. http://pacs:8042/dicom-web; credentials in it are moved to a header. */
  constructor(url: string, private readonly opts: ClientOptions = {}) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new UserError(`--dicomweb must be a URL such as http://pacs:8042/dicom-web, got "${url}"`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UserError(`--dicomweb must be an http or https URL, got "${url}"`);
    this.auth = opts.auth;
    if (u.username) {
      this.auth ??= { kind: 'basic', user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
      u.username = '';
      u.password = '';
    }
    this.base = u.toString().replace(/\/+$/, '');
  }

  /**
   * One HTTP request. A request that got no answer at all (a connection the server closed as it was reused, a
   * reset) is sent again, twice at most: every request we make is safe to repeat (reads, and stores of objects
   * whose UIDs are fixed). Of the HTTP errors, only 502, 503 and 504 (a busy server or proxy) are retried.
   */
  private async request(method: string, path: string, headers: Record<string, string>, body?: Uint8Array, retries503?: number): Promise<Response> {
    const url = `${this.base}${path}`;
    let res: Response | undefined;
    for (let attempt = 1; !res; attempt++) {
      const signals = [AbortSignal.timeout(this.opts.timeoutMs ?? 120_000), ...(this.opts.signal ? [this.opts.signal] : [])];
      try {
        res = await fetch(url, {
          method, body: body as unknown as BodyInit | undefined, signal: AbortSignal.any(signals),
          headers: { ...headers, ...(this.auth ? { authorization: authHeader(this.auth) } : {}) },
        });
      } catch (e) {
        const err = e as Error & { cause?: { code?: string; message?: string } };
        if (this.opts.signal?.aborted) throw new AbortedError();
        const timedOut = err.name === 'TimeoutError';
        if (!timedOut && attempt < 3) {
          await new Promise((r) => setTimeout(r, 250 * attempt));
          continue;
        }
        const why = timedOut ? 'timed out' : err.cause?.code ?? err.cause?.message ?? err.message;
        throw new DicomWebError(`${method} ${url}: no answer (${why}${attempt > 1 ? `, ${attempt} tries` : ''})`);
      }
    }
    if ((res.status === 502 || res.status === 503 || res.status === 504) && !this.opts.signal?.aborted && (retries503 ?? 0) < 2) {
      // A proxy or a busy server saying "not now": the same request once or twice more, after a pause.
      await res.arrayBuffer().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1000 * ((retries503 ?? 0) + 1)));
      return this.request(method, path, headers, body, (retries503 ?? 0) + 1);
    }
    if (!res.ok) {
      const text = (await res.text().catch(() => '')).replace(/\s+/g, ' ').slice(0, 200);
      const hint = res.status === 401 || res.status === 403 ? ' (check --auth)' : '';
      throw new DicomWebError(`${method} ${url}: HTTP ${res.status} ${res.statusText}${hint}${text ? `: ${text}` : ''}`, res.status);
    }
    return res;
  }

  /** QIDO-RS at `path` (e.g. "/series") with query parameters; all pages (limit/offset) gathered. */
  async search(path: string, query: Record<string, string | string[]> = {}, pageSize = 500): Promise<JsonDataset[]> {
    const out: JsonDataset[] = [];
    for (let offset = 0; ; offset += pageSize) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) for (const x of Array.isArray(v) ? v : [v]) q.append(k, x);
      q.set('limit', String(pageSize));
      q.set('offset', String(offset));
      const res = await this.request('GET', `${path}?${q}`, { accept: 'application/dicom+json' });
      const text = res.status === 204 ? '' : await res.text();
      let page: JsonDataset[];
      try {
        page = text.trim() ? (JSON.parse(text) as JsonDataset[]) : [];
      } catch {
        throw new DicomWebError(`GET ${this.base}${path}: the answer is not DICOM JSON`);
      }
      if (!Array.isArray(page)) throw new DicomWebError(`GET ${this.base}${path}: the answer is not a list of datasets`);
      out.push(...page);
      if (page.length < pageSize) return out;
    }
  }

  /** One small QIDO request: fails fast (before a model is loaded) on a wrong URL, credentials or a server without DICOMweb. */
  async probe(): Promise<void> {
    const res = await this.request('GET', '/studies?limit=1', { accept: 'application/dicom+json' });
    await res.arrayBuffer();
  }

  /** WADO-RS: one instance's Part 10 bytes. */
  async retrieveInstance(study: string, series: string, instance: string): Promise<Uint8Array> {
    const path = `/studies/${study}/series/${series}/instances/${instance}`;
    for (;;) {
      let res: Response;
      try {
        res = await this.request('GET', path, { accept: DICOM_ACCEPT[this.acceptIndex] });
      } catch (e) {
        // A server that does not take transfer-syntax=* answers 400/406: ask again without it, and remember.
        if (e instanceof DicomWebError && (e.status === 400 || e.status === 406) && this.acceptIndex + 1 < DICOM_ACCEPT.length) {
          this.acceptIndex++;
          continue;
        }
        throw e;
      }
      const parts = parseMultipart(new Uint8Array(await res.arrayBuffer()), boundaryOf(res.headers.get('content-type') ?? ''));
      if (parts.length !== 1) throw new DicomWebError(`GET ${this.base}${path}: expected one instance, got ${parts.length}`);
      return parts[0].body;
    }
  }

  /** STOW-RS into a study; throws unless every instance was stored (the server's failure reasons are shown). */
  async store(study: string, files: Uint8Array[]): Promise<void> {
    if (files.length === 0) return;
    const boundary = `covid-ct-${crypto.randomUUID()}`;
    const body = buildMultipart(files.map((f) => ({ contentType: 'application/dicom', body: f })), boundary);
    const res = await this.request('POST', `/studies/${study}`, {
      'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`, accept: 'application/dicom+json',
    }, body);
    const text = await res.text();
    if (!text.trim()) return;
    let answer: JsonDataset;
    try {
      answer = JSON.parse(text) as JsonDataset;
    } catch {
      return; // some servers answer XML or nothing; the HTTP status said it worked
    }
    const failed = answer['00081198']?.Value as JsonDataset[] | undefined; // FailedSOPSequence
    if (failed?.length) {
      const reasons = failed.map((f) => `${jsonString(f, '00081155') ?? '?'}: reason ${jsonString(f, '00081197') ?? '?'}`);
      throw new DicomWebError(`POST ${this.base}/studies/${study}: ${failed.length} of ${files.length} instance(s) refused (${reasons.join('; ')})`);
    }
  }
}

export class DicomWebError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'DicomWebError';
  }
}

/** Thrown when the run was stopped (SIGINT/SIGTERM) while a request was in flight. */
export class AbortedError extends Error {
  constructor() {
    super('stopped');
    this.name = 'AbortedError';
  }
}
