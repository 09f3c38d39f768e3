import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Descriptor } from '../image/types.js';
import { RegistryError } from './errors.js';
import { idleTimeout, isRetryable, type RegistryTransport } from './transport.js';

export interface BlobStreamOptions {
  /**
   * Hash the bytes here (default true). Turn off only when the consumer verifies the digest
   * itself before committing (the content store's put with an expected digest), to hash once.
   * Size limits, truncation and resume are enforced either way.
   */
  verifyDigest?: boolean;
  /** Called with the number of bytes received so far. */
  onProgress?: (received: number) => void;
}

/**
 * A stream of exactly `desc.size` bytes of a blob whose sha256 equals `desc.digest`
 * (SECURITY-NOTES E.27): it never yields more than `size` bytes, fails with
 * REGISTRY_TOO_LARGE on extra bytes, REGISTRY_TRUNCATED on a short body once retries are spent,
 * REGISTRY_DIGEST_MISMATCH at the end (before the stream ends, so a consumer such as the content
 * store commits nothing). A dropped connection is resumed with `Range: bytes=N-`.
 */
const COALESCE = 1024 * 1024;

export function blobStream(transport: RegistryTransport, repository: string, scope: string, desc: Descriptor, opts: BlobStreamOptions = {}): Readable {
  const size = desc.size;
  const what = `blob ${desc.digest}`;
  async function* bytes(): AsyncGenerator<Buffer> {
    const hash = opts.verifyDigest === false ? undefined : createHash('sha256');
    let offset = 0;
    let failures = 0;
    let lastErr: unknown;
    let pending: Buffer[] = [];
    let pendingLen = 0;
    for (;;) {
      if (failures > 0) {
        if (failures >= transport.attempts || !isRetryable(lastErr)) throw lastErr;
        await transport.backoff(failures, lastErr);
      }
      const headers: Record<string, string> = {};
      if (offset > 0) headers.Range = `bytes=${offset}-`;
      let res;
      try {
        res = await transport.request({ method: 'GET', url: `/v2/${repository}/blobs/${desc.digest}`, headers, scope, expect: [200, 206], noRetry: true });
      } catch (err) {
        lastErr = err;
        failures++;
        continue;
      }
      try {
        let skip = 0;
        const cl = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : undefined;
        if (res.statusCode === 206) {
          const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
          if (!m || Number(m[1]) !== offset) {
            throw new RegistryError('REGISTRY_HTTP', `${what}: registry answered a range request with Content-Range "${res.headers['content-range'] ?? ''}"`);
          }
          if (m[3] !== '*' && Number(m[3]) !== size) {
            throw new RegistryError('REGISTRY_SIZE_MISMATCH', `${what}: registry says the blob has ${m[3]} bytes, the descriptor says ${size}`);
          }
          if (cl !== undefined && cl !== size - offset) {
            throw new RegistryError('REGISTRY_SIZE_MISMATCH', `${what}: Content-Length ${cl} does not match the ${size - offset} bytes remaining`);
          }
        } else {
          skip = offset; // the server ignored Range: drop what we already have
          if (cl !== undefined && cl !== size) {
            throw new RegistryError('REGISTRY_SIZE_MISMATCH', `${what}: Content-Length ${cl} does not match the descriptor size ${size}`);
          }
        }
        for await (let chunk of idleTimeout(res, transport.timeoutMs, what)) {
          if (skip > 0) {
            if (chunk.length <= skip) {
              skip -= chunk.length;
              continue;
            }
            chunk = chunk.subarray(skip);
            skip = 0;
          }
          if (offset + chunk.length > size) {
            throw new RegistryError('REGISTRY_TOO_LARGE', `${what}: the registry sent more than the ${size} bytes the descriptor promises`);
          }
          offset += chunk.length;
          hash?.update(chunk);
          opts.onProgress?.(offset);
          // Hand on ~1 MiB at a time: the consumer (a file write per chunk) is much faster with big chunks.
          pending.push(chunk);
          pendingLen += chunk.length;
          if (pendingLen >= COALESCE) {
            const out = Buffer.concat(pending, pendingLen);
            pending = [];
            pendingLen = 0;
            yield out;
          }
        }
        if (offset < size) {
          // keep what arrived: it was hashed and counted; flush it before resuming
          if (pendingLen > 0) {
            const out = Buffer.concat(pending, pendingLen);
            pending = [];
            pendingLen = 0;
            yield out;
          }
          throw new RegistryError('REGISTRY_TRUNCATED', `${what}: body ended after ${offset} of ${size} bytes`, { retryable: true });
        }
        const got = hash ? `sha256:${hash.digest('hex')}` : desc.digest;
        if (got !== desc.digest) {
          throw new RegistryError('REGISTRY_DIGEST_MISMATCH', `${what}: the registry sent content with digest ${got}`);
        }
        if (pendingLen > 0) yield Buffer.concat(pending, pendingLen);
        return;
      } catch (err) {
        res.destroy();
        lastErr = err;
        failures++;
        if (!isRetryable(err)) throw err;
      }
    }
  }
  return Readable.from(bytes(), { objectMode: false, highWaterMark: 1024 * 1024 });
}
