import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../content/local.js';
import type { Descriptor, Digest } from '../image/types.js';
import { recordsOf } from './cache-manifest.js';
import { exportCacheLocal } from './export-local.js';
import { parseCacheFrom, parseCacheTo, selectRecordsForExport } from './export-select.js';
import { HistoryStore } from './history-store.js';
import { LocalCacheImport } from './import-local.js';
import { FileCacheStore } from './record-store.js';
import { cacheGcRoots, cacheRootProvider } from './gc-roots.js';
import type { CacheRecord, LayerRef } from './types.js';

const distStore = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cache/record-store.js');
const noDist = existsSync(distStore) ? '' : 'dist/ not built (run npm run build)';
if (noDist) console.warn(`skipping the multi-process cache test: ${noDist}`);

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-cache-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const key = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

function record(k: string, layers: LayerRef[], name = 'step', snapshot: string | null = `snap-${k.slice(-4)}`): CacheRecord {
  return { key: k, result: { snapshot, layers }, created: new Date(0).toISOString(), vertex: { name }, inputs: [], components: { 'op:x': name } };
}

async function layer(content: LocalContentStore, text: string): Promise<LayerRef> {
  const info = await content.put(Buffer.from(text));
  const descriptor: Descriptor = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: info.digest, size: info.size };
  return { descriptor, diffID: info.digest };
}

