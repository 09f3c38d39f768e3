/**
 * The content-store conformance suite (containerd's content/testsuite): every ContentStore
 * implementation runs it with its own factory, e.g.
 *   contentStoreSuite('local', async (dir) => LocalContentStore.open(dir));
 * Only imported by tests.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasCode, isNotFound } from '../diagnostics/errors.js';
import { sha256Digest } from '../image/digest.js';
import type { Digest } from '../image/types.js';
import type { ContentStore } from './types.js';

export type ContentStoreFactory = (root: string) => Promise<ContentStore>;

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

export function contentStoreSuite(name: string, factory: ContentStoreFactory): void {
  describe(`content store conformance: ${name}`, () => {
    let dir: string;
    let store: ContentStore;
    beforeEach(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-content-'));
      store = await factory(dir);
    });
    afterEach(async () => {
      await fs.rm(dir, { recursive: true, force: true });
    });

    it('writes a blob and reads it back by digest', async () => {
      const data = Buffer.from('hello kiln');
      const info = await store.put(data);
      expect(info).toEqual({ digest: sha256Digest(data), size: data.length });
      expect(await store.has(info.digest)).toBe(true);
      expect(await store.stat(info.digest)).toEqual(info);
      expect((await store.readBuffer(info.digest)).equals(data)).toBe(true);
      expect((await collect(store.get(info.digest))).equals(data)).toBe(true);
    });

    it('streams large content in chunks and verifies the expected descriptor', async () => {
      const data = Buffer.alloc(3 * 1024 * 1024 + 17);
      for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
      const digest = sha256Digest(data);
      const info = await store.put(chunked(data, 65536 + 3), { digest, size: data.length });
      expect(info).toEqual({ digest, size: data.length });
      expect((await collect(store.get(digest))).equals(data)).toBe(true);
    });

    it('treats an existing blob as success', async () => {
      const a = await store.put('same');
      const b = await store.put(Readable.from([Buffer.from('same')]), { digest: a.digest, size: 4 });
      const c = await store.put('same');
      expect(b).toEqual(a);
      expect(c).toEqual(a);
      const all: Digest[] = [];
      for await (const i of store.walk()) all.push(i.digest);
      expect(all).toEqual([a.digest]);
    });

    it('rejects a digest mismatch and stores nothing', async () => {
      const wrong = sha256Digest('other');
      const err = await rejection(store.put('data', { digest: wrong }));
      expect(hasCode(err, 'CONTENT_DIGEST_MISMATCH')).toBe(true);
      expect(await store.has(wrong)).toBe(false);
      expect(await store.has(sha256Digest('data'))).toBe(false);
    });

    it('rejects short and long content against the expected size', async () => {
      const data = Buffer.from('0123456789');
      const digest = sha256Digest(data);
      const short = await rejection(store.put(data.subarray(0, 5), { digest, size: 10 }));
      expect(hasCode(short, 'CONTENT_SIZE_MISMATCH')).toBe(true);
      const long = await rejection(store.put(Buffer.concat([data, data]), { digest, size: 10 }));
      expect(hasCode(long, 'CONTENT_SIZE_MISMATCH')).toBe(true);
      expect(await store.has(digest)).toBe(false);
    });

    it('stops reading an endless stream once it exceeds the expected size', async () => {
      let produced = 0;
      const endless = new Readable({
        read() {
          produced += 65536;
          this.push(Buffer.alloc(65536));
        },
      });
      const err = await rejection(store.put(endless, { digest: sha256Digest('x'), size: 100_000 }));
      expect(hasCode(err, 'CONTENT_SIZE_MISMATCH')).toBe(true);
      expect(produced).toBeLessThan(10 * 65536);
      endless.destroy();
    });

    it('fails with NotFound for missing blobs', async () => {
      const d = sha256Digest('missing');
      expect(await store.has(d)).toBe(false);
      expect(isNotFound(await rejection(store.stat(d)))).toBe(true);
      expect(isNotFound(await rejection(store.readBuffer(d)))).toBe(true);
      expect(isNotFound(await rejection(collect(store.get(d))))).toBe(true);
      expect(isNotFound(await rejection(store.delete(d)))).toBe(true);
    });

    it('deletes blobs', async () => {
      const a = await store.put('to delete');
      await store.delete(a.digest);
      expect(await store.has(a.digest)).toBe(false);
    });

    it('rejects malformed digests before touching the filesystem', async () => {
      for (const bad of [
        'sha256:../../etc/passwd',
        `sha256:${'a'.repeat(63)}`,
        `sha256:${'A'.repeat(64)}`,
        `sha512:${'a'.repeat(128)}`,
        `md5:${'a'.repeat(32)}`,
        'a'.repeat(64),
      ]) {
        const d = bad as Digest;
        expect(hasCode(await rejection(store.has(d)), 'IMAGE_INVALID_DIGEST')).toBe(true);
        expect(hasCode(await rejection(store.put('x', { digest: d })), 'IMAGE_INVALID_DIGEST')).toBe(true);
        expect(() => store.get(d)).toThrow(/invalid digest/);
      }
    });

    it('walks every blob with its size', async () => {
      const a = await store.put('a');
      const b = await store.put('bb');
      const seen = new Map<string, number>();
      for await (const i of store.walk()) seen.set(i.digest, i.size);
      expect(seen).toEqual(new Map([[a.digest, 1], [b.digest, 2]]));
    });

    it('handles many concurrent writers of the same and different blobs', async () => {
      const datas = Array.from({ length: 8 }, (_, i) => Buffer.alloc(200_000, i % 3));
      const results = await Promise.all(datas.map((d) => store.put(chunked(d, 4096))));
      const unique = new Set(results.map((r) => r.digest));
      expect(unique.size).toBe(3);
      for (const r of results) expect(await store.has(r.digest)).toBe(true);
    });
  });
}
