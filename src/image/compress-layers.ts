import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ContentStore } from '../content/types.js';
import { gzipParallel, rechunk } from '../diff/compress.js';
import { jsonBytes, parseManifestOrIndex } from './manifest.js';
import { MediaType, type Descriptor, type Digest, type Manifest } from './types.js';
import { writeJsonAtomic } from '../util/atomic-file.js';

/**
 * Lazy layer compression (containerd's converter, BuildKit's `compression=gzip` at export).
 * Builds store their layers as plain tars, as Docker's own image store does, so no step pays for
 * deflate (and a layer's digest is its diffID); an image that leaves the machine (push, `-o
 * type=oci|docker`, an inline cache) gets gzip layers here. Each plain layer is compressed once
 * per root: `<root>/meta/compressed/<hex>.json` remembers its gzip blob. The config, and with it
 * the image ID, stays the same; only the manifest (and its digest) differ.
 */
export function isPlainLayer(d: Descriptor): boolean {
  return d.mediaType === MediaType.OciLayer || d.mediaType === MediaType.DockerLayer;
}

function memoFile(root: string, d: Descriptor): string {
  return path.join(root, 'meta', 'compressed', `${d.digest.slice('sha256:'.length)}.json`);
}

/** The gzip blob of a plain layer (made, or found from an earlier export); other layers as they are. */
export async function compressLayer(content: ContentStore, root: string, layer: Descriptor): Promise<Descriptor> {
  if (!isPlainLayer(layer)) return layer;
  const memo = memoFile(root, layer);
  const known = await fs
    .readFile(memo, 'utf8')
    .then((t) => JSON.parse(t) as Descriptor)
    .catch(() => undefined);
  if (known && typeof known.digest === 'string' && (await content.has(known.digest as Digest))) return known;
  const gz = gzipParallel(rechunk(content.get(layer.digest), 1 << 20));
  const info = await content.put(Readable.from(gz, { objectMode: false, highWaterMark: 4 << 20 }));
  const out: Descriptor = {
    mediaType: layer.mediaType === MediaType.DockerLayer ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip,
    digest: info.digest,
    size: info.size,
  };
  await fs.mkdir(path.dirname(memo), { recursive: true });
  await writeJsonAtomic(memo, out).catch(() => undefined); // only a shortcut for the next export
  return out;
}

/** `layers` with every plain one replaced by its gzip blob, and a lookup from old to new digest. */
export async function compressLayers(content: ContentStore, root: string, layers: readonly Descriptor[]): Promise<Map<string, Descriptor>> {
  const out = new Map<string, Descriptor>();
  for (const l of layers) if (!out.has(l.digest)) out.set(l.digest, await compressLayer(content, root, l));
  return out;
}

/**
 * The manifest `target` names, with gzip layers: `target` itself when it has no plain layer (or
 * is an index), else a new manifest written to the content store.
 */
export async function compressedManifest(content: ContentStore, root: string, target: Descriptor): Promise<{ descriptor: Descriptor; manifest?: Manifest }> {
  const parsed = parseManifestOrIndex(await content.readBuffer(target.digest), target.mediaType);
  if (parsed.kind !== 'manifest') return { descriptor: target };
  const manifest = parsed.manifest;
  if (!manifest.layers.some(isPlainLayer)) return { descriptor: target, manifest };
  const map = await compressLayers(content, root, manifest.layers);
  const converted: Manifest = { ...manifest, layers: manifest.layers.map((l) => ({ ...l, ...map.get(l.digest)! })) };
  const info = await content.put(jsonBytes(converted));
  return { descriptor: { mediaType: target.mediaType, digest: info.digest, size: info.size }, manifest: converted };
}
