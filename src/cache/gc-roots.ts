import type { GcNode, RootProvider } from '../store/gc.js';
import { isDigest } from '../image/digest.js';
import type { Digest } from '../image/types.js';
import { FileCacheStore } from './record-store.js';
import { isPendingLayer, type CacheStore, type GcRoots } from './types.js';

/**
 * Everything cache records point at: committed snapshots and layer blobs. A GC keeps these
 * (or deletes the record first, then what only it held).
 */
export async function cacheGcRoots(store: CacheStore): Promise<GcRoots> {
  const roots: GcRoots = { snapshots: new Set(), blobs: new Set() };
  for await (const rec of store.list()) {
    if (rec.result.snapshot) roots.snapshots.add(rec.result.snapshot);
    for (const l of rec.result.layers) if (!isPendingLayer(l)) roots.blobs.add(l.descriptor.digest);
  }
  return roots;
}

/** The content-store GC root provider for cache records (registered in src/store/providers.ts). */
export const cacheRootProvider: RootProvider = {
  name: 'cache',
  async roots(root: string): Promise<GcNode[]> {
    const { blobs } = await cacheGcRoots(new FileCacheStore(root));
    return [...blobs].filter((d) => isDigest(d)).map((d) => ({ digest: d as Digest, mediaType: 'application/vnd.oci.image.layer.v1.tar' }));
  },
};
