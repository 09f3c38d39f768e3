/** Test images built directly in a content store: real gzip'd tar layers, an OCI config and manifest. */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { ContentStore } from '../../src/content/types.js';
import { MediaType, type Descriptor, type Digest } from '../../src/image/types.js';
import type { ImageNames } from '../../src/registry/types.js';

const sha = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

export async function tarOf(files: Record<string, Buffer | string>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  for (const [name, data] of Object.entries(files)) {
    pack.entry({ name, mode: 0o644, mtime: new Date(0) }, typeof data === 'string' ? Buffer.from(data) : data);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface BuiltImage {
  manifest: Descriptor;
  manifestBytes: Buffer;
  config: Descriptor;
  layers: Descriptor[];
}

/** Put an image with `layerSizes` random-content layers (gzip level 1) into the store. */
export async function buildImage(content: ContentStore, layerSizes: number[], opts: { tag?: string; arch?: string } = {}): Promise<BuiltImage> {
  const layers: Descriptor[] = [];
  const diffIds: Digest[] = [];
  for (let i = 0; i < layerSizes.length; i++) {
    const t = await tarOf({ [`file${i}.bin`]: randomBytes(layerSizes[i]!), [`hello${i}.txt`]: `layer ${i} ${opts.tag ?? ''}\n` });
    diffIds.push(sha(t));
    const gz = gzipSync(t, { level: 1 });
    const info = await content.put(gz);
    layers.push({ mediaType: MediaType.OciLayerGzip, digest: info.digest, size: info.size });
  }
  const cfg = Buffer.from(
    JSON.stringify({
      architecture: opts.arch ?? 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: layerSizes.map((_, i) => ({ created_by: `layer ${i}` })),
    }),
  );
  const cinfo = await content.put(cfg);
  const config: Descriptor = { mediaType: MediaType.OciConfig, digest: cinfo.digest, size: cinfo.size };
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers }));
  const minfo = await content.put(manifestBytes);
  return { manifest: { mediaType: MediaType.OciManifest, digest: minfo.digest, size: minfo.size }, manifestBytes, config, layers };
}

/** Names in memory: the seam the image store fills in production. */
export class MemoryImageNames implements ImageNames {
  readonly map = new Map<string, Descriptor>();
  async get(name: string): Promise<Descriptor | undefined> {
    return this.map.get(name);
  }
  async set(name: string, target: Descriptor): Promise<void> {
    this.map.set(name, target);
  }
}

/** Write an image from a content store as an OCI layout directory (for skopeo/umoci). */
export async function writeOciLayout(content: ContentStore, dir: string, img: BuiltImage, refName = 'latest'): Promise<void> {
  await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const d of [img.manifest, img.config, ...img.layers]) {
    await fs.writeFile(path.join(dir, 'blobs', 'sha256', d.digest.slice(7)), await content.readBuffer(d.digest));
  }
  const index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...img.manifest, annotations: { 'org.opencontainers.image.ref.name': refName } }] };
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
}

/** All blobs in a store. */
export async function blobList(content: ContentStore): Promise<string[]> {
  const out: string[] = [];
  for await (const b of content.walk()) out.push(b.digest);
  return out.sort();
}
