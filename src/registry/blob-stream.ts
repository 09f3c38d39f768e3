import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Descriptor } from '../image/types.js';
import { RegistryError } from './errors.js';
import { isRetryable, type RegistryTransport } from './transport.js';

export interface BlobStreamOptions {
  /** Called with the number of bytes received so far. */
  onProgress?: (received: number) => void;
  /**
   * Hash the bytes here (default true). Turn off only when the consumer verifies the digest
   * itself before committing (the content store's put with an expected digest), to hash once.
   * Size limits, truncation and resume are enforced either way.
   */
  verifyDigest?: boolean;
}

/** Bytes handed on at a time: the consumer (one file write per chunk) is much faster with big chunks. */
const COALESCE = 1024 * 1024;

/**
 * A stream of exactly `desc.size` bytes of a blob whose sha256 equals `desc.digest`
 * (SECURITY-NOTES E.27): it never passes on more than `size` bytes and fails with
 * REGISTRY_TOO_LARGE on extra bytes, REGISTRY_SIZE_MISMATCH on a Content-Length that disagrees,
 * REGISTRY_TRUNCATED on a short body once retries are spent, REGISTRY_TIMEOUT on a stall, and
 * REGISTRY_DIGEST_MISMATCH at the end (before the stream ends, so a consumer such as the content
 * store commits nothing). A dropped connection is resumed with `Range: bytes=N-`.
 *
 * Event-driven on purpose (no async generators per chunk): this is the hot path of every pull.
 */
class BlobReadable extends Readable {
  private readonly what: string;
  private readonly hash: Hash | undefined;
  private offset = 0;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private failures = 0;
  private started = false;
  private res: IncomingMessage | undefined;
  private waitingForRead = false;
  private timer: NodeJS.Timeout | undefined;
  private lastData = 0;

  constructor(
    private readonly transport: RegistryTransport,
    private readonly repository: string,
    private readonly scope: string,
    private readonly desc: Descriptor,
    private readonly opts: BlobStreamOptions,
  ) {
    // Object mode: a reader gets our ~1 MiB buffers as they are, never concatenated again.
    super({ objectMode: true, highWaterMark: 4 });
    this.what = `blob ${desc.digest}`;
    this.hash = opts.verifyDigest === false ? undefined : createHash('sha256');
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      void this.connect();
      return;
    }
    if (this.waitingForRead && this.res) {
      this.waitingForRead = false;
      this.lastData = Date.now();
      this.res.resume();
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.stopTimer();
    this.res?.destroy();
    this.res = undefined;
    cb(err);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private flushPending(): boolean {
    if (this.pendingLen === 0) return true;
    const out = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLen);
    this.pending = [];
    this.pendingLen = 0;
    return this.push(out);
  }

