import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KilnError, isNotFound } from '../diagnostics/errors.js';
import { cacheFileFor } from './cache.js';
import { ContextSource, hashContextPaths } from './source.js';
import type { ContextSelection } from './types.js';

const sha = (s: string | Buffer) => 'sha256:' + createHash('sha256').update(s).digest('hex');
const sel = (src: string[], extra: Partial<ContextSelection> = {}): ContextSelection => ({
  src,
  followLinks: true,
  ...extra,
});

let tmp: string;
let ctx: string;
let root: string;

/** Write a file; unless `fresh`, date it in the past so the digest cache may keep it. */
async function put(rel: string, content: string, fresh = false) {
  const p = path.join(ctx, rel);
  await mkdir(path.dirname(p), { recursive: true });
  await writeFile(p, content);
  if (!fresh) {
    const past = new Date(Date.now() - 60_000);
    await utimes(p, past, past);
  }
}

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'kiln-ctx-'));
  ctx = path.join(tmp, 'ctx');
  root = path.join(tmp, 'root');
  await mkdir(ctx);
  await put('src/app/main.ts', 'console.log(1)\n');
  await put('src/app/util.ts', 'export {}\n');
  await put('src/lib/x.txt', 'x\n');
  await put('README.md', '# hi\n');
  await put('notes.txt', 'n\n');
  await put('node_modules/big/index.js', 'module.exports = 1\n');
  await put('build/out.bin', 'bin');
  await put('build/keep.txt', 'keep');
});
afterEach(() => rm(tmp, { recursive: true, force: true }));

describe('hashContextPaths', () => {
  it('lists the selected files with content digests and a stable overall digest', async () => {
    const r = await hashContextPaths(ctx, [sel(['src/app'])], { ignore: [] });
    expect(r.files.map((f) => [f.path, f.type])).toEqual([
      ['src/app', 'dir'],
      ['src/app/main.ts', 'file'],
      ['src/app/util.ts', 'file'],
    ]);
    const main = r.files.find((f) => f.path === 'src/app/main.ts')!;
    expect(main.digest).toBe(sha('console.log(1)\n'));
    expect(main.size).toBe(15);
    const again = await hashContextPaths(ctx, [sel(['/src/./app/'])], { ignore: [] });
    expect(again.digest).toBe(r.digest);
    await put('src/app/util.ts', 'export const a = 1\n');
    expect((await hashContextPaths(ctx, [sel(['src/app'])], { ignore: [] })).digest).not.toBe(r.digest);
  });

  it('walks only the selected paths', async () => {
    const r = await hashContextPaths(ctx, [sel(['src/app/main.ts', 'README.md'])], { ignore: [] });
    expect(r.files.map((f) => f.path)).toEqual(['README.md', 'src/app/main.ts']);
    expect(r.stats.readdir).toBe(0);
  });

  it('expands wildcards like BuildKit (per segment, * does not cross /)', async () => {
    const r = await hashContextPaths(ctx, [sel(['*.txt', 'src/*/x.txt'])], { ignore: [] });
    expect(r.files.map((f) => f.path)).toEqual(['notes.txt', 'src/lib/x.txt']);
    await expect(hashContextPaths(ctx, [sel(['*.nomatch'])], { ignore: [] })).rejects.toSatisfy(isNotFound);
    // Only directories that can still match are read: the root and src (not build/, node_modules/ ...),
    // then src/app and src/lib for the last segment.
    const pruned = await hashContextPaths(ctx, [sel(['src/*/x.txt'])], { ignore: [] });
    expect(pruned.stats.readdir).toBe(3);
  });

  it('applies .dockerignore, skipping ignored directories without reading them', async () => {
    await put('.dockerignore', 'node_modules\nbuild\n!build/keep.txt\n*.md\n');
    const src = await ContextSource.open(ctx);
    const r = await src.hash([sel(['.'])]);
    const paths = r.files.map((f) => f.path);
    expect(paths).toContain('build/keep.txt');
    expect(paths).toContain('build'); // parent of a re-included file
    expect(paths).not.toContain('build/out.bin');
    expect(paths).not.toContain('README.md');
    expect(paths.some((p) => p.startsWith('node_modules'))).toBe(false);
    expect(src.stats.dirsSkipped).toBe(1); // node_modules was never opened
    await expect(src.hash([sel(['README.md'])])).rejects.toThrow(/excluded by .dockerignore|not found/);
  });

  it('honours COPY --exclude relative to the source', async () => {
    const r = await hashContextPaths(ctx, [sel(['src'], { excludes: ['**/*.txt', 'app/util.ts'] })], { ignore: [] });
    expect(r.files.filter((f) => f.type === 'file').map((f) => f.path)).toEqual(['src/app/main.ts']);
  });

  it('caches digests by metadata so a no-op rebuild reads no file', async () => {
    const first = await hashContextPaths(ctx, [sel(['.'])], { ignore: [], root, memo: false });
    expect(first.stats.filesRead).toBeGreaterThan(0);
    const cacheFile = cacheFileFor(root, ctx);
    expect(existsSync(cacheFile)).toBe(true);
    expect(JSON.parse(await readFile(cacheFile, 'utf8')).v).toBe(2);

    const second = await hashContextPaths(ctx, [sel(['.'])], { ignore: [], root, memo: false });
    expect(second.stats.filesRead).toBe(0);
    expect(second.stats.cacheHits).toBe(first.stats.filesRead);
    expect(second.digest).toBe(first.digest);

    // Same size, new content, new mtime: only that file is read again.
    const past = new Date(Date.now() - 10_000);
    await put('notes.txt', 'N\n', true);
    await utimes(path.join(ctx, 'notes.txt'), past, past);
    const third = await hashContextPaths(ctx, [sel(['.'])], { ignore: [], root, memo: false });
    expect(third.stats.filesRead).toBe(1);
    expect(third.digest).not.toBe(first.digest);
  });

  it('reads a cache in the earlier (v1) format, and writes it in the current one', async () => {
    const first = await hashContextPaths(ctx, [sel(['.'])], { ignore: [], root, memo: false });
    const cacheFile = cacheFileFor(root, ctx);
    const v2 = JSON.parse(await readFile(cacheFile, 'utf8')) as { ctx: string; e: string[] };
    const entries: Record<string, [string, string]> = {};
    for (let i = 0; i < v2.e.length; i += 3) entries[v2.e[i]!] = [v2.e[i + 1]!, v2.e[i + 2]!];
    await writeFile(cacheFile, JSON.stringify({ v: 1, ctx: v2.ctx, entries }));
    const again = await hashContextPaths(ctx, [sel(['.'])], { ignore: [], root, memo: false });
    expect(again.stats.filesRead).toBe(0);
    expect(again.digest).toBe(first.digest);
    expect(JSON.parse(await readFile(cacheFile, 'utf8')).v).toBe(2);
  });

  it('re-reads a file rewritten with the same size', async () => {
    await hashContextPaths(ctx, [sel(['notes.txt'])], { ignore: [], root, memo: false });
    await put('notes.txt', 'M\n', true); // same size, fresh timestamp
    const r = await hashContextPaths(ctx, [sel(['notes.txt'])], { ignore: [], root, memo: false });
    expect(r.files[0]!.digest).toBe(sha('M\n'));
  });

  const rootReason = process.getuid?.() === 0 ? 'running as root: permission bits are not enforced' : '';
  if (rootReason) console.warn('skipping unreadable-file test: ' + rootReason);
  it.skipIf(!!rootReason)('reports an unreadable file as a KilnError naming it', async () => {
    await chmod(path.join(ctx, 'notes.txt'), 0o000);
    await expect(hashContextPaths(ctx, [sel(['notes.txt'])], { ignore: [] })).rejects.toSatisfy(
      (e: unknown) => e instanceof KilnError && e.code === 'CONTEXT_IO' && /notes\.txt/.test(e.message),
    );
  });

  it('survives a corrupt cache file', async () => {
    await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root, memo: false });
    await writeFile(cacheFileFor(root, ctx), '{not json');
    const r = await hashContextPaths(ctx, [sel(['src'])], { ignore: [], root, memo: false });
    expect(r.files.length).toBeGreaterThan(0);
  });
});

