/**
 * Containers keep their image: its blobs are GC roots (so `kiln commit` can reuse the parent layers), and
 * `kiln rmi` / `kiln system prune -a` refuse/skip images a container was created from (docker's rule).
 */
import { ContainerStore } from '../container/store.js';
import { isDigest } from '../image/digest.js';
import type { Digest } from '../image/types.js';
import type { GcNode, RootProvider } from './gc.js';

/**
 * Images used by containers -> container names, by image ID (the config digest a container records)
 * and by the manifest or index digest it was created from (what an image record points at).
 */
export async function imageUsers(root: string): Promise<Map<string, string[]>> {
  const users = new Map<string, string[]>();
  for (const c of await new ContainerStore(root).list().catch(() => [])) {
    for (const d of new Set([c.record.imageDigest, c.record.imageTarget?.digest])) {
      if (typeof d !== 'string' || !isDigest(d)) continue;
      users.set(d, [...(users.get(d) ?? []), c.record.name]);
    }
  }
  return users;
}

export const containerRootProvider: RootProvider = {
  name: 'containers',
  async roots(root) {
    const out: GcNode[] = [];
    for (const d of (await imageUsers(root)).keys()) out.push({ digest: d as Digest });
    // the manifest (or index) each container was created from, with everything it references
    for (const c of await new ContainerStore(root).list().catch(() => [])) {
      const t = c.record.imageTarget;
      if (t && isDigest(t.digest)) out.push({ digest: t.digest, mediaType: t.mediaType });
    }
    return out;
  },
};
