/**
 * Resolve a path inside the build context the way BuildKit's fsutil / continuity
 * RootPath does: every symlink is read and its target is interpreted with the context
 * directory as `/`, and `..` never climbs above it. So `link -> /etc/hostname`
 * resolves to `<ctx>/etc/hostname`, and `d -> ../../` to `<ctx>` itself.
 *
 * Node has no openat/openat2, so this is a userspace walk with lstat at each step.
 * Files are later opened with O_NOFOLLOW and their inode compared with the walk's
 * lstat (see source.ts), which closes the final-component swap race.
 */
import { lstat, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { KilnError } from '../diagnostics/errors.js';

/** Linux's own limit on symlinks followed while resolving one path. */
export const MAX_SYMLINKS = 40;

export interface Resolved {
  /** '/'-separated path relative to the context root ('' is the root itself). */
  rel: string;
  st: Stats;
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Clean a source path to a root-relative one: leading `/` dropped, `..` clamped at the root. */
export function cleanInRoot(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return parts.join('/');
}

/**
 * Resolve `rel` under `root`. Symlinks in intermediate components are always followed
 * (inside the root); the last component only when `followFinal`. Returns null when the
 * path does not exist (including when it would only exist outside the root).
 */
export async function resolveInRoot(
  root: string,
  rel: string,
  followFinal: boolean,
  /**
   * Told every component looked at (root-relative) and what lstat said, `result` false: only its
   * identity and type decide where `rel` leads, not its other entries. Then the result itself
   * (the root too, when `rel` leads there) with `result` true.
   */
  seen: (rel: string, st: Stats, result: boolean) => void = () => {},
): Promise<Resolved | null> {
  const queue = rel.split('/').filter((s) => s !== '' && s !== '.');
  const resolved: string[] = [];
  let links = 0;
  let st: Stats;
  try {
    st = await lstat(root);
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === '..') {
      resolved.pop();
      st = await lstat(path.join(root, ...resolved));
      if (resolved.length > 0) seen(resolved.join('/'), st, false);
      continue;
    }
    const candidate = path.join(root, ...resolved, c);
    try {
      st = await lstat(candidate);
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    seen([...resolved, c].join('/'), st, false);
    if (st.isSymbolicLink() && (queue.length > 0 || followFinal)) {
      if (++links > MAX_SYMLINKS) {
        throw new KilnError('CONTEXT_SYMLINK_LOOP', `too many levels of symbolic links resolving "${rel}"`, {
          hint: 'a symlink in the build context points back at itself',
        });
      }
      const target = await readlink(candidate);
      if (target.startsWith('/')) resolved.length = 0;
      queue.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
      if (resolved.length === 0) st = await lstat(root);
      continue;
    }
    resolved.push(c);
    if (queue.length > 0 && !st.isDirectory()) return null;
  }
  seen(resolved.join('/'), st, true);
  return { rel: resolved.join('/'), st };
}
