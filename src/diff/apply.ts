import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants as C,
  existsSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  promises as fs,
  writevSync,
  type Stats,
} from 'node:fs';
import { setAttributeSync } from '../util/xattr.js';
import type { ContentStore } from '../content/types.js';
import { KilnError } from '../diagnostics/errors.js';
import type { Descriptor, Digest } from '../image/types.js';
import { withSnapshotDir } from '../snapshot/mount.js';
import type { Mount } from '../snapshot/types.js';
import { keepXattr } from './changes.js';
import { decompressStream } from './compress.js';
import { cleanComponents, RootResolver } from './resolve.js';
import type { TarHeader } from './tar-header.js';
import { TarReader } from './tar-reader.js';
import type { ApplyOptions, ApplyResult } from './types.js';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const WRITE_BATCH = 1 << 20;
/**
 * Regular files up to this size are collected and written with synchronous syscalls (as tar does):
 * for small files a thread-pool round trip per open/write/chown/chmod/utimes/close costs far more
 * than the syscalls. Bigger files stream asynchronously, overlapping decompression.
 */
const SMALL_FILE = 1 << 20;

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

function tool(name: string): string {
  return ['/usr/bin/', '/bin/'].map((d) => d + name).find((p) => existsSync(p)) ?? `/usr/bin/${name}`;
}

function exec(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => execFile(tool(cmd), args, { env: {} }, (err, _o, stderr) => (err ? reject(new Error(String(stderr).trim() || err.message)) : resolve())));
}

/**
 * Writes one layer's entries into a tree, safely (see RootResolver): every parent path is resolved
 * inside the root, final components are never followed (O_NOFOLLOW, lchown, lsetxattr, lutimes),
 * an existing non-directory (or a directory replaced by a non-directory) is unlinked before the new
 * entry is created (image-spec "changesets"), whiteouts remove only what lower layers had (paths
 * written by this layer are kept), and opaque markers act first wherever they appear.
 */
class TreeWriter {
  private readonly r: RootResolver;
  private readonly sameOwner: boolean;
  /** Real paths written by this layer, and all their ancestors. */
  private readonly touched = new Set<string>();
  private readonly dirTimes: { abs: string; h: TarHeader }[] = [];
  /** Real dirs verified (or created) during this apply; cleared whenever the resolver cache is. */
  private readonly knownDirs = new Set<string>();
  /** Dirs created by this apply: anything in them comes from this layer (and is in `touched`). */
  private readonly freshDirs = new Set<string>();
  readonly skipped: string[] = [];

  constructor(root: string, sameOwner: boolean) {
    this.r = new RootResolver(root);
    this.sameOwner = sameOwner;
  }

  private touch(real: string[]): void {
    for (let i = real.length; i > 0; i--) {
      const k = real.slice(0, i).join('/');
      if (this.touched.has(k)) break;
      this.touched.add(k);
    }
  }

  private invalidate(): void {
    this.r.invalidate();
    this.knownDirs.clear();
  }

  /** Resolve (following in-root symlinks) and create missing directories. */
  private async ensureDir(components: string[]): Promise<string[]> {
    const real = await this.r.resolve(components, true);
    const key = real.join('/');
    if (this.knownDirs.has(key)) return real;
    for (let i = 1; i <= real.length; i++) {
      const k = real.slice(0, i).join('/');
      if (this.knownDirs.has(k)) continue;
      const abs = this.r.abs(real.slice(0, i));
      const st = lstatOrNull(abs);
      if (!st) {
        mkdirSync(abs, { mode: 0o755 });
        this.freshDirs.add(k);
        this.knownDirs.add(k);
        this.touch(real.slice(0, i));
        continue;
      }
      if (!st.isDirectory()) {
        throw new KilnError('LAYER_APPLY_FAILED', `${k} is not a directory`);
      }
      this.knownDirs.add(k);
    }
    return real;
  }

  private async removeExisting(abs: string): Promise<void> {
    const st = await fs.lstat(abs).catch(() => null);
    if (!st) return;
    if (st.isDirectory()) await fs.rm(abs, { recursive: true, force: true });
    else await fs.unlink(abs);
    if (st.isDirectory() || st.isSymbolicLink()) this.invalidate();
  }

  private async removeUntouched(real: string[]): Promise<void> {
    const abs = this.r.abs(real);
    let names: string[];
    try {
      names = await fs.readdir(abs);
    } catch {
      return;
    }
    for (const n of names) {
      const child = [...real, n];
      if (!this.touched.has(child.join('/'))) {
        await this.removeExisting(this.r.abs(child));
        continue;
      }
      const st = await fs.lstat(this.r.abs(child));
      if (st.isDirectory()) await this.removeUntouched(child);
    }
  }

