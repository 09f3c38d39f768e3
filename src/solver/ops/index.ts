import type { Vertex } from '../../graph/types.js';
import { isPendingLayer, type CacheRecord, type LayerRef, type StepResult } from '../../cache/types.js';
import type { OpHandler } from '../types.js';
import type { WorkerDeps } from './deps.js';
import { ExecHandler } from './exec.js';
import { FileHandler } from './file.js';
import { MergeHandler } from './merge.js';
import { SourceHandler } from './source.js';
import { snapshotExists } from './snapshots.js';

export type { WorkerDeps, SecretValue } from './deps.js';
export { ExecFailedError } from './exec.js';
export { copySpec, resolveSources, selectedFiles } from './copy.js';
export { resolveInRoot, cleanContainerPath } from './root-path.js';
export { applyChmod } from './chmod.js';

/** The op handlers of a build, by op kind, and `close` to drop their temp files when it ends. */
export function createOpHandlers(deps: WorkerDeps): { handlers: Record<string, OpHandler<Vertex>>; close(): Promise<void> } {
  const source = new SourceHandler(deps);
  return {
    handlers: { source, file: new FileHandler(deps), exec: new ExecHandler(deps), merge: new MergeHandler(deps) },
    close: () => source.close(),
  };
}

/**
 * The solver's `restore`: a cached local result is usable while its snapshot is there (and its
 * written layers' blobs); a result without its snapshot (imported, or dropped after a reboot) is
 * rebuilt by applying its layers, read from the import source into the content store (verified)
 * first, and is unusable when a layer of it was never written (pending: only the snapshot had it).
 */
export function createRestore(
  deps: WorkerDeps,
  importBlob?: (digest: string) => NodeJS.ReadableStream | undefined,
): (record: CacheRecord, signal: AbortSignal) => Promise<StepResult | undefined> {
  return async (record) => {
    const r = record.result;
    if (r.meta?.local !== undefined) return r;
    if (r.layers.some(isPendingLayer)) return r.snapshot && (await snapshotExists(deps, r.snapshot)) ? r : undefined;
    const layers = r.layers as LayerRef[];
    for (const l of layers) {
      if (await deps.content.has(l.descriptor.digest)) continue;
      const stream = importBlob?.(l.descriptor.digest);
      if (!stream) return undefined;
      await deps.content.put(stream as import('node:stream').Readable, { digest: l.descriptor.digest, size: l.descriptor.size });
    }
    if (r.snapshot && (await snapshotExists(deps, r.snapshot))) return r;
    if (r.layers.length === 0) return { ...r, snapshot: null };
    // re-create the snapshot chain from the layers (chain-ID names, shared with images)
    const { unpackLayers } = await import('./unpack-layers.js');
    const snapshot = await unpackLayers(deps, layers);
    return { ...r, snapshot };
  };
}
