/**
 * The local content store: `<root>/content/blobs/sha256/<hex>` (read-only files) and
 * `<root>/content/ingest/` (temp files of writes in progress, one per ingest).
 *
 * Durability protocol (SECURITY-NOTES §0.6, containerd's local writer plus the directory fsync it lacks):
 *   write to a uniquely named temp file while hashing (ssri) -> check size and digest -> fsync the file ->
 *   chmod 0444 -> rename into blobs/sha256/<hex> -> fsync blobs/sha256.
 * A target that already exists is success (dedup signal), the temp file is dropped.
 * Several processes may share one root: every ingest has its own temp name and renames are atomic, so
 * two writers of one digest both succeed and only verified bytes are ever renamed into place.
 * A kill -9 leaves at most a temp file in ingest/, removed by the next `open` once its writer is gone.
 *
 * Reads are verified: `get` re-hashes while streaming and holds back the final chunk until the digest
 * matched, so a blob that was changed on disk fails with CONTENT_CORRUPT and is never delivered whole.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, createReadStream, mkdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { fsyncDir, writeSmallFileAtomic } from '../util/atomic-file.js';
import { processAlive } from '../util/process.js';
import { KilnError, NotFoundError, InvalidArgumentError } from '../diagnostics/errors.js';
import { digestHex, digestToIntegrity, isDigest, parseDigest, sha256Digest } from '../image/digest.js';
import type { Descriptor, Digest } from '../image/types.js';
import type { BlobInfo, ContentStore } from './types.js';
import ssri from 'ssri';
import { Verifier, VerifyError } from './verifier.js';

export interface LocalContentStoreOptions {
  /** fsync files and directories (default true). Only tests that measure something else turn it off. */
  sync?: boolean;
  /** Ingest files whose writer process is gone, or older than this, are removed at open (default 24h). */
  staleIngestMs?: number;
}

const INGEST_NAME_RE = /^(\d+)-[0-9a-f]+-[0-9a-f]{16}\.ingest$/;

export class LocalContentStore implements ContentStore {
  readonly root: string;
  readonly blobsDir: string;
  readonly ingestDir: string;
  /** `<pid>.txt` per writing process: digests it wrote or deduplicated (see livePins). */
  readonly pinsDir: string;
  private readonly sync: boolean;
  private readonly pinned = new Set<string>();

  private constructor(root: string, options: LocalContentStoreOptions) {
    this.root = path.resolve(root);
    this.blobsDir = path.join(this.root, 'content', 'blobs', 'sha256');
    this.ingestDir = path.join(this.root, 'content', 'ingest');
    this.pinsDir = path.join(this.root, 'content', 'pins');
    this.sync = options.sync !== false;
  }

  /** Open (creating if needed) the store under a kiln root, cleaning ingest leftovers of dead writers. */
  static async open(root: string, options: LocalContentStoreOptions = {}): Promise<LocalContentStore> {
    const store = new LocalContentStore(root, options);
    await fs.mkdir(store.blobsDir, { recursive: true });
    await fs.mkdir(store.ingestDir, { recursive: true });
    await store.cleanIngest(options.staleIngestMs ?? 24 * 3600_000);
    await store.livePins(); // removes the pin files of dead processes
    return store;
  }

