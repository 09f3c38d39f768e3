import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasCode } from '../diagnostics/errors.js';
import { sha256Digest } from '../image/digest.js';
import { collectGarbage } from '../store/gc.js';
import { contentStoreSuite } from './testsuite.js';
import { LocalContentStore } from './local.js';

contentStoreSuite('local', (root) => LocalContentStore.open(root));

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('LocalContentStore on disk', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-local-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('lays blobs out as content/blobs/sha256/<hex>, read-only', async () => {
    const store = await LocalContentStore.open(dir);
    const info = await store.put('layout');
    const file = path.join(dir, 'content', 'blobs', 'sha256', info.digest.slice(7));
    expect(store.path(info.digest)).toBe(file);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o444);
    expect(await fs.readdir(path.join(dir, 'content', 'ingest'))).toEqual([]);
  });

  it('stores data in memory that it already has without writing an ingest file', async () => {
    const store = await LocalContentStore.open(dir);
    const first = await store.put('{"config":1}');
    // an ingest directory that cannot be written to: any attempt to write would fail
    const ingest = path.join(dir, 'content', 'ingest');
    await fs.rm(ingest, { recursive: true });
    await fs.writeFile(ingest, 'not a directory');
    expect(await store.put(Buffer.from('{"config":1}'))).toEqual(first);
    await expect(store.put('{"config":2}')).rejects.toThrow();
  });

  it('detects a blob changed on disk and never serves it', async () => {
    const store = await LocalContentStore.open(dir);
    const data = Buffer.alloc(3 << 20, 7);
    const info = await store.put(data);
    const file = store.path(info.digest);
    await fs.chmod(file, 0o644);
    const fh = await fs.open(file, 'r+');
    await fh.write(Buffer.from('X'), 0, 1, 2 << 20);
    await fh.close();
    const e1 = await store.readBuffer(info.digest).catch((e: unknown) => e);
    expect(hasCode(e1, 'CONTENT_CORRUPT')).toBe(true);
    // the stream errors, and the last chunk (held back until verified) is never delivered
    let received = 0;
    const e2 = await (async () => {
      try {
        for await (const c of store.get(info.digest)) received += (c as Buffer).length;
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(hasCode(e2, 'CONTENT_CORRUPT')).toBe(true);
    expect(received).toBeLessThan(data.length);
    expect((await store.verify(info.digest)).ok).toBe(false);
    // truncation is detected too
    await fs.truncate(file, 10);
    expect(hasCode(await store.readBuffer(info.digest).catch((e: unknown) => e), 'CONTENT_CORRUPT')).toBe(true);
  });

  it('a big blob in uneven chunks lands byte for byte (writes overlap the stream, datasyncs on the way)', async () => {
    const store = await LocalContentStore.open(dir);
    const hash = (await import('node:crypto')).createHash('sha256');
    let total = 0;
    async function* chunks() {
      for (let i = 0; total < 140 << 20; i++) {
        const c = Buffer.alloc((1 << 20) + ((i * 7919) % 65536), i % 251); // every chunk different
        hash.update(c);
        total += c.length;
        yield c;
      }
    }
    const info = await store.put(Readable.from(chunks()));
    const expected = `sha256:${hash.digest('hex')}`;
    expect(info).toEqual({ digest: expected, size: total });
    const back = sha256Digest(await collect(store.get(info.digest)));
    expect(back).toBe(expected);
  });

  it('a corrupt blob is replaced by nothing: put of the right bytes after delete restores it', async () => {
    const store = await LocalContentStore.open(dir);
    const info = await store.put('restore me');
    await fs.chmod(store.path(info.digest), 0o644);
    await fs.writeFile(store.path(info.digest), 'garbage');
    await store.delete(info.digest);
    await store.put('restore me', { digest: info.digest });
    expect((await collect(store.get(info.digest))).toString()).toBe('restore me');
  });

  it('removes ingest leftovers of dead writers at open, keeps live ones', async () => {
    await LocalContentStore.open(dir);
    const ingest = path.join(dir, 'content', 'ingest');
    const dead = `999999999-1-${'a'.repeat(16)}.ingest`;
    const live = `${process.pid}-1-${'b'.repeat(16)}.ingest`;
    await fs.writeFile(path.join(ingest, dead), 'half');
    await fs.writeFile(path.join(ingest, live), 'in progress');
    await fs.writeFile(path.join(ingest, 'junk'), 'x');
    await LocalContentStore.open(dir);
    expect((await fs.readdir(ingest)).sort()).toEqual([live]);
  });
});

const here = path.dirname(fileURLToPath(import.meta.url));
const distLocal = path.resolve(here, '../../dist/content/local.js');
const noDist = existsSync(distLocal) ? '' : 'dist/ not built (run npm run build)';
if (noDist) console.warn(`skipping multi-process content store tests: ${noDist}`);

function runChild(script: string, args: string[]): { done: Promise<{ code: number | null; out: string }>; pid: number; kill(): void } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += String(d)));
  child.stderr.on('data', (d) => (out += String(d)));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.on('close', (code) => resolve({ code, out })));
  return { done, pid: child.pid!, kill: () => child.kill('SIGKILL') };
}