describe('FileCacheStore', () => {
  it('stores, lists and deletes records under meta/cache/records', async () => {
    const s = new FileCacheStore(dir);
    expect(await s.get(key(1))).toBeUndefined();
    await s.put(record(key(1), []));
    await s.put(record(key(2), []));
    expect((await s.get(key(1)))?.vertex.name).toBe('step');
    const files = await fs.readdir(path.join(dir, 'meta', 'cache', 'records'));
    expect(files.sort()).toEqual([`${key(1).slice(7)}.json`, `${key(2).slice(7)}.json`]);
    const listed: string[] = [];
    for await (const r of s.list()) listed.push(r.key);
    expect(listed).toEqual([key(1), key(2)]);
    await s.delete(key(1));
    expect(await s.get(key(1))).toBeUndefined();
  });

  it('treats a torn or foreign record file as a miss, and rejects malformed keys', async () => {
    const s = new FileCacheStore(dir);
    await fs.mkdir(s.dir, { recursive: true });
    await fs.writeFile(path.join(s.dir, `${key(3).slice(7)}.json`), '{"key": "sha256:');
    expect(await s.get(key(3))).toBeUndefined();
    await expect(s.get('sha256:../../etc/passwd')).rejects.toMatchObject({ code: 'CACHE_INVALID_KEY' });
  });

  it.skipIf(!!noDist)('survives concurrent writers from several processes (atomic renames)', async () => {
    const s = new FileCacheStore(dir);
    const script = `
      import { FileCacheStore } from ${JSON.stringify(distStore)};
      const s = new FileCacheStore(process.argv[2]);
      const big = 'x'.repeat(200000);
      for (let i = 0; i < 30; i++) await s.put({ key: 'sha256:' + '7'.repeat(64), result: { snapshot: 'w' + process.argv[3], layers: [] }, created: big, vertex: { name: 'w' }, inputs: [] });
    `;
    const file = path.join(dir, 'writer.mjs');
    await fs.writeFile(file, script);
    const run = (n: number) =>
      new Promise<number>((resolve) => {
        const p = spawn(process.execPath, [file, dir, String(n)], { stdio: 'inherit' });
        p.on('exit', (code) => resolve(code ?? 1));
      });
    const readers = (async () => {
      let seen = 0;
      for (let i = 0; i < 200; i++) {
        const r = await s.get(`sha256:${'7'.repeat(64)}`);
        if (r) {
          expect(r.created.length).toBe(200000);
          seen++;
        }
        await new Promise((res) => setTimeout(res, 1));
      }
      return seen;
    })();
    expect(await Promise.all([run(1), run(2)])).toEqual([0, 0]);
    await readers;
    const r = await s.get(`sha256:${'7'.repeat(64)}`);
    expect(['w1', 'w2']).toContain(r?.result.snapshot);
    expect((await fs.readdir(s.dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('GC roots', () => {
  it('lists every snapshot and blob that records reference', async () => {
    const content = await LocalContentStore.open(dir, { sync: false });
    const l1 = await layer(content, 'one');
    const s = new FileCacheStore(dir);
    await s.put(record(key(1), [l1], 'a', 'snap-a'));
    const roots = await cacheGcRoots(s);
    expect([...roots.snapshots]).toEqual(['snap-a']);
    expect([...roots.blobs]).toEqual([l1.descriptor.digest]);
    expect((await cacheRootProvider.roots(dir)).map((n) => n.digest)).toEqual([l1.descriptor.digest]);
  });
});

describe('HistoryStore', () => {
  it('merges the steps of each build into the last state of its scope', async () => {
    const h = new HistoryStore(dir);
    expect(await h.load('Dockerfile#t')).toBeUndefined();
    await h.update('Dockerfile#t', { a: { key: key(1), name: 'a', components: {}, inputs: [] } });
    await h.update('Dockerfile#t', { b: { key: key(2), name: 'b', components: {}, inputs: [] } });
    const loaded = await h.load('Dockerfile#t');
    expect(Object.keys(loaded?.steps ?? {}).sort()).toEqual(['a', 'b']);
    expect(await h.load('Dockerfile#other')).toBeUndefined();
  });
});

describe('local cache export/import', () => {
  it('round-trips records and blobs, writes only new blobs the second time, and selects min/max', async () => {
    const content = await LocalContentStore.open(path.join(dir, 'root'), { sync: false });
    const base = await layer(content, 'base layer');
    const mid = await layer(content, 'builder layer');
    const top = await layer(content, 'final layer');
    const records = [
      record(key(1), [base], 'FROM'),
      record(key(2), [base, mid], 'RUN in builder'),
      record(key(3), [base, top], 'COPY --from=builder'),
    ];
    const finalResult = records[2]!.result;
    expect(selectRecordsForExport(records, finalResult, 'min').map((r) => r.vertex.name)).toEqual(['FROM', 'COPY --from=builder']);
    expect(selectRecordsForExport(records, finalResult, 'max')).toHaveLength(3);

    const dest = path.join(dir, 'cache');
    const first = await exportCacheLocal({ dest, records, content });
    expect(first.records).toBe(3);
    expect(first.blobsWritten).toBe(5); // 3 layers + config + manifest
    const again = await exportCacheLocal({ dest, records, content });
    expect(again.blobsWritten).toBe(0);
    expect(again.bytesWritten).toBe(0);
    const more = await layer(content, 'one more');
    const third = await exportCacheLocal({ dest, records: [...records, record(key(4), [base, top, more], 'RUN more')], content });
    expect(third.blobsWritten).toBe(3); // the new layer, a new config, a new manifest
    expect(JSON.parse(await fs.readFile(path.join(dest, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });

    const imp = await LocalCacheImport.open(dest);
    expect(imp.size).toBe(4);
    const got = await imp.get(key(2));
    expect(got?.result.snapshot).toBeNull();
    expect(got?.result.layers.map((l) => l.descriptor.digest)).toEqual([base.descriptor.digest, mid.descriptor.digest]);
    // blobs from the import go through the content store with their expected digest
    const fresh = await LocalContentStore.open(path.join(dir, 'fresh'), { sync: false });
    const ingested = await fresh.put(imp.blob(mid.descriptor.digest), { digest: mid.descriptor.digest, size: mid.descriptor.size });
    expect(ingested.digest).toBe(mid.descriptor.digest);
  });

  it('skips records whose blobs are missing and refuses damaged or foreign layouts', async () => {
    const content = await LocalContentStore.open(path.join(dir, 'root'), { sync: false });
    const a = await layer(content, 'a');
    const b = await layer(content, 'b');
    const dest = path.join(dir, 'cache');
    await exportCacheLocal({ dest, records: [record(key(1), [a]), record(key(2), [a, b])], content });
    await fs.rm(path.join(dest, 'blobs', 'sha256', b.descriptor.digest.slice(7)));
    const imp = await LocalCacheImport.open(dest);
    expect(await imp.get(key(1))).toBeDefined();
    expect(await imp.get(key(2))).toBeUndefined();
    expect(() => imp.blob('sha256:../../../etc/passwd' as Digest)).toThrow(/invalid digest/);

    await expect(LocalCacheImport.open(path.join(dir, 'nope'))).rejects.toMatchObject({ code: 'CACHE_IMPORT_NOT_FOUND' });
    await fs.writeFile(path.join(dest, 'index.json'), '{"manifests":[{"digest":"sha256:../../x"}]}');
    await expect(LocalCacheImport.open(dest)).rejects.toMatchObject({ code: 'CACHE_IMPORT_INVALID' });
    await fs.writeFile(path.join(dest, 'index.json'), 'not json');
    await expect(LocalCacheImport.open(dest)).rejects.toMatchObject({ code: 'CACHE_IMPORT_INVALID' });
  });

  it('never takes a pending layer from an imported cache (it would name a snapshot of this root)', () => {
    const blob: LayerRef = { descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: key(5) as Digest, size: 3 }, diffID: key(5) as Digest };
    const sneaky = { ...blob, pending: 'build-0000' } as LayerRef;
    const config = { schemaVersion: 1, records: [record(key(1), [blob]), record(key(2), [blob, sneaky]), { ...record(key(3), []), result: { snapshot: null, layers: [{ pending: 'build-0000' }] } }] };
    expect(recordsOf(config).map((r) => r.key)).toEqual([key(1)]);
  });

  it('parses --cache-to and --cache-from like buildx', () => {
    expect(parseCacheTo('type=local,dest=/tmp/c')).toEqual({ type: 'local', dest: '/tmp/c', mode: 'min' });
    expect(parseCacheTo('type=local,dest=/tmp/c,mode=max')).toMatchObject({ mode: 'max' });
    expect(() => parseCacheTo('type=local,dest=/tmp/c,mode=all')).toThrow(/mode must be min or max/);
    expect(parseCacheTo('type=registry,ref=127.0.0.1:5000/cache:ci,mode=max')).toEqual({ type: 'registry', ref: '127.0.0.1:5000/cache:ci', mode: 'max' });
    expect(parseCacheFrom('127.0.0.1:5000/cache:ci')).toEqual({ type: 'registry', ref: '127.0.0.1:5000/cache:ci' });
    expect(() => parseCacheFrom('type=local,src')).toThrow(/--cache-from type=local,src: "src" is not KEY=VALUE/);
    expect(() => parseCacheTo('type=local,=/tmp/c')).toThrow(/"=\/tmp\/c" is not KEY=VALUE/);
    expect(() => parseCacheTo('type=gha')).toThrow(/only type=local, type=registry and type=inline/);
    expect(parseCacheTo('type=inline')).toEqual({ type: 'inline', mode: 'min' });
    expect(() => parseCacheTo('type=inline,mode=max')).toThrow(/only mode=min/);
    expect(() => parseCacheTo('type=local')).toThrow(/dest=DIR is required/);
    expect(parseCacheFrom('type=local,src=/tmp/c')).toEqual({ type: 'local', src: '/tmp/c' });
    expect(() => parseCacheFrom('type=local,src=/x,bogus=1')).toThrow(/unknown attribute "bogus"/);
  });
});
