import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { selectedFilesDigest } from '../cache-key.js';
import { PatternMatcher } from '../../context/dockerignore.js';
import { applyChmod } from './chmod.js';
import { copySpec, selectedFiles, type CopySpec } from './copy.js';
import { resolveInRoot } from './root-path.js';

let tmp: string;
let ctx: string;
let dst: string;

async function write(root: string, files: Record<string, string | { link: string } | { mode: number; data: string }>): Promise<void> {
  for (const [p, v] of Object.entries(files)) {
    const abs = path.join(root, p);
    await fs.mkdir(path.dirname(abs), { recursive: true });
    if (typeof v === 'string') await fs.writeFile(abs, v);
    else if ('link' in v) await fs.symlink(v.link, abs);
    else {
      await fs.writeFile(abs, v.data);
      await fs.chmod(abs, v.mode);
    }
  }
}

async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await fs.readdir(dir)).sort()) {
      const abs = path.join(dir, name);
      const r = `${rel}/${name}`;
      const st = await fs.lstat(abs);
      if (st.isDirectory()) {
        out[`${r}/`] = (st.mode & 0o7777).toString(8);
        await walk(abs, r);
      } else if (st.isSymbolicLink()) out[r] = `-> ${await fs.readlink(abs)}`;
      else out[r] = await fs.readFile(abs, 'utf8');
    }
  };
  await walk(root, '');
  return out;
}

const spec = (src: string, dest: string, more: Partial<CopySpec> = {}): CopySpec => ({
  src,
  dest,
  allowWildcard: true,
  allowEmptyWildcard: false,
  dirContentsOnly: true,
  createDestPath: true,
  ...more,
});

beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-copy-'));
  ctx = path.join(tmp, 'ctx');
  dst = path.join(tmp, 'rootfs');
  await fs.mkdir(ctx);
  await fs.mkdir(dst);
  await write(ctx, {
    'a.txt': 'A',
    'b.txt': 'B',
    'dir/one': '1',
    'dir/sub/two': '2',
    'dir/inner-link': { link: 'one' },
    'link-to-b': { link: 'b.txt' },
    'escape': { link: '/etc/hostname' },
    'up': { link: '../../../../etc' },
    'tool.sh': { mode: 0o755, data: '#!/bin/sh\n' },
  });
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('COPY semantics (BuildKit)', () => {
  it('file to a new path, into a dir with a trailing slash, and into an existing dir', async () => {
    await fs.mkdir(path.join(dst, 'existing'));
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('a.txt', '/new') });
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('a.txt', '/made/for/me/') });
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('b.txt', '/existing') });
    const t = await tree(dst);
    expect(t['/new']).toBe('A');
    expect(t['/made/for/me/a.txt']).toBe('A');
    expect(t['/made/']).toBe('755');
    expect(t['/existing/b.txt']).toBe('B');
  });

  it('a directory copies its contents, keeping nested symlinks as symlinks', async () => {
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('dir', '/app') });
    const t = await tree(dst);
    expect(t['/app/one']).toBe('1');
    expect(t['/app/sub/two']).toBe('2');
    expect(t['/app/inner-link']).toBe('-> one');
    expect(t['/app/dir/']).toBeUndefined();
  });

  it('wildcards match in lexical order; a matched symlink is copied as what it points to', async () => {
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('*.txt', '/out/') });
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('link-*', '/out/') });
    const t = await tree(dst);
    expect(t['/out/a.txt']).toBe('A');
    expect(t['/out/b.txt']).toBe('B');
    expect(t['/out/link-to-b']).toBe('B');
  });

  it('a symlink can never read outside the context root', async () => {
    await expect(copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('escape', '/x') })).rejects.toMatchObject({ code: 'SOLVE_COPY_NOT_FOUND' });
    await expect(copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('up/hostname', '/x') })).rejects.toMatchObject({ code: 'SOLVE_COPY_NOT_FOUND' });
    expect(await resolveInRoot(ctx, '/up/passwd')).toBe(path.join(ctx, 'etc', 'passwd'));
    await expect(copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('nope*', '/x') })).rejects.toMatchObject({ code: 'SOLVE_COPY_NOT_FOUND' });
    expect(await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('nope*', '/x', { allowEmptyWildcard: true }) })).toBe(0);
  });

  it('a destination symlink pointing out of the rootfs stays inside it', async () => {
    await fs.symlink('/../../..', path.join(dst, 'evil'));
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('a.txt', '/evil/a.txt') });
    expect((await tree(dst))['/a.txt']).toBe('A');
  });

  it('--chown, --chmod (octal and symbolic), default context owner and --exclude', async () => {
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('dir', '/o/'), owner: { uid: 1000, gid: 1001 }, mode: 0o640 });
    const st = await fs.lstat(path.join(dst, 'o', 'one'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1000, 1001, 0o640]);
    const made = await fs.lstat(path.join(dst, 'o'));
    expect([made.uid, made.gid]).toEqual([1000, 1001]);
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('tool.sh', '/t'), defaultOwner: { uid: 0, gid: 0 }, mode: 'go-rx' });
    expect((await fs.lstat(path.join(dst, 't'))).mode & 0o7777).toBe(0o700);
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('dir', '/ex', { excludePatterns: ['sub', '*-link'] }) });
    expect(Object.keys(await tree(path.join(dst, 'ex')))).toEqual(['/one']);
  });

  it('files hidden by the context .dockerignore do not exist for COPY, even through a symlink', async () => {
    const ignore = new PatternMatcher(['dir/sub', '*.txt', '!b.txt']);
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('dir', '/d'), rootExclude: ignore });
    expect(Object.keys(await tree(path.join(dst, 'd')))).toEqual(['/inner-link', '/one']);
    await expect(copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('a.txt', '/a'), rootExclude: ignore })).rejects.toMatchObject({ code: 'SOLVE_COPY_NOT_FOUND' });
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('*', '/all/'), rootExclude: ignore });
    const all = Object.keys(await tree(path.join(dst, 'all')));
    expect(all).toContain('/b.txt');
    expect(all).toContain('/link-to-b');
    expect(all).not.toContain('/a.txt');
  });

  it('keeps hard links within one copy', async () => {
    await fs.link(path.join(ctx, 'a.txt'), path.join(ctx, 'dir', 'hard'));
    await fs.link(path.join(ctx, 'dir', 'one'), path.join(ctx, 'dir', 'sub', 'one-again'));
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('dir', '/h') });
    const a = await fs.stat(path.join(dst, 'h', 'one'));
    const b = await fs.stat(path.join(dst, 'h', 'sub', 'one-again'));
    expect(a.ino).toBe(b.ino);
  });
});

