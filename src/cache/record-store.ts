import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../diagnostics/errors.js';
import { readJsonFile as readJson, replaceFileUnsynced } from '../util/atomic-file.js';
import type { CacheKey, CacheRecord, CacheStore } from './types.js';

const KEY_RE = /^sha256:([0-9a-f]{64})$/;

function hexOf(key: CacheKey): string {
  const m = KEY_RE.exec(key);
  if (!m) throw new InvalidArgumentError(`invalid cache key ${JSON.stringify(key)}`, { code: 'CACHE_INVALID_KEY' });
  return m[1]!;
}

function isRecord(v: unknown): v is CacheRecord {
  const r = v as CacheRecord;
  return (
    typeof r === 'object' && r !== null && typeof r.key === 'string' && typeof r.created === 'string' &&
    typeof r.result === 'object' && r.result !== null && Array.isArray(r.result.layers) && Array.isArray(r.inputs)
  );
}

/**
 * Cache records as one JSON file per key under `<root>/meta/cache/records/`.
 * Writes are atomic renames, so concurrent builds in one root never see a torn record;
 * an unreadable record is treated as a miss (and the step simply runs again).
 */
export class FileCacheStore implements CacheStore {
  readonly dir: string;

  constructor(root: string) {
    this.dir = path.join(root, 'meta', 'cache', 'records');
  }

  private file(key: CacheKey): string {
    return path.join(this.dir, `${hexOf(key)}.json`);
  }

  async get(key: CacheKey): Promise<CacheRecord | undefined> {
    const file = this.file(key);
    try {
      const rec = await readJson<unknown>(file);
      return isRecord(rec) && rec.key === key ? rec : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Atomic for readers, not synced: a record lost or torn by a power cut reads as a miss and the
   * step runs again, while an fsync'd write cost each step two disk flushes and ~5 ms (nine thread-pool
   * round trips) before the next step could start.
   */
  async put(record: CacheRecord): Promise<void> {
    replaceFileUnsynced(this.file(record.key), `${JSON.stringify(record, null, 2)}\n`);
  }

  async delete(key: CacheKey): Promise<void> {
    await fs.rm(this.file(key), { force: true });
  }

  /** The record file's mtime is when a build last used it (one utimes a hit; not synced: a hint). */
  async touch(key: CacheKey): Promise<void> {
    const now = new Date();
    await fs.utimes(this.file(key), now, now).catch(() => undefined);
  }

  /** When the record was last used (or written), in ms since the epoch; undefined when it is gone. */
  async lastUsed(key: CacheKey): Promise<number | undefined> {
    return fs.stat(this.file(key)).then((s) => s.mtimeMs, () => undefined);
  }

  async *list(): AsyncIterable<CacheRecord> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names.sort()) {
      const m = /^([0-9a-f]{64})\.json$/.exec(name);
      if (!m) continue;
      const rec = await this.get(`sha256:${m[1]}`);
      if (rec) yield rec;
    }
  }
}

/** An in-memory store for tests and for `--cache-from` sources loaded whole. */
export class MemoryCacheStore implements CacheStore {
  readonly records = new Map<CacheKey, CacheRecord>();

  async get(key: CacheKey): Promise<CacheRecord | undefined> {
    return this.records.get(key);
  }
  async put(record: CacheRecord): Promise<void> {
    this.records.set(record.key, structuredClone(record));
  }
  async delete(key: CacheKey): Promise<void> {
    this.records.delete(key);
  }
  async *list(): AsyncIterable<CacheRecord> {
    yield* [...this.records.values()];
  }
}

/**
 * Look up several stores in order (the local store first, then `--cache-from` imports);
 * writes go to the first.
 */
export class LayeredCacheStore implements CacheStore {
  constructor(
    private readonly primary: CacheStore,
    private readonly fallbacks: readonly CacheStore[],
  ) {}

  async get(key: CacheKey): Promise<CacheRecord | undefined> {
    for (const s of [this.primary, ...this.fallbacks]) {
      const r = await s.get(key);
      if (r) return r;
    }
    return undefined;
  }
  put(record: CacheRecord): Promise<void> {
    return this.primary.put(record);
  }
  delete(key: CacheKey): Promise<void> {
    return this.primary.delete(key);
  }
  list(): AsyncIterable<CacheRecord> {
    return this.primary.list();
  }
  async touch(key: CacheKey): Promise<void> {
    await this.primary.touch?.(key);
  }
}
