import { constants, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import PQueue from 'p-queue';
import { KilnError, NotFoundError } from '../../diagnostics/errors.js';
import { PatternMatcher } from '../../context/dockerignore.js';
import { filepathMatch } from '../../context/filepath-match.js';
import type { SelectedFile } from '../cache-key.js';
import { applyChmod } from './chmod.js';
import { cleanContainerPath, resolveInRoot } from './root-path.js';

export interface Owner {
  uid: number;
  gid: number;
}

/** One source a COPY selected: its container path as matched and its host path with symlinks followed. */
export interface SourceMatch {
  rel: string;
  abs: string;
  st: Stats;
  /** A directory the .dockerignore excludes while re-including (`!`) paths inside it. */
  excluded?: boolean;
}

const hasWildcard = (s: string): boolean => /[*?[\\]/.test(s);

/** Whether `abs` (inside `root`) is hidden by the source's own exclusions (.dockerignore of a context). */
function isExcluded(root: string, abs: string, m: PatternMatcher | undefined): boolean {
  if (!m) return false;
  const rel = path.relative(root, abs);
  return rel !== '' && m.matches(rel.split(path.sep).join('/'));
}

function notFound(src: string): KilnError {
  return new NotFoundError(`"${src}": not found`, { code: 'SOLVE_COPY_NOT_FOUND' });
}

/**
 * Expand a COPY source inside `root`: a plain path, or (when `allowWildcard`) a pattern whose
 * components are matched with Go's filepath.Match, in lexical order (BuildKit's
 * resolveWildcards). Every match is followed inside the root, so a symlink matched by a wildcard
 * is copied as what it points to, and a link pointing out of the root resolves inside it.
 */
export async function resolveSources(root: string, src: string, allowWildcard: boolean, rootExclude?: PatternMatcher): Promise<SourceMatch[]> {
  const clean = path.posix.join('/', src);
  // An excluded directory may still hold re-included paths (`dir` then `!dir/keep`): it is
  // visited, and only what is re-included is copied.
  const lookup = async (rel: string): Promise<SourceMatch | undefined> => {
    const abs = await resolveInRoot(root, rel, true);
    const st = await fs.lstat(abs).catch(() => undefined);
    if (!st) return undefined;
    if (!isExcluded(root, abs, rootExclude)) return { rel, abs, st };
    if (st.isDirectory() && rootExclude?.exclusions) return { rel, abs, st, excluded: true };
    return undefined;
  };
  if (!allowWildcard || !hasWildcard(clean)) {
    const m = await lookup(clean);
    if (!m) throw notFound(clean);
    return [m];
  }
  const comps = clean.split('/').filter(Boolean);
  const out: SourceMatch[] = [];
  const expand = async (i: number, parts: string[]): Promise<void> => {
    if (i === comps.length) {
      const m = await lookup(`/${parts.join('/')}`);
      if (m) out.push(m);
      return;
    }
    const comp = comps[i]!;
    if (!hasWildcard(comp)) return expand(i + 1, [...parts, comp]);
    const dir = await resolveInRoot(root, `/${parts.join('/')}`, true);
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const name of names.sort()) {
      let ok: boolean;
      try {
        ok = filepathMatch(comp, name);
      } catch {
        throw new KilnError('SOLVE_BAD_PATTERN', `invalid source pattern ${JSON.stringify(src)}`);
      }
      if (ok) await expand(i + 1, [...parts, name]);
    }
  };
  await expand(0, []);
  return out;
}

export interface CopySpec {
  src: string;
  dest: string;
  allowWildcard: boolean;
  allowEmptyWildcard: boolean;
  /** A directory source copies its contents (COPY/ADD), not itself. */
  dirContentsOnly: boolean;
  createDestPath: boolean;
  excludePatterns?: string[];
  /** `--parents`: only paths matching these (relative to `src`) are copied, with their parents. */
  includePatterns?: string[];
}

export interface CopyOptions {
  srcRoot: string;
  destRoot: string;
  spec: CopySpec;
  /** `--chown`, resolved; otherwise `defaultOwner`, otherwise the source's owner. */
  owner?: Owner;
  /** The owner of files from the build context (root), when no --chown is given. */
  defaultOwner?: Owner;
  /** `--chmod` */
  mode?: number | string;
  /** Paths of `srcRoot` that do not exist for this build (the context's .dockerignore). */
  rootExclude?: PatternMatcher;
  /** ADD: unpack a source file that is an archive into the destination directory (true = done). */
  unpack?: (file: string, destDirOf: () => Promise<string>) => Promise<boolean>;
  signal?: AbortSignal;
}

interface CopyState {
  opts: CopyOptions;
  exclude?: PatternMatcher;
  include?: PatternMatcher;
  /** dev:ino of hard-linked sources → their first copy (settles once that copy is complete) */
  links: Map<string, Promise<string>>;
  /**
   * Non-directories are copied this many at a time: each is ~6 syscalls on libuv's thread pool,
   * and one after the other the round trips, not the disk, set the pace (2,000 small files took
   * 1.5 s). Directories recurse outside the queue so a parent never waits on a slot its children need.
   */
  files: PQueue;
}

const FILE_CONCURRENCY = 32;

/** Promise.all that lets every job settle before rejecting (a failed COPY's snapshot is removed next). */
async function settleAll(jobs: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(jobs);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

async function lstatOrUndef(p: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** mkdir -p inside the destination: created directories get 0755 and the copy's owner. */
async function mkdirAllInRoot(root: string, containerDir: string, owner: Owner | undefined): Promise<string> {
  const parts = containerDir.split('/').filter((s) => s && s !== '.');
  let cur = '/';
  for (const p of parts) {
    cur = path.posix.join(cur, p);
    const abs = await resolveInRoot(root, cur, true);
    const st = await lstatOrUndef(abs);
    if (!st) {
      await fs.mkdir(abs, { mode: 0o755 });
      await fs.chmod(abs, 0o755);
      if (owner) await fs.lchown(abs, owner.uid, owner.gid);
    } else if (!st.isDirectory()) {
      throw new KilnError('SOLVE_COPY_NOT_DIR', `cannot copy to ${cur}: not a directory`);
    }
  }
  return resolveInRoot(root, `/${parts.join('/')}`, true);
}

async function applyMeta(dst: string, st: Stats, s: CopyState): Promise<void> {
  const owner = s.opts.owner ?? s.opts.defaultOwner ?? { uid: st.uid, gid: st.gid };
  await fs.lchown(dst, owner.uid, owner.gid);
  if (!st.isSymbolicLink()) {
    // after chown, which clears setuid/setgid
    const mode = s.opts.mode !== undefined ? applyChmod(s.opts.mode, st.mode, st.isDirectory()) : st.mode & 0o7777;
    await fs.chmod(dst, mode);
  }
  await fs.lutimes(dst, st.atime, st.mtime);
}

/**
 * Copy one entry. `ensureParent` creates the destination's parent on demand (it may be a directory
 * that is only made once something inside it is copied); `lazy` marks such a directory itself.
 * Returns whether anything was written.
 */
async function copyEntry(src: string, dst: string, rel: string, st: Stats, s: CopyState, ensureParent: () => Promise<void>, lazy: boolean): Promise<boolean> {
  if (s.opts.signal?.aborted) throw s.opts.signal.reason ?? new Error('aborted');
  if (st.isDirectory()) {
    let made: Promise<void> | undefined;
    let created = false;
    const ensureSelf = (): Promise<void> =>
      (made ??= (async () => {
        await ensureParent();
        const existing = await lstatOrUndef(dst);
        if (existing && !existing.isDirectory()) {
          throw new KilnError('SOLVE_COPY_CONFLICT', `cannot copy directory ${rel || '/'} over non-directory`);
        }
        if (!existing) {
          await fs.mkdir(dst);
          created = true;
        }
      })());
    if (!lazy) await ensureSelf();
    const entries = (await fs.readdir(src, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const jobs: Promise<unknown>[] = [];
    for (const de of entries) {
      const name = de.name;
      const childRel = rel ? `${rel}/${name}` : name;
      if (s.exclude && s.exclude.matches(childRel)) continue;
      const childSrc = path.join(src, name);
      const visit = async (): Promise<void> => {
        const cst = await fs.lstat(childSrc);
        let childLazy = false;
        if (isExcluded(s.opts.srcRoot, childSrc, s.opts.rootExclude)) {
          if (!(cst.isDirectory() && s.opts.rootExclude?.exclusions)) return;
          childLazy = true;
        }
        if (s.include && !s.include.matches(childRel)) {
          // --parents: a directory is entered (and made only if something in it is included)
          if (!cst.isDirectory()) return;
          childLazy = true;
        }
        await copyEntry(childSrc, path.join(dst, name), childRel, cst, s, ensureSelf, childLazy);
      };
      // a type the filesystem did not report (DT_UNKNOWN) may be a directory: keep it out of the queue
      const known = de.isFile() || de.isSymbolicLink() || de.isFIFO() || de.isSocket() || de.isCharacterDevice() || de.isBlockDevice();
      jobs.push(de.isDirectory() || !known ? visit() : s.files.add(visit));
    }
    await settleAll(jobs);
    if (!made) return false;
    await made;
    // fsutil: an existing top-level destination keeps its metadata; nested directories take the source's
    if (created || rel !== '') await applyMeta(dst, st, s);
    return true;
  }
  await ensureParent();
  const existing = await lstatOrUndef(dst);
  if (existing) {
    if (existing.isDirectory()) throw new KilnError('SOLVE_COPY_CONFLICT', `cannot overwrite directory ${dst} with a non-directory`);
    await fs.unlink(dst);
  }
  let linked: { resolve(dst: string): void; reject(err: unknown): void } | undefined;
  if (st.isFile() && st.nlink > 1) {
    const id = `${st.dev}:${st.ino}`;
    const first = s.links.get(id);
    if (first) {
      await fs.link(await first, dst);
      return true;
    }
    const p = new Promise<string>((resolve, reject) => (linked = { resolve, reject }));
    p.catch(() => undefined); // only the other links wait on it
    s.links.set(id, p);
  }
  try {
    if (st.isFile()) {
      await fs.copyFile(src, dst, constants.COPYFILE_FICLONE);
    } else if (st.isSymbolicLink()) {
      await fs.symlink(await fs.readlink(src), dst);
    } else {
      return false; // sockets, fifos and devices are not copied from build sources
    }
    await applyMeta(dst, st, s);
  } catch (err) {
    linked?.reject(err);
    throw err;
  }
  linked?.resolve(dst);
  return true;
}

/**
 * COPY/ADD one source spec from `srcRoot` into `destRoot` with BuildKit's semantics
 * (fsutil copy.Copy + prepareTargetDir): a trailing `/` on dest means "into this directory";
 * a file copied onto an existing directory goes inside it; a directory source copies its
 * contents; missing parents are created; modes, owners and times are kept unless --chown/--chmod.
 */
export async function copySpec(opts: CopyOptions): Promise<number> {
  const { spec } = opts;
  const state: CopyState = { opts, links: new Map(), files: new PQueue({ concurrency: FILE_CONCURRENCY }) };
  if (spec.excludePatterns?.length) state.exclude = new PatternMatcher(spec.excludePatterns);
  if (spec.includePatterns?.length) state.include = new PatternMatcher(spec.includePatterns);
  const matches = await resolveSources(opts.srcRoot, spec.src, spec.allowWildcard, opts.rootExclude);
  if (matches.length === 0) {
    if (spec.allowEmptyWildcard) return 0;
    throw notFound(spec.src);
  }
  const dest = cleanContainerPath(spec.dest);
  const mkOwner = opts.owner;
  const ensure = dest.endsWith('/') || dest.endsWith('/.') ? dest : path.posix.dirname(dest);
  if (spec.createDestPath) await mkdirAllInRoot(opts.destRoot, ensure, mkOwner);
  else if (!(await lstatOrUndef(await resolveInRoot(opts.destRoot, ensure, true)))) {
    throw new NotFoundError(`failed to stat ${spec.dest}: no such file or directory`, { code: 'SOLVE_COPY_NOT_FOUND' });
  }
  let copied = 0;
  for (const m of matches) {
    if (state.exclude && m.rel !== path.posix.join('/', spec.src) && state.exclude.matches(m.rel.slice(1))) continue;
    const srcIsDir = m.st.isDirectory();
    if (opts.unpack && m.st.isFile()) {
      // BuildKit: an archive is unpacked *into* dest, which is always a directory then
      if (await opts.unpack(m.abs, () => mkdirAllInRoot(opts.destRoot, dest, mkOwner))) {
        copied++;
        continue;
      }
    }
    let dstContainer = path.posix.normalize(dest.replace(/\/\.?$/, '') || '/');
    let dstAbs = await resolveInRoot(opts.destRoot, dstContainer, true);
    const dstSt = await fs.stat(dstAbs).catch(() => undefined);
    if ((!spec.dirContentsOnly && srcIsDir && dstSt) || (!srcIsDir && dstSt?.isDirectory())) {
      dstContainer = path.posix.join(dstContainer, path.posix.basename(m.rel));
      dstAbs = await resolveInRoot(opts.destRoot, dstContainer, false);
    }
    const target = srcIsDir && !spec.dirContentsOnly ? dstContainer : path.posix.dirname(dstContainer);
    await mkdirAllInRoot(opts.destRoot, target, mkOwner);
    await copyEntry(m.abs, dstAbs, '', m.st, state, async () => undefined, m.excluded === true && !spec.dirContentsOnly);
    copied++;
  }
  return copied;
}

/**
 * What a COPY of `spec` from `root` selects, for its cache key: every file under every match
 * (after --exclude) with path, type, mode, owner and content digest. `hashFile` may cache by
 * (path, size, mtime, inode, mode) so a no-op rebuild reads metadata only.
 */
export async function selectedFiles(
  root: string,
  spec: Pick<CopySpec, 'src' | 'allowWildcard' | 'allowEmptyWildcard' | 'excludePatterns' | 'includePatterns'>,
  hashFile: (abs: string, st: Stats) => Promise<string>,
  rootExclude?: PatternMatcher,
): Promise<SelectedFile[]> {
  let matches: SourceMatch[];
  try {
    matches = await resolveSources(root, spec.src, spec.allowWildcard, rootExclude);
  } catch (err) {
    if (spec.allowEmptyWildcard && err instanceof NotFoundError) return [];
    throw err;
  }
  if (matches.length === 0 && !spec.allowEmptyWildcard) throw notFound(spec.src);
  const exclude = spec.excludePatterns?.length ? new PatternMatcher(spec.excludePatterns) : undefined;
  const include = spec.includePatterns?.length ? new PatternMatcher(spec.includePatterns) : undefined;
  const out: SelectedFile[] = [];
  const visit = async (abs: string, rel: string, st: Stats, under: string): Promise<void> => {
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : undefined;
    if (!type) return;
    const selected = !include || rel === '' || include.matches(rel);
    if (selected) {
      const digest = type === 'file' ? await hashFile(abs, st) : type === 'symlink' ? await fs.readlink(abs) : '';
      out.push({ path: `${under}${rel ? `/${rel}` : ''}`, type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, digest });
    }
    if (type !== 'dir') return;
    for (const name of (await fs.readdir(abs)).sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      if (exclude && exclude.matches(childRel)) continue;
      const child = path.join(abs, name);
      if (isExcluded(root, child, rootExclude)) continue;
      await visit(child, childRel, await fs.lstat(child), under);
    }
  };
  for (const m of matches) await visit(m.abs, '', m.st, m.rel);
  return out;
}
