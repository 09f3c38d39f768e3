import { existsSync, readdirSync } from 'node:fs';
import { chmod, lutimes, mkdir, mkdtemp, readdir, rename, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheFileFor, pruneContextCaches } from './cache.js';
import { isNotFound } from '../diagnostics/errors.js';
import { hashContextPaths } from './source.js';
import type { ContextSelection } from './types.js';

const sel = (src: string[], extra: Partial<ContextSelection> = {}): ContextSelection => ({ src, followLinks: true, ...extra });

let tmp: string;
let ctx: string;
let root: string;

/** Date every entry of the context a minute back, as a context edited a while before the build is. */
async function settle(dir = ctx): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await settle(p);
    await lutimes(p, past, past);
  }
  await utimes(dir, past, past);
}

async function put(rel: string, content: string): Promise<void> {
  await mkdir(path.dirname(path.join(ctx, rel)), { recursive: true });
  await writeFile(path.join(ctx, rel), content);
}

const memoFiles = () => {
  const dir = path.join(root, 'meta', 'context-cache');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.memo')) : [];
};

/** Hash with the memo, and the same selection walked from scratch (no memo, no stored digests). */
async function both(sels: ContextSelection[], ignore: string[] = []) {
  const remembered = await hashContextPaths(ctx, sels, { ignore, root });
  const walked = await hashContextPaths(ctx, sels, { ignore, memo: false });
  return { remembered, walked };
}

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'kiln-memo-'));
  ctx = path.join(tmp, 'ctx');
  root = path.join(tmp, 'root');
  await put('src/app/main.ts', 'console.log(1)\n');
  await put('src/app/util.ts', 'export {}\n');
  await put('src/lib/x.txt', 'x\n');
  await put('README.md', '# hi\n');
  await symlink('app/main.ts', path.join(ctx, 'src/entry'));
  await settle();
});
afterEach(() => rm(tmp, { recursive: true, force: true }));

