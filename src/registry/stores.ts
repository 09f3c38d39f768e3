import { LocalContentStore } from '../content/index.js';
import type { ContentStore } from '../content/types.js';
import type { ImageNames, TransferOptions } from './types.js';

/** The content store and image names under `root`, unless the caller passed its own. */
export async function openStores(opts: Pick<TransferOptions, 'root' | 'content' | 'images'>): Promise<{ content: ContentStore; images: ImageNames }> {
  const content = opts.content ?? (await LocalContentStore.open(opts.root));
  const images = opts.images ?? (await openImageNames(opts.root, content));
  return { content, images };
}

async function openImageNames(root: string, content: ContentStore): Promise<ImageNames> {
  void root;
  void content;
  throw new Error('image store not available yet');
}
