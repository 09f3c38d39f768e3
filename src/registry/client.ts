import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import type { Descriptor, Digest } from '../image/types.js';
import { repositoryScope } from './auth.js';
import { blobStream, type BlobStreamOptions } from './blob-stream.js';
import { defaultCertsDirs, readKilnConfig } from './config.js';
import { getCredentials, type Credentials } from './credentials.js';
import { checkDigest } from './digest.js';
import { RegistryError } from './errors.js';
import {
  ACCEPT_MANIFESTS,
  MANIFEST_SIZE_LIMIT,
  headerMediaType,
  parseManifest,
  sha256Digest,
  type ParsedManifest,
} from './manifest.js';
import { readBody, RegistryTransport } from './transport.js';

export interface RegistryClientOptions {
  /** The kiln store root: `config.json` (insecureRegistries) and `certs.d/` are read from it. */
  root: string;
  env?: NodeJS.ProcessEnv;
  /** Explicit credentials; default: looked up in the Docker config (`$DOCKER_CONFIG/config.json`). */
  credentials?: Credentials | null;
  /** Idle timeout per request and between body chunks (default 60 s, env KILN_REGISTRY_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Attempts for retryable failures (default 5). */
  attempts?: number;
  /** First retry delay in ms (default 200). */
  backoffMs?: number;
  /** Extra certs.d directories (default `$KILN_ROOT/certs.d`, `/etc/docker/certs.d`). */
  certsDirs?: string[];
  /** Upload in PATCH chunks of this size instead of one PUT (0 = monolithic, the default). */
  chunkSize?: number;
}


export type FetchedManifestResult = ParsedManifest & { descriptor: Descriptor; bytes: Buffer };

/** Create a client for one registry (`127.0.0.1:5000`, `docker.io`, …). */
export async function createRegistryClient(registry: string, opts: RegistryClientOptions): Promise<RegistryClient> {
  const env = opts.env ?? process.env;
  const config = await readKilnConfig(opts.root);
  const credentials = opts.credentials === undefined ? await getCredentials(registry, env) : opts.credentials ?? undefined;
  const envTimeout = Number(env.KILN_REGISTRY_TIMEOUT_MS);
  const transport = new RegistryTransport({
    registry,
    config,
    certsDirs: opts.certsDirs ?? defaultCertsDirs(opts.root, env),
    ...(credentials ? { credentials } : {}),
    timeoutMs: opts.timeoutMs ?? (Number.isFinite(envTimeout) && envTimeout > 0 ? envTimeout : 60_000),
    attempts: opts.attempts ?? 5,
    backoffMs: opts.backoffMs ?? 200,
    userAgent: 'kiln/0.1',
  });
  return new RegistryClient(transport, opts.chunkSize ?? 0);
}

/**
 * The OCI distribution API for one registry. Everything received is verified before it is
 * returned: manifests by size limit, digest and media type; blobs by size and digest while streaming.
 */
export class RegistryClient {
  readonly transport: RegistryTransport;
  private readonly chunkSize: number;

  constructor(transport: RegistryTransport, chunkSize = 0) {
    this.transport = transport;
    this.chunkSize = chunkSize;
  }

  get registry(): string {
    return this.transport.registry;
  }

  close(): void {
    this.transport.close();
  }

  /** Check that the registry answers and the credentials are accepted (`kiln login`). */
  async ping(): Promise<void> {
    const res = await this.transport.request({ method: 'GET', url: '/v2/', expect: [200] });
    res.resume();
  }

