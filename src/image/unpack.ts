import { createHash, randomBytes } from 'node:crypto';
import type { ContentStore } from '../content/types.js';
import { isAlreadyExists, isNotFound } from '../diagnostics/errors.js';
import { applyLayer } from '../diff/apply.js';
import type { Snapshotter } from '../snapshot/types.js';
import type { ResolvedImage } from './store.js';
import type { Digest } from './types.js';

/** OCI chain IDs: ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(n)). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : (`sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}` as Digest));
  }
  return out;
}

/** The committed snapshot name of a layer chain. */
export function chainSnapshotName(chainId: Digest): string {
  return `layer-${chainId.slice('sha256:'.length)}`;
}

export interface UnpackDeps {
  content: ContentStore;
  snapshotter: Snapshotter;
  root: string;
}

/**
 * Make sure every layer of `image` is a committed snapshot (named by chain ID, shared by all
 * images with the same lower layers) and return the name of the top one, or undefined for an
 * image without layers. Each layer is verified against the config's diff_ids while it is applied.
 * Safe when several processes unpack the same image at once: the loser of a commit race discards
 * its copy.
 */
export async function unpackImage(deps: UnpackDeps, image: ResolvedImage): Promise<string | undefined> {
  const diffIds = image.config.rootfs.diff_ids;
  const layers = image.manifest.layers;
  if (diffIds.length !== layers.length) {
    throw new Error(`image ${image.id}: ${layers.length} layers but ${diffIds.length} diff_ids in its config`);
  }
  const chains = chainIds(diffIds);
  let parent: string | undefined;
  for (let i = 0; i < chains.length; i++) {
    const name = chainSnapshotName(chains[i]!);
    if (!(await exists(deps.snapshotter, name))) {
      const key = `extract-${randomBytes(6).toString('hex')}-${name}`;
      const mounts = await deps.snapshotter.prepare(key, parent, { 'kiln.layer.diffid': diffIds[i]! });
      try {
        await applyLayer(deps.content, layers[i]!, mounts, { expectedDiffID: diffIds[i]! });
        await deps.snapshotter.commit(name, key, { 'kiln.layer.diffid': diffIds[i]!, 'kiln.layer.digest': layers[i]!.digest });
      } catch (err) {
        await deps.snapshotter.remove(key).catch(() => {});
        if (!isAlreadyExists(err)) throw err;
      }
    }
    parent = name;
  }
  return parent;
}

async function exists(s: Snapshotter, name: string): Promise<boolean> {
  try {
    await s.stat(name);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
