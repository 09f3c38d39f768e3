import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { getAttributeSync, setAttributeSync } from '@napi-rs/xattr';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../content/local.js';
import { MediaType } from '../image/types.js';
import { NativeSnapshotter, OverlaySnapshotter, probeOverlay, withSnapshotDir, withMountedSnapshot, type Mount, type Snapshotter } from '../snapshot/index.js';
import { applyLayer, applyTar } from './apply.js';
import { diffSnapshot, tarWithDigest } from './compare.js';
import { treeChanges } from './changes.js';
import { gzipParallel, rechunk } from './compress.js';
import { TarReader } from './tar-reader.js';

const isRoot = process.getuid?.() === 0;
const base = mkdtempSync(path.join(os.tmpdir(), 'kiln-diff-test-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const fresh = async (name: string) => {
  const d = path.join(base, `${++n}-${name}`);
  await fs.mkdir(d, { recursive: true });
  return d;
};

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of it) parts.push(b);
  return Buffer.concat(parts);
}

async function* once(b: Buffer) {
  yield b;
}

/** Names (with type letter) of the entries of an uncompressed tar, in order. */
async function entryNames(tar: Buffer): Promise<string[]> {
  const r = new TarReader(once(tar));
  const out: string[] = [];
  for (let h = await r.next(); h; h = await r.next()) out.push(`${h.type[0]}:${h.name}`);
  return out;
}

