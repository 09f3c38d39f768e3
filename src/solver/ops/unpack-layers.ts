import { unpackLayers as unpackLayerChain } from '../../diff/unpack.js';
import type { LayerRef } from '../../cache/types.js';
import type { WorkerDeps } from './deps.js';

/** Make a layer chain a committed snapshot (named by chain ID, like unpacked images); null for no layers. */
export async function unpackLayers(deps: WorkerDeps, layers: readonly LayerRef[]): Promise<string | null> {
  if (layers.length === 0) return null;
  return unpackLayerChain(deps.snapshotter, deps.content, layers);
}
