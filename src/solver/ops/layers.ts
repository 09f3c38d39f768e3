import os from 'node:os';
import PQueue from 'p-queue';
import { diffSnapshot } from '../../diff/compare.js';
import { KilnError, hasCode, isNotFound } from '../../diagnostics/errors.js';
import { parseWrittenLayer, writtenLayerLabel, type WrittenLayer } from '../../diff/written-layer.js';
import { isPendingLayer, type BlobCacheRecord, type CacheKey, type CacheRecord, type CacheStore, type LayerRef, type StepLayer } from '../../cache/types.js';
import type { WorkerDeps } from './deps.js';

/**
 * Lazy layers. A build step commits its snapshot and leaves its layer pending (cache/types.ts
 * PendingLayerRef): most steps' layers are never needed as blobs (an intermediate stage's, a
 * step a later step of the same stage builds on and the image has anyway). The tar is written
 * when something needs the blob (the exported image, a cache export, `COPY --link`, the debug
 * image of a failed RUN), as BuildKit computes blobs on export (cache/blobs.go computeBlobChain).
 *
 * A written layer is remembered in a label of its snapshot (so it goes when the snapshot goes),
 * per diff options: a build with SOURCE_DATE_EPOCH gets clamped times even from a step an
 * earlier build without it ran. The blob is content-addressed; if a GC removed it meanwhile, it is
 * written again.
 */

/** Per build (its WorkerDeps): layers being written, and those written (by snapshot, for writeBackLayers). */
const inFlight = new WeakMap<WorkerDeps, Map<string, Promise<LayerRef>>>();
const written = new WeakMap<WorkerDeps, Map<string, LayerRef>>();

/** A pending layer's blob, written now (once per snapshot and options, however many ask at once). */
export function resolveLayer(deps: WorkerDeps, l: StepLayer): Promise<LayerRef> {
  if (!isPendingLayer(l)) return Promise.resolve(l);
  let m = inFlight.get(deps);
  if (!m) inFlight.set(deps, (m = new Map()));
  const id = l.pending;
  let p = m.get(id);
  if (!p) {
    p = writePending(deps, l.pending).then((w) => {
      const ref = { ...w, ...(l.created !== undefined ? { created: l.created } : {}) };
      let wm = written.get(deps);
      if (!wm) written.set(deps, (wm = new Map()));
      wm.set(l.pending, ref);
      return ref;
    });
    m.set(id, p);
    p.catch(() => m!.delete(id));
  }
  return p;
}

async function writePending(deps: WorkerDeps, snapshot: string): Promise<WrittenLayer> {
  const label = writtenLayerLabel(deps.diff);
  let info;
  try {
    info = await deps.snapshotter.stat(snapshot);
  } catch (err) {
    if (isNotFound(err)) throw new KilnError('LAYER_SNAPSHOT_GONE', `the snapshot of a cached step is gone (${snapshot}); build again to re-create it`, { cause: err });
    throw err;
  }
  const known = parseWrittenLayer(info.labels[label]);
  if (known && (await deps.content.has(known.descriptor.digest))) return known;
  const layer = await diffSnapshot(deps.snapshotter, snapshot, deps.content, deps.diff);
  const written: WrittenLayer = { descriptor: layer.descriptor, diffID: layer.diffID };
  await deps.snapshotter.setLabels(snapshot, { [label]: JSON.stringify(written) });
  return written;
}

const writers = () => new PQueue({ concurrency: Math.max(4, os.availableParallelism()) });

/**
 * Every layer of a chain as a blob; pending ones written side by side (at least four: a small
 * layer's write is mostly waiting on fsyncs, a big one's mostly this thread's tar and hash).
 */
export async function resolveLayers(deps: WorkerDeps, layers: readonly StepLayer[], q: PQueue = writers()): Promise<LayerRef[]> {
  if (!layers.some(isPendingLayer)) return layers as LayerRef[];
  return Promise.all(layers.map((l) => (isPendingLayer(l) ? q.add(() => resolveLayer(deps, l)) : l)));
}

/**
 * Records with their layers as blobs, for a cache export. A record whose step snapshot is gone
 * (pruned, or dropped after a reboot) cannot be exported and is left out, as BuildKit leaves out
 * records whose blobs it cannot get.
 */
export async function resolveRecords(deps: WorkerDeps, records: readonly CacheRecord[]): Promise<BlobCacheRecord[]> {
  const q = writers();
  const out = await Promise.all(
    records.map(async (r): Promise<BlobCacheRecord | undefined> => {
      try {
        return { ...r, result: { ...r.result, layers: await resolveLayers(deps, r.result.layers, q) } };
      } catch (err) {
        if (hasCode(err, 'LAYER_SNAPSHOT_GONE')) return undefined;
        throw err;
      }
    }),
  );
  return out.filter((r): r is BlobCacheRecord => r !== undefined);
}

/**
 * Put the layers this build wrote into the cache records that still call them pending, so the
 * records outlive their snapshots: after a reboot drops the (unsynced) step snapshots, a step
 * whose layer was written is restored from the blob, CACHED, instead of running again.
 */
export async function writeBackLayers(deps: WorkerDeps, cache: CacheStore, keys: Iterable<CacheKey>): Promise<void> {
  const wm = written.get(deps);
  if (!wm?.size) return;
  // one file per record: side by side
  await Promise.all(
    [...keys].map(async (key) => {
      const rec = await cache.get(key);
      if (!rec || !rec.result.layers.some((l) => isPendingLayer(l) && wm.has(l.pending))) return;
      const layers = rec.result.layers.map((l) => (isPendingLayer(l) ? (wm.get(l.pending) ?? l) : l));
      await cache.put({ ...rec, result: { ...rec.result, layers } });
    }),
  );
}