  /**
   * Fetch a manifest or index by tag or digest. With `expected` (a descriptor from an index or a
   * digest reference) the size and digest must match; otherwise the registry's
   * Docker-Content-Digest, when sent, must match the bytes.
   */
  async fetchManifest(repository: string, reference: string, expected?: Partial<Descriptor>): Promise<FetchedManifestResult> {
    const scope = repositoryScope(repository, ['pull']);
    const byDigest = reference.startsWith('sha256:') || reference.includes(':');
    if (byDigest) checkDigest(reference, 'manifest digest');
    const limit = expected?.size !== undefined ? Math.min(expected.size, MANIFEST_SIZE_LIMIT) : MANIFEST_SIZE_LIMIT;
    if (expected?.size !== undefined && expected.size > MANIFEST_SIZE_LIMIT) {
      throw new RegistryError('REGISTRY_TOO_LARGE', `manifest ${reference} of ${expected.size} bytes exceeds the ${MANIFEST_SIZE_LIMIT}-byte limit`);
    }
    const what = `manifest ${repository}:${reference}`;
    // A body cut off or stalled is fetched again (the request itself already retries 5xx and resets).
    let got: { res: IncomingMessage; bytes: Buffer } | undefined;
    for (let attempt = 1; !got; attempt++) {
      const res = await this.transport.request({
        method: 'GET',
        url: `/v2/${repository}/manifests/${reference}`,
        headers: { Accept: ACCEPT_MANIFESTS },
        scope,
        expect: [200],
      });
      try {
        got = { res, bytes: await readBody(res, limit, this.transport.timeoutMs, what) };
      } catch (err) {
        if (err instanceof RegistryError && err.code === 'REGISTRY_TOO_LARGE' && expected?.size !== undefined) {
          throw new RegistryError('REGISTRY_SIZE_MISMATCH', `${what}: more than the ${expected.size} bytes its descriptor promises`, { cause: err });
        }
        const bodyFailure = err instanceof RegistryError && (err.code === 'REGISTRY_TRUNCATED' || err.code === 'REGISTRY_TIMEOUT');
        if (!bodyFailure || attempt >= this.transport.attempts) throw err;
        await this.transport.backoff(attempt, err);
      }
    }
    const { res, bytes } = got;
    const digest = sha256Digest(bytes);
    const wantDigest = expected?.digest ?? (byDigest ? (reference as Digest) : undefined);
    if (wantDigest && digest !== wantDigest) {
      throw new RegistryError('REGISTRY_DIGEST_MISMATCH', `${what}: the registry sent content with digest ${digest}`);
    }
    if (expected?.size !== undefined && bytes.length !== expected.size) {
      throw new RegistryError('REGISTRY_SIZE_MISMATCH', `${what}: got ${bytes.length} bytes, the descriptor says ${expected.size}`);
    }
    const headerDigest = res.headers['docker-content-digest'];
    if (!wantDigest && typeof headerDigest === 'string' && headerDigest.startsWith('sha256:') && headerDigest !== digest) {
      throw new RegistryError('REGISTRY_DIGEST_MISMATCH', `${what}: Docker-Content-Digest ${headerDigest} does not match the content (${digest})`);
    }
    const parsed = parseManifest(bytes, headerMediaType(res.headers['content-type']), expected?.mediaType);
    return { ...parsed, descriptor: { mediaType: parsed.mediaType, digest, size: bytes.length }, bytes };
  }

  /** A verified stream of a blob (see blobStream): exactly `desc.size` bytes hashing to `desc.digest`. */
  fetchBlob(repository: string, desc: Descriptor, opts: BlobStreamOptions = {}): Readable {
    checkDigest(desc.digest, 'blob digest');
    return blobStream(this.transport, repository, repositoryScope(repository, ['pull']), desc, opts);
  }

  /** HEAD a blob: does the repository have it already? */
  async hasBlob(repository: string, digest: Digest, actions: string[] = ['pull']): Promise<boolean> {
    checkDigest(digest, 'blob digest');
    const res = await this.transport.request({
      method: 'HEAD',
      url: `/v2/${repository}/blobs/${digest}`,
      scope: repositoryScope(repository, actions),
      expect: [200, 404],
    });
    res.resume();
    return res.statusCode === 200;
  }

