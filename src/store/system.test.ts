import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../cli/main.js';
import { Capture, makeTar } from '../image/testing.js';
import { FileCacheStore } from '../cache/record-store.js';
import { MediaType } from '../image/types.js';
import { openStores } from './index.js';

async function kiln(root: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(['--root', root, ...args], { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

async function blobCount(root: string): Promise<number> {
  return (await fs.readdir(path.join(root, 'content', 'blobs', 'sha256'))).length;
}

describe('kiln system df / prune / check', () => {
  let dir: string;
  let root: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-system-'));
    root = path.join(dir, 'root');
    for (const [i, body] of ['one', 'two'].entries()) {
      const f = path.join(dir, `r${i}.tar`);
      await fs.writeFile(f, await makeTar([{ name: 'f', body: body.repeat(1000) }]));
      expect((await kiln(root, 'import', f, 'app:latest')).code).toBe(0); // second import leaves the first dangling
    }
    const f = path.join(dir, 'keep.tar');
    await fs.writeFile(f, await makeTar([{ name: 'k', body: 'keep' }]));
    expect((await kiln(root, 'import', f, 'keep:1')).code).toBe(0);
    const s = await openStores(root);
    await s.content.put('an orphan blob nobody refers to');
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('df shows the four docker rows', async () => {
    const r = await kiln(root, 'system', 'df');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
    expect(lines[1]).toMatch(/^Images\s+3\s+0\s+\S+B\s+\S+B \(100%\)$/);
    expect(lines[2]).toMatch(/^Containers\s+0\s+0\s+0B\s+0B$/);
    expect(lines[3]).toMatch(/^Local Volumes\s+0\s+0\s+0B\s+0B$/);
    expect(lines[4]).toMatch(/^Build Cache\s+0\s+0\s+0B\s+0B$/);
  });

  it('prune removes only dangling images and unreferenced blobs; -a removes unused images', async () => {
    expect(await blobCount(root)).toBe(10); // 3 images x (layer, config, manifest) + orphan
    const r = await kiln(root, 'system', 'prune', '-f');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Deleted Images:\ndeleted: sha256:[a-f0-9]{64}\n\nDeleted content blobs: 4\n\nTotal reclaimed space: \d+(\.\d+)?k?B\n$/);
    expect(await blobCount(root)).toBe(6);
    expect((await kiln(root, 'images', '--format', '{{.Repository}}:{{.Tag}}')).stdout.split('\n').filter(Boolean).sort()).toEqual(['app:latest', 'keep:1']);
    expect((await kiln(root, 'system', 'check')).code).toBe(0);
    const a = await kiln(root, 'system', 'prune', '-a', '-f');
    expect(a.stdout).toMatch(/untagged: app:latest\nuntagged: keep:1\n/);
    expect(await blobCount(root)).toBe(0);
  });

  it('prune forgets the gzip copy of a plain layer once the copy is gone, keeps the note while both blobs live', async () => {
    const s = await openStores(root);
    const { compressLayer } = await import('../image/compress-layers.js');
    const plain = await s.content.put('a plain layer, as builds store them');
    const gz = await compressLayer(s.content, root, { mediaType: MediaType.OciLayer, digest: plain.digest, size: plain.size });
    expect(gz.mediaType).toBe(MediaType.OciLayerGzip);
    const notes = path.join(root, 'meta', 'compressed');
    expect(await fs.readdir(notes)).toEqual([`${plain.digest.slice(7)}.json`]);
    // the same layer again: the note answers, nothing is compressed twice
    expect(await compressLayer(s.content, root, { mediaType: MediaType.OciLayer, digest: plain.digest, size: plain.size })).toEqual(gz);
    await fs.writeFile(path.join(notes, 'not-a-note.json'), '{');
    expect((await kiln(root, 'system', 'prune', '-f')).code).toBe(0); // nothing refers to either blob
    expect(await fs.readdir(notes)).toEqual([]);
  });

  it('keeps blobs of build cache records; image prune -a keeps the records, system prune -a drops them', async () => {
    const s = await openStores(root);
    const layer = await s.content.put('a cached layer');
    await new FileCacheStore(root).put({
      key: `sha256:${'c'.repeat(64)}`,
      result: { snapshot: null, layers: [{ descriptor: { mediaType: MediaType.OciLayerGzip, digest: layer.digest, size: layer.size }, diffID: layer.digest }] },
      created: new Date().toISOString(),
      vertex: { name: 'RUN make' },
      inputs: [],
    });
    const df = await kiln(root, 'system', 'df');
    expect(df.stdout).toMatch(/\nBuild Cache\s+1\s+0\s+14B\s+14B \(100%\)\n/);
    expect((await kiln(root, 'image', 'prune', '-a', '-f')).code).toBe(0);
    expect(await s.content.has(layer.digest)).toBe(true);
    expect((await kiln(root, 'images', '-q')).stdout).toBe('');
    const all = await kiln(root, 'system', 'prune', '-a', '-f');
    expect(all.stdout).toMatch(/Deleted build cache records: 1/);
    expect(await s.content.has(layer.digest)).toBe(false);
  });

  it('check reports orphans without failing, and corrupt or missing blobs with exit 1', async () => {
    const ok = await kiln(root, 'system', 'check');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/orphaned: sha256:[a-f0-9]{64}/);
    expect(ok.stdout).toMatch(/checked 10 blobs .*: 0 corrupt, 0 missing, 0 invalid, 0 stray, 1 orphaned/);
    const s = await openStores(root);
    const img = await s.images.resolve('keep:1');
    const layer = s.content.path(img.manifest.layers[0]!.digest);
    await fs.chmod(layer, 0o644);
    await fs.appendFile(layer, 'tampered');
    await fs.unlink(s.content.path(img.manifest.config.digest));
    const bad = await kiln(root, 'system', 'check');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`corrupt: blob ${img.manifest.layers[0]!.digest} is corrupt`);
    expect(bad.stdout).toContain(`missing: image docker.io/library/keep:1: config ${img.manifest.config.digest} is missing`);
    // the corrupt layer is never exported
    const save = await kiln(root, 'save', 'app:latest', 'keep:1', '-o', path.join(dir, 'x.tar'));
    expect(save.code).toBe(1);
    await expect(fs.access(path.join(dir, 'x.tar'))).rejects.toThrow();
  });
});
