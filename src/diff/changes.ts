import { promises as fs, lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { getAttributeSync, listAttributesSync } from '../util/xattr.js';
import type { TarHeader } from './tar-header.js';

/**
 * The changes of a snapshot, as an ordered stream of layer entries: depth-first, each directory's
 * children sorted by their name in the layer (so a parent always precedes its children and the
 * order never depends on readdir). Two sources:
 *  - `upperDirChanges`: an overlay upper dir, converted (whiteout devices → `.wh.<name>`,
 *    opaque dirs → `<dir>/.wh..wh..opq` right after the dir);
 *  - `treeChanges`: a full comparison of two trees (native snapshotter), where deleted paths
 *    become whiteouts and directories holding changes are included.
 */
export interface LayerEntry {
  header: TarHeader;
  /** Absolute path of a regular file whose bytes follow the header. */
  source?: string;
  /** `dev:ino` and link count, for hardlink detection within the layer. */
  inode?: string;
  nlink?: number;
}

export interface ChangeOptions {
  /** Clamp every mtime to this (seconds since the epoch): SOURCE_DATE_EPOCH. */
  sourceDateEpoch?: number;
}

/** xattrs that never go into a layer: overlayfs internals and host-specific SELinux labels. */
export function keepXattr(name: string): boolean {
  return !name.startsWith('trusted.overlay.') && !name.startsWith('user.overlay.') && name !== 'security.selinux';
}

// Metadata syscalls (lstat, readlink, xattrs) are made synchronously: each costs microseconds, far
// less than a round trip through the thread pool, and the trees walked were just written (cached).
function getXattr(p: string, n: string): Buffer | null {
  try {
    return getAttributeSync(p, n);
  } catch {
    return null;
  }
}

function readXattrs(p: string): Map<string, Buffer> | undefined {
  let names: string[];
  try {
    names = listAttributesSync(p);
  } catch {
    return undefined; // filesystems without xattr support
  }
  let out: Map<string, Buffer> | undefined;
  for (const n of names.sort()) {
    if (!keepXattr(n)) continue;
    const v = getXattr(p, n);
    if (v) (out ??= new Map()).set(n, v);
  }
  return out;
}

function devParts(rdevNum: number): { devmajor: number; devminor: number } {
  const rdev = BigInt(rdevNum);
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { devmajor: Number(major), devminor: Number(minor) };
}

function clamp(sec: number, o: ChangeOptions): number {
  return o.sourceDateEpoch !== undefined && sec > o.sourceDateEpoch ? o.sourceDateEpoch : sec;
}

/** The layer entry of the file at `abs` (named `rel`), or null for sockets. */
export async function entryFor(abs: string, rel: string, st: Stats, o: ChangeOptions): Promise<LayerEntry | null> {
  const base = {
    name: rel,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: 0,
    mtime: clamp(Math.floor(st.mtimeMs / 1000), o),
  };
  let header: TarHeader;
  if (st.isFile()) header = { ...base, type: 'file', size: st.size };
  else if (st.isDirectory()) header = { ...base, type: 'dir' };
  else if (st.isSymbolicLink()) header = { ...base, type: 'symlink', mode: 0o777, linkname: readlinkSync(abs) };
  else if (st.isCharacterDevice()) header = { ...base, type: 'char', ...devParts(st.rdev) };
  else if (st.isBlockDevice()) header = { ...base, type: 'block', ...devParts(st.rdev) };
  else if (st.isFIFO()) header = { ...base, type: 'fifo' };
  else return null; // sockets are not carried in layers (as Docker does)
  const x = readXattrs(abs);
  if (x) header.xattrs = x;
  const e: LayerEntry = { header };
  if (st.isFile()) {
    e.source = abs;
    e.nlink = st.nlink;
    if (st.nlink > 1) {
      // exact inode numbers (64-bit) for hardlink detection: only for files that have other links
      const b = lstatSync(abs, { bigint: true });
      e.inode = `${b.dev}:${b.ino}`;
    }
  }
  return e;
}

function whiteout(rel: string, mtime: number, o: ChangeOptions): LayerEntry {
  return { header: { name: rel, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: clamp(mtime, o) } };
}

const join = (rel: string, n: string) => (rel ? `${rel}/${n}` : n);
const byName = (a: { out: string }, b: { out: string }) => (a.out < b.out ? -1 : a.out > b.out ? 1 : 0);

async function readdirOrEmpty(d: string): Promise<string[]> {
  try {
    return readdirSync(d);
  } catch (err) {
    const c = (err as NodeJS.ErrnoException).code;
    if (c === 'ENOENT' || c === 'ENOTDIR') return [];
    throw err;
  }
}

/** `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const PAR = 32;

async function statAll(dir: string, names: string[]): Promise<Stats[]> {
  return names.map((n) => lstatSync(path.join(dir, n)));
}

/** Entries of an overlay upper dir (or of a whole tree, when `upper` is a snapshot without parent). */
export async function* upperDirChanges(upper: string, o: ChangeOptions = {}, rel = ''): AsyncGenerator<LayerEntry> {
  const dir = path.join(upper, rel);
  const names = readdirSync(dir);
  const stats = await statAll(dir, names);
  const items = names.map((n, i) => {
    const st = stats[i]!;
    const wh = st.isCharacterDevice() && st.rdev === 0;
    return { n, st, wh, out: wh ? `.wh.${n}` : n };
  });
  items.sort(byName);
  const prepared = await mapLimit(items, PAR, async (it) => {
    if (it.wh) return { it, e: null, opaque: false };
    const abs = path.join(upper, join(rel, it.n));
    const e = await entryFor(abs, join(rel, it.n), it.st, o);
    let opaque = false;
    if (e && it.st.isDirectory()) {
      const opq = getXattr(abs, 'trusted.overlay.opaque') ?? getXattr(abs, 'user.overlay.opaque');
      opaque = !!opq && opq.toString() === 'y';
    }
    return { it, e, opaque };
  });
  for (const { it, e, opaque } of prepared) {
    const p = join(rel, it.n);
    if (it.wh) {
      yield whiteout(join(rel, it.out), Math.floor(it.st.mtimeMs / 1000), o);
      continue;
    }
    if (!e) continue;
    yield e;
    if (it.st.isDirectory()) {
      if (opaque) yield whiteout(`${p}/.wh..wh..opq`, Math.floor(it.st.mtimeMs / 1000), o);
      yield* upperDirChanges(upper, o, p);
    }
  }
}

async function sameContent(a: string, b: string): Promise<boolean> {
  const [fa, fb] = await Promise.all([fs.open(a, 'r'), fs.open(b, 'r')]);
  try {
    const ba = Buffer.allocUnsafe(1 << 20);
    const bb = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, ba.length, null), fb.read(bb, 0, bb.length, null)]);
      if (ra.bytesRead !== rb.bytesRead) return false;
      if (ra.bytesRead === 0) return true;
      if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
    }
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

