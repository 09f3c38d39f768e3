import { unpackImage } from '../../image/unpack.js';
import type { ResolvedImage } from '../../image/store.js';
import type { LayerRef } from '../../cache/types.js';
import type { WorkerDeps } from './deps.js';

/** Make a layer chain a committed snapshot (named by chain ID, like unpacked images). */
export async function unpackLayers(deps: WorkerDeps, layers: readonly LayerRef[]): Promise<string | null> {
  // unpackImage needs only the manifest layers and the config diff_ids
  const pseudo = {
    manifest: { layers: layers.map((l) => l.descriptor) },
    config: { rootfs: { diff_ids: layers.map((l) => l.diffID) } },
    id: 'sha256:cache',
  } as unknown as ResolvedImage; // only the fields unpackImage reads
  return (await unpackImage({ content: deps.content, snapshotter: deps.snapshotter, root: deps.root }, pseudo)) ?? null;
}