describe('selection memo', () => {
  it('answers a no-op rebuild from the memo: one lstat per path, no directory read, no file read', async () => {
    const first = await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root });
    expect(first.stats.memoHits).toBe(0);
    expect(memoFiles()).toHaveLength(1);
    const again = await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root });
    expect(again.stats.memoHits).toBe(1);
    expect(again.stats.readdir).toBe(0);
    expect(again.stats.filesRead).toBe(0);
    // src, src/app, src/lib, src/entry, three files (the root is only passed through)
    expect(again.stats.lstat).toBe(7);
    expect(again.digest).toBe(first.digest);
    expect(again.count).toBe(first.files.length);
    expect(again.files).toEqual(first.files);
  });

  it('keeps one memo per selection and .dockerignore', async () => {
    await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root });
    await hashContextPaths(ctx, [sel(['src'], { excludes: ['*.txt'] })], { ignore: [], root });
    await hashContextPaths(ctx, [sel(['src'])], { ignore: ['**/util.ts'], root });
    expect(memoFiles()).toHaveLength(3);
    const { remembered, walked } = await both([sel(['src'])], ['**/util.ts']);
    expect(remembered.stats.memoHits).toBe(1);
    expect(remembered.files.map((f) => f.path)).not.toContain('src/app/util.ts');
    expect(remembered.digest).toBe(walked.digest);
  });

  const changes: [string, () => Promise<void>][] = [
    ['a file rewritten with the same size and old times', async () => {
      await writeFile(path.join(ctx, 'src/app/util.ts'), 'export [}\n');
      await settle();
    }],
    ['a file added in a subdirectory', () => put('src/lib/y.txt', 'y\n').then(() => settle())],
    ['a file removed', () => unlink(path.join(ctx, 'src/lib/x.txt')).then(() => settle())],
    ['a file renamed', () => rename(path.join(ctx, 'src/lib/x.txt'), path.join(ctx, 'src/lib/z.txt')).then(() => settle())],
    ['a mode changed', () => chmod(path.join(ctx, 'src/app/main.ts'), 0o755)],
    ['a symlink pointed elsewhere', async () => {
      await unlink(path.join(ctx, 'src/entry'));
      await symlink('app/util.ts', path.join(ctx, 'src/entry'));
      await settle();
    }],
    ['a file replaced by a directory', async () => {
      await unlink(path.join(ctx, 'src/lib/x.txt'));
      await put('src/lib/x.txt/inner', 'i\n');
      await settle();
    }],
  ];
  for (const [what, change] of changes) {
    it(`sees ${what}`, async () => {
      const before = await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root });
      await change();
      const { remembered, walked } = await both([sel(['src'])]);
      expect(remembered.stats.memoHits).toBe(0);
      expect(remembered.digest).toBe(walked.digest);
      expect(remembered.digest).not.toBe(before.digest);
      // and the memo now holds the new state
      const third = await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root });
      expect(third.stats.memoHits).toBe(1);
      expect(third.digest).toBe(walked.digest);
    });
  }

  it('a file added beside the selected directory does not cost the memo; one added inside does', async () => {
    await hashContextPaths(ctx, [sel(['src/app'])], { ignore: [], root });
    await put('NEWS.md', 'n\n'); // the root's and src's mtimes change: neither is read for src/app
    await put('src/other.txt', 'o\n');
    expect((await hashContextPaths(ctx, [sel(['src/app'])], { ignore: [], root })).stats.memoHits).toBe(1);
    await put('src/app/new.ts', 'x\n');
    await settle();
    const { remembered, walked } = await both([sel(['src/app'])]);
    expect(remembered.stats.memoHits).toBe(0);
    expect(remembered.files.map((f) => f.path)).toContain('src/app/new.ts');
    expect(remembered.digest).toBe(walked.digest);
  });

  it('sees a directory on the way to a source moved out and replaced by a link to it (never follows it out)', async () => {
    await hashContextPaths(ctx, [sel(['src/app/main.ts'])], { ignore: [], root });
    // the same inodes, now outside the context: the kernel's lstat through the link finds them,
    // but inside the context the absolute link means <ctx>/<tmp>/outside-src: not there
    const outside = path.join(tmp, 'outside-src');
    await rename(path.join(ctx, 'src'), outside);
    await symlink(outside, path.join(ctx, 'src'));
    await settle();
    await expect(hashContextPaths(ctx, [sel(['src/app/main.ts'])], { ignore: [], root })).rejects.toSatisfy(isNotFound);
  });

  it('follows a source that is a symlink: a changed link target is seen', async () => {
    await hashContextPaths(ctx, [sel(['src/entry'])], { ignore: [], root });
    await unlink(path.join(ctx, 'src/entry'));
    await symlink('lib/x.txt', path.join(ctx, 'src/entry'));
    await settle();
    const { remembered, walked } = await both([sel(['src/entry'])]);
    expect(remembered.stats.memoHits).toBe(0);
    expect(remembered.digest).toBe(walked.digest);
  });

  it('does not remember a context modified just now (its timestamps could hide the next change)', async () => {
    await put('src/lib/fresh.txt', 'f\n');
    await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root });
    expect(memoFiles()).toHaveLength(0);
    await settle();
    await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root });
    expect(memoFiles()).toHaveLength(1);
  });

  it('does not remember a directory changed just now (an entry added in the same clock tick would not show)', async () => {
    await mkdir(path.join(ctx, 'src/new'));
    await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root });
    expect(memoFiles()).toHaveLength(0);
  });

  it('ignores a corrupt or truncated memo and writes a good one', async () => {
    const first = await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root });
    const file = path.join(root, 'meta', 'context-cache', memoFiles()[0]!);
    for (const bad of ['', 'garbage', Buffer.alloc(3)]) {
      await writeFile(file, bad);
      const r = await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root });
      expect(r.stats.memoHits).toBe(0);
      expect(r.digest).toBe(first.digest);
    }
    const again = await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root });
    expect(again.stats.memoHits).toBe(1);
  });

  it('builder prune drops the caches of contexts that are gone, and with --all every one', async () => {
    const other = path.join(tmp, 'other');
    await mkdir(path.join(other, 'd'), { recursive: true });
    await writeFile(path.join(other, 'd', 'f'), 'f\n');
    await settle(other);
    await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root });
    await hashContextPaths(other, [sel(['d'])], { ignore: [], root });
    expect(memoFiles()).toHaveLength(2);
    await rm(other, { recursive: true });
    expect(await pruneContextCaches(root)).toMatchObject({ files: 2 }); // its digest cache and its memo
    expect(existsSync(cacheFileFor(root, ctx))).toBe(true);
    expect(existsSync(cacheFileFor(root, other))).toBe(false);
    expect((await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root })).stats.memoHits).toBe(1);
    expect(await pruneContextCaches(root, { all: true })).toMatchObject({ files: 2 });
    expect(memoFiles()).toEqual([]);
  });
});
