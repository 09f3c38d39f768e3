import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseTokenResponse, parseWwwAuthenticate, type AuthChallenge } from './auth.js';
import { allowsPlainHttp, loadRegistryTls, type KilnRegistryConfig, type RegistryTls } from './config.js';
import type { Credentials } from './credentials.js';
import { RegistryError } from './errors.js';
import { registryEndpointHost } from './reference.js';

export interface TransportOptions {
  registry: string;
  config: KilnRegistryConfig;
  certsDirs: string[];
  /** Credentials for this registry (already looked up), if any. */
  credentials?: Credentials;
  /** Idle timeout for connecting, waiting for headers and between body chunks. */
  timeoutMs: number;
  /** Attempts for a retryable failure (5xx, 429, connection reset, truncated body). */
  attempts: number;
  /** First backoff delay; doubled per attempt, with jitter. */
  backoffMs: number;
  userAgent: string;
}

export type RequestBody = Buffer | (() => Readable);

export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** A path under the registry (`/v2/…`) or an absolute URL (an upload Location). */
  url: string;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** Auth scope for the token flow (`repository:x:pull`). */
  scope?: string;
  /** Statuses returned to the caller instead of being turned into errors. */
  expect: number[];
  /** Do not retry (the caller retries itself, e.g. a resumable download). */
  noRetry?: boolean;
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH',
  'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE', 'HPE_INVALID_CONSTANT', 'HPE_INVALID_CHUNK_SIZE', 'HPE_UNEXPECTED_CONTENT_LENGTH',
]);

/** Is this failure worth another attempt? */
export function isRetryable(err: unknown): boolean {
  if (err instanceof RegistryError) return err.retryable;
  const e = err as NodeJS.ErrnoException | undefined;
  if (!e) return false;
  if (e.code && (RETRYABLE_CODES.has(e.code) || e.code.startsWith('HPE_'))) return true;
  return /socket hang up|aborted/i.test(e.message ?? '');
}

function networkError(err: unknown, host: string): RegistryError {
  if (err instanceof RegistryError) return err;
  const e = err as NodeJS.ErrnoException;
  const tlsCodes = /CERT|SSL|TLS|self.signed|EPROTO|wrong version/i;
  if (tlsCodes.test(e.code ?? '') || tlsCodes.test(e.message ?? '')) {
    return new RegistryError('REGISTRY_TLS', `TLS connection to ${host} failed: ${e.message}`, {
      cause: err,
      hint: `add the registry's CA as certs.d/${host}/ca.crt under $KILN_ROOT or /etc/docker`,
    });
  }
  return new RegistryError('REGISTRY_UNREACHABLE', `cannot reach ${host}: ${e.message}`, { cause: err, retryable: isRetryable(err) });
}

/** Read a whole (small) response body with a byte limit and an idle timeout. */
export async function readBody(res: http.IncomingMessage, limit: number, timeoutMs: number, what: string): Promise<Buffer> {
  const declared = res.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    res.destroy();
    throw new RegistryError('REGISTRY_TOO_LARGE', `${what}: response of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of idleTimeout(res, timeoutMs, what)) {
    total += chunk.length;
    if (total > limit) {
      res.destroy();
      throw new RegistryError('REGISTRY_TOO_LARGE', `${what}: response exceeds the limit of ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

/** Iterate a response, failing with REGISTRY_TIMEOUT when no byte arrives for `timeoutMs`. */
export async function* idleTimeout(res: http.IncomingMessage, timeoutMs: number, what: string): AsyncGenerator<Buffer> {
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      res.destroy(new RegistryError('REGISTRY_TIMEOUT', `${what}: no data for ${timeoutMs} ms`, { retryable: true }));
    }, timeoutMs);
  };
  arm();
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      arm();
      yield chunk;
    }
    if (!res.complete) throw new RegistryError('REGISTRY_TRUNCATED', `${what}: connection closed before the end of the body`, { retryable: true });
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    if (isRetryable(err)) throw new RegistryError('REGISTRY_TRUNCATED', `${what}: connection lost while reading (${(err as Error).message})`, { retryable: true, cause: err });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * HTTP(S) to one registry: scheme choice (HTTPS, plain HTTP only where allowed), TLS from certs.d,
 * auth (Bearer token flow, Basic), redirects, retries with backoff.
 */
