/**
 * Uncompressed layer sizes (what `docker images` and `docker history` show), by diffID.
 * Recorded by whoever writes a layer (import, load, build) and otherwise computed once by decompressing
 * the blob; cached in `<root>/meta/layer-sizes.json`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import type { ContentStore } from '../content/types.js';
import { readJsonFile, replaceFileUnsynced } from '../util/atomic-file.js';
import { withLock } from '../util/lock-file.js';
import { isGzipLayerType } from './manifest.js';
import type { Descriptor, Digest } from './types.js';

const file = (root: string) => path.join(root, 'meta', 'layer-sizes.json');

export async function readLayerSizes(root: string): Promise<Record<string, number>> {
  return (await readJsonFile<Record<string, number>>(file(root)).catch(() => undefined)) ?? {};
}

export async function recordLayerSizes(root: string, sizes: Record<string, number>): Promise<void> {
  if (Object.keys(sizes).length === 0) return;
  await fs.mkdir(path.join(root, 'meta'), { recursive: true });
  await withLock(path.join(root, 'meta', 'layer-sizes.lock'), async () => {
    const cur = await readLayerSizes(root);
    // not synced: sizes lost or torn by a power cut are measured again from the blobs
    replaceFileUnsynced(file(root), `${JSON.stringify({ ...cur, ...sizes }, null, 2)}\n`);
  });
}

async function measure(content: ContentStore, layer: Descriptor): Promise<number> {
  let n = 0;
  const src = content.get(layer.digest);
  if (!isGzipLayerType(layer.mediaType)) {
    for await (const c of src) n += (c as Buffer).length;
    return n;
  }
  const gunzip = src.pipe(createGunzip());
  src.on('error', (e) => gunzip.destroy(e));
  for await (const c of gunzip) n += (c as Buffer).length;
  return n;
}

/** Uncompressed sizes of the given layers (diffIDs parallel to descriptors); fills the cache. */
export async function layerSizes(root: string, content: ContentStore, layers: Descriptor[], diffIDs: Digest[]): Promise<number[]> {
  const cache = await readLayerSizes(root);
  const found: Record<string, number> = {};
  const out: number[] = [];
  for (let i = 0; i < layers.length; i++) {
    const id = diffIDs[i];
    const layer = layers[i]!;
    let size = id ? cache[id] : undefined;
    if (size === undefined) {
      try {
        size = await measure(content, layer);
        if (id) found[id] = size;
      } catch {
        size = layer.size; // unreadable: fall back to the stored size (system check reports it)
      }
    }
    out.push(size);
  }
  await recordLayerSizes(root, found).catch(() => {});
  return out;
}
