import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, promises as fs, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { hasCode, isAlreadyExists, isNotFound } from '../diagnostics/errors.js';
import {
  compactOverlay,
  mountAll,
  NativeSnapshotter,
  OverlaySnapshotter,
  probeOverlay,
  withMountedSnapshot,
  withSnapshotDir,
  type Mount,
  type Snapshotter,
  unmountAll,
} from './index.js';
import type { BaseSnapshotter } from './base.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('skipping snapshot owner/device tests and real mounts: not running as root');
const tmpBase = mkdtempSync(path.join(os.tmpdir(), 'kiln-snap-test-'));
afterAll(() => rmSync(tmpBase, { recursive: true, force: true }));

/** Open the tree of `mounts` (a real mount when needed) and run fn on it. */
const withTree = <T>(mounts: Mount[], fn: (dir: string) => Promise<T>) => (isRoot ? withMountedSnapshot(mounts, fn) : withSnapshotDir(mounts, fn));

async function listing(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string) => {
    for (const n of (await fs.readdir(path.join(dir, rel))).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = await fs.lstat(path.join(dir, r));
      let what = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) what = `dir ${what}`;
      else if (st.isSymbolicLink()) what = `link ${await fs.readlink(path.join(dir, r))}`;
      else if (st.isFile()) what = `file ${what} ${await fs.readFile(path.join(dir, r), 'utf8')}`;
      else what = `other ${what} ${st.rdev}`;
      out[r] = what;
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}