  /** Start an upload, mounting `digest` from `fromRepository` when given. Returns 'mounted' or the upload URL. */
  private async startUpload(repository: string, mount?: { digest: Digest; from: string }): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const scope = repositoryScope(repository, ['pull', 'push']);
    const query = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
    const res = await this.transport.request({
      method: 'POST',
      url: `/v2/${repository}/blobs/uploads/${query}`,
      headers: { 'Content-Length': '0' },
      scope: mount ? `${scope} ${repositoryScope(mount.from, ['pull'])}` : scope,
      expect: [201, 202],
    });
    res.resume();
    if (res.statusCode === 201) return { mounted: true };
    const location = res.headers.location;
    if (!location) throw new RegistryError('REGISTRY_UPLOAD', `${this.registry}: upload started without a Location header`);
    return { mounted: false, location: new URL(location, await this.transport.baseUrl()).toString() };
  }

  /** Try a cross-repository mount; true when the registry mounted the blob. */
  async mountBlob(repository: string, digest: Digest, fromRepository: string): Promise<boolean> {
    checkDigest(digest, 'blob digest');
    const r = await this.startUpload(repository, { digest, from: fromRepository });
    if (!r.mounted) await this.cancelUpload(repository, r.location);
    return r.mounted;
  }

  private async cancelUpload(repository: string, location: string): Promise<void> {
    try {
      const res = await this.transport.request({ method: 'DELETE', url: location, scope: repositoryScope(repository, ['pull', 'push']), expect: [204, 200, 404], noRetry: true });
      res.resume();
    } catch {
      /* best effort */
    }
  }

  /**
   * Upload a blob: monolithic (POST, then one PUT) or chunked (PATCH with Content-Range), retried
   * from the start on a retryable failure. `open` must give a fresh stream of the blob each call.
   */
  async pushBlob(repository: string, desc: Descriptor, open: () => Readable, opts: { mountFrom?: string[]; onProgress?: (sent: number) => void } = {}): Promise<'exists' | 'mounted' | 'uploaded'> {
    checkDigest(desc.digest, 'blob digest');
    if (await this.hasBlob(repository, desc.digest, ['pull', 'push'])) return 'exists';
    for (const from of opts.mountFrom ?? []) {
      if (from === repository) continue;
      const r = await this.startUpload(repository, { digest: desc.digest, from });
      if (r.mounted) return 'mounted';
      await this.cancelUpload(repository, r.location);
    }
    const attempts = 4;
    let lastErr: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await this.transport.backoff(attempt, lastErr);
      try {
        const { location } = (await this.startUpload(repository)) as { location: string };
        if (this.chunkSize > 0 && desc.size > this.chunkSize) await this.uploadChunked(repository, location, desc, open, opts.onProgress);
        else await this.uploadMonolithic(repository, location, desc, open, opts.onProgress);
        return 'uploaded';
      } catch (err) {
        lastErr = err;
        if (!(err instanceof RegistryError && err.retryable) && !isConnErr(err)) throw err;
      }
    }
    throw lastErr;
  }

  private withDigest(location: string, digest: Digest): string {
    const u = new URL(location);
    u.searchParams.set('digest', digest);
    return u.toString();
  }

  private counting(src: Readable, onProgress?: (n: number) => void): Readable {
    if (!onProgress) return src;
    let n = 0;
    src.on('data', (c: Buffer) => onProgress((n += c.length)));
    return src;
  }

  private async uploadMonolithic(repository: string, location: string, desc: Descriptor, open: () => Readable, onProgress?: (n: number) => void): Promise<void> {
    const res = await this.transport.request({
      method: 'PUT',
      url: this.withDigest(location, desc.digest),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(desc.size) },
      body: () => this.counting(open(), onProgress),
      scope: repositoryScope(repository, ['pull', 'push']),
      expect: [201],
      noRetry: true,
    });
    res.resume();
    this.checkPushedDigest(res.headers['docker-content-digest'], desc.digest);
  }

  private async uploadChunked(repository: string, location: string, desc: Descriptor, open: () => Readable, onProgress?: (n: number) => void): Promise<void> {
    const scope = repositoryScope(repository, ['pull', 'push']);
    const src = open();
    let offset = 0;
    let loc = location;
    let pending: Buffer[] = [];
    let pendingLen = 0;
    const flush = async (): Promise<void> => {
      if (pendingLen === 0) return;
      const chunk = Buffer.concat(pending, pendingLen);
      pending = [];
      pendingLen = 0;
      const res = await this.transport.request({
        method: 'PATCH',
        url: loc,
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Length': String(chunk.length),
          'Content-Range': `${offset}-${offset + chunk.length - 1}`,
        },
        body: chunk,
        scope,
        expect: [202],
        noRetry: true,
      });
      res.resume();
      offset += chunk.length;
      onProgress?.(offset);
      if (res.headers.location) loc = new URL(res.headers.location, loc).toString();
    };
    for await (const c of src as AsyncIterable<Buffer>) {
      for (let off = 0; off < c.length; ) {
        const piece = c.subarray(off, off + (this.chunkSize - pendingLen));
        off += piece.length;
        pending.push(piece);
        pendingLen += piece.length;
        if (pendingLen >= this.chunkSize) await flush();
      }
    }
    await flush();
    const res = await this.transport.request({
      method: 'PUT',
      url: this.withDigest(loc, desc.digest),
      headers: { 'Content-Length': '0' },
      scope,
      expect: [201],
      noRetry: true,
    });
    res.resume();
    this.checkPushedDigest(res.headers['docker-content-digest'], desc.digest);
  }

  private checkPushedDigest(header: string | string[] | undefined, digest: Digest): void {
    if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
      throw new RegistryError('REGISTRY_DIGEST_MISMATCH', `${this.registry}: registry stored ${header} for blob ${digest}`);
    }
  }

  /** PUT a manifest or index under a tag or its digest; returns the digest the registry reports. */
  async pushManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<Digest> {
    const digest = sha256Digest(bytes);
    const res = await this.transport.request({
      method: 'PUT',
      url: `/v2/${repository}/manifests/${reference}`,
      headers: { 'Content-Type': mediaType, 'Content-Length': String(bytes.length) },
      body: bytes,
      scope: repositoryScope(repository, ['pull', 'push']),
      expect: [201, 200],
    });
    res.resume();
    const header = res.headers['docker-content-digest'];
    if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
      throw new RegistryError('REGISTRY_DIGEST_MISMATCH', `${this.registry}: registry reports digest ${header} for the manifest, kiln computed ${digest}`);
    }
    return digest;
  }

  /** Read a small blob (an image config) fully, verified; refused above `limit` bytes. */
  async fetchBlobBuffer(repository: string, desc: Descriptor, limit = 64 * 1024 * 1024): Promise<Buffer> {
    if (desc.size > limit) throw new RegistryError('REGISTRY_TOO_LARGE', `blob ${desc.digest} of ${desc.size} bytes exceeds the ${limit}-byte limit`);
    const chunks: Buffer[] = [];
    for await (const c of this.fetchBlob(repository, desc) as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks);
  }
}

const isConnErr = (err: unknown): boolean => /ECONNRESET|EPIPE|socket hang up/i.test(String((err as NodeJS.ErrnoException)?.code ?? '') + String((err as Error)?.message ?? ''));

/** A stream over a buffer (for callers pushing in-memory blobs such as configs and cache manifests). */
export const bufferStream = (b: Buffer): (() => Readable) => () => ReadableStream.from([b]);

/** sha256 of a buffer as a Digest. */
export const digestOf = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
