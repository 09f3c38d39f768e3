import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fsyncSmallTree, syncFs } from './sync.js';

describe('commit durability helpers', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('fsyncs a small tree with files, dirs, symlinks and fifos in-process, and declines a big one', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-sync-'));
    await fs.mkdir(path.join(dir, 'a/b'), { recursive: true });
    await fs.writeFile(path.join(dir, 'a/b/f'), 'x', { mode: 0o000 });
    await fs.symlink('/nowhere', path.join(dir, 'a/link'));
    execFileSync('mkfifo', [path.join(dir, 'a/fifo')]); // opening it would block: must be skipped
    expect(await fsyncSmallTree(dir)).toBe(true);
    for (let i = 0; i < 20; i++) await fs.writeFile(path.join(dir, `f${i}`), '');
    expect(await fsyncSmallTree(dir, 10)).toBe(false);
  });

  it('concurrent syncfs calls on one filesystem all complete', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-sync-'));
    await Promise.all(Array.from({ length: 5 }, () => syncFs(dir)));
    await syncFs(dir); // and a later one starts a fresh sync
  });
});

describe('oneShotMounts', () => {
  it('adds volatile only to writable overlay mounts and leaves binds and read-only overlays alone', async () => {
    const { oneShotMounts } = await import('./mount.js');
    const rw = { type: 'overlay', source: 'overlay', options: ['workdir=/w', 'upperdir=/u', 'lowerdir=/l'] };
    const ro = { type: 'overlay', source: 'overlay', options: ['lowerdir=/a:/b'] };
    const bind = { type: 'bind', source: '/x', options: ['rbind', 'rw'] };
    const out = oneShotMounts([rw, ro, bind]);
    expect(out[0]!.options).toContain('volatile');
    expect(out[1]!.options).not.toContain('volatile');
    expect(out[2]).toBe(bind);
    expect(rw.options).not.toContain('volatile'); // input untouched
    expect(oneShotMounts(out)[0]!.options.filter((o) => o === 'volatile')).toHaveLength(1);
  });
});
