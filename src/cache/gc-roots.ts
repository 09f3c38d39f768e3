import type { CacheStore, GcRoots } from './types.js';

/**
 * The GC root provider for cache records: every snapshot and blob a record points at.
 * A GC keeps these (or deletes the record first, then the things only it held).
 */
export async function cacheGcRoots(store: CacheStore): Promise<GcRoots> {
  const roots: GcRoots = { snapshots: new Set(), blobs: new Set() };
  for await (const rec of store.list()) {
    if (rec.result.snapshot) roots.snapshots.add(rec.result.snapshot);
    for (const l of rec.result.layers) roots.blobs.add(l.descriptor.digest);
  }
  return roots;
}
