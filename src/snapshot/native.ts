import { BaseSnapshotter, type SnapshotRecord } from './base.js';
import { run } from './mount.js';
import type { Mount } from './types.js';

/**
 * Copying snapshots (containerd's native snapshotter): an active snapshot's fs/ is a full copy of
 * its parent's tree made with `cp -a --reflink=auto` (GNU coreutils: keeps hardlinks, modes,
 * owners, times, xattrs, device nodes; shares extents on btrfs/xfs). Works without overlayfs and,
 * for everything but mounting, without root.
 * Mounts: active → `bind` (rw) of its own fs/; view → read-only `bind` of the parent's fs/
 * (committed trees are immutable, so a view needs no copy).
 */
export class NativeSnapshotter extends BaseSnapshotter {
  readonly name = 'native' as const;

  constructor(root: string) {
    super(root, 'native');
  }

  protected async populate(dir: string, kind: 'active' | 'view', chain: SnapshotRecord[]): Promise<void> {
    if (kind !== 'active' || chain.length === 0) return;
    try {
      await run('cp', ['-a', '--reflink=auto', '--', `${this.fsOf(chain[0]!)}/.`, `${dir}/fs/`]);
    } catch (err) {
      const { KilnError } = await import('../diagnostics/errors.js');
      throw new KilnError('SNAPSHOT_COPY_FAILED', `copying parent snapshot failed: ${String((err as { stderr?: string }).stderr ?? err).trim()}`, { cause: err });
    }
  }

  protected mountsFor(rec: SnapshotRecord, chain: SnapshotRecord[]): Mount[] {
    if (rec.kind === 'active') return [{ type: 'bind', source: this.fsOf(rec), options: ['rbind', 'rw'] }];
    const src = chain.length ? this.fsOf(chain[0]!) : this.fsOf(rec);
    return [{ type: 'bind', source: src, options: ['rbind', 'ro'] }];
  }

  async upperDir(): Promise<string | null> {
    return null;
  }
}