/** containerd's SnapshotterSuite, smaller: one suite, run against every implementation. */
function snapshotterSuite(name: string, make: (root: string) => Snapshotter, skipReason: () => Promise<string | null>) {
  describe(`snapshotter suite: ${name}`, async () => {
    const reason = await skipReason();
    if (reason) console.warn(`skipping snapshotter suite ${name}: ${reason}`);
    let root = '';
    let sn: Snapshotter;
    beforeEach(async () => {
      root = await fs.mkdtemp(path.join(tmpBase, `${name}-`));
      sn = make(root);
    });

    it.skipIf(!!reason)('prepare, write, commit, view: the committed tree is what was written', async () => {
      const m = await sn.prepare('a-active');
      await withTree(m, async (d) => {
        await fs.mkdir(path.join(d, 'etc'), { mode: 0o750 });
        await fs.writeFile(path.join(d, 'etc', 'hosts'), 'localhost');
        await fs.symlink('/etc/hosts', path.join(d, 'hosts-link'));
      });
      await sn.commit('a', 'a-active', { 'x/label': 'y' });
      await expect(sn.stat('a-active')).rejects.toSatisfy(isNotFound);
      const info = await sn.stat('a');
      expect(info).toMatchObject({ name: 'a', kind: 'committed', labels: { 'x/label': 'y' } });
      const v = await sn.view('a-view', 'a');
      const tree = await withTree(v, listing);
      expect(tree['etc/hosts']).toMatch(/^file 644 .* localhost$/);
      expect(tree['hosts-link']).toBe('link /etc/hosts');
      expect(tree.etc).toMatch(/^dir 750/);
      expect((await sn.list()).map((s) => `${s.name}:${s.kind}:${s.parent ?? ''}`)).toEqual(['a:committed:', 'a-view:view:a']);
    });

    it.skipIf(!!reason)('a write, delete or chmod in a child never changes the committed parent', async () => {
      const m = await sn.prepare('p-active');
      await withTree(m, async (d) => {
        await fs.mkdir(path.join(d, 'dir'));
        await fs.writeFile(path.join(d, 'dir', 'keep'), 'parent');
        await fs.writeFile(path.join(d, 'gone'), 'parent');
      });
      await sn.commit('p', 'p-active');
      const before = await listing(await sn.fsDir('p'));
      const c = await sn.prepare('c-active', 'p');
      await withTree(c, async (d) => {
        await fs.writeFile(path.join(d, 'dir', 'keep'), 'child');
        await fs.chmod(path.join(d, 'dir'), 0o700);
        await fs.rm(path.join(d, 'gone'));
        await fs.writeFile(path.join(d, 'new'), 'child');
      });
      expect(await listing(await sn.fsDir('p'))).toEqual(before);
      const childTree = await withTree(await sn.mounts('c-active'), listing);
      expect(childTree['dir/keep']).toMatch(/ child$/);
      expect(childTree.gone).toBeUndefined();
      expect(childTree.dir).toMatch(/^dir 700/);
      const parentTree = await withTree(await sn.view('pv', 'p'), listing);
      expect(parentTree['dir/keep']).toMatch(/ parent$/);
      expect(parentTree.gone).toMatch(/ parent$/);
      expect(parentTree.new).toBeUndefined();
    });

    it.skipIf(!!reason)('three layers: a file deleted in the middle stays deleted on top (transitivity)', async () => {
      await withTree(await sn.prepare('1a'), (d) => fs.writeFile(path.join(d, 'f'), '1'));
      await sn.commit('1', '1a');
      await withTree(await sn.prepare('2a', '1'), (d) => fs.rm(path.join(d, 'f')));
      await sn.commit('2', '2a');
      await withTree(await sn.prepare('3a', '2'), (d) => fs.writeFile(path.join(d, 'g'), '3'));
      await sn.commit('3', '3a');
      const tree = await withTree(await sn.view('3v', '3'), listing);
      expect(Object.keys(tree)).toEqual(['g']);
    });

    it.skipIf(!!reason)('viewMounts shows the same tree as a view, without a record; only committed snapshots', async () => {
      await withTree(await sn.prepare('1a'), (d) => fs.writeFile(path.join(d, 'f'), '1'));
      await sn.commit('1', '1a');
      await withTree(await sn.prepare('2a', '1'), async (d) => {
        await fs.rm(path.join(d, 'f'));
        await fs.writeFile(path.join(d, 'g'), '2');
      });
      await sn.commit('2', '2a');
      const before = (await sn.list()).map((s) => s.name);
      for (const name of ['1', '2']) {
        const recordless = await withTree(await sn.viewMounts(name), listing);
        expect(recordless).toEqual(await withTree(await sn.view(`${name}v`, name), listing));
        await sn.remove(`${name}v`);
      }
      expect((await sn.list()).map((s) => s.name)).toEqual(before);
      await sn.prepare('open', '2');
      await expect(sn.viewMounts('open')).rejects.toSatisfy((e) => hasCode(e, 'SNAPSHOT_PARENT_NOT_COMMITTED'));
      await expect(sn.viewMounts('missing')).rejects.toSatisfy(isNotFound);
    });

    it.skipIf(!!reason)('an unsynced commit outlives kiln processes but not a reboot: then it and everything on it are dropped', async () => {
      await withTree(await sn.prepare('base-a'), (d) => fs.writeFile(path.join(d, 'b'), 'synced'));
      await sn.commit('base', 'base-a');
      await withTree(await sn.prepare('step-a', 'base'), (d) => fs.writeFile(path.join(d, 's'), 'page cache only'));
      await sn.commit('step', 'step-a', {}, { sync: false });
      await withTree(await sn.prepare('child-a', 'step'), (d) => fs.writeFile(path.join(d, 'c'), 'on top'));
      await sn.commit('child', 'child-a');
      await sn.prepare('ctr', 'step'); // an active snapshot on it too

      // a new process in the same boot: all kept
      const again = make(root);
      expect((await again.list()).map((i) => i.name).sort()).toEqual(['base', 'child', 'ctr', 'step']);

      // the machine rebooted: the step's tree may be torn, so it goes with what was built on it
      const meta = path.join((sn as BaseSnapshotter).driverRoot, 'metadata.json');
      const m = JSON.parse(await fs.readFile(meta, 'utf8'));
      expect(m.snapshots.step.unsyncedBoot).toBe((await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim());
      expect(m.snapshots.base.unsyncedBoot).toBeUndefined();
      m.snapshots.step.unsyncedBoot = 'an-earlier-boot';
      await fs.writeFile(meta, JSON.stringify(m));
      const rebooted = make(root);
      expect((await rebooted.list()).map((i) => i.name)).toEqual(['base']);
      await expect(rebooted.stat('step')).rejects.toSatisfy(isNotFound);
      expect(await withTree(await rebooted.view('base-v', 'base'), listing)).toMatchObject({ b: expect.stringContaining('synced') });
      // only base's folder (and the new view's) remain on disk
      expect((await fs.readdir(path.join((sn as BaseSnapshotter).driverRoot, 'snapshots'))).length).toBe(2);
    });

    it.skipIf(!!reason || !isRoot)('owners, setuid modes, hardlinks, xattrs and device nodes survive into a child (root)', async () => {
      await withTree(await sn.prepare('b-a'), async (d) => {
        await fs.writeFile(path.join(d, 'suid'), 'x', { mode: 0o755 });
        await fs.chown(path.join(d, 'suid'), 1234, 5678);
        await fs.chmod(path.join(d, 'suid'), 0o4755);
        await fs.link(path.join(d, 'suid'), path.join(d, 'hard'));
        execFileSync('mknod', ['-m', '640', path.join(d, 'null'), 'c', '1', '3']);
        const { setAttributeSync } = await import('@napi-rs/xattr');
        setAttributeSync(path.join(d, 'suid'), 'user.kiln', 'v');
      });
      await sn.commit('b', 'b-a');
      await withTree(await sn.prepare('b2-a', 'b'), async (d) => {
        const a = await fs.lstat(path.join(d, 'suid'));
        const h = await fs.lstat(path.join(d, 'hard'));
        expect(a.mode & 0o7777).toBe(0o4755);
        expect([a.uid, a.gid]).toEqual([1234, 5678]);
        expect(h.ino).toBe(a.ino);
        const n = await fs.lstat(path.join(d, 'null'));
        expect(n.isCharacterDevice() && n.rdev === ((1 << 8) | 3)).toBe(true);
        const { getAttributeSync } = await import('@napi-rs/xattr');
        expect(getAttributeSync(path.join(d, 'suid'), 'user.kiln')?.toString()).toBe('v');
      });
    });

    it.skipIf(!!reason)('state errors carry their codes', async () => {
      await sn.prepare('k');
      await expect(sn.prepare('k')).rejects.toSatisfy(isAlreadyExists);
      await expect(sn.prepare('x', 'k')).rejects.toSatisfy((e) => hasCode(e, 'SNAPSHOT_PARENT_NOT_COMMITTED'));
      await expect(sn.prepare('x', 'nope')).rejects.toSatisfy((e) => hasCode(e, 'SNAPSHOT_NOT_FOUND'));
      await sn.commit('kc', 'k');
      await sn.view('v1', 'kc');
      await expect(sn.commit('v1c', 'v1')).rejects.toSatisfy((e) => hasCode(e, 'SNAPSHOT_NOT_ACTIVE'));
      await expect(sn.mounts('kc')).rejects.toSatisfy((e) => hasCode(e, 'SNAPSHOT_COMMITTED'));
      await expect(sn.remove('kc')).rejects.toSatisfy((e) => hasCode(e, 'SNAPSHOT_HAS_CHILDREN'));
      await sn.prepare('k2', 'kc');
      await expect(sn.commit('kc', 'k2')).rejects.toSatisfy(isAlreadyExists);
      await sn.remove('v1');
      await sn.remove('k2');
      await sn.remove('kc');
      expect(await sn.list()).toEqual([]);
      expect(await fs.readdir(path.join(root, 'snapshots', sn.name, 'snapshots'))).toEqual([]);
    });

    it.skipIf(!!reason)('usage counts the snapshot own bytes and inodes', async () => {
      await withTree(await sn.prepare('u'), async (d) => {
        await fs.writeFile(path.join(d, 'big'), Buffer.alloc(256 * 1024, 1));
        await fs.link(path.join(d, 'big'), path.join(d, 'big2'));
      });
      const u = await sn.usage('u');
      expect(u.inodes).toBe(1);
      expect(u.size).toBeGreaterThanOrEqual(256 * 1024);
      expect(u.size).toBeLessThan(300 * 1024);
    });

    it.skipIf(!!reason)('leftovers of a crashed prepare are removed when the store is opened again', async () => {
      await sn.prepare('ok');
      const base = sn as unknown as BaseSnapshotter;
      const meta = JSON.parse(await fs.readFile(path.join(base.driverRoot, 'metadata.json'), 'utf8'));
      // a dead preparer (pid of an exited process) and an orphan folder without a record
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
      meta.snapshots.half = { id: '99', kind: 'active', created: new Date().toISOString(), labels: {}, preparing: dead };
      await fs.writeFile(path.join(base.driverRoot, 'metadata.json'), JSON.stringify(meta));
      await fs.mkdir(path.join(base.driverRoot, 'snapshots', '99', 'fs'), { recursive: true });
      await fs.mkdir(path.join(base.driverRoot, 'snapshots', '77', 'fs'), { recursive: true });
      const again = make(root);
      expect((await again.list()).map((s) => s.name)).toEqual(['ok']);
      expect((await fs.readdir(path.join(base.driverRoot, 'snapshots'))).sort()).toEqual(['1']);
      await expect(again.prepare('half')).resolves.toBeDefined();
    });

    it.skipIf(!!reason)('a transient snapshot is dropped once its process is gone; committing it ends that', async () => {
      await sn.prepare('t-live', undefined, {}, { transient: true });
      await sn.prepare('t-dead', undefined, {}, { transient: true });
      await sn.prepare('t-kept', undefined, {}, { transient: true });
      await sn.commit('kept', 't-kept', {}, { sync: false });
      await sn.prepare('plain');
      const base = sn as unknown as BaseSnapshotter;
      const file = path.join(base.driverRoot, 'metadata.json');
      const meta = JSON.parse(await fs.readFile(file, 'utf8'));
      expect(meta.snapshots['t-live'].transient).toBe(process.pid);
      expect(meta.snapshots.kept.transient).toBeUndefined();
      const deadDir = await sn.fsDir('t-dead');
      meta.snapshots['t-dead'].transient = spawnSync(process.execPath, ['-e', '0']).pid!; // a build killed mid-step
      await fs.writeFile(file, JSON.stringify(meta));
      const again = make(root);
      expect((await again.list()).map((s) => s.name).sort()).toEqual(['kept', 'plain', 't-live']);
      expect(existsSync(deadDir)).toBe(false);
      await again.remove('t-live');
      expect((await again.list()).map((s) => s.name).sort()).toEqual(['kept', 'plain']);
    });

    it.skipIf(!!reason)('concurrent prepares from two instances on one root get distinct snapshots', async () => {
      const a = make(root);
      const b = make(root);
      await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).prepare(`c${i}`)));
      const ids = new Set<string>();
      for (let i = 0; i < 16; i++) ids.add((await a.fsDir(`c${i}`)));
      expect(ids.size).toBe(16);
      expect((await b.list()).length).toBe(16);
    });
  });
}