  /** A response failed: retry (resuming at `offset`) when it makes sense, else fail the stream. */
  private fail(err: unknown): void {
    this.stopTimer();
    const res = this.res;
    this.res = undefined;
    res?.removeAllListeners('data');
    res?.destroy();
    if (this.destroyed) return;
    this.failures++;
    if (!isRetryable(err) || this.failures >= this.transport.attempts) {
      this.destroy(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    void this.transport.backoff(this.failures, err).then(() => {
      if (!this.destroyed) void this.connect();
    });
  }

  private async connect(): Promise<void> {
    const { desc, what } = this;
    const size = desc.size;
    const headers: Record<string, string> = {};
    if (this.offset > 0) headers.Range = `bytes=${this.offset}-`;
    let res: IncomingMessage;
    try {
      res = await this.transport.request({
        method: 'GET',
        url: `/v2/${this.repository}/blobs/${desc.digest}`,
        headers,
        scope: this.scope,
        expect: [200, 206],
        noRetry: true,
      });
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.destroyed) {
      res.destroy();
      return;
    }
    this.res = res;
    let skip = 0;
    try {
      const cl = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : undefined;
      if (res.statusCode === 206) {
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
        if (!m || Number(m[1]) !== this.offset) {
          throw new RegistryError('REGISTRY_HTTP', `${what}: registry answered a range request with Content-Range "${res.headers['content-range'] ?? ''}"`);
        }
        if (m[3] !== '*' && Number(m[3]) !== size) {
          throw new RegistryError('REGISTRY_SIZE_MISMATCH', `${what}: registry says the blob has ${m[3]} bytes, the descriptor says ${size}`);
        }
        if (cl !== undefined && cl !== size - this.offset) {
          throw new RegistryError('REGISTRY_SIZE_MISMATCH', `${what}: Content-Length ${cl} does not match the ${size - this.offset} bytes remaining`);
        }
      } else {
        skip = this.offset; // the server ignored Range: drop what we already have
        if (cl !== undefined && cl !== size) {
          throw new RegistryError('REGISTRY_SIZE_MISMATCH', `${what}: Content-Length ${cl} does not match the descriptor size ${size}`);
        }
      }
    } catch (err) {
      this.fail(err);
      return;
    }

    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled || this.res !== res) return;
      settled = true;
      fn();
    };
    this.lastData = Date.now();
    const timeoutMs = this.transport.timeoutMs;
    this.timer = setInterval(() => {
      if (!this.waitingForRead && Date.now() - this.lastData > timeoutMs) {
        settle(() => this.fail(new RegistryError('REGISTRY_TIMEOUT', `${what}: no data for ${timeoutMs} ms`, { retryable: true })));
      }
    }, Math.max(50, Math.min(1000, timeoutMs / 4)));
    this.timer.unref?.();

    res.on('data', (chunk: Buffer) => {
      if (settled) return;
      this.lastData = Date.now();
      if (skip > 0) {
        if (chunk.length <= skip) {
          skip -= chunk.length;
          return;
        }
        chunk = chunk.subarray(skip);
        skip = 0;
      }
      if (this.offset + chunk.length > size) {
        settle(() => this.fail(new RegistryError('REGISTRY_TOO_LARGE', `${what}: the registry sent more than the ${size} bytes the descriptor promises`)));
        return;
      }
      this.offset += chunk.length;
      this.hash?.update(chunk);
      this.opts.onProgress?.(this.offset);
      this.pending.push(chunk);
      this.pendingLen += chunk.length;
      if (this.pendingLen >= COALESCE && !this.flushPending()) {
        this.waitingForRead = true;
        res.pause();
      }
    });
    const onEnd = (): void =>
      settle(() => {
        this.stopTimer();
        if (this.offset < size) {
          // What arrived was counted and hashed; resume after it.
          this.flushPending();
          this.res = undefined;
          this.settledRetry(new RegistryError('REGISTRY_TRUNCATED', `${what}: body ended after ${this.offset} of ${size} bytes`, { retryable: true }));
          return;
        }
        const got = this.hash ? `sha256:${this.hash.digest('hex')}` : desc.digest;
        if (got !== desc.digest) {
          this.destroy(new RegistryError('REGISTRY_DIGEST_MISMATCH', `${what}: the registry sent content with digest ${got}`));
          return;
        }
        this.flushPending();
        this.res = undefined;
        this.push(null);
      });
    res.on('end', () => {
      if (!res.complete) {
        settle(() => this.fail(new RegistryError('REGISTRY_TRUNCATED', `${what}: connection closed before the end of the body`, { retryable: true })));
      } else onEnd();
    });
    res.on('error', (err) =>
      settle(() => this.fail(new RegistryError('REGISTRY_TRUNCATED', `${what}: connection lost while reading (${err.message})`, { retryable: true, cause: err }))),
    );
    res.on('close', () => {
      if (!res.complete) {
        settle(() => this.fail(new RegistryError('REGISTRY_TRUNCATED', `${what}: connection closed before the end of the body`, { retryable: true })));
      }
    });
  }

  /** Retry after a clean but short body (pending bytes were already flushed). */
  private settledRetry(err: RegistryError): void {
    this.failures++;
    if (this.failures >= this.transport.attempts) {
      this.destroy(err);
      return;
    }
    void this.transport.backoff(this.failures, err).then(() => {
      if (!this.destroyed) void this.connect();
    });
  }
}

export function blobStream(transport: RegistryTransport, repository: string, scope: string, desc: Descriptor, opts: BlobStreamOptions = {}): Readable {
  return new BlobReadable(transport, repository, scope, desc, opts);
}
