import { createHash, randomBytes } from 'node:crypto';
import type { ContentStore } from '../content/types.js';
import { hasCode, isAlreadyExists, isNotFound } from '../diagnostics/errors.js';
import type { Descriptor, Digest } from '../image/types.js';
import { oneShotMounts } from '../snapshot/mount.js';
import type { Snapshotter } from '../snapshot/types.js';
import { applyLayer } from './apply.js';
import { linkUpperDir } from './link-tree.js';
import type { ApplyOptions } from './types.js';

/**
 * The OCI chain ID of a stack of layers (image-spec config.md): ChainID(L0) = DiffID(L0),
 * ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)). kiln names the committed snapshot
 * of an unpacked layer stack `layer-<hex of the chain ID>` (the same names as src/image/unpack.ts),
 * so equal stacks share snapshots.
 */
export function chainID(diffIDs: readonly Digest[]): Digest {
  let id: string | undefined;
  for (const d of diffIDs) id = id === undefined ? d : `sha256:${createHash('sha256').update(`${id} ${d}`).digest('hex')}`;
  if (id === undefined) throw new Error('chainID of no layers');
  return id as Digest;
}

/** The committed snapshot of an unpacked layer stack: `layer-<hex of its chain ID>`. */
export function layerSnapshotName(diffIDs: readonly Digest[]): string {
  return `layer-${chainID(diffIDs).slice('sha256:'.length)}`;
}

export interface UnpackLayer {
  descriptor: Descriptor;
  diffID: Digest;
}

export interface UnpackOptions extends ApplyOptions {
  /**
   * An overlay upper dir that holds exactly this layer (a build step's committed tree, whose layer
   * was written from it), to hard-link instead of extracting the blob (link-tree.ts). Any failure
   * falls back to extracting.
   */
  linkFrom?: (l: UnpackLayer) => Promise<string | undefined>;
}

/** Make `name` on `parent` by hard-linking `from`; false when that cannot be done here. */
async function linkLayer(sn: Snapshotter, parent: string | undefined, name: string, l: UnpackLayer, from: string): Promise<boolean> {
  const key = `link-${randomBytes(6).toString('hex')} ${name}`;
  const labels = { 'kiln.layer.diffid': l.diffID, 'kiln.layer.digest': l.descriptor.digest };
  try {
    await sn.prepare(key, parent, labels, { transient: true });
  } catch {
    return false;
  }
  try {
    const upper = await sn.upperDir(key);
    if (upper === null) throw new Error('not an overlay snapshot');
    await linkUpperDir(from, upper);
    await sn.commit(name, key, labels); // synced: flushes the linked files' data too
    return true;
  } catch (err) {
    await sn.remove(key).catch(() => undefined);
    return isAlreadyExists(err) && hasCode(err, 'SNAPSHOT_EXISTS');
  }
}

/**
 * containerd's image unpack: make sure a committed snapshot named by the chain ID exists for every
 * prefix of `layers` (base first), applying the missing ones (each verified against its diffID).
 * Idempotent and safe to run concurrently for the same image (a lost commit race is success).
 * Returns the top snapshot's name (`layer-<chain ID hex>`): `prepare(key, thatName)` gives a
 * container rootfs. A failed layer leaves nothing behind.
 */
export async function unpackLayers(sn: Snapshotter, store: ContentStore, layers: readonly UnpackLayer[], o: UnpackOptions = {}): Promise<string> {
  const { linkFrom, ...apply } = o;
  let parent: string | undefined;
  const ids: Digest[] = [];
  for (const l of layers) {
    ids.push(l.diffID);
    const name = layerSnapshotName(ids);
    const have = await sn.stat(name).then(
      (s) => s.kind === 'committed',
      (err) => {
        if (isNotFound(err)) return false;
        throw err;
      },
    );
    const from = have ? undefined : await linkFrom?.(l).catch(() => undefined);
    if (!have && !(from !== undefined && (await linkLayer(sn, parent, name, l, from)))) {
      const key = `extract-${randomBytes(6).toString('hex')} ${name}`;
      // one-shot (committed, which syncs it, or removed): no sync at umount (oneShotMounts)
      const mounts = oneShotMounts(await sn.prepare(key, parent, { 'kiln.layer.diffid': l.diffID }, { transient: true }));
      try {
        await applyLayer(store, l.descriptor, mounts, { ...apply, expectedDiffID: l.diffID });
        await sn.commit(name, key, { 'kiln.layer.diffid': l.diffID, 'kiln.layer.digest': l.descriptor.digest });
      } catch (err) {
        await sn.remove(key).catch(() => undefined);
        if (!(isAlreadyExists(err) && hasCode(err, 'SNAPSHOT_EXISTS'))) throw err;
      }
    }
    parent = name;
  }
  if (parent === undefined) throw new Error('unpackLayers: no layers');
  return parent;
}