describe('chmod', () => {
  it('applies symbolic modes like chmod(1)', () => {
    expect(applyChmod('u+x', 0o644, false)).toBe(0o744);
    expect(applyChmod('a=rX', 0o600, true)).toBe(0o555);
    expect(applyChmod('a=rX', 0o600, false)).toBe(0o444);
    expect(applyChmod('go-w,u+s', 0o777, false)).toBe(0o4755);
    expect(applyChmod('755', 0, false)).toBe(0o755);
    expect(() => applyChmod('q+z', 0, false)).toThrow(/invalid chmod/);
  });
});

describe('selected files for COPY cache keys', () => {
  const hash = async (abs: string) => `sha256:${createHash('sha256').update(await fs.readFile(abs)).digest('hex')}`;
  it('depend on content, mode and selection, never on mtime or unselected files', async () => {
    const key = async (src: string) => selectedFilesDigest(await selectedFiles(ctx, { src, allowWildcard: true, allowEmptyWildcard: false }, hash));
    const before = await key('dir');
    const txt = await key('*.txt');
    await fs.utimes(path.join(ctx, 'dir', 'one'), new Date(0), new Date(0));
    await fs.writeFile(path.join(ctx, 'unrelated'), 'x');
    expect(await key('dir')).toBe(before);
    await fs.chmod(path.join(ctx, 'dir', 'one'), 0o600);
    const afterMode = await key('dir');
    expect(afterMode).not.toBe(before);
    await fs.writeFile(path.join(ctx, 'dir', 'one'), 'changed');
    expect(await key('dir')).not.toBe(afterMode);
    expect(await key('*.txt')).toBe(txt);
    await fs.writeFile(path.join(ctx, 'c.txt'), 'C');
    expect(await key('*.txt')).not.toBe(txt);
    const files = await selectedFiles(ctx, { src: 'dir', allowWildcard: false, allowEmptyWildcard: false, excludePatterns: ['sub'] }, hash);
    expect(files.map((f) => f.path)).toEqual(['/dir', '/dir/inner-link', '/dir/one']);
  });
});

describe('ADD archives', () => {
  it('unpacks tar, tar.gz, tar.bz2 and tar.xz (by content, not name) into the destination; other files are copied', async () => {
    const { unpackIfArchive } = await import('./unpack-archive.js');
    const { execFileSync } = await import('node:child_process');
    const src = path.join(tmp, 'payload');
    await write(src, { 'inside/file.txt': 'packed' });
    const tarFile = path.join(ctx, 'plain.bin');
    execFileSync('tar', ['-cf', tarFile, '-C', src, 'inside']);
    execFileSync('sh', ['-c', `gzip -c ${tarFile} > ${ctx}/a.tgz; bzip2 -c ${tarFile} > ${ctx}/a.tbz; xz -c ${tarFile} > ${ctx}/a.txz; gzip -c ${ctx}/a.txt > ${ctx}/notatar.gz`]);
    for (const name of ['plain.bin', 'a.tgz', 'a.tbz', 'a.txz']) {
      await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec(name, `/x-${name}`), unpack: unpackIfArchive });
      expect(await fs.readFile(path.join(dst, `x-${name}`, 'inside/file.txt'), 'utf8')).toBe('packed');
    }
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('a.txt', '/plain-file'), unpack: unpackIfArchive });
    expect(await fs.readFile(path.join(dst, 'plain-file'), 'utf8')).toBe('A');
    await copySpec({ srcRoot: ctx, destRoot: dst, spec: spec('notatar.gz', '/gz/'), unpack: unpackIfArchive });
    expect((await fs.stat(path.join(dst, 'gz', 'notatar.gz'))).isFile()).toBe(true);
  });
});
