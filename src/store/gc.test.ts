import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Digest } from '../image/digest.js';
import { MediaType, type Digest } from '../image/types.js';
import { collectGarbage, createLease, mark, openStores, sweep, type Stores } from './index.js';
import { withLock } from '../util/lock-file.js';

describe('mark/sweep (pure)', () => {
  const d = (s: string) => sha256Digest(s);
  const graph = new Map<Digest, Digest[]>([
    [d('root'), [d('a'), d('b')]],
    [d('a'), [d('c')]],
    [d('b'), [d('c'), d('root')]], // cycle and shared child
    [d('orphan'), [d('c')]],
  ]);
  it('marks everything reachable, once, through cycles', async () => {
    let calls = 0;
    const reach = await mark([{ digest: d('root') }], async (n) => {
      calls++;
      return (graph.get(n.digest) ?? []).map((x) => ({ digest: x }));
    });
    expect([...reach].sort()).toEqual([d('root'), d('a'), d('b'), d('c')].sort());
    expect(calls).toBe(4);
  });
  it('sweeps only the unreachable', async () => {
    const removed: string[] = [];
    const all = [d('root'), d('a'), d('orphan'), d('x')].map((digest) => ({ digest }));
    await sweep(all, new Set([d('root'), d('a')]), async (i) => void removed.push(i.digest));
    expect(removed.sort()).toEqual([d('orphan'), d('x')].sort());
  });
});

describe('collectGarbage over a store', () => {
  let dir: string;
  let s: Stores;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-gc-'));
    s = await openStores(dir);
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps blobs of named and dangling images and leased blobs, removes the rest', async () => {
    const l1 = await s.content.put('layer one');
    const keep = await s.images.createImage({
      config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
      layers: [{ descriptor: { mediaType: MediaType.OciLayerGzip, digest: l1.digest, size: l1.size }, diffID: sha256Digest('x') }],
      names: ['keep'],
    });
    const orphan = await s.content.put('nobody refers to me');
    const leased = await s.content.put('in flight');
    const lease = await createLease(dir);
    await lease.add(leased.digest);
    const res = await collectGarbage({ root: dir, content: s.content });
    expect(res.removed.map((b) => b.digest)).toEqual([orphan.digest]);
    expect(res.reclaimedBytes).toBe(orphan.size);
    const img = await s.images.resolve('keep');
    expect(img.target.digest).toBe(keep.digest);
    expect(await s.content.has(l1.digest)).toBe(true);
    await lease.release();
    await s.images.untag('keep');
    const res2 = await collectGarbage({ root: dir, content: s.content });
    expect(res2.removed).toHaveLength(4); // manifest, config, layer, leased blob
    const left: string[] = [];
    for await (const b of s.content.walk()) left.push(b.digest);
    expect(left).toEqual([]);
  });
});

describe('withLock', () => {
  it('serialises critical sections and breaks a lock left by a dead process', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-lock-'));
    const file = path.join(dir, 'x.lock');
    let inside = 0;
    let max = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        withLock(file, async () => {
          inside++;
          max = Math.max(max, inside);
          await new Promise((r) => setTimeout(r, 2));
          inside--;
        }),
      ),
    );
    expect(max).toBe(1);
    await fs.writeFile(file, `999999999 ${os.hostname()} ${Date.now()}\n`);
    expect(await withLock(file, async () => 'got it', { timeoutMs: 2000 })).toBe('got it');
    await fs.rm(dir, { recursive: true, force: true });
  });
});
