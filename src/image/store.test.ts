import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasCode, isNotFound } from '../diagnostics/errors.js';
import { openStores, type Stores } from '../store/index.js';
import { sha256Digest } from './digest.js';
import { MediaType, type Descriptor, type ImageConfig } from './types.js';

function config(extra: Partial<ImageConfig> = {}): ImageConfig {
  return { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Cmd: ['sh'] }, ...extra };
}

async function fakeLayer(s: Stores, text: string): Promise<{ descriptor: Descriptor; diffID: ReturnType<typeof sha256Digest> }> {
  const info = await s.content.put(text);
  return { descriptor: { mediaType: MediaType.OciLayer, digest: info.digest, size: info.size }, diffID: info.digest };
}

describe('ImageStore', () => {
  let dir: string;
  let s: Stores;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-images-'));
    s = await openStores(dir);
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('creates an OCI image and resolves it by name, ID, short ID and digest', async () => {
    const layer = await fakeLayer(s, 'layer-1');
    const desc = await s.images.createImage({ config: config(), layers: [layer], names: ['bb'] });
    expect(desc.mediaType).toBe(MediaType.OciManifest);
    const img = await s.images.getImage('bb');
    expect(img.names).toEqual(['docker.io/library/bb:latest']);
    expect(img.config.rootfs.diff_ids).toEqual([layer.diffID]);
    expect(img.manifest.layers).toEqual([layer.descriptor]);
    expect(img.manifest.config.mediaType).toBe(MediaType.OciConfig);
    for (const q of ['docker.io/library/bb:latest', 'bb:latest', img.id, img.id.slice(7), img.id.slice(7, 19), img.id.slice(7, 11), `bb@${desc.digest}`]) {
      expect((await s.images.resolve(q)).id).toBe(img.id);
    }
    expect(isNotFound(await s.images.resolve('nope').catch((e: unknown) => e))).toBe(true);
    expect(isNotFound(await s.images.resolve('bb:other').catch((e: unknown) => e))).toBe(true);
  });

  it('tags, untags and keeps the previous target of a moved tag as dangling', async () => {
    const a = await s.images.createImage({ config: config({ author: 'a' }), layers: [await fakeLayer(s, 'A')], names: ['app:1'] });
    await s.images.tag('app:1', 'localhost:5000/app:latest');
    expect((await s.images.resolve('app:1')).names.sort()).toEqual(['docker.io/library/app:1', 'localhost:5000/app:latest']);
    const b = await s.images.createImage({ config: config({ author: 'b' }), layers: [await fakeLayer(s, 'B')], names: ['app:1'] });
    // a is still named by localhost:5000/app, so not dangling
    expect((await s.images.list()).map((r) => r.name).sort()).toEqual(['docker.io/library/app:1', 'localhost:5000/app:latest']);
    await s.images.setName('localhost:5000/app', b);
    const names = (await s.images.list()).map((r) => r.name);
    expect(names).toContain(a.digest);
    const dangling = await s.images.loadTarget(a);
    expect(dangling.dangling).toBe(true);
    expect((await s.images.resolve(dangling.id.slice(7, 19))).dangling).toBe(true);
    await s.images.untag('app:1');
    expect((await s.images.resolve('localhost:5000/app')).names).toEqual(['localhost:5000/app:latest']);
  });

  it('reports an ambiguous short ID', async () => {
    // make images until two IDs share the first hex digit
    const seen = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      await s.images.createImage({ config: config({ author: String(i) }), layers: [], names: [`img${i}`] });
      const id = (await s.images.resolve(`img${i}`)).id.slice(7, 8);
      if (seen.has(id)) {
        const err = await s.images.resolve(id).catch((e: unknown) => e);
        expect(hasCode(err, 'IMAGE_AMBIGUOUS')).toBe(true);
        return;
      }
      seen.set(id, `img${i}`);
    }
    throw new Error('no collision in 40 images');
  });

  it('records uncompressed layer sizes given to createImage', async () => {
    const { readLayerSizes } = await import('./layer-size.js');
    const layer = await fakeLayer(s, 'sized');
    await s.images.createImage({ config: config(), layers: [{ ...layer, uncompressedSize: 12345 }] });
    expect((await readLayerSizes(dir))[layer.diffID]).toBe(12345);
  });

  it('refuses to create an image whose layer blob is missing', async () => {
    const err = await s.images
      .createImage({ config: config(), layers: [{ descriptor: { mediaType: MediaType.OciLayer, digest: sha256Digest('x'), size: 1 }, diffID: sha256Digest('x') }] })
      .catch((e: unknown) => e);
    expect(hasCode(err, 'IMAGE_LAYER_MISSING')).toBe(true);
  });

  it('reads Docker schema2 manifests and indexes', async () => {
    const layer = await fakeLayer(s, 'docker-layer');
    const desc = await s.images.createImage({ config: config(), layers: [layer], format: 'docker' });
    expect(desc.mediaType).toBe(MediaType.DockerManifest);
    const other = await s.images.createImage({ config: config({ architecture: 'arm64' }), layers: [layer] });
    const index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [
      { ...other, platform: { architecture: 'arm64', os: 'linux' } },
      { ...desc, platform: { architecture: 'amd64', os: 'linux' } },
    ] };
    const info = await s.content.put(JSON.stringify(index));
    await s.images.setName('multi', { mediaType: MediaType.OciIndex, digest: info.digest, size: info.size });
    const img = await s.images.resolve('multi', { architecture: 'amd64', os: 'linux' });
    expect(img.descriptor.digest).toBe(desc.digest);
    expect(img.config.architecture).toBe('amd64');
    const arm = await s.images.resolve('multi', { architecture: 'arm64', os: 'linux' });
    expect(arm.config.architecture).toBe('arm64');
  });

  it('rejects a manifest whose body disagrees with its descriptor type', async () => {
    const bad = await s.content.put(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [], layers: [] }));
    await s.images.setName('bad', { mediaType: MediaType.OciManifest, digest: bad.digest, size: bad.size });
    const err = await s.images.resolve('bad').catch((e: unknown) => e);
    expect(hasCode(err, 'IMAGE_INVALID_MANIFEST')).toBe(true);
  });

  it('a writer killed mid-update leaves the old images.json and a temp file that the next open removes', async () => {
    await s.images.createImage({ config: config(), layers: [], names: ['kept'] });
    const meta = path.join(dir, 'meta');
    const leftover = path.join(meta, '.images.json.999999999.abcdef012345.tmp');
    await fs.writeFile(leftover, '{"version":1,"images":{'); // half written
    const again = await openStores(dir);
    expect((await again.images.resolve('kept')).names).toEqual(['docker.io/library/kept:latest']);
    await expect(fs.access(leftover)).rejects.toThrow();
  });

  it('concurrent tag writers in one process lose no update', async () => {
    await s.images.createImage({ config: config(), layers: [], names: ['base'] });
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.images.tag('base', `t/n${i}`)));
    expect((await s.images.resolve('base')).names).toHaveLength(21);
  });
});

