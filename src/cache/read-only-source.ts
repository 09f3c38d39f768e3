import { KilnError } from '../diagnostics/errors.js';
import type { BlobCacheRecord, CacheKey, CacheStore } from './types.js';

/**
 * What every `--cache-from` source shares: a fixed set of imported records, read-only.
 * Subclasses add how to read the layer blobs the records name.
 */
export abstract class ReadOnlyCacheSource implements CacheStore {
  protected readonly records: Map<CacheKey, BlobCacheRecord>;

  protected constructor(
    /** The source as the user named it (a directory or a reference), for messages. */
    readonly source: string,
    records: Iterable<BlobCacheRecord>,
  ) {
    this.records = new Map([...records].map((r) => [r.key, r]));
  }

  get size(): number {
    return this.records.size;
  }
  async get(key: CacheKey): Promise<BlobCacheRecord | undefined> {
    const r = this.records.get(key);
    return r ? structuredClone(r) : undefined;
  }
  async put(): Promise<void> {
    throw new KilnError('CACHE_READ_ONLY', `--cache-from ${this.source} is read-only`);
  }
  async delete(): Promise<void> {
    throw new KilnError('CACHE_READ_ONLY', `--cache-from ${this.source} is read-only`);
  }
  async *list(): AsyncIterable<BlobCacheRecord> {
    yield* [...this.records.values()];
  }
}
