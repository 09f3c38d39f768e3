/**
 * Reads the parts of a local build context that COPY/ADD select, and computes their
 * content digests. Only the selected paths are visited: a source `src/app` walks
 * `src/app` and nothing else, and directories that .dockerignore excludes entirely
 * are never entered. Digests are memoised in a persistent metadata cache (cache.ts),
 * so an unchanged context costs one lstat per entry; and a whole selection's result is
 * remembered with the metadata of every path its walk looked at (selection-memo.ts), so
 * an unchanged selection costs those lstat calls and nothing else.
 *
 * Symlinks are resolved inside the context root (resolve.ts); entries under a copied
 * directory are reported as links, never followed.
 */
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { closeSync, constants as FS, fstatSync, lstatSync, openSync, read, readdirSync, readlinkSync, readSync } from 'node:fs';
import { promisify } from 'node:util';
import { lstat, readdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { KilnError, NotFoundError } from '../diagnostics/errors.js';
import { DigestCache, cacheFileFor, statKey } from './cache.js';
import { PatternMatcher, readDockerignore } from './dockerignore.js';
import type { MatchState } from './dockerignore.js';
import { BadPattern, filepathMatch } from './filepath-match.js';
import { cleanInRoot, resolveInRoot } from './resolve.js';
import { memoFileFor, recallSelection, rememberSelection, selectionKey, type SeenPath } from './selection-memo.js';
import type { ContextFile, ContextFileType, ContextHashResult, ContextSelection } from './types.js';

export interface ContextSourceOptions {
  /** .dockerignore patterns or a built matcher; when absent the ignore file is read. */
  ignore?: PatternMatcher | readonly string[];
  /** Used to find `<Dockerfile>.dockerignore` when `ignore` is absent. */
  dockerfilePath?: string;
  /** The kiln store root ($KILN_ROOT); without it the digest cache lives in memory only. */
  root?: string;
  /** Files hashed at once (default 16). */
  concurrency?: number;
  /** Remember whole selections (selection-memo.ts; default true, needs `root`). */
  memo?: boolean;
}

export interface ContextStats {
  lstat: number;
  readdir: number;
  filesRead: number;
  bytesRead: number;
  cacheHits: number;
  dirsSkipped: number;
  /** Selections answered by their memo (every recorded path unchanged, nothing walked). */
  memoHits: number;
}

interface Entry {
  path: string;
  /** Parent directory path ('.' at the top) and base name, for directory digests. */
  parent: string;
  name: string;
  type: ContextFileType;
  st: Stats;
  linkTarget?: string;
  digest?: string;
  /** Changed while it was read, or too recently modified for its digest to be trusted later. */
  unsettled?: boolean;
}

/**
 * The paths one hash() call looked at, and whether its result may be remembered. `full` false: a
 * directory or link passed through on the way to a source, whose identity and type are all that
 * decide the result (a file added beside `src/app` does not change `COPY src/app`).
 */
class Visit {
  readonly seen = new Map<string, SeenPath>();
  settled = true;
  constructor(private readonly since: number) {}

  see = (rel: string, st: Stats, full = true): void => {
    const was = this.seen.get(rel);
    this.seen.set(rel, { st, full: full || !!was?.full });
    if (full && st.mtimeMs >= this.since - RACY_WINDOW_MS) this.settled = false;
  };
}

const EMPTY_SHA = 'sha256:' + createHash('sha256').digest('hex');
const SMALL_FILE = 1 << 20;
/**
 * A digest is cached only for files last modified longer ago than this: file times
 * come from the kernel's coarse clock, so two writes within one tick (a few ms) can
 * leave identical metadata. Younger files are simply re-read next time.
 */
const RACY_WINDOW_MS = 20;
/**
 * Metadata calls and small-file reads use the synchronous fs API: for tens of
 * thousands of tiny requests it is several times faster than libuv's thread pool.
 * The walk yields to the event loop every YIELD_EVERY calls to stay responsive.
 */
const YIELD_EVERY = 512;
const readAsync = promisify(read);
const yieldNow = () => new Promise<void>((r) => setImmediate(r));

/** fsutil's containsWildcards: `*`, `?` or `[` not escaped by `\`. */
export function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

/** fsutil's splitWildcards: the literal leading directories and the rest. */
export function splitWildcards(p: string): [string, string] {
  const parts = p.split('/');
  const i = parts.findIndex(containsWildcards);
  if (i < 0) return [p, ''];
  return [parts.slice(0, i).join('/'), parts.slice(i).join('/')];
}

/** A filesystem error on a context path as a KilnError naming the path (never a raw Node error). */
function ioError(rel: string, err: unknown): KilnError {
  const e = err as NodeJS.ErrnoException;
  const why = e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied' : (e.code ?? 'I/O error');
  return new KilnError('CONTEXT_IO', `cannot read "/${rel}" in the build context: ${why}`, { cause: err });
}

const vanished = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

function fileType(st: Stats): ContextFileType | null {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return null; // sockets, fifos, devices are not part of a build context here
}

function safeMatch(pattern: string, name: string): boolean {
  try {
    return filepathMatch(pattern, name);
  } catch (err) {
    if (err instanceof BadPattern) return false; // upstream ignores the error: no match
    throw err;
  }
}

/** A tiny promise pool. */
async function pool<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class ContextSource {
  readonly stats: ContextStats = { lstat: 0, readdir: 0, filesRead: 0, bytesRead: 0, cacheHits: 0, dirsSkipped: 0, memoHits: 0 };
  private cacheLoad: Promise<DigestCache> | undefined;

  private ops = 0;
  private readonly buf = Buffer.allocUnsafe(SMALL_FILE);

  private constructor(
    /** The real path of the context directory. */
    readonly dir: string,
    readonly ignore: PatternMatcher,
    private readonly root: string | undefined,
    private readonly concurrency: number,
    private readonly memo: boolean,
  ) {}

  /** The per-file digest cache, loaded when a selection first needs it (a remembered one does not). */
  private digestCache(): Promise<DigestCache> {
    return (this.cacheLoad ??= DigestCache.load(this.root, this.dir));
  }

  static async open(contextDir: string, opts: ContextSourceOptions = {}): Promise<ContextSource> {
    let dir: string;
    try {
      dir = await realpath(contextDir);
    } catch {
      throw new NotFoundError(`build context "${contextDir}" not found`, { code: 'CONTEXT_NOT_FOUND' });
    }
    const st = await lstat(dir);
    if (!st.isDirectory()) {
      throw new KilnError('CONTEXT_NOT_DIRECTORY', `build context "${contextDir}" is not a directory`);
    }
    let ignore: PatternMatcher;
    if (opts.ignore instanceof PatternMatcher) ignore = opts.ignore;
    else if (opts.ignore) ignore = new PatternMatcher(opts.ignore);
    else ignore = new PatternMatcher((await readDockerignore(dir, opts.dockerfilePath)).patterns);
    return new ContextSource(dir, ignore, opts.root, opts.concurrency ?? 16, opts.memo ?? true);
  }

  private abs(rel: string): string {
    return rel === '' ? this.dir : this.dir + '/' + rel; // rel is clean and relative
  }

  /** Call as `if (this.due()) await yieldNow();` to let other work run now and then. */
  private due(): boolean {
    return ++this.ops % YIELD_EVERY === 0;
  }

  private lstat(rel: string, visit: Visit): Stats {
    this.stats.lstat++;
    let st: Stats;
    try {
      st = lstatSync(this.abs(rel));
    } catch (err) {
      throw ioError(rel, err);
    }
    visit.see(rel, st);
    return st;
  }

  /** .dockerignore state of `rel`, evaluated component by component from the root. */
  private ignoreStateOf(rel: string): { matched: boolean; state: MatchState } {
    let state = this.ignore.rootState();
    let matched = false;
    if (rel === '') return { matched, state };
    const parts = rel.split('/');
    for (let k = 1; k <= parts.length; k++) {
      const r = this.ignore.matchWithParent(parts.slice(0, k).join('/'), state);
      state = r.state;
      matched = r.matched;
    }
    return { matched, state };
  }

  /**
   * Hash everything the selections pick. Throws CONTEXT_NOT_FOUND (a NotFoundError)
   * for a source that does not exist inside the context, is excluded by .dockerignore,
   * or is a wildcard that matches nothing.
   */
  async hash(selections: readonly ContextSelection[]): Promise<ContextHashResult> {
    const memo = this.memoOf(selections);
    if (memo) {
      const known = await recallSelection(memo.file, this.dir, memo.key, (n) => (this.stats.lstat += n));
      if (known) {
        this.stats.memoHits++;
        return known;
      }
    }
    const visit = new Visit(Date.now());
    const result = await this.walkAndHash(selections, visit);
    if (memo && visit.settled) {
      // a cache: failing to write it costs the next build a walk, nothing else
      await rememberSelection(memo.file, this.dir, memo.key, result, visit.seen).catch(() => {});
    }
    return result;
  }

  /** Where the selections' memo lives (none without a store root, or when turned off). */
  private memoOf(selections: readonly ContextSelection[]): { key: string; file: string } | null {
    if (!this.memo || !this.root) return null;
    const patterns = this.ignore.patterns.map((p) => (p.exclusion ? '!' : '') + p.cleaned);
    const key = selectionKey(selections, patterns);
    return { key, file: memoFileFor(cacheFileFor(this.root, this.dir), key) };
  }

  private async walkAndHash(selections: readonly ContextSelection[], visit: Visit): Promise<ContextHashResult> {
    const cache = await this.digestCache();
    const entries = new Map<string, Entry>();
    for (const sel of selections) {
      const excl = sel.excludes && sel.excludes.length > 0 ? new PatternMatcher(sel.excludes) : null;
      for (const src of sel.src) await this.addSource(src, sel, excl, entries, visit);
    }
    const files = [...entries.values()];
    const large: Entry[] = [];
    for (const e of files) {
      if (e.type !== 'file') continue;
      const cached = cache.get(e.path, statKey(e.st));
      if (cached) e.digest = cached;
      else if (e.st.size <= SMALL_FILE) {
        if (this.due()) await yieldNow();
        e.digest = this.smallFileDigest(e, cache);
      } else large.push(e);
    }
    await pool(large, this.concurrency, async (e) => {
      e.digest = await this.largeFileDigest(e, cache);
    });
    for (const e of files) {
      if (e.unsettled) visit.settled = false;
      else if (e.type === 'file') visit.see(e.path, e.st); // the stat its digest was read under
    }
    for (const e of files) {
      if (e.type === 'symlink') e.digest = 'sha256:' + createHash('sha256').update(e.linkTarget ?? '').digest('hex');
    }
    this.dirDigests(files);
    await cache.save();
    this.stats.cacheHits = cache.hits;

    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const out: ContextFile[] = files.map((e) => {
      const f: ContextFile = {
        path: e.path,
        type: e.type,
        mode: e.st.mode & 0o7777,
        uid: e.st.uid,
        gid: e.st.gid,
        size: e.type === 'dir' ? 0 : e.st.size,
        digest: e.digest!,
      };
      if (e.linkTarget !== undefined) f.linkTarget = e.linkTarget;
      return f;
    });
    // Ownership and times are not part of the digest: COPY normalises them.
    const lines = out.map((f) => `${f.path}\0${f.type}\0${f.mode.toString(8)}\0${f.linkTarget ?? ''}\0${f.digest}\n`);
    return { files: out, count: out.length, digest: 'sha256:' + createHash('sha256').update(lines.join('')).digest('hex') };
  }

  private notFound(src: string, why?: string): NotFoundError {
    return new NotFoundError(`"/${cleanInRoot(src)}": not found`, {
      code: 'CONTEXT_NOT_FOUND',
      hint: why ?? 'the path must exist inside the build context (symlinks resolve inside it too)',
    });
  }

  private async addSource(
    src: string,
    sel: ContextSelection,
    excl: PatternMatcher | null,
    entries: Map<string, Entry>,
    visit: Visit,
  ): Promise<void> {
    const cleaned = cleanInRoot(src);
    if (!containsWildcards(cleaned)) {
      await this.addRoot(cleaned, src, sel.followLinks, excl, entries, visit);
      return;
    }
    const [d1, d2] = splitWildcards(cleaned);
    const base = await resolveInRoot(this.dir, d1, true, visit.see);
    if (!base || !base.st.isDirectory()) throw this.notFound(src);
    const matches: string[] = [];
    await this.glob(base.rel, d2, base.rel, 0, matches, visit);
    if (matches.length === 0) throw this.notFound(src, 'no file in the build context matches the pattern');
    for (const m of matches) await this.addRoot(m, src, sel.followLinks, excl, entries, visit);
  }

  /** fsutil's resolveWildcards, pruned: only directories that can still match are read. */
  private async glob(base: string, comp: string, dirRel: string, depth: number, out: string[], visit: Visit): Promise<void> {
    const segs = comp.split('/');
    const literalSegments = !comp.includes('[') && !comp.includes('\\');
    this.stats.readdir++;
    const names = (await readdir(this.abs(dirRel))).sort();
    for (const name of names) {
      const rel = dirRel === '' ? name : `${dirRel}/${name}`;
      const relToBase = base === '' ? rel : rel.slice(base.length + 1);
      if (safeMatch(comp, relToBase)) {
        if (this.ignore.patterns.length > 0 && this.ignore.matches(rel)) {
          const st = this.lstat(rel, visit);
          if (!st.isDirectory() || this.ignore.canSkipDir(rel, true)) continue;
        }
        out.push(rel);
        continue;
      }
      if (depth + 1 >= segs.length) continue;
      if (literalSegments && !safeMatch(segs[depth]!, name)) continue;
      const st = this.lstat(rel, visit);
      if (st.isDirectory()) await this.glob(base, comp, rel, depth + 1, out, visit);
    }
  }

  private async addRoot(
    rel: string,
    src: string,
    followLinks: boolean,
    excl: PatternMatcher | null,
    entries: Map<string, Entry>,
    visit: Visit,
  ): Promise<void> {
    const r = await resolveInRoot(this.dir, rel, followLinks, visit.see);
    this.stats.lstat += rel.split('/').length;
    if (!r) throw this.notFound(src);
    const type = fileType(r.st);
    if (!type) throw new KilnError('CONTEXT_UNSUPPORTED_FILE', `"/${r.rel}" is not a regular file, directory or symlink`);
    const ign = this.ignoreStateOf(r.rel);
    if (type !== 'dir') {
      if (ign.matched) throw this.notFound(src, 'it is excluded by .dockerignore');
      if (excl && excl.matches(path.posix.basename(r.rel))) return;
      this.addEntry(r.rel, type, r.st, entries);
      return;
    }
    if (ign.matched && this.ignore.canSkipDir(r.rel, true)) throw this.notFound(src, 'it is excluded by .dockerignore');
    const added = await this.walk(r.rel, ign.state, excl, r.rel, excl ? excl.rootState() : null, entries, visit);
    if (!ign.matched || added > 0) this.addEntry(r.rel, 'dir', r.st, entries);
  }

  private addEntry(rel: string, type: ContextFileType, st: Stats, entries: Map<string, Entry>): void {
    const p = rel === '' ? '.' : rel;
    if (entries.has(p)) return;
    const slash = rel.lastIndexOf('/');
    const parent = rel === '' ? '' : slash < 0 ? '.' : rel.slice(0, slash);
    const e: Entry = { path: p, parent, name: rel.slice(slash + 1), type, st };
    entries.set(p, e);
    if (type === 'symlink') {
      try {
        e.linkTarget = readlinkSync(this.abs(rel));
      } catch (err) {
        throw ioError(rel, err);
      }
    }
  }

  /** Walk below `dirRel`; returns how many entries were added. */
  private async walk(
    dirRel: string,
    ignState: MatchState,
    excl: PatternMatcher | null,
    selRoot: string,
    exclState: MatchState | null,
    entries: Map<string, Entry>,
    visit: Visit,
  ): Promise<number> {
    this.stats.readdir++;
    let names: string[];
    try {
      names = readdirSync(this.abs(dirRel));
    } catch (err) {
      if (vanished(err)) {
        visit.settled = false;
        return 0; // removed while we walked: nothing to add
      }
      throw ioError(dirRel, err);
    }
    const useIgnore = this.ignore.patterns.length > 0;
    let added = 0;
    for (const name of names) {
      const rel = dirRel === '' ? name : `${dirRel}/${name}`;
      if (this.due()) await yieldNow();
      let st: Stats;
      try {
        st = this.lstat(rel, visit);
      } catch (err) {
        if (vanished((err as KilnError).cause)) {
          visit.settled = false;
          continue; // removed since readdir
        }
        throw err;
      }
      const type = fileType(st);
      if (!type) continue;
      const ig = useIgnore ? this.ignore.matchWithParent(rel, ignState) : { matched: false, state: ignState };
      const selRel = selRoot === '' ? rel : rel.slice(selRoot.length + 1);
      const ex = excl && exclState ? excl.matchWithParent(selRel, exclState) : null;
      const ignored = ig.matched || !!ex?.matched;
      if (type !== 'dir') {
        if (ignored) continue;
        this.addEntry(rel, type, st, entries);
        added++;
        continue;
      }
      if ((ig.matched && this.ignore.canSkipDir(rel, true)) || (ex?.matched && excl!.canSkipDir(selRel, true))) {
        this.stats.dirsSkipped++;
        continue;
      }
      const n = await this.walk(rel, ig.state, excl, selRoot, ex ? ex.state : null, entries, visit);
      if (!ignored || n > 0) {
        this.addEntry(rel, 'dir', st, entries);
        added += n + 1;
      }
    }
    return added;
  }

  private changed(e: Entry, cause?: unknown): KilnError {
    return new KilnError('CONTEXT_CHANGED', `"/${e.path}" changed while the build context was being read`, {
      hint: 'retry the build once the files stop changing',
      ...(cause ? { cause } : {}),
    });
  }

  /** Remember a digest unless the file was modified while we looked at it (git's racy-timestamp rule). */
  private remember(e: Entry, before: Stats, after: Stats, digest: string, cache: DigestCache): void {
    const walked = statKey(e.st);
    e.st = before;
    if (statKey(after) === statKey(before) && after.mtimeMs < Date.now() - RACY_WINDOW_MS) {
      cache.set(e.path, statKey(before), digest);
      if (statKey(before) !== walked) e.unsettled = true;
    } else {
      e.unsettled = true;
    }
  }

  /**
   * Open with O_NOFOLLOW and check the inode: the file hashed is the one the walk saw,
   * not a symlink swapped in since.
   */
  private openChecked(e: Entry): { fd: number; st: Stats } {
    let fd: number;
    try {
      fd = openSync(this.abs(e.path), FS.O_RDONLY | FS.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP' || code === 'ENOENT') throw this.changed(e, err);
      throw ioError(e.path, err);
    }
    const st = fstatSync(fd);
    if (st.ino !== e.st.ino || st.dev !== e.st.dev || !st.isFile()) {
      closeSync(fd);
      throw this.changed(e);
    }
    return { fd, st };
  }

  private smallFileDigest(e: Entry, cache: DigestCache): string {
    const { fd, st } = this.openChecked(e);
    try {
      const h = createHash('sha256');
      for (;;) {
        const n = readSync(fd, this.buf, 0, this.buf.length, null);
        if (n === 0) break;
        h.update(this.buf.subarray(0, n));
        this.stats.bytesRead += n;
      }
      this.stats.filesRead++;
      const digest = 'sha256:' + h.digest('hex');
      this.remember(e, st, fstatSync(fd), digest, cache);
      return digest;
    } finally {
      closeSync(fd);
    }
  }

  private async largeFileDigest(e: Entry, cache: DigestCache): Promise<string> {
    const { fd, st } = this.openChecked(e);
    try {
      const h = createHash('sha256');
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const { bytesRead } = await readAsync(fd, buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        h.update(buf.subarray(0, bytesRead));
        this.stats.bytesRead += bytesRead;
      }
      this.stats.filesRead++;
      const digest = 'sha256:' + h.digest('hex');
      this.remember(e, st, fstatSync(fd), digest, cache);
      return digest;
    } finally {
      closeSync(fd);
    }
  }

  /** Directory digests from their selected children, deepest first. */
  private dirDigests(files: Entry[]): void {
    const children = new Map<string, Entry[]>();
    for (const e of files) {
      if (e.path === '.') continue;
      let list = children.get(e.parent);
      if (!list) children.set(e.parent, (list = []));
      list.push(e);
    }
    const dirs = files.filter((e) => e.type === 'dir');
    const depth = new Map<Entry, number>();
    for (const d of dirs) depth.set(d, d.path === '.' ? 0 : d.path.split('/').length);
    dirs.sort((a, b) => depth.get(b)! - depth.get(a)!);
    for (const d of dirs) {
      const list = children.get(d.path);
      if (!list) {
        d.digest = EMPTY_SHA;
        continue;
      }
      list.sort((a, b) => (a.name < b.name ? -1 : 1));
      const lines = list.map(
        (c) => `${c.name}\0${c.type}\0${(c.st.mode & 0o7777).toString(8)}\0${c.linkTarget ?? ''}\0${c.digest}\n`,
      );
      d.digest = 'sha256:' + createHash('sha256').update(lines.join('')).digest('hex');
    }
  }
}

/** One-shot helper: open the context and hash the selections. */
export async function hashContextPaths(
  ctxDir: string,
  selections: readonly ContextSelection[],
  opts: ContextSourceOptions = {},
): Promise<ContextHashResult & { stats: ContextStats }> {
  const src = await ContextSource.open(ctxDir, opts);
  const r = await src.hash(selections);
  return { ...r, stats: src.stats };
}
