import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../src/content/index.js';
import { pullImage, pushImage } from '../../src/registry/index.js';
import { registryUnavailable, skopeoUnavailable, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { blobList, buildImage, MemoryImageNames, writeOciLayout } from './fixtures.js';

const reason = registryUnavailable() ?? skopeoUnavailable();
if (reason) console.warn(`skipping registry interop tests: ${reason}`);

describe.skipIf(!!reason)('push and pull against docker-registry, checked with skopeo', () => {
  let reg: TestRegistry;
  let tmp: string;
  beforeAll(async () => {
    reg = await startRegistry();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-reg-interop-'));
  });
  afterAll(async () => {
    await reg?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });
  const skopeo = (...args: string[]): string => execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  it('pushes an image that skopeo inspects and copies out byte-identical', async () => {
    const rootA = path.join(tmp, 'a');
    const content = await LocalContentStore.open(rootA, { sync: false });
    const img = await buildImage(content, [100_000, 3_000, 70_000]);
    const images = new MemoryImageNames();
    const name = `${reg.host}/kiln/pushed:v1`;
    await images.set(name, img.manifest);
    const events: string[] = [];
    const res = await pushImage(name, { root: rootA, content, images, onEvent: (e) => e.type === 'blob' && events.push(e.status) });
    expect(res.digest).toBe(img.manifest.digest);
    expect(events.filter((s) => s === 'pushed')).toHaveLength(4);

    const inspect = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${name}`)) as { Digest: string; Layers: string[] };
    expect(inspect.Digest).toBe(img.manifest.digest);
    expect(inspect.Layers).toEqual(img.layers.map((l) => l.digest));

    const out = path.join(tmp, 'copied');
    skopeo('copy', '--src-tls-verify=false', `docker://${name}`, `oci:${out}:v1`);
    for (const d of [img.manifest, img.config, ...img.layers]) {
      const copied = await fs.readFile(path.join(out, 'blobs', 'sha256', d.digest.slice(7)));
      expect(copied.equals(await content.readBuffer(d.digest))).toBe(true);
    }

    // A second push finds every blob already there (HEAD) and uploads nothing.
    const again: string[] = [];
    await pushImage(name, { root: rootA, content, images, onEvent: (e) => e.type === 'blob' && again.push(e.status) });
    expect(again.filter((s) => s === 'pushed')).toHaveLength(0);
    expect(again.filter((s) => s === 'exists')).toHaveLength(4);

    // Pushing to another repository of the same registry mounts the blobs instead of uploading.
    const other = `${reg.host}/kiln/other:v1`;
    await images.set(other, img.manifest);
    const mounted: string[] = [];
    await pushImage(other, { root: rootA, content, images, onEvent: (e) => e.type === 'blob' && mounted.push(e.status) });
    expect(mounted.filter((s) => s === 'mounted')).toHaveLength(4);
  });

  it('pulls an image that skopeo copied into the registry, verified into the store', async () => {
    const src = await LocalContentStore.open(path.join(tmp, 'src'), { sync: false });
    const img = await buildImage(src, [50_000, 200_000], { tag: 'skopeo' });
    const layout = path.join(tmp, 'layout');
    await writeOciLayout(src, layout, img, 'v2');
    const name = `${reg.host}/from/skopeo:v2`;
    skopeo('copy', '--dest-tls-verify=false', `oci:${layout}:v2`, `docker://${name}`);

    const rootB = path.join(tmp, 'b');
    const content = await LocalContentStore.open(rootB, { sync: false });
    const images = new MemoryImageNames();
    const res = await pullImage(name, { root: rootB, content, images });
    expect(res.name).toBe(name);
    expect(res.downloaded).toBe(true);
    const stored = await images.get(name);
    expect(stored?.digest).toBe(res.manifest.digest);
    const blobs = await blobList(content);
    for (const d of [res.manifest, res.config, ...res.layers]) expect(blobs).toContain(d.digest);
    // Layers are the ones skopeo pushed, byte for byte.
    expect(res.layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.digest));

    // The same image converted by skopeo to Docker schema2 media types pulls too.
    const v2s2 = `${reg.host}/from/skopeo-v2s2:v2`;
    skopeo('copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layout}:v2`, `docker://${v2s2}`);
    const docker = await pullImage(v2s2, { root: rootB, content, images });
    expect(docker.manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(docker.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');

    // Pulling again downloads nothing.
    const again = await pullImage(name, { root: rootB, content, images });
    expect(again.downloaded).toBe(false);
    // By digest too.
    const byDigest = await pullImage(`${reg.host}/from/skopeo@${res.manifest.digest}`, { root: rootB, content, images });
    expect(byDigest.name).toBe(`${reg.host}/from/skopeo@${res.manifest.digest}`);
  });
});