  private async whiteout(parent: string[], base: string): Promise<void> {
    const parentReal = await this.r.resolve(parent, true);
    const pst = await fs.lstat(this.r.abs(parentReal)).catch(() => null);
    if (!pst || !pst.isDirectory()) return; // nothing below to hide
    if (base === OPAQUE) {
      await this.removeUntouched(parentReal);
      return;
    }
    if (base.startsWith(WHITEOUT + WHITEOUT)) return; // other aufs metadata (.wh..wh.plnk ...): ignored, like Docker
    const name = base.slice(WHITEOUT.length);
    if (name === '' || name === '.' || name === '..') {
      throw new KilnError('LAYER_INVALID_WHITEOUT', `whiteout ${JSON.stringify([...parent, base].join('/'))} names no file`);
    }
    const target = [...parentReal, name];
    if (this.touched.has(target.join('/'))) return; // whiteouts hide lower layers only
    await this.removeExisting(this.r.abs(target));
  }

  private async meta(abs: string, h: TarHeader, isLink: boolean): Promise<void> {
    if (this.sameOwner) await fs.lchown(abs, h.uid, h.gid);
    if (!isLink) await fs.chmod(abs, h.mode); // after chown, which clears setuid bits
    await this.xattrs(abs, h, isLink);
  }

  private async xattrs(abs: string, h: TarHeader, isLink = false): Promise<void> {
    if (!h.xattrs) return;
    for (const [k, v] of h.xattrs) {
      if (keepXattr(k)) this.setXattr(abs, h, k, v, isLink); // never let a layer plant overlayfs control xattrs
    }
  }

  private setXattr(abs: string, h: TarHeader, k: string, v: Buffer, isLink: boolean): void {
    try {
      setAttributeSync(abs, k, v); // lsetxattr: never follows a symlink
    } catch (err) {
      // Unprivileged, or user.* on a symlink (Linux refuses those): skipped, as GNU tar does.
      if (this.sameOwner && !isLink) throw new KilnError('LAYER_APPLY_FAILED', `${h.name}: cannot set xattr ${k}: ${(err as Error).message}`, { cause: err });
    }
  }

  async entry(h: TarHeader, body: () => AsyncIterable<Buffer>): Promise<void> {
    const comps = cleanComponents(h.name);
    if (comps.length === 0) {
      if (h.type === 'dir') {
        if (this.sameOwner) await fs.lchown(this.r.root, h.uid, h.gid);
        await this.xattrs(this.r.root, h);
        this.dirTimes.push({ abs: this.r.root, h });
      }
      return;
    }
    const base = comps[comps.length - 1]!;
    const parent = comps.slice(0, -1);
    if (base.startsWith(WHITEOUT)) {
      await this.whiteout(parent, base);
      return;
    }
    const parentReal = await this.ensureDir(parent);
    const real = [...parentReal, base];
    const key = real.join('/');
    const abs = this.r.abs(real);
    // In a dir this apply created, only this layer's own paths can exist.
    const mayExist = !this.freshDirs.has(parentReal.join('/')) || this.touched.has(key);
    const existing = mayExist ? lstatOrNull(abs) : null;
    if (existing && !(existing.isDirectory() && h.type === 'dir')) await this.removeExisting(abs);
    this.touch(real);
    switch (h.type) {
      case 'dir':
        if (!existing || !existing.isDirectory()) {
          mkdirSync(abs, { mode: 0o700 });
          this.freshDirs.add(key);
        }
        this.knownDirs.add(key);
        // Owner and xattrs now; mode and times at the end (a 0555 dir must still take its files).
        if (this.sameOwner) lchownSync(abs, h.uid, h.gid);
        await this.xattrs(abs, h);
        this.dirTimes.push({ abs, h });
        return;
      case 'file':
        if (h.size <= SMALL_FILE) {
          const chunks: Buffer[] = [];
          for await (const c of body()) chunks.push(c);
          this.writeSmallFile(abs, h, chunks);
          return;
        }
        await this.writeFile(abs, h, body());
        return;
      case 'symlink':
        await fs.symlink(h.linkname ?? '', abs); // targets are kept exactly as written
        await this.meta(abs, h, true);
        await fs.lutimes(abs, h.mtime, h.mtime);
        return;
      case 'hardlink': {
        const target = await this.r.resolve(cleanComponents(h.linkname ?? ''), true);
        const tabs = this.r.abs(target);
        const tst = await fs.lstat(tabs).catch(() => null);
        if (!tst) throw new KilnError('LAYER_HARDLINK_TARGET_MISSING', `${h.name}: hardlink target ${JSON.stringify(h.linkname)} does not exist in the layer or below`);
        if (tst.isDirectory()) throw new KilnError('LAYER_APPLY_FAILED', `${h.name}: hardlink to a directory`);
        await fs.link(tabs, abs);
        return;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        if (h.type !== 'fifo' && !this.sameOwner) {
          this.skipped.push(real.join('/'));
          return;
        }
        const mode = (h.mode & 0o777).toString(8);
        if (h.type === 'fifo') await exec('mkfifo', ['-m', mode, '--', abs]);
        else await exec('mknod', ['-m', mode, '--', abs, h.type === 'char' ? 'c' : 'b', String(h.devmajor ?? 0), String(h.devminor ?? 0)]);
        await this.meta(abs, h, false);
        await fs.lutimes(abs, h.mtime, h.mtime);
        return;
      }
    }
  }

