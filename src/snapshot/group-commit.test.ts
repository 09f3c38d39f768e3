/**
 * Metadata updates asked for at the same time share one lock and one write (group commit), and
 * each still succeeds or fails on its own.
 */
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { hasCode, isNotFound } from '../diagnostics/errors.js';

const writes = vi.hoisted(() => ({ count: 0 }));
vi.mock('../util/atomic-file.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../util/atomic-file.js')>();
  return {
    ...orig,
    writeSmallFileAtomic: async (...args: Parameters<typeof orig.writeSmallFileAtomic>) => {
      writes.count++;
      return orig.writeSmallFileAtomic(...args);
    },
  };
});

const { NativeSnapshotter } = await import('./native.js');

/** Exposes the protected update, to make an update that changes the metadata and then fails. */
class Exposed extends NativeSnapshotter {
  run<T>(fn: (m: { nextId: number }) => T): Promise<T> {
    return this.update(fn);
  }
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-group-commit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('snapshot metadata group commit', () => {
  it('twenty prepares at once are written in a couple of writes, and all of them are there', async () => {
    const root = await fs.mkdtemp(path.join(tmp, 'r-'));
    const sn = new NativeSnapshotter(root);
    await sn.list(); // init (its cleanup writes once)
    writes.count = 0;
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((k) => sn.prepare(k)));
    // each prepare is two updates (record, then ready); batched, far fewer than 40 writes
    expect(writes.count).toBeLessThanOrEqual(6);
    const again = new NativeSnapshotter(root);
    expect((await again.list()).map((s) => s.name).sort()).toEqual([...keys].sort());
  });

  it('an update that fails in a batch fails alone and leaves no trace; the others land', async () => {
    const root = await fs.mkdtemp(path.join(tmp, 'r-'));
    const sn = new Exposed(root);
    await sn.prepare('first');
    const before = await sn.run((m) => m.nextId);
    const results = await Promise.allSettled([
      sn.prepare('a'),
      sn.run((m) => {
        m.nextId = 9999;
        throw new Error('changed, then failed');
      }),
      sn.prepare('first'), // exists: SNAPSHOT_EXISTS
      sn.setLabels('missing', { x: 'y' }),
      sn.prepare('b'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected', 'fulfilled']);
    expect(((results[1] as PromiseRejectedResult).reason as Error).message).toBe('changed, then failed');
    expect(hasCode((results[2] as PromiseRejectedResult).reason, 'SNAPSHOT_EXISTS')).toBe(true);
    expect(isNotFound((results[3] as PromiseRejectedResult).reason)).toBe(true);
    const reread = new Exposed(root);
    expect((await reread.list()).map((s) => s.name).sort()).toEqual(['a', 'b', 'first']);
    expect(await reread.run((m) => m.nextId)).toBe(before + 2);
  });
});
