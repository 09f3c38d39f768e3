/**
 * Snapshot GC for `kiln system prune`: committed snapshots that nothing uses any more are removed.
 * Build steps keep their data only in snapshots until a layer is exported (src/solver/ops/layers.ts),
 * so without this a pruned build cache left its trees on disk.
 *
 * Kept: every active or view snapshot (containers' root filesystems, steps running now) and what
 * they are built on; the snapshot of every cache record left, with the snapshots its pending
 * layers name; the unpacked layers (`layer-<chain ID>`) of every image left. Nothing is removed
 * while a build or pull holds a live lease (it may have committed a step whose record is not
 * written yet), nor a snapshot committed in the last minute.
 */
import { FileCacheStore } from '../cache/record-store.js';
import { isPendingLayer } from '../cache/types.js';
import { layerSnapshotName } from '../diff/unpack.js';
import type { ImageStore } from '../image/store.js';
import type { Digest } from '../image/types.js';
import type { SnapshotInfo, Snapshotter } from '../snapshot/types.js';
import { liveLeases } from './leases.js';

export interface SnapshotGcResult {
  removed: string[];
  reclaimedBytes: number;
  /** Why nothing was removed, when something was in the way. */
  skipped?: string;
}

const GRACE_MS = 60_000;

async function imageSnapshotNames(images: ImageStore): Promise<Set<string>> {
  const names = new Set<string>();
  for (const r of await images.list()) {
    const img = await images.loadTarget(r.target).catch(() => undefined);
    const ids = img?.config.rootfs.diff_ids ?? [];
    for (let i = 1; i <= ids.length; i++) names.add(layerSnapshotName(ids.slice(0, i) as Digest[]));
  }
  return names;
}

export async function pruneSnapshots(root: string, sn: Snapshotter, images: ImageStore, now = Date.now()): Promise<SnapshotGcResult> {
  const leases = await liveLeases(root);
  if (leases > 0) return { removed: [], reclaimedBytes: 0, skipped: `${leases} build${leases === 1 ? '' : 's'} or pull${leases === 1 ? '' : 's'} running` };
  const all = new Map<string, SnapshotInfo>((await sn.list()).map((s) => [s.name, s]));
  const roots = await imageSnapshotNames(images);
  for await (const rec of new FileCacheStore(root).list()) {
    if (rec.result.snapshot) roots.add(rec.result.snapshot);
    for (const l of rec.result.layers) if (isPendingLayer(l)) roots.add(l.pending);
  }
  for (const s of all.values()) {
    if (s.kind !== 'committed' || now - Date.parse(s.created) < GRACE_MS) roots.add(s.name);
  }
  const keep = new Set<string>();
  for (const r of roots) {
    for (let p: string | undefined = r; p !== undefined && !keep.has(p); p = all.get(p)?.parent) keep.add(p);
  }
  // leaves first: a snapshot can go once nothing is built on it
  const children = new Map<string, number>();
  for (const s of all.values()) if (s.parent !== undefined) children.set(s.parent, (children.get(s.parent) ?? 0) + 1);
  const result: SnapshotGcResult = { removed: [], reclaimedBytes: 0 };
  let ready = [...all.values()].filter((s) => !keep.has(s.name) && !children.get(s.name));
  while (ready.length) {
    const next: SnapshotInfo[] = [];
    for (const s of ready) {
      const size = await sn.usage(s.name).then((u) => u.size, () => 0);
      try {
        await sn.remove(s.name);
      } catch {
        continue; // in use after all (another process built on it just now): kept
      }
      result.removed.push(s.name);
      result.reclaimedBytes += size;
      if (s.parent === undefined) continue;
      const left = (children.get(s.parent) ?? 1) - 1;
      children.set(s.parent, left);
      const parent = all.get(s.parent);
      if (left === 0 && parent && !keep.has(parent.name)) next.push(parent);
    }
    ready = next;
  }
  return result;
}
