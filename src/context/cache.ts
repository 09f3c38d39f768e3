/**
 * Persistent content-digest cache for a build context, keyed by each file's
 * (path, size, mtime, inode, mode). A no-op rebuild then only needs lstat calls.
 * Stored as one JSON file per context under `$KILN_ROOT/meta/context-cache/`,
 * written atomically (temp file, fsync, rename, fsync directory).
 */
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { cleanAtomicTemps, writeFileAtomic } from '../util/atomic-file.js';

/** v2: one flat array (JSON parses it ~3x faster than v1's object of 20,000 [key, digest] pairs). */
const VERSION = 2;
/** A cache that grew past this many entries is dropped and rebuilt from scratch. */
const MAX_ENTRIES = 1_000_000;

interface CacheFileV1 {
  v: 1;
  ctx: string;
  entries: Record<string, [string, string]>;
}

interface CacheFileV2 {
  v: 2;
  ctx: string;
  /** path, stat key, digest; path, stat key, digest; ... */
  e: string[];
}

export function statKey(st: Stats): string {
  // ctime too: it changes on any write or chmod, even when mtime is restored.
  return `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}:${st.mode}`;
}

export function cacheFileFor(kilnRoot: string, contextDir: string): string {
  const h = createHash('sha256').update(contextDir).digest('hex');
  return path.join(cacheDir(kilnRoot), `${h}.json`);
}

const cacheDir = (kilnRoot: string) => path.join(kilnRoot, 'meta', 'context-cache');

/**
 * `builder prune`: drop the digest caches (and the selection memos beside them) of contexts that
 * no longer exist - a CI job's checkout in a temporary directory leaves one per run - or, with
 * `all`, of every context. Returns how many files went and their size.
 */
export async function pruneContextCaches(kilnRoot: string, o: { all?: boolean } = {}): Promise<{ files: number; bytes: number }> {
  const dir = cacheDir(kilnRoot);
  const names = await readdir(dir).catch(() => [] as string[]);
  const live = new Set<string>();
  if (!o.all) {
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      const h = n.slice(0, -5);
      try {
        const { ctx } = JSON.parse(await readFile(path.join(dir, n), 'utf8')) as { ctx?: unknown };
        if (typeof ctx === 'string' && (await stat(ctx)).isDirectory()) live.add(h);
      } catch {
        // unreadable cache or context gone: not live
      }
    }
  }
  // temp files of atomic writes: a running build's are kept, those of killed writers go
  await cleanAtomicTemps(dir);
  let files = 0;
  let bytes = 0;
  for (const n of names) {
    if (n.startsWith('.') || live.has(n.slice(0, n.indexOf('.')))) continue;
    const f = path.join(dir, n);
    const st = await stat(f).catch(() => null);
    if (!st) continue;
    await rm(f, { force: true });
    bytes += st.size;
    files++;
  }
  return { files, bytes };
}

export class DigestCache {
  /** As loaded: path, key, digest triples, and where each path's triple starts. */
  private flat: string[] = [];
  private index = new Map<string, number>();
  /** Set during this run (they win over `flat`). */
  private changed = new Map<string, [string, string]>();
  /** Read from an older format: written again in this one. */
  private migrate = false;
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
      const data = JSON.parse(await readFile(file, 'utf8')) as CacheFileV1 | CacheFileV2;
      if (data?.ctx !== contextDir) return cache;
      if (data.v === 2 && Array.isArray(data.e) && data.e.length % 3 === 0 && data.e.every((x) => typeof x === 'string')) {
        cache.flat = data.e;
      } else if (data.v === 1 && typeof data.entries === 'object') {
        for (const [k, v] of Object.entries(data.entries)) {
          if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'string') cache.flat.push(k, v[0], v[1]);
        }
        cache.migrate = true;
      }
      for (let i = 0; i < cache.flat.length; i += 3) cache.index.set(cache.flat[i]!, i);
    } catch {
      // absent or corrupt: rebuild it
    }
    return cache;
  }

  private lookup(rel: string): [string, string] | undefined {
    const c = this.changed.get(rel);
    if (c) return c;
    const i = this.index.get(rel);
    return i === undefined ? undefined : [this.flat[i + 1]!, this.flat[i + 2]!];
  }

  get(rel: string, key: string): string | undefined {
    const c = this.changed.get(rel);
    const i = c ? undefined : this.index.get(rel);
    if (c ? c[0] === key : i !== undefined && this.flat[i + 1] === key) {
      this.hits++;
      return c ? c[1] : this.flat[i! + 2];
    }
    this.misses++;
    return undefined;
  }

  set(rel: string, key: string, digest: string): void {
    const e = this.lookup(rel);
    if (e && e[0] === key && e[1] === digest) return;
    this.changed.set(rel, [key, digest]);
  }

  /** Write the cache if anything changed. */
  async save(): Promise<void> {
    if (!this.file || (this.changed.size === 0 && !this.migrate)) return;
    const e: string[] = [];
    if (this.index.size + this.changed.size <= MAX_ENTRIES) {
      for (const [p, i] of this.index) if (!this.changed.has(p)) e.push(p, this.flat[i + 1]!, this.flat[i + 2]!);
    }
    for (const [p, [k, d]] of this.changed) e.push(p, k, d);
    const data: CacheFileV2 = { v: VERSION, ctx: this.contextDir, e };
    await writeFileAtomic(this.file, JSON.stringify(data), 0o600);
    this.flat = e;
    this.index = new Map();
    for (let i = 0; i < e.length; i += 3) this.index.set(e[i]!, i);
    this.changed.clear();
    this.migrate = false;
  }
}
