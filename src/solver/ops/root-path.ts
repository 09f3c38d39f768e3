import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KilnError } from '../../diagnostics/errors.js';

const MAX_LINKS = 255;

/**
 * Resolve `p` inside `root` the way BuildKit's fs.RootPath does: every symlink on the way is
 * followed with `root` as `/` (an absolute link target starts again at `root`, `..` stops at
 * `root`), so the result is always inside `root` — a symlink in a build context can never make
 * COPY read a host file. `followFinal: false` leaves a symlink in the last component alone.
 * Components that do not exist are appended as they are.
 */
export async function resolveInRoot(root: string, p: string, followFinal = true): Promise<string> {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  const cur: string[] = [];
  let links = 0;
  let missing = false;
  while (parts.length > 0) {
    const seg = parts.shift()!;
    if (seg === '.') continue;
    if (seg === '..') {
      cur.pop();
      continue;
    }
    if (missing || (parts.length === 0 && !followFinal)) {
      cur.push(seg);
      continue;
    }
    const candidate = path.join(root, ...cur, seg);
    let st;
    try {
      st = await fs.lstat(candidate);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        missing = true;
        cur.push(seg);
        continue;
      }
      throw err;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new KilnError('SOLVE_SYMLINK_LOOP', `too many levels of symbolic links resolving ${p}`);
      const target = await fs.readlink(candidate);
      if (target.startsWith('/')) cur.length = 0;
      parts.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
      continue;
    }
    cur.push(seg);
  }
  return path.join(root, ...cur);
}

/** Go's path.Clean for container paths, keeping a trailing `/` or `/.` (BuildKit's cleanPath). */
export function cleanContainerPath(s: string): string {
  let s2 = path.posix.join('/', s);
  if (s.endsWith('/.')) {
    if (s2 !== '/') s2 += '/';
    s2 += '.';
  } else if (s.endsWith('/') && s2 !== '/') s2 += '/';
  return s2;
}