snapshotterSuite('native', (root) => new NativeSnapshotter(root), async () => null);
snapshotterSuite('overlayfs', (root) => new OverlaySnapshotter(root), () => probeOverlay(path.join(tmpBase, 'probe')));

describe('overlay mounts with long lowerdir lists', async () => {
  const reason = await probeOverlay(path.join(tmpBase, 'probe'));
  if (reason) console.warn(`skipping long-lowerdir mount test: ${reason}`);

  it('compactOverlay rewrites dirs relative to a common parent only when the options are too long', () => {
    const lowers = Array.from({ length: 100 }, (_, i) => `/very/long/prefix/for/a/kiln/root/snapshots/overlayfs/snapshots/${i + 2}/fs`);
    const m: Mount = {
      type: 'overlay',
      source: 'overlay',
      options: ['workdir=/very/long/prefix/for/a/kiln/root/snapshots/overlayfs/snapshots/1/work', 'upperdir=/very/long/prefix/for/a/kiln/root/snapshots/overlayfs/snapshots/1/fs', `lowerdir=${lowers.join(':')}`],
    };
    const c = compactOverlay(m);
    expect(c.cwd).toBe('/very/long/prefix/for/a/kiln/root/snapshots/overlayfs/snapshots');
    expect(c.options[0]).toBe('workdir=1/work');
    expect(c.options[2]!.startsWith('lowerdir=2/fs:3/fs:')).toBe(true);
    expect(compactOverlay({ ...m, options: m.options.slice(0, 2) }).cwd).toBeUndefined();
  });

  it.skipIf(!!reason)('60 layers under a long root path mount and show every layer', async () => {
    const root = path.join(tmpBase, 'x'.repeat(120), 'y'.repeat(60));
    const sn = new OverlaySnapshotter(root);
    let parent: string | undefined;
    for (let i = 0; i < 60; i++) {
      const m = await sn.prepare(`l${i}-a`, parent);
      await withMountedSnapshot(m, (d) => fs.writeFile(path.join(d, `f${i}`), String(i)));
      await sn.commit(`l${i}`, `l${i}-a`);
      parent = `l${i}`;
    }
    const top = await sn.prepare('top', parent);
    expect(top[0]!.options.join(',').length).toBeGreaterThan(4096);
    const names = await withMountedSnapshot(top, (d) => fs.readdir(d));
    expect(names.length).toBe(60);
  });

  it.skipIf(!!reason)('mountAll and unmountAll (the bundled runtime stands in for util-linux): read-only binds, nested mounts, not-mounted', async () => {
    const base = await fs.mkdtemp(path.join(tmpBase, 'mnt-'));
    for (const d of ['low', 'up', 'work', 'target', 'ro']) await fs.mkdir(path.join(base, d));
    await fs.writeFile(path.join(base, 'low', 'f'), 'lower');
    await fs.writeFile(path.join(base, 'ro', 'g'), 'bound');
    const target = path.join(base, 'target');
    await mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${base}/low`, `upperdir=${base}/up`, `workdir=${base}/work`] }], target);
    await fs.mkdir(path.join(target, 'sub'));
    await mountAll([{ type: 'bind', source: path.join(base, 'ro'), options: ['rbind', 'ro', 'nosuid'] }], path.join(target, 'sub'));
    expect(await fs.readFile(path.join(target, 'f'), 'utf8')).toBe('lower');
    expect(await fs.readFile(path.join(target, 'sub', 'g'), 'utf8')).toBe('bound');
    await expect(fs.writeFile(path.join(target, 'sub', 'h'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    await unmountAll(target); // both, the nested one first
    const mountinfo = await fs.readFile('/proc/self/mountinfo', 'utf8');
    expect(mountinfo.includes(target)).toBe(false);
    await unmountAll(target); // nothing mounted: not an error
    await expect(mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${base}/missing`] }], target)).rejects.toSatisfy((e) => hasCode(e, 'SNAPSHOT_MOUNT_FAILED'));
  });

  it.skipIf(!!reason)('withMountedSnapshot unmounts and removes its dir when fn throws', async () => {
    const sn = new OverlaySnapshotter(path.join(tmpBase, 'wm'));
    let seen = '';
    await expect(
      withMountedSnapshot(await sn.prepare('a'), async (d) => {
        seen = d;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await fs.stat(seen).catch(() => null)).toBeNull();
    expect(await fs.readFile('/proc/self/mountinfo', 'utf8')).not.toContain(seen);
  });
});
