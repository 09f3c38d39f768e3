import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { BaseSnapshotter, type SnapshotRecord } from './base.js';
import { OVERLAY_EXTRA_OPTIONS } from './mount.js';
import type { Mount } from './types.js';

/**
 * overlayfs snapshots (containerd's overlay snapshotter): each snapshot is an upper dir `fs/`
 * and overlayfs' `work/`; a snapshot's tree is its fs/ over the fs/ of all its committed
 * parents. Like containerd, a commit leaves work/ in place (it goes with the snapshot's folder):
 * removing its few empty dirs (work/work/incompat/volatile after a one-shot mount) cost ~0.8 ms
 * of this thread per step, right when the next step waits for the commit. Mounts:
 *  - active without parent: `bind` (rw) of fs/;
 *  - active with parents: `overlay` with `lowerdir=<parent fs>:<grandparent fs>:...`, `upperdir`, `workdir`;
 *  - view of one committed layer (or none): read-only `bind`; view of more: overlay of lowerdirs only.
 * Committed snapshots are only ever lowerdirs (or read-only binds): never written again.
 * Use `probeOverlay(root/snapshots/overlayfs)` (done by `createSnapshotter`) before choosing it.
 */
export class OverlaySnapshotter extends BaseSnapshotter {
  readonly name = 'overlayfs' as const;
  protected override readonly cheapPopulate = true;

  constructor(root: string) {
    super(root, 'overlayfs');
  }

  protected async populate(dir: string, kind: 'active' | 'view'): Promise<void> {
    if (kind === 'active') mkdirSync(path.join(dir, 'work'), { mode: 0o700 }); // under the metadata lock: synchronous
  }

  protected mountsFor(rec: SnapshotRecord, chain: SnapshotRecord[]): Mount[] {
    const own = this.fsOf(rec);
    if (rec.kind === 'active') {
      if (chain.length === 0) return [{ type: 'bind', source: own, options: ['rbind', 'rw'] }];
      return [
        {
          type: 'overlay',
          source: 'overlay',
          options: [
            `workdir=${path.join(this.dirOf(rec), 'work')}`,
            `upperdir=${own}`,
            `lowerdir=${chain.map((r) => this.fsOf(r)).join(':')}`,
            ...OVERLAY_EXTRA_OPTIONS,
          ],
        },
      ];
    }
    if (chain.length === 0) return [{ type: 'bind', source: own, options: ['rbind', 'ro'] }];
    if (chain.length === 1) return [{ type: 'bind', source: this.fsOf(chain[0]!), options: ['rbind', 'ro'] }];
    return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${chain.map((r) => this.fsOf(r)).join(':')}`, ...OVERLAY_EXTRA_OPTIONS] }];
  }

  async upperDir(keyOrName: string): Promise<string | null> {
    return this.fsDir(keyOrName);
  }
}
