import type { ContentStore } from '../content/types.js';
import { openStores as openRootStores } from '../store/index.js';
import type { ImageStore } from '../image/store.js';
import type { ImageNames, TransferOptions } from './types.js';

/** The image store seen through the registry's small `ImageNames` seam. */
export function imageNamesOf(store: ImageStore): ImageNames {
  return {
    get: async (name) => (await store.get(name))?.target,
    set: (name, target) => store.setName(name, target),
  };
}

/** The content store and image names under `root`, unless the caller passed its own. */
export async function openStores(opts: Pick<TransferOptions, 'root' | 'content' | 'images'>): Promise<{ content: ContentStore; images: ImageNames }> {
  if (opts.content && opts.images) return { content: opts.content, images: opts.images };
  const stores = await openRootStores(opts.root);
  return { content: opts.content ?? stores.content, images: opts.images ?? imageNamesOf(stores.images) };
}
