/**
 * Web-safe defaults for the server, as one hono middleware in front of everything:
 * - Host names: only loopback names, the address the server is bound to and names given with --allow-host are
 *   answered (a page on another site whose DNS name is rebound to 127.0.0.1 gets 421, never our API).
 * - Cross-origin writes: a POST (or any method that is not GET/HEAD/OPTIONS) from a browser page of another origin
 *   is refused (Origin and Sec-Fetch-Site), unless that origin was given with --allow-origin. Clients that send
 *   neither header (curl, scripts) are not browsers and are let through.
 * - A bearer token (COVID_CT_TOKEN) for /api/*, compared in constant time.
 * - Headers: the page may not be framed (CSP frame-ancestors 'none', X-Frame-Options: DENY), nothing is
 *   sniffed, no referrer leaves, and API answers are never cached (they describe patients' images).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

export interface GuardOptions {
  /** Host names answered besides the loopback ones (--allow-host), and the bound host. */
  allowHosts?: string[];
  /** Origins (scheme://host[:port]) whose pages may POST besides our own (--allow-origin). */
  allowOrigins?: string[];
  /** When set, /api/* requires `Authorization: Bearer <token>`. */
  token?: string;
}

/** Loopback names and addresses: localhost (and *.localhost, RFC 6761), 127.0.0.0/8, ::1. */
export function isLoopbackHost(name: string): boolean {
  const h = name.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(h) || h === '::1' || h === '0:0:0:0:0:0:0:1';
}

/** The host name of a Host header value or URL authority (port and IPv6 brackets removed), lower case. */
export function hostName(authority: string): string {
  const a = authority.trim().toLowerCase();
  if (a.startsWith('[')) return a.slice(1, a.indexOf(']') > 0 ? a.indexOf(']') : undefined);
  return a.replace(/:\d*$/, '').replace(/\.$/, '');
}

export function hostAllowed(name: string, allowHosts: readonly string[]): boolean {
  const h = hostName(name);
  if (isLoopbackHost(h)) return true;
  // 0.0.0.0 and :: are not names anyone can ask for: binding to them does not allow every Host.
  return allowHosts.some((a) => a !== '0.0.0.0' && a !== '::' && hostName(a) === h);
}

/** An origin in the form browsers send it: scheme://host[:port], lower case, default ports dropped. */
export function normalOrigin(origin: string): string | undefined {
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return u.origin.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Whether a state-changing request may go on. `origin` and `fetchSite` are the request's Origin and
 * Sec-Fetch-Site headers, `host` its Host. Same origin means the Origin's host:port is the Host we were asked
 * for (behind a TLS proxy the scheme differs, the authority does not).
 */
export function crossOriginRefused(req: { origin?: string; fetchSite?: string; host: string }, allowOrigins: readonly string[]): boolean {
  const allowed = new Set(allowOrigins.map((o) => normalOrigin(o)).filter((o): o is string => !!o));
  if (req.origin !== undefined) {
    const origin = normalOrigin(req.origin);
    if (!origin) return true; // "null" (sandboxed frames, file:) and anything unparsable
    if (allowed.has(origin)) return false;
    return new URL(origin).host !== req.host.trim().toLowerCase().replace(/:(80|443)$/, '');
  }
  // No Origin: a browser still says where the request comes from; other clients say nothing.
  return req.fetchSite !== undefined && req.fetchSite !== 'same-origin' && req.fetchSite !== 'none';
}

/** Constant-time comparison of a presented bearer token with the configured one (digests of equal length). */
export function tokenMatches(presented: string | undefined, token: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(presented ?? ''), digest(token)) && presented !== undefined;
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return m ? m[1] : undefined;
}

const WRITES_SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function guard(opts: GuardOptions = {}): MiddlewareHandler {
  const allowHosts = opts.allowHosts ?? [];
  const allowOrigins = opts.allowOrigins ?? [];
  return async (c, next) => {
    const url = new URL(c.req.url);
    const host = c.req.header('host') ?? url.host;
    let refusal: Response | undefined;
    if (!hostAllowed(host, allowHosts)) {
      // The name is not echoed: it is the attacker's choice.
      refusal = c.json({ error: 'unknown Host name: this server answers only to its own names (start it with --allow-host NAME to add one)' }, 421);
    } else if (!WRITES_SAFE.has(c.req.method) && crossOriginRefused({ origin: c.req.header('origin'), fetchSite: c.req.header('sec-fetch-site'), host }, allowOrigins)) {
      refusal = c.json({ error: 'cross-origin request refused: only this server\'s own page may send files (start it with --allow-origin ORIGIN to add one)' }, 403);
    } else if (opts.token !== undefined && url.pathname.startsWith('/api/') && !tokenMatches(bearerToken(c.req.header('authorization')), opts.token)) {
      const sent = bearerToken(c.req.header('authorization')) !== undefined;
      // RFC 6750: a token that was sent but does not match is invalid_token; a missing one gets the challenge alone.
      c.header('WWW-Authenticate', sent ? 'Bearer realm="covid-ct", error="invalid_token"' : 'Bearer realm="covid-ct"');
      refusal = c.json({ error: sent
        ? 'the token sent is not this server\'s: send the token the server was started with (COVID_CT_TOKEN) as "Authorization: Bearer <token>"'
        : 'a token is required: send the header "Authorization: Bearer <token>" (the token the server was started with, COVID_CT_TOKEN)' }, 401);
    }
    if (!refusal) await next();
    const res = refusal ?? c.res;
    secureHeaders(res.headers, url.pathname);
    if (refusal) return refusal;
  };
}

function secureHeaders(h: Headers, path: string): void {
  // Never framed (clickjacking), never sniffed, no referrer to other sites.
  const csp = h.get('content-security-policy');
  if (!csp) h.set('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
  else if (!/frame-ancestors/.test(csp)) h.set('content-security-policy', `${csp}; frame-ancestors 'none'`);
  h.set('x-frame-options', 'DENY');
  h.set('x-content-type-options', 'nosniff');
  h.set('referrer-policy', 'no-referrer');
  // Answers of the API (results of patients' images, the model card, errors) are never stored by caches.
  if (/^application\/json/i.test(h.get('content-type') ?? '') || path.startsWith('/api/') || path === '/healthz') h.set('cache-control', 'no-store');
}
