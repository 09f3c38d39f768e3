import { KilnError } from '../../diagnostics/errors.js';
import { applyLayer } from '../../diff/apply.js';
import type { MergeOp, Vertex } from '../../graph/types.js';
import type { StepResult } from '../../cache/types.js';
import { digestOf } from '../cache-key.js';
import type { CacheMap, OpContext, OpHandler } from '../types.js';
import type { WorkerDeps } from './deps.js';
import { resolveLayers } from './layers.js';
import { EMPTY_RESULT, stepSnapshotName, withActive } from './snapshots.js';
import { isAlreadyExists } from '../../diagnostics/errors.js';

type MergeVertex = Vertex & { op: MergeOp };

/**
 * `COPY --link` (BuildKit's MergeOp): the layers of the inputs stacked in order. The linked copy
 * was built on an empty filesystem, so its layer does not depend on the layers below it and its
 * cache key survives a changed base; here its layers are applied on top of the first input's.
 */
export class MergeHandler implements OpHandler<Vertex> {
  constructor(private readonly deps: WorkerDeps) {}

  async cacheMap(ctx: OpContext<Vertex>): Promise<CacheMap> {
    return { digest: digestOf({ kind: 'merge', layers: (ctx.vertex as MergeVertex).op.layers }) };
  }

  async exec(ctx: OpContext<Vertex>, inputs: readonly StepResult[]): Promise<StepResult> {
    const idx = (ctx.vertex as MergeVertex).op.layers;
    if (idx.length === 0) return EMPTY_RESULT;
    const base = inputs[idx[0]!]!;
    // the linked copies' layers are applied as blobs (written now if still pending)
    const extra = await resolveLayers(this.deps, idx.slice(1).flatMap((i) => inputs[i]!.layers));
    if (extra.length === 0) return base;
    const name = stepSnapshotName(ctx.key);
    return withActive(this.deps, 'merge', base, async (key, mounts) => {
      for (const l of extra) {
        if (ctx.signal.aborted) throw ctx.signal.reason ?? new KilnError('SOLVE_CANCELED', 'canceled');
        await applyLayer(this.deps.content, l.descriptor, mounts, { expectedDiffID: l.diffID });
      }
      try {
        await this.deps.snapshotter.commit(name, key);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        await this.deps.snapshotter.remove(key).catch(() => undefined);
      }
      return { snapshot: name, layers: [...base.layers, ...extra] };
    });
  }
}
