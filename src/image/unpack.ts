import type { ContentStore } from '../content/types.js';
import { unpackLayers } from '../diff/unpack.js';
import type { Snapshotter } from '../snapshot/types.js';
import { parseWrittenLayer, writtenLayerLabel } from '../diff/written-layer.js';
import type { Digest } from './types.js';
import type { ResolvedImage } from './store.js';

export interface UnpackDeps {
  content: ContentStore;
  snapshotter: Snapshotter;
  root: string;
}

/**
 * Make sure every layer of `image` is a committed snapshot (named by chain ID, shared by all images
 * with the same lower layers; see `unpackLayers`) and return the name of the top one, or undefined
 * for an image without layers. Each layer is verified against the config's diff_ids as it is applied.
 */
export async function unpackImage(deps: UnpackDeps, image: ResolvedImage): Promise<string | undefined> {
  const diffIds = image.config.rootfs.diff_ids;
  const layers = image.manifest.layers;
  if (diffIds.length !== layers.length) {
    throw new Error(`image ${image.id}: ${layers.length} layers but ${diffIds.length} diff_ids in its config`);
  }
  if (layers.length === 0) return undefined;
  return unpackLayers(deps.snapshotter, deps.content, layers.map((descriptor, i) => ({ descriptor, diffID: diffIds[i]! })), { linkFrom: builtLayerTrees(deps.snapshotter) });
}

/**
 * A layer a build wrote from one of its steps (the label src/solver/ops/layers.ts leaves) is that
 * step's overlay upper dir: an image just built is unpacked by hard-linking those trees instead of
 * extracting its layers again (docker runs on the build's own layers; this keeps one copy of the
 * data and the first `kiln run` does not wait). Only layers written without SOURCE_DATE_EPOCH
 * (whose tars keep the trees' times) and as plain tars, as builds write them.
 */
function builtLayerTrees(sn: Snapshotter): (l: { diffID: Digest }) => Promise<string | undefined> {
  const label = writtenLayerLabel({ compression: 'none' });
  let byDiffID: Promise<Map<string, string>> | undefined;
  return async (l) => {
    byDiffID ??= sn.list().then((all) => {
      const m = new Map<string, string>();
      for (const s of all) {
        const w = s.kind === 'committed' ? parseWrittenLayer(s.labels[label]) : undefined;
        if (w) m.set(w.diffID, s.name);
      }
      return m;
    });
    const name = (await byDiffID).get(l.diffID);
    return name === undefined ? undefined : ((await sn.upperDir(name)) ?? undefined);
  };
}

/**
 * What docker does on pull, load and import: unpack the image into snapshots right away, so the
 * first `kiln run` or `FROM` on it starts at once (busybox: 0.3 s off the first build in a new
 * root). Best effort by design: an image that cannot be unpacked now is unpacked when first used,
 * and that use reports the error with its context.
 */
export async function unpackNow(root: string, content: ContentStore, load: () => Promise<ResolvedImage[]>): Promise<void> {
  try {
    const { createSnapshotter } = await import('../snapshot/index.js');
    const snapshotter = await createSnapshotter(root);
    for (const image of await load()) await unpackImage({ content, snapshotter, root }, image);
  } catch {
    // see above: the first use unpacks and reports
  }
}