export class RegistryTransport {
  readonly registry: string;
  private readonly opts: TransportOptions;
  private base?: Promise<string>;
  private tls?: RegistryTls;
  private httpsAgent?: https.Agent;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  /** Authorization header values by scope ('' = registry-wide Basic). */
  private readonly authCache = new Map<string, string>();
  private challenge?: AuthChallenge;

  constructor(opts: TransportOptions) {
    this.opts = opts;
    this.registry = opts.registry;
  }

  get timeoutMs(): number {
    return this.opts.timeoutMs;
  }

  get attempts(): number {
    return Math.max(1, this.opts.attempts);
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent?.destroy();
  }

  /** Decide https vs http once: HTTPS first; plain HTTP only for loopback or insecure-listed registries. */
  baseUrl(): Promise<string> {
    this.base ??= this.probe();
    return this.base;
  }

  private async probe(): Promise<string> {
    const host = registryEndpointHost(this.registry);
    this.tls = await loadRegistryTls(this.registry, this.opts.certsDirs);
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, ...this.tls });
    try {
      const res = await this.send({ method: 'GET', url: `https://${host}/v2/`, expect: [] }, {});
      res.resume();
      return `https://${host}`;
    } catch (err) {
      const e = networkError(err, host);
      // A server that answered TLS with a certificate we do not trust is an HTTPS server: never
      // downgrade to plain HTTP for it (the CA belongs in certs.d).
      const certProblem = /CERT|SIGNATURE|ALTNAME|ISSUER|self.signed/i.test(`${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`);
      if (certProblem) throw e;
      if (!allowsPlainHttp(this.registry, this.opts.config)) {
        if (e.code === 'REGISTRY_TLS' && /wrong version|EPROTO|packet length/i.test(e.message)) {
          throw new RegistryError('REGISTRY_INSECURE', `${host} does not speak HTTPS, and plain HTTP is allowed only for loopback or insecure registries`, {
            cause: err,
            hint: `add "${this.registry}" to "insecureRegistries" in $KILN_ROOT/config.json if you trust the network`,
          });
        }
        throw e;
      }
    }
    const res = await this.send({ method: 'GET', url: `http://${host}/v2/`, expect: [] }, {}).catch((e2: unknown) => {
      throw networkError(e2, host);
    });
    res.resume();
    return `http://${host}`;
  }

  /** One HTTP exchange, no auth/retry logic. */
  private send(req: RegistryRequest, headers: Record<string, string>): Promise<http.IncomingMessage> {
    const url = new URL(req.url);
    const isHttps = url.protocol === 'https:';
    if (!isHttps && url.protocol !== 'http:') return Promise.reject(new RegistryError('REGISTRY_HTTP', `unsupported URL scheme in ${req.url}`));
    const mod = isHttps ? https : http;
    const agent = isHttps ? (url.host === registryEndpointHost(this.registry) ? this.httpsAgent : undefined) : this.httpAgent;
    const body = req.body;
    return new Promise((resolve, reject) => {
      const r = mod.request(
        url,
        {
          method: req.method,
          agent,
          headers: { 'User-Agent': this.opts.userAgent, ...headers, ...(req.headers ?? {}) },
        },
        (res) => {
          r.setTimeout(0);
          resolve(res);
        },
      );
      r.setTimeout(this.opts.timeoutMs, () => {
        r.destroy(new RegistryError('REGISTRY_TIMEOUT', `${req.method} ${url.host}${url.pathname}: no response for ${this.opts.timeoutMs} ms`, { retryable: true }));
      });
      r.on('error', reject);
      if (body === undefined) r.end();
      else if (Buffer.isBuffer(body)) r.end(body);
      else {
        const src = body();
        src.on('error', (e) => r.destroy(e));
        src.pipe(r);
      }
    });
  }

  /** Absolute URL for a registry path. */
  async resolveUrl(u: string): Promise<string> {
    if (/^https?:\/\//i.test(u)) {
      // An upload Location or redirect may name another host: plain HTTP only where allowed.
      const url = new URL(u);
      if (url.protocol === 'http:' && !allowsPlainHttp(url.host, this.opts.config) && url.host !== new URL(await this.baseUrl()).host) {
        throw new RegistryError('REGISTRY_INSECURE', `${this.registry} sent a plain-HTTP URL for ${url.host}, which is not allowed`);
      }
      return u;
    }
    const base = await this.baseUrl();
    return new URL(u, base).toString();
  }

  /**
   * Send a request with auth, redirects and retries. Returns the response for statuses in
   * `expect`; others become errors (401 REGISTRY_UNAUTHORIZED, 403 DENIED, 404 NOT_FOUND, …).
   */
  async request(req: RegistryRequest): Promise<http.IncomingMessage> {
    const attempts = req.noRetry ? 1 : Math.max(1, this.opts.attempts);
    let lastErr: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await this.backoff(attempt, lastErr);
      try {
        return await this.requestOnce(req);
      } catch (err) {
        lastErr = err;
        if (!isRetryable(err) || attempt === attempts - 1) throw err instanceof RegistryError ? err : networkError(err, this.registry);
      }
    }
    throw lastErr;
  }

  async backoff(attempt: number, err: unknown): Promise<void> {
    const retryAfter = (err as { retryAfterMs?: number } | undefined)?.retryAfterMs;
    const delay = retryAfter ?? Math.min(10_000, this.opts.backoffMs * 2 ** (attempt - 1)) * (0.75 + Math.random() * 0.5);
    await sleep(delay);
  }

  private async requestOnce(req: RegistryRequest): Promise<http.IncomingMessage> {
    let url = await this.resolveUrl(req.url);
    const registryHost = new URL(await this.baseUrl()).host;
    for (let hop = 0, authTried = false; hop < 10; hop++) {
      const sameHost = new URL(url).host === registryHost;
      const headers: Record<string, string> = {};
      let auth = sameHost ? this.cachedAuth(req.scope) : undefined;
      if (!auth && sameHost && !authTried && this.challenge?.scheme === 'bearer' && req.scope) {
        // The registry wants tokens: get one for this scope before asking (one per scope, shared by parallel requests).
        auth = await this.bearerFor(req.scope);
      }
      if (auth) headers.Authorization = auth;
      const res = await this.send({ ...req, url }, headers).catch((err: unknown) => {
        throw networkError(err, new URL(url).host);
      });
      const status = res.statusCode ?? 0;
      if (req.expect.includes(status)) return res;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
        res.resume();
        url = new URL(res.headers.location, url).toString();
        if (new URL(url).protocol === 'http:' && !allowsPlainHttp(new URL(url).host, this.opts.config)) {
          throw new RegistryError('REGISTRY_INSECURE', `registry redirected to plain HTTP ${new URL(url).host}, which is not allowed`);
        }
        continue;
      }
      if (status === 401 && sameHost && !authTried) {
        authTried = true;
        const header = res.headers['www-authenticate'];
        res.resume();
        await this.authenticate(typeof header === 'string' ? header : '', req.scope);
        continue;
      }
      throw await this.statusError(res, req, url);
    }
    throw new RegistryError('REGISTRY_HTTP', `too many redirects for ${req.method} ${req.url}`);
  }

  private cachedAuth(scope: string | undefined): string | undefined {
    if (!this.challenge) return undefined;
    if (this.challenge.scheme === 'basic') return this.authCache.get('');
    return this.authCache.get(scope ?? '');
  }

  private async statusError(res: http.IncomingMessage, req: RegistryRequest, url: string): Promise<RegistryError> {
    const status = res.statusCode ?? 0;
    let detail = '';
    if (req.method !== 'HEAD') {
      try {
        const text = (await readBody(res, 64 * 1024, this.opts.timeoutMs, 'error body')).toString('utf8');
        const parsed = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
        detail = (parsed.errors ?? []).map((e) => `${e.code ?? ''}${e.message ? `: ${e.message}` : ''}`).join('; ');
      } catch {
        /* no structured error body */
      }
    } else res.resume();
    const where = `${req.method} ${new URL(url).pathname}`;
    const msg = `${where}: ${status} ${http.STATUS_CODES[status] ?? ''}${detail ? ` (${detail.slice(0, 300)})` : ''}`.trim();
    if (status === 401) {
      return new RegistryError('REGISTRY_UNAUTHORIZED', `${this.registry}: authentication required or credentials rejected: ${msg}`, {
        status,
        hint: `run "kiln login ${this.registry}"`,
      });
    }
    if (status === 403) return new RegistryError('REGISTRY_DENIED', `${this.registry}: access denied: ${msg}`, { status });
    if (status === 404) return new RegistryError('REGISTRY_NOT_FOUND', `${this.registry}: not found: ${msg}`, { status });
    const retryable = status >= 500 || status === 429 || status === 408;
    const err = new RegistryError('REGISTRY_HTTP', `${this.registry}: ${msg}`, { status, retryable });
    const ra = Number(res.headers['retry-after']);
    if (retryable && Number.isFinite(ra) && ra >= 0) (err as { retryAfterMs?: number }).retryAfterMs = Math.min(ra, 30) * 1000;
    return err;
  }

  /** Answer a 401 challenge: Basic with stored credentials, or fetch a Bearer token for `scope`. */
  private readonly tokenInFlight = new Map<string, Promise<string>>();

  private bearerFor(scope: string): Promise<string> {
    let p = this.tokenInFlight.get(scope);
    if (!p) {
      const { scope: _ignored, error: _error, ...params } = this.challenge!.params;
      p = this.fetchToken({ scheme: 'bearer', params }, scope).then((token) => {
        const value = `Bearer ${token}`;
        this.authCache.set(scope, value);
        return value;
      });
      p.catch(() => {}).finally(() => this.tokenInFlight.delete(scope));
      this.tokenInFlight.set(scope, p);
    }
    return p;
  }

  private async authenticate(header: string, scope: string | undefined): Promise<void> {
    const challenges = parseWwwAuthenticate(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    const creds = this.opts.credentials;
    if (bearer) {
      this.challenge = bearer;
      const token = await this.fetchToken(bearer, scope);
      this.authCache.set(scope ?? '', `Bearer ${token}`);
      return;
    }
    if (basic) {
      this.challenge = basic;
      if (!creds || (!creds.username && !creds.password)) {
        throw new RegistryError('REGISTRY_UNAUTHORIZED', `${this.registry}: authentication required`, {
          status: 401,
          hint: `run "kiln login ${this.registry}"`,
        });
      }
      this.authCache.set('', `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`);
      return;
    }
    throw new RegistryError('REGISTRY_UNAUTHORIZED', `${this.registry}: 401 with no usable WWW-Authenticate challenge ("${header.slice(0, 200)}")`, { status: 401 });
  }

  private async fetchToken(challenge: AuthChallenge, scope: string | undefined): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw new RegistryError('REGISTRY_UNAUTHORIZED', `${this.registry}: Bearer challenge without realm`);
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw new RegistryError('REGISTRY_UNAUTHORIZED', `${this.registry}: invalid token realm "${realm}"`);
    }
    if (realmUrl.protocol !== 'https:' && !(realmUrl.protocol === 'http:' && allowsPlainHttp(realmUrl.host, this.opts.config))) {
      throw new RegistryError('REGISTRY_INSECURE', `${this.registry}: token realm ${realmUrl.origin} is not HTTPS`);
    }
    const scopes = [challenge.params.scope, scope].flatMap((s) => (s ? s.split(' ') : [])).filter((s) => s.length > 0);
    const creds = this.opts.credentials;
    const headers: Record<string, string> = {};
    let res: http.IncomingMessage;
    if (creds?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'kiln' });
      if (challenge.params.service) form.set('service', challenge.params.service);
      if (scopes.length) form.set('scope', [...new Set(scopes)].join(' '));
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      res = await this.send({ method: 'POST', url: realmUrl.toString(), body: Buffer.from(form.toString()), expect: [] }, headers).catch((e: unknown) => {
        throw networkError(e, realmUrl.host);
      });
    } else {
      if (challenge.params.service) realmUrl.searchParams.set('service', challenge.params.service);
      for (const s of new Set(scopes)) realmUrl.searchParams.append('scope', s);
      if (creds && (creds.username || creds.password)) {
        headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      }
      res = await this.send({ method: 'GET', url: realmUrl.toString(), expect: [] }, headers).catch((e: unknown) => {
        throw networkError(e, realmUrl.host);
      });
    }
    const status = res.statusCode ?? 0;
    const body = await readBody(res, 1024 * 1024, this.opts.timeoutMs, 'token response');
    if (status === 401 || status === 403) {
      throw new RegistryError('REGISTRY_UNAUTHORIZED', `${this.registry}: the token server rejected the credentials (${status})`, {
        status,
        hint: `run "kiln login ${this.registry}"`,
      });
    }
    if (status !== 200) throw new RegistryError('REGISTRY_HTTP', `${this.registry}: token server answered ${status}`, { status, retryable: status >= 500 });
    return parseTokenResponse(body.toString('utf8')).token;
  }
}