function sameXattrs(a: Map<string, Buffer> | undefined, b: Map<string, Buffer> | undefined): boolean {
  if (!a || !b) return (a?.size ?? 0) === (b?.size ?? 0);
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (!b.get(k)?.equals(v)) return false;
  return true;
}

/** Is the lower file unchanged in upper? Metadata first; bytes only when mtimes are too coarse to trust. */
async function unchanged(la: string, l: Stats, ua: string, u: Stats): Promise<boolean> {
  if ((l.mode & 0o170000) !== (u.mode & 0o170000)) return false;
  if (l.mode !== u.mode || l.uid !== u.uid || l.gid !== u.gid) return false;
  if (!u.isDirectory()) {
    // mtimeMs is a double derived from the ns timestamp: equal timestamps give equal doubles
    if (l.size !== u.size || l.mtimeMs !== u.mtimeMs || l.rdev !== u.rdev) return false;
    if (u.isSymbolicLink() && readlinkSync(la) !== readlinkSync(ua)) return false;
  }
  if (!sameXattrs(readXattrs(la), readXattrs(ua))) return false;
  // whole-second mtimes (copied by tools that drop sub-seconds) cannot be trusted: compare bytes
  if (u.isFile() && l.mtimeMs % 1000 === 0 && !(await sameContent(la, ua))) return false;
  return true;
}

