import { promises as fs, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, KilnError, NotFoundError } from '../diagnostics/errors.js';
import { writeSmallFileAtomic } from '../util/atomic-file.js';
import { withLock } from '../util/lock-file.js';
import { processAlive } from '../util/process.js';
import { unmountStale } from './mount.js';
import { syncSnapshotTree } from './sync.js';
import type { CommitOptions, Mount, PrepareOptions, SnapshotInfo, SnapshotKind, Snapshotter, Usage } from './types.js';

/** One snapshot's record in `<driverRoot>/metadata.json`. */
export interface SnapshotRecord {
  /** Short numeric id: the folder `<driverRoot>/snapshots/<id>/`. */
  id: string;
  kind: SnapshotKind;
  parent?: string;
  created: string;
  labels: Record<string, string>;
  /** Set while `prepare`/`view` fills the folder (pid of the process doing it). */
  preparing?: number;
  /** Committed without a sync (CommitOptions.sync false) during this boot (kernel boot_id). */
  unsyncedBoot?: string;
  /** A transient active snapshot (PrepareOptions.transient): the pid of the process using it. */
  transient?: number;
}

let bootIdCache: string | null | undefined;

/** This boot's id (/proc/sys/kernel/random/boot_id), or null where the kernel does not say. */
export function bootId(): string | null {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      bootIdCache = null;
    }
  }
  return bootIdCache;
}

/** What an update tells the writer: false when every change of it may be lost with a power cut (no directory fsync). */
interface UpdateTx {
  durable: boolean;
}

interface MetadataFile {
  version: 1;
  nextId: number;
  snapshots: Record<string, SnapshotRecord>;
}

const KEY_RE = /^[^\0]{1,512}$/;

/**
 * The bookkeeping both snapshotters share: metadata (one JSON file, atomic writes, a lock file for
 * cross-process safety), the on-disk layout, crash cleanup and the state machine of containerd's
 * snapshotter (active/view/committed, key vs name, parents must be committed).
 *
 * Layout: `<root>/snapshots/<driver>/metadata.json`, `.../lock`, `.../snapshots/<id>/{fs,work}`.
 * Crash safety: a folder is created only after its record exists (marked `preparing` with the
 * pid); records of dead preparers and folders without a record are removed when a snapshotter is
 * opened. Commit syncs the snapshot's tree before the record says "committed", unless the caller
 * can re-create it (CommitOptions.sync false): such records carry the boot id, and after a reboot
 * they and their descendants are dropped at open (a torn tree is never mounted).
 */
export { syncFs } from './sync.js';

export abstract class BaseSnapshotter implements Snapshotter {
  abstract readonly name: 'overlayfs' | 'native';
  readonly driverRoot: string;
  protected readonly snapshotsDir: string;
  private readonly metaFile: string;
  private readonly lockFile: string;
  private ready: Promise<void> | undefined;

  constructor(root: string, driver: string) {
    this.driverRoot = path.join(path.resolve(root), 'snapshots', driver);
    this.snapshotsDir = path.join(this.driverRoot, 'snapshots');
    this.metaFile = path.join(this.driverRoot, 'metadata.json');
    this.lockFile = path.join(this.driverRoot, 'lock');
  }

  /** Fill the folder of a new snapshot (fs/ exists and is empty). */
  protected abstract populate(dir: string, kind: 'active' | 'view', parentChain: SnapshotRecord[]): Promise<void>;
  /**
   * True when `populate` is only a few mkdirs (overlayfs): the folder is then made while the
   * metadata lock is held and the record is written once, without the `preparing` round trip
   * (one metadata rewrite + 2 fsyncs less per prepare/view). Still kill -9 safe: the folder
   * exists before the record is durable, and a folder without a record is removed by cleanup(),
   * which also runs under the lock, so it can never see the folder without its record.
   */
  protected readonly cheapPopulate: boolean = false;
  /** Mounts of an active or view snapshot; `chain` is parent first, then its parents. */
  protected abstract mountsFor(rec: SnapshotRecord, chain: SnapshotRecord[]): Mount[];
  abstract upperDir(keyOrName: string): Promise<string | null>;

