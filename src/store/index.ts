/**
 * The composition of one store root: content store + image store (+ GC roots, locks, leases).
 * Other stages open their own parts (snapshots, cache, containers) beside these.
 */
import { LocalContentStore, type LocalContentStoreOptions } from '../content/local.js';
import { ImageStore } from '../image/store.js';

export interface Stores {
  root: string;
  content: LocalContentStore;
  images: ImageStore;
}

export async function openStores(root: string, options: LocalContentStoreOptions = {}): Promise<Stores> {
  const content = await LocalContentStore.open(root, options);
  const images = await ImageStore.open(root, content);
  return { root: content.root, content, images };
}

export { collectGarbage, mark, sweep, registerRootProvider, rootProviders, defaultRootProviders, contentChildren } from './gc.js';
export type { GcNode, RootProvider, CollectResult } from './gc.js';
export { createLease, type Lease } from './leases.js';
export { withLock, acquireLock } from '../util/lock-file.js';
export { writeFileAtomic, writeJsonAtomic, readJsonFile } from '../util/atomic-file.js';
