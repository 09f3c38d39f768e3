import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../content/local.js';
import { hasCode } from '../diagnostics/errors.js';
import type { Digest } from '../image/types.js';
import { createSnapshotter, withMountedSnapshot, withSnapshotDir, type Mount } from '../snapshot/index.js';
import { diffSnapshot } from './compare.js';
import { chainID, unpackLayers } from './unpack.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'kiln-unpack-test-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;
const open = <T>(m: Mount[], fn: (d: string) => Promise<T>) => (isRoot ? withMountedSnapshot(m, fn) : withSnapshotDir(m, fn));

describe('unpackLayers', () => {
  it('chainID follows the image-spec definition', () => {
    const a = ('sha256:' + 'a'.repeat(64)) as Digest;
    const b = ('sha256:' + 'b'.repeat(64)) as Digest;
    expect(chainID([a])).toBe(a);
    // sha256("sha256:aaa… sha256:bbb…")
    expect(chainID([a, b])).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(chainID([a, b])).not.toBe(chainID([b, a]));
  });

  it('unpacks a two-layer image once, concurrently and idempotently, and verifies diffIDs', async () => {
    const root = path.join(base, 'r');
    const sn = await createSnapshotter(root);
    const store = await LocalContentStore.open(root, { sync: false });
    await open(await sn.prepare('b1'), async (d) => {
      await fs.mkdir(path.join(d, 'etc'));
      await fs.writeFile(path.join(d, 'etc', 'os-release'), 'kiln');
      await fs.writeFile(path.join(d, 'old'), 'x');
    });
    await sn.commit('build-1', 'b1');
    await open(await sn.prepare('b2', 'build-1'), async (d) => {
      await fs.writeFile(path.join(d, 'etc', 'app'), 'app');
      await fs.rm(path.join(d, 'old'));
    });
    await sn.commit('build-2', 'b2');
    const l1 = await diffSnapshot(sn, 'build-1', store);
    const l2 = await diffSnapshot(sn, 'build-2', store);
    const layers = [
      { descriptor: l1.descriptor, diffID: l1.diffID },
      { descriptor: l2.descriptor, diffID: l2.diffID },
    ];
    const [top, top2] = await Promise.all([unpackLayers(sn, store, layers), unpackLayers(sn, store, layers)]);
    expect(top).toBe(`layer-${chainID([l1.diffID, l2.diffID]).slice(7)}`);
    expect(top2).toBe(top);
    expect(await unpackLayers(sn, store, layers)).toBe(top);
    const names = (await sn.list()).map((s) => s.name);
    expect(names.filter((n) => n.startsWith('layer-')).sort()).toEqual([`layer-${l1.diffID.slice(7)}`, top].sort());
    expect(names.some((n) => n.startsWith('extract-'))).toBe(false);
    const tree = await open(await sn.view('v', top), async (d) => ({
      app: await fs.readFile(path.join(d, 'etc', 'app'), 'utf8'),
      entries: (await fs.readdir(d)).sort(),
    }));
    expect(tree).toEqual({ app: 'app', entries: ['etc'] });

    // a wrong diffID fails and leaves no snapshot behind
    const bad = [{ descriptor: l1.descriptor, diffID: ('sha256:' + '1'.repeat(64)) as Digest }];
    await expect(unpackLayers(sn, store, bad)).rejects.toSatisfy((e) => hasCode(e, 'LAYER_DIFFID_MISMATCH'));
    expect((await sn.list()).some((s) => s.name.startsWith('extract-'))).toBe(false);
  });
});