/** A comparable listing of a tree: type, mode, owner, size, mtime (s), link target, xattrs, content hash. */
async function listing(dir: string, { mtimes = true } = {}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string>();
  const walk = async (rel: string) => {
    for (const name of (await fs.readdir(path.join(dir, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(dir, r);
      const st = await fs.lstat(p);
      let s = `${(st.mode >>> 0).toString(8)} ${st.uid}:${st.gid}`;
      if (mtimes && !st.isDirectory() && !st.isSymbolicLink()) s += ` t=${Math.floor(st.mtimeMs / 1000)}`;
      if (st.isFile()) {
        s += ` ${createHash('sha256').update(await fs.readFile(p)).digest('hex').slice(0, 12)}`;
        if (st.nlink > 1) {
          const first = inodes.get(st.ino);
          if (first) s += ` =${first}`;
          else inodes.set(st.ino, r);
        }
      }
      if (st.isSymbolicLink()) s += ` -> ${await fs.readlink(p)}`;
      if (st.isCharacterDevice() || st.isBlockDevice()) s += ` rdev=${st.rdev}`;
      if (!st.isSymbolicLink()) {
        const x = getAttributeSync(p, 'user.test');
        if (x) s += ` user.test=${x.toString()}`;
      }
      out[r] = s;
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}

/** A parent tree with most kinds of entries. */
async function makeParent(d: string) {
  await fs.mkdir(path.join(d, 'etc'));
  await fs.writeFile(path.join(d, 'etc', 'hosts'), '127.0.0.1 localhost\n');
  await fs.writeFile(path.join(d, 'etc', 'gone'), 'to be deleted');
  await fs.mkdir(path.join(d, 'var', 'lib', 'x'), { recursive: true });
  await fs.writeFile(path.join(d, 'var', 'lib', 'x', 'state'), 'old state');
  await fs.mkdir(path.join(d, 'opq'));
  await fs.writeFile(path.join(d, 'opq', 'lower-only'), 'lower');
  await fs.writeFile(path.join(d, 'unchanged'), 'same');
  await fs.symlink('/etc/hosts', path.join(d, 'hosts'));
}

/** The changes a RUN step might make. */
async function changeChild(d: string) {
  await fs.writeFile(path.join(d, 'etc', 'hosts'), '127.0.0.1 localhost kiln\n');
  await fs.rm(path.join(d, 'etc', 'gone'));
  await fs.rm(path.join(d, 'var', 'lib', 'x'), { recursive: true });
  await fs.rm(path.join(d, 'opq'), { recursive: true });
  await fs.mkdir(path.join(d, 'opq'));
  await fs.writeFile(path.join(d, 'opq', 'upper-only'), 'upper');
  await fs.writeFile(path.join(d, 'suid'), 'x');
  if (isRoot) await fs.chown(path.join(d, 'suid'), 1000, 1000);
  await fs.chmod(path.join(d, 'suid'), 0o4755);
  await fs.link(path.join(d, 'suid'), path.join(d, 'suid-hardlink'));
  await fs.symlink('../etc/hosts', path.join(d, 'etc', 'rel-link'));
  const long = path.join(d, 'l'.repeat(120), 'n'.repeat(140));
  await fs.mkdir(path.dirname(long));
  await fs.writeFile(long, 'long');
  setAttributeSync(path.join(d, 'suid'), 'user.test', 'xattr-value');
  if (isRoot) execFileSync('mknod', ['-m', '600', path.join(d, 'etc', 'null'), 'c', '1', '3']);
  await fs.writeFile(path.join(d, 'big'), randomBytes(3 << 20));
}

function roundTrip(name: string, make: (root: string) => Snapshotter, reason: () => Promise<string | null>) {
  describe(`diff → apply round trip (${name})`, async () => {
    const why = await reason();
    if (why) console.warn(`skipping ${name} round trip: ${why}`);
    const open = (m: Mount[], fn: (d: string) => Promise<void>) => (isRoot ? withMountedSnapshot(m, fn) : withSnapshotDir(m, fn));

    it.skipIf(!!why)('a child snapshot diffed and applied onto its parent gives the same tree', async () => {
      const root = await fresh(name);
      const sn = make(root);
      const store = await LocalContentStore.open(root, { sync: false });
      await open(await sn.prepare('p-a'), makeParent);
      await sn.commit('p', 'p-a');
      await open(await sn.prepare('c-a', 'p'), changeChild);
      await sn.commit('c', 'c-a');

      const layer = await diffSnapshot(sn, 'c', store);
      expect(layer.descriptor.mediaType).toBe(MediaType.OciLayerGzip);
      const blob = await store.readBuffer(layer.descriptor.digest);
      const tar = zlib.gunzipSync(blob);
      expect(`sha256:${createHash('sha256').update(tar).digest('hex')}`).toBe(layer.diffID);
      const names = await entryNames(tar);
      expect(names).toContain('f:etc/.wh.gone');
      expect(names).toContain('f:var/lib/.wh.x');
      expect(names).toContain('h:suid-hardlink');
      expect(names).not.toContain('f:unchanged');
      if (name === 'overlayfs') expect(names).toContain('f:opq/.wh..wh..opq');
      else expect(names).toContain('f:opq/.wh.lower-only');
      expect(names.indexOf('d:etc')).toBeLessThan(names.indexOf('f:etc/hosts'));

      // apply the layer into a new snapshot on the parent: same tree as the child
      const m = await sn.prepare('r-a', 'p');
      const res = await applyLayer(store, layer.descriptor, m, { expectedDiffID: layer.diffID });
      expect(res.compression).toBe('gzip');
      if (name === 'overlayfs') {
        // applied through the overlay mount: deletes became overlay whiteouts (char 0/0) in the upper dir
        const wh = await fs.lstat(path.join(await sn.fsDir('r-a'), 'etc', 'gone'));
        expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
      }
      await sn.commit('r', 'r-a');
      const want = await open2(sn, 'c', 'cv');
      const got = await open2(sn, 'r', 'rv');
      expect(got).toEqual(want);
      expect(want['suid']).toMatch(/^104755 /);
      expect(want['suid']).toContain('user.test=xattr-value');
      expect(want['opq/lower-only']).toBeUndefined();

      // and the diff of the re-applied snapshot is the same layer, byte for byte, when times are clamped
      const a = await diffSnapshot(sn, 'c', store, { sourceDateEpoch: 1_000_000 });
      const b = await diffSnapshot(sn, 'r', store, { sourceDateEpoch: 1_000_000 });
      if (name === 'native') expect(b.descriptor.digest).toBe(a.descriptor.digest);
      expect(a.uncompressedSize).toBeGreaterThan(3 << 20);
    });

    async function open2(sn: Snapshotter, name: string, key: string) {
      let out: Record<string, string> = {};
      await open(await sn.view(key, name), async (d) => {
        out = await listing(d);
      });
      return out;
    }
  });
}

roundTrip('native', (r) => new NativeSnapshotter(r), async () => null);
roundTrip('overlayfs', (r) => new OverlaySnapshotter(r), () => probeOverlay(path.join(base, 'probe')));

describe('layer tar format', () => {
  it('GNU tar extracts what kiln writes, with pax long names, hardlinks and xattrs', async () => {
    const src = await fresh('src');
    await makeParent(src);
    await changeChild(src);
    const t = tarWithDigest(treeChanges(null, src));
    const tarBuf = await collect(t.stream);
    const out = await fresh('gnu-out');
    const r = spawnSync('tar', ['-x', '--xattrs', '--xattrs-include=*', '-p', '-C', out], { input: tarBuf });
    expect(r.status, String(r.stderr)).toBe(0);
    expect(await listing(out)).toEqual(await listing(src));
    expect(t.result().diffID).toBe(`sha256:${createHash('sha256').update(tarBuf).digest('hex')}`);
  });

  it('kiln applies what GNU tar writes (pax format, xattrs, long names, hardlinks)', async () => {
    const src = await fresh('src2');
    await makeParent(src);
    await changeChild(src);
    const tarBuf = execFileSync('tar', ['-c', '--format=pax', '--xattrs', '--xattrs-include=*', '-C', src, '.'], { maxBuffer: 64 << 20 });
    const out = await fresh('kiln-out');
    await applyTar(once(tarBuf), out);
    expect(await listing(out)).toEqual(await listing(src));
  });

  it('with SOURCE_DATE_EPOCH the same content gives the same digest, whatever the mtimes', async () => {
    const a = await fresh('a');
    const b = await fresh('b');
    for (const d of [a, b]) {
      await makeParent(d);
      await fs.writeFile(path.join(d, 'big'), Buffer.alloc(2 << 20, 7));
    }
    await fs.utimes(path.join(b, 'etc', 'hosts'), 2_000_000_000, 2_000_000_000);
    const store = await LocalContentStore.open(await fresh('store'), { sync: false });
    const { writeLayer, envSourceDateEpoch } = await import('./compare.js');
    const la = await writeLayer(store, treeChanges(null, a, { sourceDateEpoch: 1000 }));
    const lb = await writeLayer(store, treeChanges(null, b, { sourceDateEpoch: 1000 }), { concurrency: 1 });
    expect(lb.diffID).toBe(la.diffID);
    expect(lb.descriptor.digest).toBe(la.descriptor.digest);
    const lc = await writeLayer(store, treeChanges(null, b, { sourceDateEpoch: 1000 }), { compression: 'none' });
    expect(lc.descriptor.mediaType).toBe(MediaType.OciLayer);
    expect(lc.descriptor.digest).toBe(lc.diffID);
    expect(lc.diffID).toBe(la.diffID);
    const unclamped = await writeLayer(store, treeChanges(null, b), { compression: 'none' });
    expect(unclamped.diffID).not.toBe(la.diffID);
    expect(envSourceDateEpoch({ SOURCE_DATE_EPOCH: '1000' })).toBe(1000);
    expect(envSourceDateEpoch({})).toBeUndefined();
    expect(() => envSourceDateEpoch({ SOURCE_DATE_EPOCH: 'yesterday' })).toThrow(/SOURCE_DATE_EPOCH/);
  });

  it('a plain layer is stored as exactly its tar, small (in memory) or large (streamed), whatever the block size', async () => {
    const store = await LocalContentStore.open(await fresh('store'), { sync: false });
    const { writeLayer } = await import('./compare.js');
    for (const bytes of [10, 200 << 10, 300 << 10, 3 << 20]) {
      const d = await fresh(`plain-${bytes}`);
      await fs.writeFile(path.join(d, 'f'), randomBytes(bytes));
      for (const blockSize of [undefined, 64 << 10]) {
        const tar = await collect(tarWithDigest(treeChanges(null, d, { sourceDateEpoch: 1 })).stream);
        const l = await writeLayer(store, treeChanges(null, d, { sourceDateEpoch: 1 }), { compression: 'none', ...(blockSize ? { blockSize } : {}) });
        expect(l.descriptor.digest).toBe(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
        expect([l.descriptor.size, l.uncompressedSize]).toEqual([tar.length, tar.length]);
        expect((await collect(store.get(l.descriptor.digest))).equals(tar)).toBe(true);
      }
    }
  });
});

describe('compression detection', () => {
  const hasZstd = spawnSync('zstd', ['--version']).status === 0;
  if (!hasZstd) console.warn('skipping zstd layer test: no zstd program');
  it.skipIf(!hasZstd)('applies a zstd-compressed layer (detected by content)', async () => {
    const src = await fresh('zsrc');
    await makeParent(src);
    const tarBuf = await collect(tarWithDigest(treeChanges(null, src)).stream);
    const z = execFileSync('zstd', ['-q', '-c'], { input: tarBuf });
    const out = await fresh('zout');
    const r = await applyTar(once(z), out);
    expect(r.compression).toBe('zstd');
    expect(r.diffID).toBe(`sha256:${createHash('sha256').update(tarBuf).digest('hex')}`);
    expect(await listing(out)).toEqual(await listing(src));
  });
});

describe('parallel gzip', () => {
  const data = Buffer.concat([randomBytes(3 << 20), Buffer.from('compressible text line\n'.repeat(200_000)), randomBytes(12345)]);

  it('is one valid gzip member (gzip -t, zlib) with the right content', async () => {
    const gz = await collect(gzipParallel(rechunk(once(data), 1 << 20)));
    expect(zlib.gunzipSync(gz).equals(data)).toBe(true);
    const r = spawnSync('gzip', ['-t'], { input: gz });
    expect(r.status, String(r.stderr)).toBe(0);
    expect(gz.length).toBeLessThan(data.length * 0.75);
  });

  it('gives the same bytes whatever the concurrency or input chunking', async () => {
    const a = await collect(gzipParallel(rechunk(once(data), 1 << 20), { concurrency: 1 }));
    async function* odd() {
      for (let i = 0; i < data.length; i += 77_777) yield data.subarray(i, i + 77_777);
    }
    const b = await collect(gzipParallel(rechunk(odd(), 1 << 20), { concurrency: 5 }));
    expect(b.equals(a)).toBe(true);
  });

  it('an empty input is a valid empty gzip', async () => {
    const gz = await collect(gzipParallel(rechunk(once(Buffer.alloc(0)), 1 << 20)));
    expect(zlib.gunzipSync(gz).length).toBe(0);
  });
});