  // ---- metadata -------------------------------------------------------------------------------

  protected async init(): Promise<void> {
    this.ready ??= (async () => {
      await fs.mkdir(this.snapshotsDir, { recursive: true });
      await this.cleanup();
    })();
    return this.ready;
  }

  private readMeta(): MetadataFile {
    try {
      const m = JSON.parse(readFileSync(this.metaFile, 'utf8')) as MetadataFile;
      if (m.version !== 1 || typeof m.nextId !== 'number' || typeof m.snapshots !== 'object') {
        throw new KilnError('SNAPSHOT_METADATA_CORRUPT', `${this.metaFile}: unknown format`);
      }
      return m;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, nextId: 1, snapshots: {} };
      if (err instanceof SyntaxError) throw new KilnError('SNAPSHOT_METADATA_CORRUPT', `${this.metaFile}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  private queued: { fn: (m: MetadataFile, tx: UpdateTx) => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;

  /**
   * Read-modify-write of the metadata under the lock, resolved once the change is on disk. Group
   * commit: updates asked for while a write is under way are applied together, in order, under one
   * lock and one write (four RUNs committing at once, or a layer's label while the next step
   * prepares, each waited for the others' fsyncs). An update that throws leaves no trace and fails
   * alone; if the lock or the write fails, every update of that batch fails.
   * The file is read with a synchronous call and written by writeSmallFileAtomic (only its two
   * fsyncs go to the thread pool).
   */
  protected update<T>(fn: (m: MetadataFile, tx: UpdateTx) => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queued.length) {
        const batch = this.queued.splice(0);
        const settle: (() => void)[] = [];
        try {
          await withLock(this.lockFile, async () => {
            let m = this.readMeta();
            // Compact JSON, serialised once per update: the file holds every snapshot, so each change costs O(n).
            const before = JSON.stringify(m);
            let now = before;
            let durable = false;
            for (const u of batch) {
              const tx: UpdateTx = { durable: true };
              try {
                const out = await u.fn(m, tx);
                now = JSON.stringify(m);
                durable ||= tx.durable;
                settle.push(() => u.resolve(out));
              } catch (err) {
                m = JSON.parse(now) as MetadataFile; // drop what the failed update changed
                settle.push(() => u.reject(err));
              }
            }
            if (now !== before) await writeSmallFileAtomic(this.metaFile, now, 0o644, { syncDir: durable });
          }, { timeoutMs: 120_000 });
        } catch (err) {
          for (const u of batch) u.reject(err);
          continue;
        }
        for (const s of settle) s();
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * Remove records of preparers that died, unsynced snapshots of an earlier boot and everything
   * built on them, and folders that no record owns.
   */
  async cleanup(): Promise<string[]> {
    const removed: string[] = [];
    // first the mounts a killed kiln process left on its steps' snapshots (their folders may go below)
    await unmountStale();
    await this.update(async (m) => {
      for (const [k, r] of Object.entries(m.snapshots)) {
        if (r.preparing !== undefined && !processAlive(r.preparing)) delete m.snapshots[k];
        else if (r.transient !== undefined && !processAlive(r.transient)) delete m.snapshots[k];
      }
      const boot = bootId();
      const lost = new Set(Object.keys(m.snapshots).filter((k) => m.snapshots[k]!.unsyncedBoot !== undefined && m.snapshots[k]!.unsyncedBoot !== boot));
      for (let grew = lost.size > 0; grew; ) {
        grew = false;
        for (const [k, r] of Object.entries(m.snapshots)) {
          if (!lost.has(k) && r.parent !== undefined && lost.has(r.parent)) {
            lost.add(k);
            grew = true;
          }
        }
      }
      for (const k of lost) delete m.snapshots[k];
      const owned = new Set(Object.values(m.snapshots).map((r) => r.id));
      for (const name of await fs.readdir(this.snapshotsDir)) {
        if (!owned.has(name)) {
          await this.removeDir(path.join(this.snapshotsDir, name));
          removed.push(name);
        }
      }
    });
    return removed;
  }

  protected async removeDir(dir: string): Promise<void> {
    // Committed trees may hold read-only dirs; rm -rf as root ignores modes, Node's rm does too.
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }

  protected dirOf(rec: SnapshotRecord): string {
    return path.join(this.snapshotsDir, rec.id);
  }

  protected fsOf(rec: SnapshotRecord): string {
    return path.join(this.snapshotsDir, rec.id, 'fs');
  }

  private async get(keyOrName: string): Promise<{ rec: SnapshotRecord; meta: MetadataFile }> {
    await this.init();
    const meta = this.readMeta();
    const rec = meta.snapshots[keyOrName];
    if (!rec || rec.preparing !== undefined) throw new NotFoundError(`snapshot ${JSON.stringify(keyOrName)} not found`, { code: 'SNAPSHOT_NOT_FOUND' });
    return { rec, meta };
  }

  private chainOf(meta: MetadataFile, parent: string | undefined): SnapshotRecord[] {
    const chain: SnapshotRecord[] = [];
    for (let p = parent; p !== undefined; ) {
      const r = meta.snapshots[p];
      if (!r) throw new NotFoundError(`parent snapshot ${JSON.stringify(p)} not found`, { code: 'SNAPSHOT_NOT_FOUND' });
      chain.push(r);
      p = r.parent;
    }
    return chain;
  }

  // ---- Snapshotter ----------------------------------------------------------------------------

  prepare(key: string, parent?: string, labels: Record<string, string> = {}, options: PrepareOptions = {}): Promise<Mount[]> {
    return this.create('active', key, parent, labels, options.transient === true);
  }

  view(key: string, parent?: string, labels: Record<string, string> = {}): Promise<Mount[]> {
    return this.create('view', key, parent, labels);
  }

  private async create(kind: 'active' | 'view', key: string, parent: string | undefined, labels: Record<string, string>, transient = false): Promise<Mount[]> {
    if (!KEY_RE.test(key)) throw new InvalidArgumentError(`invalid snapshot key ${JSON.stringify(key)}`, { code: 'SNAPSHOT_INVALID_KEY' });
    await this.init();
    const { rec, chain } = await this.update(async (m, tx) => {
      if (m.snapshots[key]) throw new AlreadyExistsError(`snapshot ${JSON.stringify(key)} already exists`, { code: 'SNAPSHOT_EXISTS' });
      if (parent !== undefined) {
        const p = m.snapshots[parent];
        if (!p || p.preparing !== undefined) throw new NotFoundError(`parent snapshot ${JSON.stringify(parent)} not found`, { code: 'SNAPSHOT_NOT_FOUND' });
        if (p.kind !== 'committed') {
          throw new FailedPreconditionError(`parent ${JSON.stringify(parent)} is not committed`, { code: 'SNAPSHOT_PARENT_NOT_COMMITTED' });
        }
      }
      const r: SnapshotRecord = { id: String(m.nextId++), kind, created: new Date().toISOString(), labels: { ...labels } };
      if (parent !== undefined) r.parent = parent;
      if (transient) {
        r.transient = process.pid;
        tx.durable = false;
      }
      const chain = this.chainOf(m, parent);
      if (this.cheapPopulate) {
        const d = this.dirOf(r);
        try {
          // A folder left by a crashed process whose record never reached the disk may hold this id.
          // Synchronous mkdirs: other updates wait for this one's lock.
          try {
            mkdirSync(d);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
            await this.removeDir(d);
            mkdirSync(d);
          }
          mkdirSync(path.join(d, 'fs'), { mode: 0o755 });
          await this.populate(d, kind, chain);
        } catch (err) {
          await this.removeDir(d).catch(() => undefined);
          throw err; // nothing is written: update() only writes when fn returns
        }
      } else {
        r.preparing = process.pid;
      }
      m.snapshots[key] = r;
      return { rec: r, chain };
    });
    if (this.cheapPopulate) return this.mountsFor(rec, chain);
    const dir = this.dirOf(rec);
    try {
      await fs.mkdir(path.join(dir, 'fs'), { recursive: true, mode: 0o755 });
      await this.populate(dir, kind, chain);
      await this.update((m) => {
        const r = m.snapshots[key];
        if (r && r.id === rec.id) delete r.preparing;
      });
    } catch (err) {
      await this.update((m) => {
        if (m.snapshots[key]?.id === rec.id) delete m.snapshots[key];
      }).catch(() => undefined);
      await this.removeDir(dir).catch(() => undefined);
      throw err;
    }
    delete rec.preparing;
    return this.mountsFor(rec, chain);
  }

  async viewMounts(name: string): Promise<Mount[]> {
    const { rec, meta } = await this.get(name);
    if (rec.kind !== 'committed') {
      throw new FailedPreconditionError(`snapshot ${JSON.stringify(name)} is ${rec.kind}; only a committed one can be viewed`, { code: 'SNAPSHOT_PARENT_NOT_COMMITTED' });
    }
    // what view() would mount: a view's mounts depend only on the chain it is made on
    return this.mountsFor({ ...rec, kind: 'view' }, [rec, ...this.chainOf(meta, rec.parent)]);
  }

  async mounts(key: string): Promise<Mount[]> {
    const { rec, meta } = await this.get(key);
    if (rec.kind === 'committed') {
      throw new FailedPreconditionError(`snapshot ${JSON.stringify(key)} is committed; use view() to mount it`, { code: 'SNAPSHOT_COMMITTED' });
    }
    return this.mountsFor(rec, this.chainOf(meta, rec.parent));
  }

  async commit(name: string, key: string, labels?: Record<string, string>, options: CommitOptions = {}): Promise<void> {
    if (!KEY_RE.test(name)) throw new InvalidArgumentError(`invalid snapshot name ${JSON.stringify(name)}`, { code: 'SNAPSHOT_INVALID_KEY' });
    const { rec } = await this.get(key);
    if (rec.kind !== 'active') {
      throw new FailedPreconditionError(`snapshot ${JSON.stringify(key)} is ${rec.kind}, only active snapshots can be committed`, { code: 'SNAPSHOT_NOT_ACTIVE' });
    }
    // Durability: the data must be on disk before the record says "committed" (containerd#9401);
    // small trees are fsynced in-process, big ones get a shared syncfs (see sync.ts). A caller
    // that can re-create the tree skips that and gets a record tied to this boot instead.
    const boot = options.sync === false ? bootId() : null;
    if (boot === null) await syncSnapshotTree(this.fsOf(rec), this.snapshotsDir);
    await this.update((m, tx) => {
      const r = m.snapshots[key];
      if (!r || r.id !== rec.id || r.kind !== 'active') throw new NotFoundError(`snapshot ${JSON.stringify(key)} not found`, { code: 'SNAPSHOT_NOT_FOUND' });
      if (m.snapshots[name]) throw new AlreadyExistsError(`snapshot ${JSON.stringify(name)} already exists`, { code: 'SNAPSHOT_EXISTS' });
      delete m.snapshots[key];
      const { transient: _t, ...kept } = r; // committed: no longer tied to this process
      m.snapshots[name] = { ...kept, kind: 'committed', labels: { ...r.labels, ...(labels ?? {}) }, ...(boot !== null ? { unsyncedBoot: boot } : {}) };
      // an unsynced commit is dropped after a reboot anyway: losing the record with a power cut
      // (it was renamed in, the directory not fsynced) costs nothing more
      if (boot !== null) tx.durable = false;
    });
  }

  async remove(keyOrName: string): Promise<void> {
    await this.init();
    const rec = await this.update((m, tx) => {
      const r = m.snapshots[keyOrName];
      if (!r || r.preparing !== undefined) throw new NotFoundError(`snapshot ${JSON.stringify(keyOrName)} not found`, { code: 'SNAPSHOT_NOT_FOUND' });
      // a record that would not survive a power cut anyway: its removal need not either
      if (r.transient !== undefined || r.unsyncedBoot !== undefined) tx.durable = false;
      const children = Object.entries(m.snapshots).filter(([, c]) => c.parent === keyOrName).map(([k]) => k);
      if (children.length) {
        throw new FailedPreconditionError(`snapshot ${JSON.stringify(keyOrName)} has children: ${children.join(', ')}`, { code: 'SNAPSHOT_HAS_CHILDREN' });
      }
      delete m.snapshots[keyOrName];
      return r;
    });
    // The record is gone first; a crash here leaves an orphan folder that cleanup() removes.
    await this.removeDir(this.dirOf(rec));
  }

  async setLabels(name: string, labels: Record<string, string>): Promise<void> {
    await this.init();
    await this.update((m, tx) => {
      const r = m.snapshots[name];
      if (!r || r.preparing !== undefined) throw new NotFoundError(`snapshot ${JSON.stringify(name)} not found`, { code: 'SNAPSHOT_NOT_FOUND' });
      r.labels = { ...r.labels, ...labels };
      if (r.unsyncedBoot !== undefined || r.transient !== undefined) tx.durable = false; // goes with its snapshot at a power cut
    });
  }

  async stat(keyOrName: string): Promise<SnapshotInfo> {
    const { rec } = await this.get(keyOrName);
    return toInfo(keyOrName, rec);
  }

  async list(): Promise<SnapshotInfo[]> {
    await this.init();
    const meta = this.readMeta();
    return Object.entries(meta.snapshots)
      .filter(([, r]) => r.preparing === undefined)
      .map(([k, r]) => toInfo(k, r))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async usage(keyOrName: string): Promise<Usage> {
    const { rec } = await this.get(keyOrName);
    return diskUsage(await this.ownTree(rec));
  }

  /** The tree whose size counts as this snapshot's own usage. */
  protected async ownTree(rec: SnapshotRecord): Promise<string> {
    return this.fsOf(rec);
  }

  async fsDir(keyOrName: string): Promise<string> {
    const { rec } = await this.get(keyOrName);
    return this.fsOf(rec);
  }

  /** Committed parents of `keyOrName`, nearest first, as {name, fs dir}. */
  async parents(keyOrName: string): Promise<{ name: string; dir: string }[]> {
    const { rec, meta } = await this.get(keyOrName);
    const out: { name: string; dir: string }[] = [];
    for (let p = rec.parent; p !== undefined; p = meta.snapshots[p]?.parent) {
      const r = meta.snapshots[p];
      if (!r) break;
      out.push({ name: p, dir: this.fsOf(r) });
    }
    return out;
  }
}

function toInfo(name: string, r: SnapshotRecord): SnapshotInfo {
  const info: SnapshotInfo = { name, kind: r.kind, created: r.created, labels: { ...r.labels } };
  if (r.parent !== undefined) info.parent = r.parent;
  return info;
}


/** Bytes (allocated blocks) and inodes under `dir`, each hardlinked inode counted once. */
export async function diskUsage(dir: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  const walk = async (d: string): Promise<void> => {
    const names = await fs.readdir(d);
    const stats = await Promise.all(names.map(async (n) => [n, await fs.lstat(path.join(d, n))] as const));
    for (const [n, st] of stats) {
      const id = `${st.dev}:${st.ino}`;
      if (!seen.has(id)) {
        seen.add(id);
        inodes++;
        size += st.blocks * 512;
      }
      if (st.isDirectory()) await walk(path.join(d, n));
    }
  };
  await walk(dir);
  return { size, inodes };
}
