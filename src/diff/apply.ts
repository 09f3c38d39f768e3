import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as C, existsSync, promises as fs } from 'node:fs';
import { setAttribute } from '@napi-rs/xattr';
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
/** Regular files up to this size are read whole and written in the background, several at once. */
const SMALL_FILE = 4 << 20;
const MAX_INFLIGHT = 32;
const MAX_INFLIGHT_BYTES = 64 << 20;

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
  /** Background writes of small regular files, by real path. */
  private readonly inflight = new Map<string, Promise<void>>();
  private inflightBytes = 0;
  private failure: unknown;
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
      let st;
      try {
        st = await fs.lstat(abs);
      } catch {
        await fs.mkdir(abs, { mode: 0o755 });
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

  /** Wait for every background write (and surface the first failure). */
  async drain(): Promise<void> {
    await Promise.all(this.inflight.values());
    this.check();
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
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
      if (!keepXattr(k)) continue; // never let a layer plant overlayfs control xattrs
      try {
        await setAttribute(abs, k, v);
      } catch (err) {
        // Unprivileged, or user.* on a symlink (Linux refuses those): skipped, as GNU tar does.
        if (this.sameOwner && !isLink) throw new KilnError('LAYER_APPLY_FAILED', `${h.name}: cannot set xattr ${k}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  async entry(h: TarHeader, body: () => AsyncIterable<Buffer>): Promise<void> {
    this.check();
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
    // Only regular files run in the background; anything else may depend on them: wait first.
    if (h.type !== 'file' && h.type !== 'dir') await this.drain();
    if (base.startsWith(WHITEOUT)) {
      await this.drain();
      await this.whiteout(parent, base);
      return;
    }
    const parentReal = await this.ensureDir(parent);
    const real = [...parentReal, base];
    const key = real.join('/');
    const abs = this.r.abs(real);
    const pending = this.inflight.get(key);
    if (pending) await pending; // the same path twice in one layer: last one wins, in order
    this.check();
    // In a dir this apply created, only this layer's own paths can exist.
    const mayExist = !this.freshDirs.has(parentReal.join('/')) || this.touched.has(key);
    const existing = mayExist ? await fs.lstat(abs).catch(() => null) : null;
    if (existing && !(existing.isDirectory() && h.type === 'dir')) await this.removeExisting(abs);
    this.touch(real);
    switch (h.type) {
      case 'dir':
        if (!existing || !existing.isDirectory()) {
          await fs.mkdir(abs, { mode: 0o700 });
          this.freshDirs.add(key);
        }
        this.knownDirs.add(key);
        // Owner and xattrs now; mode and times at the end (a 0555 dir must still take its files).
        if (this.sameOwner) await fs.lchown(abs, h.uid, h.gid);
        await this.xattrs(abs, h);
        this.dirTimes.push({ abs, h });
        return;
      case 'file':
        if (h.size <= SMALL_FILE) {
          const chunks: Buffer[] = [];
          for await (const c of body()) chunks.push(c);
          while (this.inflight.size >= MAX_INFLIGHT || this.inflightBytes + h.size > MAX_INFLIGHT_BYTES) {
            await Promise.race(this.inflight.values());
          }
          this.check();
          this.inflightBytes += h.size;
          const task = this.writeFile(abs, h, chunks)
            .catch((err: unknown) => {
              this.failure ??= err instanceof KilnError ? err : new KilnError('LAYER_APPLY_FAILED', `${h.name}: ${(err as Error).message}`, { cause: err });
            })
            .finally(() => {
              this.inflightBytes -= h.size;
              if (this.inflight.get(key) === task) this.inflight.delete(key);
            });
          this.inflight.set(key, task);
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

  private async writeFile(abs: string, h: TarHeader, body: AsyncIterable<Buffer> | Buffer[]): Promise<void> {
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
    await this.drain();
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
    await w.drain().catch(() => undefined); // never leave writes running after an error
    await hashed.return(undefined).catch(() => undefined); // and close the decompressor and the blob
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
