import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KilnError } from '../diagnostics/errors.js';

const MAX_SYMLINKS = 255;

/**
 * Lexically clean a layer entry name into path components inside the root: leading `/` are
 * dropped, empty and `.` components skipped, `..` pops one component and never rises above the
 * root (so `../x`, `/abs`, `////abs`, `a/../../x` all land inside). NUL bytes are rejected.
 */
export function cleanComponents(name: string): string[] {
  if (name.includes('\0')) throw new KilnError('LAYER_INVALID_PATH', `entry name contains a NUL byte`);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return out;
}

/**
 * Resolves paths inside a root the way a chroot would (securejoin's semantics): every component is
 * looked up with lstat; a symlink is expanded in place, with an absolute target restarting at the
 * root and `..` never leaving it, so nothing resolves to a place outside `root`. Components that
 * do not exist are kept lexically. Results are relative component lists of real (symlink-free)
 * paths at the time of the call; callers must invalidate the cache when they replace or delete
 * something that may have been a directory or a symlink on a cached path.
 *
 * Safety assumes no one else changes the tree during an apply (the snapshot being filled is private
 * to kiln); every final component is then opened with O_NOFOLLOW / lstat semantics.
 */
export class RootResolver {
  readonly root: string;
  private cache = new Map<string, string[]>();

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  abs(components: string[]): string {
    return components.length ? this.root + '/' + components.join('/') : this.root;
  }

  invalidate(): void {
    this.cache.clear();
  }

  /** Resolve `components` (already cleaned); with `followFinal` false the last one is not expanded. */
  async resolve(components: string[], followFinal: boolean): Promise<string[]> {
    if (components.length === 0) return [];
    if (!followFinal) {
      const parent = await this.resolve(components.slice(0, -1), true);
      return [...parent, components[components.length - 1]!];
    }
    const key = components.join('/');
    const hit = this.cache.get(key);
    if (hit) return hit;
    // Resolve the longest cached prefix first.
    let start = 0;
    let done: string[] = [];
    for (let i = components.length - 1; i > 0; i--) {
      const c = this.cache.get(components.slice(0, i).join('/'));
      if (c) {
        done = [...c];
        start = i;
        break;
      }
    }
    const pending = components.slice(start);
    let links = 0;
    let existing = true;
    while (pending.length) {
      const c = pending.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        done.pop();
        continue;
      }
      if (!existing) {
        done.push(c);
        continue;
      }
      const p = this.abs([...done, c]);
      let st;
      try {
        st = await fs.lstat(p);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
        existing = false; // the rest is created lexically (and checked again when created)
        done.push(c);
        continue;
      }
      if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw new KilnError('LAYER_SYMLINK_LOOP', `too many levels of symbolic links resolving ${components.join('/')}`);
        const target = await fs.readlink(p);
        if (target.includes('\0')) throw new KilnError('LAYER_INVALID_PATH', 'symlink target contains a NUL byte');
        if (target.startsWith('/')) done = [];
        pending.unshift(...target.split('/'));
        continue;
      }
      done.push(c);
    }
    if (existing) this.cache.set(key, done);
    return done;
  }
}