  /**
   * Blobs written (or found already present) by kiln processes that are still running, except this one.
   * GC treats them as roots: a pull or build that has put a layer but not yet recorded the image or
   * cache record that refers to it cannot lose the layer to a concurrent `kiln system prune`.
   * The pins of a process die with it (its file is removed by the next reader).
   */
  async livePins(): Promise<Digest[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.pinsDir);
    } catch {
      return [];
    }
    const out: Digest[] = [];
    for (const n of names) {
      const pid = Number(/^(\d+)\.txt$/.exec(n)?.[1] ?? NaN);
      if (pid === process.pid) continue;
      const file = path.join(this.pinsDir, n);
      if (!processAlive(pid)) {
        await fs.rm(file, { force: true });
        continue;
      }
      const text = await fs.readFile(file, 'utf8').catch(() => '');
      for (const line of text.split('\n')) if (isDigest(line)) out.push(line);
    }
    return out;
  }

  private async pin(d: Digest): Promise<void> {
    if (this.pinned.has(d)) return;
    this.pinned.add(d);
    // synchronous: one short line, before every blob this process writes
    mkdirSync(this.pinsDir, { recursive: true });
    appendFileSync(path.join(this.pinsDir, `${process.pid}.txt`), `${d}\n`);
  }

  /** Remove ingest temp files whose writer process no longer runs (or that are very old). Returns their names. */
  async cleanIngest(maxAgeMs: number): Promise<string[]> {
    const removed: string[] = [];
    let names: string[];
    try {
      names = await fs.readdir(this.ingestDir);
    } catch {
      return removed;
    }
    const now = Date.now();
    for (const name of names) {
      const m = INGEST_NAME_RE.exec(name);
      const full = path.join(this.ingestDir, name);
      let stale = !m; // unknown files in ingest/ are leftovers too
      if (m && !processAlive(Number(m[1]))) stale = true;
      if (!stale) {
        try {
          const st = await fs.stat(full);
          if (now - st.mtimeMs > maxAgeMs) stale = true;
        } catch {
          continue;
        }
      }
      if (stale) {
        await fs.rm(full, { force: true, recursive: true });
        removed.push(name);
      }
    }
    return removed;
  }

  path(digest: Digest): string {
    return path.join(this.blobsDir, digestHex(checkDigest(digest)));
  }

  async has(digest: Digest): Promise<boolean> {
    try {
      await fs.stat(this.path(digest));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async stat(digest: Digest): Promise<BlobInfo> {
    try {
      const st = await fs.stat(this.path(digest));
      return { digest, size: st.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(digest);
      throw err;
    }
  }

  async put(
    source: Readable | Uint8Array | string,
    expected: Partial<Pick<Descriptor, 'digest' | 'size'>> = {},
  ): Promise<BlobInfo> {
    // data in memory (a config, a manifest) is hashed first, so a blob already stored costs a stat,
    // not an ingest file written, fsynced and removed again (every no-op build writes its image)
    const inMemory = typeof source === 'string' || source instanceof Uint8Array;
    const computed = inMemory ? sha256Digest(source) : undefined;
    const expDigest = expected.digest !== undefined ? checkDigest(expected.digest) : computed;
    const expSize = expected.size;
    if (expSize !== undefined && (!Number.isSafeInteger(expSize) || expSize < 0)) {
      throw new InvalidArgumentError(`invalid blob size ${expSize}`, { code: 'CONTENT_INVALID_SIZE' });
    }
    if (expDigest) await this.pin(expDigest);
    if (expDigest && (await this.has(expDigest))) {
      const info = await this.stat(expDigest);
      if (expSize !== undefined && info.size !== expSize) {
        await drain(source);
        throw new KilnError('CONTENT_SIZE_MISMATCH', `blob ${expDigest} is ${info.size} bytes, expected ${expSize}`);
      }
      await drain(source);
      return info;
    }

    const tmp = path.join(
      this.ingestDir,
      `${process.pid}-${Date.now().toString(16)}-${randomBytes(8).toString('hex')}.ingest`,
    );
    if (computed !== undefined) {
      // in memory, a config or manifest: checked here, then written with synchronous calls and only the two
      // fsyncs in the thread pool (writeSmallFileAtomic), ~2 round trips instead of ~12
      const data = typeof source === 'string' ? Buffer.from(source) : (source as Uint8Array);
      if (expSize !== undefined && data.length !== expSize) {
        throw sizeMismatch(expDigest, data.length, expSize);
      }
      if (computed !== expDigest) throw digestMismatch(expDigest);
      await writeSmallFileAtomic(this.path(computed), data, 0o444, { tmp, sync: this.sync });
      return { digest: computed, size: data.length };
    }
    const verifier = new Verifier({ digest: expDigest, size: expSize });
    let fh: fs.FileHandle | undefined;
    let renamed = false;
    try {
      fh = await fs.open(tmp, 'wx', 0o644);
      const writer = new PipelinedWriter(fh, this.sync);
      for await (const chunk of toChunks(source)) {
        if (expSize !== undefined && verifier.size + chunk.length > expSize) {
          throw new KilnError(
            'CONTENT_SIZE_MISMATCH',
            `blob ${expDigest ?? ''} is larger than the expected ${expSize} bytes`.replace('  ', ' '),
          );
        }
        verifier.update(chunk);
        await writer.write(chunk);
      }
      await writer.finish();
      let digest: Digest;
      try {
        digest = await verifier.finish();
      } catch (err) {
        if (err instanceof VerifyError && err.kind === 'size') {
          throw sizeMismatch(expDigest, err.actualSize, expSize, err);
        }
        if (err instanceof VerifyError) throw digestMismatch(expDigest, err);
        throw err;
      }
      if (this.sync) await fh.sync();
      await fh.chmod(0o444);
      await fh.close();
      fh = undefined;
      if (!expDigest) await this.pin(digest);
      const target = this.path(digest);
      // Another writer may have committed the same digest meanwhile: that is success.
      if (await this.has(digest)) return { digest, size: verifier.size };
      await fs.rename(tmp, target);
      renamed = true;
      if (this.sync) await fsyncDir(this.blobsDir);
      return { digest, size: verifier.size };
    } finally {
      if (fh) await fh.close().catch(() => {});
      if (!renamed) await fs.rm(tmp, { force: true }).catch(() => {});
    }
  }

  get(digest: Digest): Readable {
    const d = checkDigest(digest);
    const file = this.path(d);
    const verifier = new Verifier({ digest: d });
    let held: Buffer | undefined;
    const check = new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        verifier.update(chunk);
        const out = held;
        held = chunk;
        cb(null, out);
      },
      flush(cb: TransformCallback) {
        verifier.finish().then(
          () => cb(null, held),
          (err: unknown) => cb(corrupt(d, err)),
        );
      },
    });
    const src = createReadStream(file, { highWaterMark: 1 << 20 });
    src.on('error', (err: NodeJS.ErrnoException) => {
      check.destroy(err.code === 'ENOENT' ? notFound(d) : err);
    });
    return src.pipe(check);
  }

  async readBuffer(digest: Digest): Promise<Buffer> {
    const d = checkDigest(digest);
    let data: Buffer;
    try {
      data = await fs.readFile(this.path(d));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(d);
      throw err;
    }
    // the whole blob is in memory: ssri checks it in one call (its integrity stream, built for
    // streaming reads, cost a build's many small JSON reads more than the hashing)
    if (!ssri.checkData(data, digestToIntegrity(d))) throw corrupt(d, new VerifyError('digest', data.length, `sha256 of ${data.length} bytes is not ${d}`));
    return data;
  }

  /** Re-hash a stored blob; returns the digest its bytes actually have. */
  async verify(digest: Digest): Promise<{ ok: boolean; actual: Digest; size: number }> {
    const d = checkDigest(digest);
    const verifier = new Verifier();
    const stream = createReadStream(this.path(d), { highWaterMark: 1 << 20 });
    for await (const chunk of stream) verifier.update(chunk as Buffer);
    const actual = await verifier.finish();
    return { ok: actual === d, actual, size: verifier.size };
  }

  async delete(digest: Digest): Promise<void> {
    const file = this.path(digest);
    try {
      await fs.unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(digest);
      throw err;
    }
  }

  async *walk(): AsyncIterable<BlobInfo> {
    let names: string[];
    try {
      names = await fs.readdir(this.blobsDir);
    } catch {
      return;
    }
    names.sort();
    for (const name of names) {
      const digest = `sha256:${name}`;
      if (!isDigest(digest)) continue;
      try {
        const st = await fs.stat(path.join(this.blobsDir, name));
        if (st.isFile()) yield { digest, size: st.size };
      } catch {
        // deleted while walking
      }
    }
  }

  /** Names in blobs/sha256 that are not valid digests (reported by `system check`). */
  async strayFiles(): Promise<string[]> {
    try {
      return (await fs.readdir(this.blobsDir)).filter((n) => !isDigest(`sha256:${n}`)).sort();
    } catch {
      return [];
    }
  }
}