describe('symlinks stay inside the context (SECURITY-NOTES B.11)', () => {
  const SENTINEL = 'KILN-SENTINEL-7f3a';
  let outside: string;

  beforeEach(async () => {
    outside = path.join(tmp, 'outside');
    await mkdir(outside);
    await writeFile(path.join(outside, 'secret'), SENTINEL);
    await symlink(path.join(outside, 'secret'), path.join(ctx, 'leak'));
    await symlink('../../', path.join(ctx, 'd'));
    await symlink('../outside/secret', path.join(ctx, 'Dockerfile'));
    await symlink('/etc/hostname', path.join(ctx, 'link-to-etc-hostname'));
    await symlink('loop2', path.join(ctx, 'loop1'));
    await symlink('loop1', path.join(ctx, 'loop2'));
  });

  const noSentinel = (files: { digest: string }[]) =>
    expect(files.some((f) => f.digest === sha(SENTINEL))).toBe(false);

  it('an absolute link resolves under the context root: not found', async () => {
    await expect(hashContextPaths(ctx, [sel(['leak'])], { ignore: [] })).rejects.toSatisfy(isNotFound);
    await expect(hashContextPaths(ctx, [sel(['link-to-etc-hostname'])], { ignore: [] })).rejects.toSatisfy(
      isNotFound,
    );
  });

  it('a relative link climbing out is clamped at the root', async () => {
    await expect(hashContextPaths(ctx, [sel(['Dockerfile'])], { ignore: [] })).rejects.toSatisfy(isNotFound);
    // d -> ../../ is the context root itself: copying d/ copies the context, nothing else.
    const r = await hashContextPaths(ctx, [sel(['d/'])], { ignore: [] });
    expect(r.files.some((f) => f.path === 'src/app/main.ts')).toBe(true);
    noSentinel(r.files);
    await expect(hashContextPaths(ctx, [sel(['d/outside/secret'])], { ignore: [] })).rejects.toSatisfy(isNotFound);
  });

  it('links inside a copied directory are reported as links, never followed', async () => {
    const r = await hashContextPaths(ctx, [sel(['.'])], { ignore: [] });
    const leak = r.files.find((f) => f.path === 'leak')!;
    expect(leak.type).toBe('symlink');
    expect(leak.linkTarget).toBe(path.join(outside, 'secret'));
    expect(leak.digest).toBe(sha(path.join(outside, 'secret')));
    noSentinel(r.files);
  });

  it('copies the link itself when links are not followed', async () => {
    const r = await hashContextPaths(ctx, [sel(['leak'], { followLinks: false })], { ignore: [] });
    expect(r.files).toHaveLength(1);
    expect(r.files[0]!.type).toBe('symlink');
    noSentinel(r.files);
  });

  it('reports symlink loops with a clear error', async () => {
    await expect(hashContextPaths(ctx, [sel(['loop1'])], { ignore: [] })).rejects.toSatisfy(
      (e: unknown) => e instanceof KilnError && e.code === 'CONTEXT_SYMLINK_LOOP',
    );
  });
});
