/** A mount to perform, in the shape of mount(2) / the OCI runtime spec. */
export interface Mount {
  type: string;   // 'overlay' | 'bind'
  source: string;
  target?: string;
  options: string[];
}

export type SnapshotKind = 'active' | 'view' | 'committed';

export interface SnapshotInfo {
  /** key for active/view snapshots, name for committed ones */
  name: string;
  kind: SnapshotKind;
  parent?: string;
  created: string;
  labels: Record<string, string>;
}

export interface Usage {
  size: number;
  inodes: number;
}

export interface CommitOptions {
  /**
   * false: do not make the tree durable now. For a snapshot the caller can re-create (a build
   * step whose layer blob is already durable in the content store): the record remembers this
   * boot, and once the machine has rebooted (the only way page-cache data is lost) the snapshot
   * and everything built on it are dropped when the snapshotter is opened, so a possibly torn
   * tree is never used; the caller re-creates it from the blob. Default true: synced (sync.ts).
   */
  sync?: boolean;
}

export interface PrepareOptions {
  /**
   * A snapshot that lives only as long as this process uses it (a build step's writable tree,
   * committed or removed before the step ends). Its record carries this process's pid, so opening
   * the snapshotter after the process died drops it (a killed build's steps no longer stay behind),
   * and its record changes skip the metadata directory's fsync: after a power cut it is gone with
   * its process either way.
   */
  transient?: boolean;
}

/**
 * containerd's snapshotter, as sketched in ../shared/DESIGN.md. Committed snapshots are immutable.
 *
 * Terms: `key` names an active or view snapshot, `name` a committed one; only committed snapshots
 * can be parents. Errors carry codes: SNAPSHOT_EXISTS (AlreadyExistsError), SNAPSHOT_NOT_FOUND
 * (NotFoundError), SNAPSHOT_PARENT_NOT_COMMITTED / SNAPSHOT_NOT_ACTIVE / SNAPSHOT_COMMITTED /
 * SNAPSHOT_HAS_CHILDREN (FailedPreconditionError).
 *
 * Importing a layer:   mounts = prepare('extract-1', parentName); applyLayer(store, desc, mounts);
 *                      commit('sha256:<chainID>', 'extract-1')
 * Running a container: mounts = prepare('ctr-1', imageTopName); mountAll(mounts, rootfs) ...
 * Reading an image:    mounts = view('ro-1', name); withMountedSnapshot(mounts, dir => ...); remove('ro-1')
 * The mounts are performed with `mountAll`/`withMountedSnapshot` (src/snapshot/mount.ts), which
 * also copes with overlay option lists longer than a page.
 */
export interface Snapshotter {
  readonly name: 'overlayfs' | 'native';
  /** A new writable (active) snapshot on top of committed `parent`. Throws AlreadyExistsError if `key` exists. */
  prepare(key: string, parent?: string, labels?: Record<string, string>, options?: PrepareOptions): Promise<Mount[]>;
  /** A read-only view of committed `parent`. */
  view(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  /**
   * The mounts of a read-only look at committed `name` without a view record (nothing written,
   * nothing to remove). Only for a caller that keeps `name` from being removed meanwhile: a build,
   * whose lease stops snapshot GC (src/store/snapshot-gc.ts) while it runs.
   */
  viewMounts(name: string): Promise<Mount[]>;
  /** The mounts of an existing active or view snapshot. */
  mounts(key: string): Promise<Mount[]>;
  /** Turn active `key` into committed `name`; `key` is gone after. */
  commit(name: string, key: string, labels?: Record<string, string>, options?: CommitOptions): Promise<void>;
  /** Remove a snapshot; fails (SNAPSHOT_HAS_CHILDREN) if others are built on it. */
  remove(keyOrName: string): Promise<void>;
  /** Add or replace labels (containerd's Update, labels only); they live and go with the snapshot. */
  setLabels(name: string, labels: Record<string, string>): Promise<void>;
  stat(keyOrName: string): Promise<SnapshotInfo>;
  usage(keyOrName: string): Promise<Usage>;
  list(): Promise<SnapshotInfo[]>;
  /**
   * The directory holding only this snapshot's own changes (overlay upper dir, or for the native
   * snapshotter null: its full tree must be compared with its parent's).
   */
  upperDir(keyOrName: string): Promise<string | null>;
  /**
   * (Added by the snapshot owner, compatible.) The folder holding this snapshot's own tree: the
   * overlay upper dir, or the native snapshotter's full copy. For trusted kiln code (the differ)
   * only: never hand it to a container, and never write into a committed one.
   */
  fsDir(keyOrName: string): Promise<string>;
}