const distStores = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../dist/store/index.js');
const noDist = (await fs.access(distStores).then(() => '', () => 'dist/ not built (run npm run build)'));
if (noDist) console.warn(`skipping multi-process image store test: ${noDist}`);

describe.skipIf(!!noDist)('ImageStore with several processes', () => {
  it('loses no tag when 4 processes tag at once, and survives a writer killed while holding the lock', async () => {
    const { spawn } = await import('node:child_process');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-images-mp-'));
    try {
      const s = await openStores(dir);
      await s.images.createImage({ config: config(), layers: [], names: ['base'] });
      const script = `
        import { openStores } from ${JSON.stringify(distStores)};
        const [root, who] = process.argv.slice(1);
        const s = await openStores(root);
        for (let i = 0; i < 10; i++) await s.images.tag('base', 'p' + who + '/t' + i);
        if (who === 'hang') { const { acquireLock } = await import(${JSON.stringify(path.join(path.dirname(distStores), '../util/lock-file.js'))}); await acquireLock(root + '/meta/images.lock'); console.log('locked'); setInterval(() => {}, 1000); }
        else console.log('done');
      `;
      const run = (who: string) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir, who], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d) => {
          out += String(d);
        });
        return { child, out: () => out, done: new Promise<number | null>((r) => child.on('close', r)) };
      };
      const kids = ['a', 'b', 'c', 'd'].map(run);
      expect(await Promise.all(kids.map((k) => k.done))).toEqual([0, 0, 0, 0]);
      expect((await s.images.resolve('base')).names).toHaveLength(41);
      // a process dies (kill -9) holding the lock: the next writer breaks the stale lock
      const hang = run('hang');
      for (let i = 0; i < 200 && !hang.out().includes('locked'); i++) await new Promise((r) => setTimeout(r, 25));
      expect(hang.out()).toContain('locked');
      hang.child.kill('SIGKILL');
      await hang.done;
      await s.images.tag('base', 'after/kill');
      expect((await s.images.resolve('base')).names).toHaveLength(52);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
