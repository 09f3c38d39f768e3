import { chmodSync, lchownSync, lstatSync, mkdirSync, utimesSync, type Stats } from 'node:fs';
import path from 'node:path';
import { keepXattr } from '../../diff/changes.js';
import type { Mount } from '../../snapshot/types.js';
import { getAttributeSync, listAttributesSync, setAttributeSync } from '../../util/xattr.js';
import { cleanContainerPath } from './root-path.js';

/**
 * Copying one file into an active overlay snapshot by writing its upper directory directly,
 * instead of mounting the overlay for the copy (a mount and an unmount through the mount helper,
 * ~1 ms of this thread each, for every COPY --from step of a final stage).
 *
 * That gives the same tree and the same layer as a copy through the mount when the copy only adds
 * a name no lower layer has, under directories that are plain directories in the merged view:
 * overlayfs would copy those directories up (mode, owner, times, xattrs) and create the file in
 * the deepest one; `copyUpParents` does exactly that by hand. Anything less plain answers null
 * and the caller mounts: a symlink or a non-directory on the way, a name that some layer has (even
 * a whiteout: creating over one makes overlayfs mark a new directory opaque), a directory with an
 * overlay opaque mark in any layer. kiln mounts overlays with redirect_dir and metacopy off
 * (snapshot/mount.ts), so there are no redirects to follow.
 */

/** An active overlay snapshot's upper dir and the lower layers' dirs, topmost first. */
export interface OverlayStack {
  upper: string;
  lowers: string[];
}

/** The stack of an active snapshot's mounts, when they are one overlay mount; null otherwise. */
export function overlayStack(mounts: readonly Mount[]): OverlayStack | null {
  if (mounts.length !== 1 || mounts[0]!.type !== 'overlay' || mounts[0]!.target) return null;
  let upper: string | undefined;
  let lowers: string[] | undefined;
  for (const o of mounts[0]!.options) {
    if (o.startsWith('upperdir=')) upper = o.slice('upperdir='.length);
    else if (o.startsWith('lowerdir=')) lowers = o.slice('lowerdir='.length).split(':');
  }
  if (!upper || !lowers?.length || lowers.some((l) => !path.isAbsolute(l))) return null;
  return { upper, lowers };
}

type Found = { type: 'absent' } | { type: 'dir'; path: string; st: Stats } | { type: 'other' };

function opaqueMarked(dir: string): boolean {
  for (const n of ['trusted.overlay.opaque', 'user.overlay.opaque']) {
    try {
      if (getAttributeSync(dir, n)) return true;
    } catch {
      /* not set */
    }
  }
  return false;
}

/**
 * `parts` (a path under the root) in the merged view of `lowers`: 'absent' when no layer has the
 * name at all, 'dir' for a directory (the topmost layer's), 'other' for anything this module does
 * not copy over (a file, link, whiteout; any opaque mark on the way).
 */
function lookup(lowers: readonly string[], parts: readonly string[]): Found {
  try {
    return lookupIn(lowers, parts);
  } catch {
    return { type: 'other' }; // unreadable (EACCES, ELOOP...): leave it to the mounted overlay
  }
}

function lookupIn(lowers: readonly string[], parts: readonly string[]): Found {
  for (const layer of lowers) {
    let p = layer;
    let st: Stats | undefined;
    for (let i = 0; i < parts.length; i++) {
      if (opaqueMarked(p)) return { type: 'other' };
      p = path.join(p, parts[i]!);
      st = lstatSync(p, { throwIfNoEntry: false }); // undefined: missing (ENOENT, ENOTDIR)
      if (!st) break; // this layer has nothing here: the next one may
      if (!st.isDirectory()) return { type: 'other' }; // a file, link or whiteout (here or on the way)
    }
    if (!st) continue;
    return opaqueMarked(p) ? { type: 'other' } : { type: 'dir', path: p, st };
  }
  return { type: 'absent' };
}

/** What overlayfs copies up for a directory: mode, owner, xattrs (not its own), then the times. */
function copyUpDir(from: string, st: Stats, to: string): void {
  mkdirSync(to);
  lchownSync(to, st.uid, st.gid);
  chmodSync(to, st.mode & 0o7777); // after chown, which clears setgid
  let names: string[] = [];
  try {
    names = listAttributesSync(from);
  } catch {
    /* no xattr support */
  }
  for (const n of names) {
    if (!keepXattr(n)) continue;
    const value = getAttributeSync(from, n);
    if (value) setAttributeSync(to, n, value);
  }
}

/**
 * Prepare `stack.upper` for copying a single regular file named `srcBase` to the COPY destination
 * `dest` (as copySpec reads it): copy up the directories the copy lands in and answer true, or
 * answer false, having changed nothing, when the copy needs the mounted overlay.
 */
export function copyUpParents(stack: OverlayStack, dest: string, srcBase: string): boolean {
  const clean = cleanContainerPath(dest);
  const intoDir = clean.endsWith('/') || clean.endsWith('/.');
  const destParts = path.posix.normalize(clean.replace(/\/\.?$/, '') || '/').split('/').filter(Boolean);
  const found = destParts.length ? lookup(stack.lowers, destParts) : ({ type: 'dir' } as const);
  let target: string[];
  if (found.type === 'other') return false;
  if (found.type === 'dir' || intoDir) target = [...destParts, srcBase];
  else target = destParts;
  if (target.length === 0 || lookup(stack.lowers, target).type !== 'absent') return false;
  // the directories on the way: existing ones are copied up, missing ones are left to copySpec
  const parents: { rel: string[]; from: string; st: Stats }[] = [];
  for (let i = 1; i < target.length; i++) {
    const f = lookup(stack.lowers, target.slice(0, i));
    if (f.type === 'other') return false;
    if (f.type === 'absent') break; // and so is everything below it
    parents.push({ rel: target.slice(0, i), from: f.path, st: f.st });
  }
  for (const p of parents) copyUpDir(p.from, p.st, path.join(stack.upper, ...p.rel));
  // times last, deepest first: making a child dir changed its parent's mtime (overlayfs restores it too)
  for (const p of parents.reverse()) utimesSync(path.join(stack.upper, ...p.rel), p.st.atime, p.st.mtime);
  return true;
}
