import { randomBytes } from 'node:crypto';
import { promises as fs, opendirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAlreadyExists } from '../../diagnostics/errors.js';
import { snapshotChanges, writeLayer } from '../../diff/compare.js';
import type { LayerEntry } from '../../diff/changes.js';
import { oneShotMounts, withSnapshotDir } from '../../snapshot/mount.js';
import type { Mount } from '../../snapshot/types.js';
import type { StepLayer, StepResult } from '../../cache/types.js';
import { STEP_SNAPSHOT_PREFIX, type WorkerDeps } from './deps.js';

export const EMPTY_RESULT: StepResult = { snapshot: null, layers: [] };

export function activeKey(what: string): string {
  return `${what}-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

/** The committed snapshot name of a step: stable per cache key, so a rerun finds the same one. */
export function stepSnapshotName(key: string | undefined): string {
  const hex = key?.startsWith('sha256:') ? key.slice(7) : randomBytes(32).toString('hex');
  return `${STEP_SNAPSHOT_PREFIX}${hex}`;
}

/** True when `dir` has no entries; reads one entry, not the whole (possibly huge) listing. */
function isEmptyDir(dir: string): boolean {
  const d = opendirSync(dir);
  try {
    return d.readSync() === null;
  } finally {
    d.closeSync();
  }
}

async function* counted(src: AsyncIterable<LayerEntry>, n: { count: number }): AsyncGenerator<LayerEntry> {
  for await (const e of src) {
    n.count++;
    yield e;
  }
}

/**
 * Turn the active snapshot `key` (built on `parent`) into a step result committed as `name`.
 * On overlayfs the layer is left pending (solver/ops/layers.ts): the snapshot is committed as it
 * is, and its tar is written only if an export needs it. An empty upper dir, or the native
 * snapshotter (which finds changes only by comparing whole trees), diffs now. No changes → no new
 * snapshot and an `empty` layer (an empty tar, kept as docker 20.10's BuildKit keeps them).
 * The active snapshot is gone afterwards in every case; on failure nothing is committed.
 */
export async function commitStep(deps: WorkerDeps, key: string, name: string, parent: StepResult): Promise<StepResult> {
  const sn = deps.snapshotter;
  const sde = deps.diff.sourceDateEpoch;
  const created = new Date(sde !== undefined ? sde * 1000 : Date.now()).toISOString();
  try {
    const upper = await sn.upperDir(key);
    let layer: StepLayer | undefined;
    if (upper === null || isEmptyDir(upper)) {
      const n = { count: 0 };
      const w = await writeLayer(deps.content, counted(await snapshotChanges(sn, key, deps.diff), n), deps.diff);
      if (n.count === 0) {
        await sn.remove(key);
        return { snapshot: parent.snapshot, layers: [...parent.layers, { descriptor: w.descriptor, diffID: w.diffID, empty: true, created }] };
      }
      layer = { descriptor: w.descriptor, diffID: w.diffID, created };
    }
    // not synced: after a reboot the snapshot is dropped (and what is built on it); a cached step
    // whose layer was written is re-created from the blob (createRestore), one whose layer is
    // still pending runs again
    let committed = name;
    try {
      await sn.commit(name, key, {}, { sync: false });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      // the step ran again (--no-cache, or another build ran it at the same time): this run's
      // tree is the result (`RUN date` must not give the old date), under a name of its own; the
      // record now names it, and `kiln system prune` collects the other once nothing uses it
      committed = `${name}-${randomBytes(6).toString('hex')}`;
      await sn.commit(committed, key, {}, { sync: false });
    }
    return { snapshot: committed, layers: [...parent.layers, layer ?? { pending: committed, created }] };
  } catch (err) {
    await sn.remove(key).catch(() => undefined);
    throw err;
  }
}

/** Prepare a writable snapshot on top of `parent`'s; removed again if `fn` throws. */
export async function withActive<T>(deps: WorkerDeps, what: string, parent: StepResult, fn: (key: string, mounts: Mount[]) => Promise<T>): Promise<T> {
  const key = activeKey(what);
  // one-shot (see oneShotMounts) and transient (PrepareOptions): committed by commitStep or removed before the step ends
  const mounts = oneShotMounts(await deps.snapshotter.prepare(key, parent.snapshot ?? undefined, {}, { transient: true }));
  try {
    return await fn(key, mounts);
  } catch (err) {
    await deps.snapshotter.remove(key).catch(() => undefined);
    throw err;
  }
}

let emptyDir: Promise<string> | undefined;

/**
 * A read-only look at a result's filesystem (its snapshot mounted read-only, or an empty dir for
 * scratch). For use while a build holds its lease.
 */
export async function withResultDir<T>(deps: WorkerDeps, result: StepResult, fn: (dir: string) => Promise<T>): Promise<T> {
  if (!result.snapshot) {
    emptyDir ??= fs.mkdtemp(path.join(os.tmpdir(), 'kiln-empty-'));
    return fn(await emptyDir);
  }
  // no view record (two metadata writes less per COPY --from): the build's lease keeps the snapshot
  return withSnapshotDir(await deps.snapshotter.viewMounts(result.snapshot), fn);
}

/** True when a cached result's snapshot is still in the snapshotter. */
export async function snapshotExists(deps: Pick<WorkerDeps, 'snapshotter'>, name: string): Promise<boolean> {
  try {
    await deps.snapshotter.stat(name);
    return true;
  } catch {
    return false;
  }
}
