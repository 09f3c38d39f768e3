import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../src/content/index.js';
import { hasCode } from '../../src/diagnostics/errors.js';
import { MediaType, type Descriptor } from '../../src/image/types.js';
import { createRegistryClient, pullImage, pushImage } from '../../src/registry/index.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { registryUnavailable, skopeoUnavailable, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { blobList, buildImage, MemoryImageNames } from './fixtures.js';

const reason = registryUnavailable() ?? skopeoUnavailable();
if (reason) console.warn(`skipping registry index/upload tests: ${reason}`);

/** A non-loopback IPv4 address of this machine, if any. */
function externalIPv4(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

describe.skipIf(!!reason)('multi-platform indexes, chunked uploads and the plain-HTTP policy', () => {
  let reg: TestRegistry;
  let tmp: string;
  beforeAll(async () => {
    reg = await startRegistry();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-reg-index-'));
  });
  afterAll(async () => {
    await reg?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('pushes an index with two platforms and pulls the one asked for', async () => {
    const srcRoot = path.join(tmp, 'src');
    const src = await LocalContentStore.open(srcRoot, { sync: false });
    const amd = await buildImage(src, [10_000, 20_000], { arch: 'amd64', tag: 'amd' });
    const arm = await buildImage(src, [15_000], { arch: 'arm64', tag: 'arm' });
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
          { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        ],
      }),
    );
    const info = await src.put(index);
    const indexDesc: Descriptor = { mediaType: MediaType.OciIndex, digest: info.digest, size: info.size };
    const images = new MemoryImageNames();
    const name = `${reg.host}/multi/app:1`;
    await images.set(name, indexDesc);
    const pushed = await pushImage(name, { root: srcRoot, content: src, images });
    expect(pushed.digest).toBe(indexDesc.digest);
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`], { encoding: 'utf8' })) as { manifests: unknown[] };
    expect(raw.manifests).toHaveLength(2);

    const root = path.join(tmp, 'arm');
    const content = await LocalContentStore.open(root, { sync: false });
    const pulled = await pullImage(name, { root, content, images: new MemoryImageNames(), platform: 'linux/arm64' });
    expect(pulled.digest).toBe(indexDesc.digest);
    expect(pulled.manifest.digest).toBe(arm.manifest.digest);
    const blobs = await blobList(content);
    expect(blobs).toContain(arm.layers[0]!.digest);
    for (const l of amd.layers) expect(blobs).not.toContain(l.digest);

    const def = await pullImage(name, { root, content, images: new MemoryImageNames() });
    expect(def.manifest.digest).toBe(amd.manifest.digest);

    await expect(pullImage(name, { root, content, images: new MemoryImageNames(), platform: 'linux/riscv64' })).rejects.toMatchObject({
      code: 'REGISTRY_NO_PLATFORM',
    });

    // A single-platform image pulled with an explicit, different --platform is refused (and not named).
    const single = `${reg.host}/multi/amd-only:1`;
    await images.set(single, amd.manifest);
    await pushImage(single, { root: srcRoot, content: src, images });
    const names = new MemoryImageNames();
    await expect(pullImage(single, { root, content, images: names, platform: 'linux/arm64', requirePlatform: true })).rejects.toMatchObject({ code: 'REGISTRY_NO_PLATFORM' });
    expect(names.map.size).toBe(0);
    expect((await pullImage(single, { root, content, images: names, platform: 'linux/amd64' })).manifest.digest).toBe(amd.manifest.digest);
  });

  it('uploads in PATCH chunks when asked, and the registry accepts the digest', async () => {
    const root = path.join(tmp, 'chunk');
    const content = await LocalContentStore.open(root, { sync: false });
    const img = await buildImage(content, [300_000]);
    const images = new MemoryImageNames();
    const proxy = await startFaultProxy(reg.host);
    try {
      const name = `${proxy.host}/chunked/img:v1`;
      await images.set(name, img.manifest);
      await pushImage(name, { root, content, images, chunkSize: 64 * 1024 });
      const patches = proxy.log.filter((e) => e.method === 'PATCH');
      expect(patches.length).toBeGreaterThanOrEqual(Math.floor(img.layers[0]!.size / (64 * 1024)));
      const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/chunked/img:v1`], { encoding: 'utf8' })) as { Layers: string[] };
      expect(inspect.Layers).toEqual(img.layers.map((l) => l.digest));
    } finally {
      await proxy.stop();
    }
  });

  const ip = externalIPv4();
  it.skipIf(!ip)('refuses plain HTTP to a non-loopback registry unless it is listed as insecure', async () => {
    const proxy = await startFaultProxy(reg.host, '0.0.0.0');
    try {
      const port = proxy.host.split(':')[1];
      const host = `${ip}:${port}`;
      const root = path.join(tmp, 'insecure');
      await fs.mkdir(root, { recursive: true });
      const client = await createRegistryClient(host, { root, credentials: null });
      await expect(client.ping()).rejects.toSatisfy((e: unknown) => hasCode(e, 'REGISTRY_INSECURE'));
      client.close();
      expect(proxy.log.filter((e) => e.method === 'GET' && e.path === '/v2/')).toHaveLength(0);

      await fs.writeFile(path.join(root, 'config.json'), JSON.stringify({ insecureRegistries: [host] }));
      const ok = await createRegistryClient(host, { root, credentials: null });
      await ok.ping();
      ok.close();
    } finally {
      await proxy.stop();
    }
  });
});
