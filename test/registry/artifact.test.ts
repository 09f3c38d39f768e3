import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../src/content/index.js';
import { MediaType, type Descriptor, type Digest } from '../../src/image/types.js';
import { openArtifact, pushArtifact } from '../../src/registry/index.js';
import { sha256Digest } from '../../src/registry/manifest.js';
import { registryUnavailable, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { blobList, buildImage } from './fixtures.js';

const reason = registryUnavailable();
if (reason) console.warn(`skipping registry artifact tests: ${reason}`);

describe.skipIf(!!reason)('artifacts (the API the registry build cache uses)', () => {
  let reg: TestRegistry;
  let tmp: string;
  beforeAll(async () => {
    reg = await startRegistry();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-reg-artifact-'));
  });
  afterAll(async () => {
    await reg?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('pushes a manifest with an in-memory config and stored layers; another root reads it back verified', async () => {
    const rootA = path.join(tmp, 'a');
    const content = await LocalContentStore.open(rootA, { sync: false });
    const img = await buildImage(content, [30_000, 40_000]);
    const cfgBytes = Buffer.from(JSON.stringify({ schemaVersion: 1, records: [{ key: 'k1' }] }));
    const cfg: Descriptor = { mediaType: 'application/vnd.kiln.cache.config.v1+json', digest: sha256Digest(cfgBytes), size: cfgBytes.length };
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, artifactType: 'application/vnd.kiln.cache.v1', config: cfg, layers: img.layers }));
    const pushed = await pushArtifact(
      `${reg.host}/ci/cache:main`,
      { manifest, mediaType: MediaType.OciManifest, blobs: [{ desc: cfg, data: cfgBytes }, ...img.layers.map((desc) => ({ desc }))] },
      { root: rootA, content },
    );
    expect(pushed.digest).toBe(sha256Digest(manifest));

    const rootB = path.join(tmp, 'b');
    const contentB = await LocalContentStore.open(rootB, { sync: false });
    const art = await openArtifact(`${reg.host}/ci/cache:main`, { root: rootB });
    try {
      expect(art.descriptor.digest).toBe(pushed.digest);
      expect(JSON.parse((await art.readBlob(art.manifest.config)).toString())).toEqual({ schemaVersion: 1, records: [{ key: 'k1' }] });
      await art.fetchInto(contentB, [art.manifest.layers[1]!]);
      expect(await blobList(contentB)).toEqual([img.layers[1]!.digest]);
      await expect(art.readBlob(art.manifest.config, 10)).rejects.toMatchObject({ code: 'REGISTRY_TOO_LARGE' });
    } finally {
      art.close();
    }
    await expect(openArtifact(`${reg.host}/ci/cache:nope`, { root: rootB })).rejects.toMatchObject({ code: 'REGISTRY_NOT_FOUND' });
  });

  it('refuses in-memory data that does not match its descriptor, and blobs the manifest does not list', async () => {
    const root = path.join(tmp, 'c');
    const content = await LocalContentStore.open(root, { sync: false });
    const data = Buffer.from('{"a":1}');
    const cfg: Descriptor = { mediaType: 'application/json', digest: `sha256:${'0'.repeat(64)}` as Digest, size: data.length };
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfg, layers: [] }));
    await expect(
      pushArtifact(`${reg.host}/ci/bad:1`, { manifest, mediaType: MediaType.OciManifest, blobs: [{ desc: cfg, data }] }, { root, content }),
    ).rejects.toMatchObject({ code: 'REGISTRY_DIGEST_MISMATCH' });
    const other: Descriptor = { mediaType: 'application/json', digest: sha256Digest(data), size: data.length };
    await expect(
      pushArtifact(`${reg.host}/ci/bad:1`, { manifest, mediaType: MediaType.OciManifest, blobs: [{ desc: other, data }] }, { root, content }),
    ).rejects.toMatchObject({ code: 'REGISTRY_BAD_MANIFEST' });
  });
});
