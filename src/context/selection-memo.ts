/**
 * Selection memo: the result of hashing one selection of a build context, with the metadata of
 * every path that hashing looked at. When a later build asks for the same selection (same sources,
 * --exclude patterns, symlink rule and .dockerignore) and every one of those paths still has the
 * same size, mtime, ctime, inode, mode and owner, the walk would visit the same entries and the
 * per-file digest cache would answer every file: so the stored result is the answer, and a no-op
 * rebuild costs one lstat per path and nothing else (no entry objects, no digest cache to load,
 * no directory digests).
 *
 * Why the recorded paths suffice: the directories read are recorded too, and adding, removing or
 * renaming an entry changes its directory's mtime; a changed type means a new entry. The
 * directories and links passed through on the way to a source (`src` for `COPY src/app`) are not
 * read: only their inode and type are kept, so a file added beside `src/app` costs nothing, while
 * `src` replaced by a link or another directory is seen (the context root is kept only when a
 * source leads to it). The same timestamp rule as the digest cache applies to the rest (see
 * RACY_WINDOW_MS in source.ts): a memo is written only when every fully recorded path was last
 * modified long enough before the walk began, so a change after the walk always shows a newer
 * mtime.
 *
 * File: `<context cache file>.<selection key>.memo` beside the digest cache, written atomically:
 *   u32 LE header length, header JSON ({v, ctx, key, digest, count, paths}),
 *   u32 LE files length, files JSON (ContextFile[], parsed only when asked for),
 *   7 float64 per path (STAT_FIELDS; a directory or link only passed through on the way to a source
 *   keeps just its inode and file type, the other fields IDENTITY_ONLY).
 * Anything unreadable, of another version, or for another context or key is ignored.
 */
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstatSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { ContextFile, ContextHashResult, ContextSelection } from './types.js';

const VERSION = 1;
const STAT_FIELDS = 7;

interface MemoHeader {
  v: number;
  ctx: string;
  key: string;
  digest: string;
  count: number;
  /** Context-relative paths, '' for the context root. */
  paths: string[];
}

/** The memo key: everything besides the files themselves that decides what a selection yields. */
export function selectionKey(selections: readonly ContextSelection[], ignorePatterns: readonly string[]): string {
  const what = selections.map((s) => [s.src, s.excludes ?? [], s.followLinks]);
  return createHash('sha256').update(JSON.stringify([what, ignorePatterns])).digest('hex').slice(0, 32);
}

export function memoFileFor(digestCacheFile: string, key: string): string {
  return digestCacheFile.replace(/\.json$/, '') + `.${key}.memo`;
}

/** A path a selection's hashing looked at; `full` false: only its identity and type matter. */
export interface SeenPath {
  st: Stats;
  full: boolean;
}

/** Marks an entry whose inode and type are all that is compared (a size is never negative). */
const IDENTITY_ONLY = -1;
const S_IFMT = 0o170000;

function putStat(out: Float64Array, i: number, { st, full }: SeenPath): void {
  const o = i * STAT_FIELDS;
  if (!full) {
    out.fill(IDENTITY_ONLY, o, o + STAT_FIELDS);
    out[o + 3] = st.ino;
    out[o + 4] = st.mode & S_IFMT;
    return;
  }
  out[o] = st.size;
  out[o + 1] = st.mtimeMs;
  out[o + 2] = st.ctimeMs;
  out[o + 3] = st.ino;
  out[o + 4] = st.mode;
  out[o + 5] = st.uid;
  out[o + 6] = st.gid;
}

function sameStat(v: Float64Array, i: number, st: Stats): boolean {
  const o = i * STAT_FIELDS;
  if (v[o] === IDENTITY_ONLY) return v[o + 3] === st.ino && v[o + 4] === (st.mode & S_IFMT);
  return (
    v[o] === st.size &&
    v[o + 1] === st.mtimeMs &&
    v[o + 2] === st.ctimeMs &&
    v[o + 3] === st.ino &&
    v[o + 4] === st.mode &&
    v[o + 5] === st.uid &&
    v[o + 6] === st.gid
  );
}

/** A hash result whose file list is parsed from the memo only if someone reads it. */
function lazyResult(digest: string, count: number, filesJson: Buffer): ContextHashResult {
  let files: ContextFile[] | undefined;
  return {
    digest,
    count,
    get files(): ContextFile[] {
      return (files ??= JSON.parse(filesJson.toString('utf8')) as ContextFile[]);
    },
  };
}

/**
 * The stored result when `file` holds a memo for (`ctx`, `key`) and every recorded path is
 * unchanged; otherwise null. `checked` is told how many paths were looked at.
 */
export async function recallSelection(
  file: string,
  ctx: string,
  key: string,
  checked: (n: number) => void = () => {},
): Promise<ContextHashResult | null> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch {
    return null;
  }
  try {
    const hlen = buf.readUInt32LE(0);
    const header = JSON.parse(buf.toString('utf8', 4, 4 + hlen)) as MemoHeader;
    if (header.v !== VERSION || header.ctx !== ctx || header.key !== key || !Array.isArray(header.paths)) return null;
    const flen = buf.readUInt32LE(4 + hlen);
    const fStart = 8 + hlen;
    const sStart = fStart + flen;
    const n = header.paths.length;
    if (buf.length !== sStart + n * STAT_FIELDS * 8) return null;
    const stats = new Float64Array(n * STAT_FIELDS);
    Buffer.from(stats.buffer).set(buf.subarray(sStart));
    for (let i = 0; i < n; i++) {
      const p = header.paths[i]!;
      const st = lstatSync(p === '' ? ctx : `${ctx}/${p}`, { throwIfNoEntry: false });
      if (!st || !sameStat(stats, i, st)) {
        checked(i + 1);
        return null;
      }
    }
    checked(n);
    return lazyResult(header.digest, header.count, buf.subarray(fStart, sStart));
  } catch {
    return null; // truncated or corrupt: hash from scratch (and write a new memo)
  }
}

/** Store a result and the metadata of the paths it came from. */
export async function rememberSelection(
  file: string,
  ctx: string,
  key: string,
  result: ContextHashResult,
  visited: ReadonlyMap<string, SeenPath>,
): Promise<void> {
  const paths = [...visited.keys()];
  const stats = new Float64Array(paths.length * STAT_FIELDS);
  let i = 0;
  for (const st of visited.values()) putStat(stats, i++, st);
  const header: MemoHeader = { v: VERSION, ctx, key, digest: result.digest, count: result.count, paths };
  const h = Buffer.from(JSON.stringify(header));
  const f = Buffer.from(JSON.stringify(result.files));
  const len = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  await writeFileAtomic(file, Buffer.concat([len(h.length), h, len(f.length), f, Buffer.from(stats.buffer)]), 0o600);
}