/** Every entry of `upper` under `rel` (a subtree that is new in this layer). */
async function* wholeTree(upper: string, rel: string, o: ChangeOptions): AsyncGenerator<LayerEntry> {
  const dir = path.join(upper, rel);
  const names = readdirSync(dir).sort();
  const stats = await statAll(dir, names);
  const entries = await mapLimit(names, PAR, (n, i) => entryFor(path.join(upper, join(rel, n)), join(rel, n), stats[i]!, o));
  for (let i = 0; i < names.length; i++) {
    const e = entries[i];
    if (!e) continue;
    yield e;
    if (stats[i]!.isDirectory()) yield* wholeTree(upper, join(rel, names[i]!), o);
  }
}

/**
 * The changes from tree `lower` (null: empty) to tree `upper`: added or changed entries, and a
 * whiteout for every path of lower missing in upper. A directory whose own metadata is unchanged
 * is still included when something below it changed (so the applier recreates it faithfully).
 */
export async function* treeChanges(lower: string | null, upper: string, o: ChangeOptions = {}, rel = ''): AsyncGenerator<LayerEntry> {
  if (lower === null) {
    yield* wholeTree(upper, rel, o);
    return;
  }
  const udir = path.join(upper, rel);
  const ldir = path.join(lower, rel);
  const [uNames, lNames] = [readdirSync(udir), await readdirOrEmpty(ldir)];
  const uSet = new Set(uNames);
  const lSet = new Set(lNames);
  const dirMtime = Math.floor(lstatSync(udir).mtimeMs / 1000);
  const uStats = await statAll(udir, uNames);
  const items: { out: string; n: string; st?: Stats }[] = uNames.map((n, i) => ({ out: n, n, st: uStats[i]! }));
  for (const n of lNames) if (!uSet.has(n)) items.push({ out: `.wh.${n}`, n });
  items.sort(byName);
  type Plan = { kind: 'whiteout' } | { kind: 'skip' } | { kind: 'entry'; e: LayerEntry | null } | { kind: 'newdir'; e: LayerEntry | null } | { kind: 'bothdir'; e: LayerEntry | null; changed: boolean };
  const plans = await mapLimit(items, PAR, async (it): Promise<Plan> => {
    if (!it.st) return { kind: 'whiteout' };
    const p = join(rel, it.n);
    const ua = path.join(upper, p);
    const la = path.join(lower, p);
    const l = lSet.has(it.n) ? lstatSync(la) : null;
    if (it.st.isDirectory()) {
      const e = await entryFor(ua, p, it.st, o);
      if (!l || !l.isDirectory()) return { kind: 'newdir', e };
      return { kind: 'bothdir', e, changed: !(await unchanged(la, l, ua, it.st)) };
    }
    if (l && (await unchanged(la, l, ua, it.st))) return { kind: 'skip' };
    return { kind: 'entry', e: await entryFor(ua, p, it.st, o) };
  });
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const plan = plans[i]!;
    const p = join(rel, it.n);
    switch (plan.kind) {
      case 'whiteout':
        yield whiteout(join(rel, it.out), dirMtime, o);
        break;
      case 'skip':
        break;
      case 'entry':
        if (plan.e) yield plan.e;
        break;
      case 'newdir':
        if (plan.e) yield plan.e;
        yield* wholeTree(upper, p, o);
        break;
      case 'bothdir': {
        const sub = treeChanges(lower, upper, o, p);
        if (plan.changed) {
          if (plan.e) yield plan.e;
          yield* sub;
        } else {
          const first = await sub.next();
          if (!first.done) {
            if (plan.e) yield plan.e;
            yield first.value;
            yield* sub;
          }
        }
        break;
      }
    }
  }
}