function checkDigest(d: string): Digest {
  return parseDigest(d);
}

function notFound(d: string): NotFoundError {
  return new NotFoundError(`content ${d}: not found`, { code: 'CONTENT_NOT_FOUND' });
}

/** Bytes that are not the size the caller expected (nothing is stored). */
function sizeMismatch(d: Digest | undefined, actual: number, expected: number | undefined, cause?: unknown): KilnError {
  return new KilnError('CONTENT_SIZE_MISMATCH', `blob ${d ?? ''} has ${actual} bytes, expected ${expected}`.replace('  ', ' '), { cause });
}

/** Bytes that do not hash to the digest the caller expected (nothing is stored). */
function digestMismatch(d: Digest | undefined, cause?: unknown): KilnError {
  return new KilnError('CONTENT_DIGEST_MISMATCH', `content does not match digest ${d}`, {
    cause,
    hint: 'the data was changed in transit or the descriptor is wrong; nothing was stored',
  });
}

function corrupt(d: string, cause: unknown): KilnError {
  return new KilnError('CONTENT_CORRUPT', `blob ${d} is corrupt: its bytes on disk no longer match its digest`, {
    cause,
    hint: 'run "kiln system check" to list damaged blobs; remove the image and pull/load it again',
  });
}

async function* toChunks(source: Readable | Uint8Array | string): AsyncIterable<Uint8Array> {
  if (typeof source === 'string') {
    yield Buffer.from(source, 'utf8');
    return;
  }
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  for await (const chunk of source) {
    yield typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
  }
}