const PUT_SCRIPT = `
import { LocalContentStore } from ${JSON.stringify(distLocal)};
import { Readable } from 'node:stream';
const [root, mode, digest] = process.argv.slice(1);
const data = Buffer.alloc(4 << 20);
for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
if (mode === 'bad') data[100] ^= 1;
const store = await LocalContentStore.open(root);
async function* slow() { for (let i = 0; i < data.length; i += 65536) { yield data.subarray(i, i + 65536); if (mode === 'slow') await new Promise(r => setTimeout(r, 20)); } }
try {
  const info = await store.put(Readable.from(slow()), { digest, size: data.length });
  console.log('ok', info.digest);
} catch (e) { console.log('err', e.code); process.exit(3); }
`;

describe.skipIf(!!noDist)('LocalContentStore with several processes', () => {
  let dir: string;
  const data = Buffer.alloc(4 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
  const digest = sha256Digest(data);
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-procs-'));
    await LocalContentStore.open(dir);
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('several processes putting the same blob all succeed; a liar commits nothing', async () => {
    const alone = await runChild(PUT_SCRIPT, [dir, 'bad', digest]).done;
    expect(alone.out).toContain('err CONTENT_DIGEST_MISMATCH');
    // racing with honest writers, the liar either fails or finds the verified blob already there
    const kids = [0, 1, 2, 3].map(() => runChild(PUT_SCRIPT, [dir, 'good', digest]));
    const liar = runChild(PUT_SCRIPT, [dir, 'bad', digest]);
    const results = await Promise.all(kids.map((k) => k.done));
    for (const r of results) expect(r.out).toContain(`ok ${digest}`);
    expect((await liar.done).out).toMatch(/err CONTENT_DIGEST_MISMATCH|ok sha256/);
    const store = await LocalContentStore.open(dir);
    expect((await store.verify(digest)).ok).toBe(true);
    expect(await fs.readdir(path.join(dir, 'content', 'ingest'))).toEqual([]);
  }, 60_000);

  it('GC keeps blobs a live process wrote but has not referenced yet, and frees them once it is gone', async () => {
    const script = `
      import { LocalContentStore } from ${JSON.stringify(distLocal)};
      const s = await LocalContentStore.open(process.argv[1]);
      const info = await s.put('written by a build that is still running');
      console.log(info.digest);
      setInterval(() => {}, 1000);
    `;
    const kid = runChild(script, [dir]);
    const pins = path.join(dir, 'content', 'pins');
    for (let i = 0; i < 200 && (await fs.readdir(pins).catch(() => [])).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    const d = sha256Digest('written by a build that is still running');
    const store = await LocalContentStore.open(dir);
    for (let i = 0; i < 200 && !(await store.has(d)); i++) await new Promise((r) => setTimeout(r, 25));
    const gc1 = await collectGarbage({ root: dir, content: store, providers: [] });
    expect(gc1.removed).toEqual([]);
    expect(await store.has(d)).toBe(true);
    kid.kill();
    await kid.done;
    const gc2 = await collectGarbage({ root: dir, content: store, providers: [] });
    expect(gc2.removed.map((b) => b.digest)).toEqual([d]);
    expect(await fs.readdir(pins)).toEqual([]);
  }, 60_000);

  it('kill -9 during ingest leaves a store that opens, cleans up and accepts the blob', async () => {
    const kid = runChild(PUT_SCRIPT, [dir, 'slow', digest]);
    const ingest = path.join(dir, 'content', 'ingest');
    for (let i = 0; i < 200 && (await fs.readdir(ingest)).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 200));
    expect((await fs.readdir(ingest)).length).toBe(1);
    kid.kill();
    await kid.done;
    const store = await LocalContentStore.open(dir);
    expect(await fs.readdir(ingest)).toEqual([]);
    expect(await store.has(digest)).toBe(false);
    await store.put(data, { digest });
    expect((await store.verify(digest)).ok).toBe(true);
  }, 60_000);
});
