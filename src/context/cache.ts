/**
 * Persistent content-digest cache for a build context, keyed by each file's
 * (path, size, mtime, inode, mode). A no-op rebuild then only needs lstat calls.
 * Stored as one JSON file per context under `$KILN_ROOT/meta/context-cache/`,
 * written atomically (temp file, fsync, rename, fsync directory).
 */
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';

const VERSION = 1;
/** A cache that grew past this many entries is dropped and rebuilt from scratch. */
const MAX_ENTRIES = 1_000_000;

interface CacheFile {
  v: number;
  ctx: string;
  entries: Record<string, [string, string]>;
}

export function statKey(st: Stats): string {
  // ctime too: it changes on any write or chmod, even when mtime is restored.
  return `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}:${st.mode}`;
}

export function cacheFileFor(kilnRoot: string, contextDir: string): string {
  const h = createHash('sha256').update(contextDir).digest('hex');
  return path.join(kilnRoot, 'meta', 'context-cache', `${h}.json`);
}

export class DigestCache {
  private entries = new Map<string, [string, string]>();
  private dirty = false;
  hits = 0;
  misses = 0;

  private constructor(
    private readonly file: string | null,
    private readonly contextDir: string,
  ) {}

  /** Load the cache for `contextDir`; a missing or unreadable cache starts empty. */
  static async load(kilnRoot: string | undefined, contextDir: string): Promise<DigestCache> {
    const file = kilnRoot ? cacheFileFor(kilnRoot, contextDir) : null;
    const cache = new DigestCache(file, contextDir);
    if (!file) return cache;
    try {
      const data = JSON.parse(await readFile(file, 'utf8')) as CacheFile;
      if (data && data.v === VERSION && data.ctx === contextDir && typeof data.entries === 'object') {
        for (const [k, v] of Object.entries(data.entries)) {
          if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'string') cache.entries.set(k, v);
        }
      }
    } catch {
      // absent or corrupt: rebuild it
    }
    return cache;
  }

  get(rel: string, key: string): string | undefined {
    const e = this.entries.get(rel);
    if (e && e[0] === key) {
      this.hits++;
      return e[1];
    }
    this.misses++;
    return undefined;
  }

  set(rel: string, key: string, digest: string): void {
    const e = this.entries.get(rel);
    if (e && e[0] === key && e[1] === digest) return;
    this.entries.set(rel, [key, digest]);
    this.dirty = true;
  }

  /** Write the cache if anything changed. */
  async save(): Promise<void> {
    if (!this.file || !this.dirty) return;
    if (this.entries.size > MAX_ENTRIES) this.entries.clear();
    const data: CacheFile = { v: VERSION, ctx: this.contextDir, entries: Object.fromEntries(this.entries) };
    await writeFileAtomic(this.file, JSON.stringify(data), 0o600);
    this.dirty = false;
  }
}