async function drain(source: Readable | Uint8Array | string): Promise<void> {
  if (typeof source === 'string' || source instanceof Uint8Array) return;
  for await (const _ of source) {
    // discard
  }
}

async function writeAllAt(fh: fs.FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, position + off);
    off += bytesWritten;
  }
}

/**
 * Writes an ingest file while the caller produces the next chunks: up to WRITE_WINDOW positional
 * writes in flight (one after the other, reading, hashing and writing of a big layer took turns),
 * and with `sync`, a datasync every SYNC_EVERY bytes so the disk works during the ingest rather
 * than all at the final fsync (a 512 MiB layer otherwise waited ~1.3 s for it here).
 */
const WRITE_WINDOW = 4;
const SYNC_EVERY = 64 << 20;

class PipelinedWriter {
  private position = 0;
  private readonly inflight = new Set<Promise<void>>();
  private error: unknown;
  private syncedUpTo = 0;
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly fh: fs.FileHandle,
    private readonly sync: boolean,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    if (this.error !== undefined) throw this.error;
    const p: Promise<void> = writeAllAt(this.fh, chunk, this.position)
      .catch((e: unknown) => {
        this.error ??= e;
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
    this.position += chunk.length;
    if (this.inflight.size >= WRITE_WINDOW) await Promise.race(this.inflight);
    if (this.sync && !this.syncing && this.position - this.syncedUpTo >= SYNC_EVERY) {
      const upTo = this.position;
      const written = [...this.inflight];
      this.syncing = (async () => {
        await Promise.all(written);
        await this.fh.datasync();
        this.syncedUpTo = upTo;
      })()
        .catch((e: unknown) => {
          this.error ??= e;
        })
        .finally(() => (this.syncing = undefined));
    }
    if (this.error !== undefined) throw this.error;
  }

  /** Every write done (the caller still fsyncs). */
  async finish(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
    await this.syncing;
    if (this.error !== undefined) throw this.error;
  }
}

