/** GC roots of the image store: the target of every image record, named or dangling. */
import path from 'node:path';
import { isDigest } from '../image/digest.js';
import type { Digest } from '../image/types.js';
import { readJsonFile } from '../util/atomic-file.js';
import type { GcNode, RootProvider } from './gc.js';

interface ImagesFileShape {
  images?: Record<string, { target?: { digest?: string; mediaType?: string } }>;
}

export const imageRootProvider: RootProvider = {
  name: 'images',
  async roots(root) {
    const f = await readJsonFile<ImagesFileShape>(path.join(root, 'meta', 'images.json'));
    const out: GcNode[] = [];
    for (const r of Object.values(f?.images ?? {})) {
      const d = r.target?.digest;
      if (isDigest(d)) out.push(r.target?.mediaType ? { digest: d as Digest, mediaType: r.target.mediaType } : { digest: d as Digest });
    }
    return out;
  },
};