  private writeSmallFile(abs: string, h: TarHeader, chunks: Buffer[]): void {
    const fd = openSync(abs, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    try {
      let done = 0;
      let bufs = chunks;
      while (done < h.size) {
        const n = writevSync(fd, bufs);
        done += n;
        if (done < h.size) bufs = [Buffer.concat(chunks).subarray(done)];
      }
      if (this.sameOwner) fchownSync(fd, h.uid, h.gid);
      fchmodSync(fd, h.mode);
      if (h.xattrs) for (const [k, v] of h.xattrs) if (keepXattr(k)) this.setXattr(abs, h, k, v, false);
      futimesSync(fd, h.mtime, h.mtime);
    } finally {
      closeSync(fd);
    }
  }

  private async writeFile(abs: string, h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const fh = await fs.open(abs, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    try {
      let batch: Buffer[] = [];
      let n = 0;
      for await (const c of body) {
        batch.push(c);
        n += c.length;
        if (n >= WRITE_BATCH) {
          await writeAll(fh, batch);
          batch = [];
          n = 0;
        }
      }
      if (n) await writeAll(fh, batch);
      if (this.sameOwner) await fh.chown(h.uid, h.gid);
      await fh.chmod(h.mode);
      await this.xattrs(abs, h);
      await fh.utimes(h.mtime, h.mtime);
    } finally {
      await fh.close();
    }
  }

  /** Directory modes and times last (creating children changed them), deepest first. */
  async finish(): Promise<void> {
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const { abs, h } = this.dirTimes[i]!;
      const st = await fs.lstat(abs).catch(() => null);
      if (!st || !st.isDirectory()) continue; // replaced later in the layer
      await fs.chmod(abs, h.mode);
      await fs.lutimes(abs, h.mtime, h.mtime).catch(() => undefined);
    }
  }
}

async function writeAll(fh: fs.FileHandle, bufs: Buffer[]): Promise<void> {
  let { bytesWritten } = await fh.writev(bufs);
  const total = bufs.reduce((a, b) => a + b.length, 0);
  while (bytesWritten < total) {
    // short write: finish the rest plainly
    const rest = Buffer.concat(bufs).subarray(bytesWritten);
    bytesWritten += (await fh.write(rest)).bytesWritten;
  }
}

/**
 * Apply a layer (gzip, zstd or uncompressed, detected by content) to the directory `root`.
 * The uncompressed digest is computed while reading; with `expectedDiffID` a mismatch fails with
 * LAYER_DIFFID_MISMATCH (after the tree was written: discard the snapshot on any error).
 */
export async function applyTar(source: AsyncIterable<Buffer>, root: string, o: ApplyOptions = {}): Promise<ApplyResult> {
  const { compression, stream } = await decompressStream(source);
  const hash = createHash('sha256');
  const hashed = (async function* () {
    for await (const c of stream) {
      hash.update(c);
      yield c;
    }
  })();
  const reader = new TarReader(hashed, o.limits);
  const w = new TreeWriter(root, o.sameOwner ?? process.getuid?.() === 0);
  let entries = 0;
  try {
    for (let h = await reader.next(); h; h = await reader.next()) {
      entries++;
      try {
        await w.entry(h, () => reader.body());
      } catch (err) {
        if (err instanceof KilnError) throw err;
        throw new KilnError('LAYER_APPLY_FAILED', `${h.name}: ${(err as Error).message}`, { cause: err });
      }
    }
    await w.finish();
  } finally {
    await hashed.return(undefined).catch(() => undefined); // close the decompressor and the blob
  }
  const diffID = `sha256:${hash.digest('hex')}` as Digest;
  if (o.expectedDiffID && o.expectedDiffID !== diffID) {
    throw new KilnError('LAYER_DIFFID_MISMATCH', `layer content digest ${diffID} does not match the expected diff_id ${o.expectedDiffID}`);
  }
  return { diffID, size: reader.bytesRead, compression, entries, skipped: w.skipped };
}

/**
 * containerd's Applier.Apply: read blob `desc` from `store` (verified while read) and apply it to
 * the tree of `mounts` (e.g. from `snapshotter.prepare(key, parent)`). Single bind mounts are
 * written in place; overlay mounts are mounted (root) so deletes become overlay whiteouts.
 */
export async function applyLayer(store: ContentStore, desc: Descriptor, mounts: Mount[], o: ApplyOptions = {}): Promise<ApplyResult> {
  return withSnapshotDir(mounts, (dir) => applyTar(store.get(desc.digest), dir, o));
}
