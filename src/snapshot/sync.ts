import { promises as fs } from 'node:fs';
import path from 'node:path';
import { run } from './mount.js';

/**
 * Making a snapshot's tree durable before its record says "committed" (and so before any cache
 * record points at it).
 *
 * What others do: containerd's overlay snapshotter calls syncfs(2) on the upper dir's filesystem
 * when a layer is unpacked (containerd#9401); docker's overlay2 driver and BuildKit's exec steps
 * do not sync at all, so a power cut can leave a cache record naming a half-written step. kiln
 * keeps the guarantee but avoids its two costs here: a `sync -f` process per commit (a fork+exec
 * costs 10-50 ms on a loaded machine), and syncfs writing back every dirty page of the WHOLE
 * filesystem (other builds, other users) when a RUN step changed a handful of files.
 *
 * So: a small tree (typical RUN/COPY upper dir, at most SMALL_TREE entries) is synced in-process:
 * fsync(2) on every regular file and directory (directories carry their entries: symlinks,
 * whiteout devices and renames are persisted by the fsync of the directory holding them), plus
 * the snapshot's own folders up to the snapshots folder. A bigger tree (native snapshots are full
 * copies; big layers) gets one syncfs via `sync -f`, and concurrent callers on one filesystem
 * share it (group commit: a caller whose writes finished before a sync STARTED is covered by it).
 *
 * Build steps skip all this (CommitOptions.sync false): their layer blob is already durable in
 * the content store, so their snapshot is tied to the boot instead and re-created from the blob
 * after a reboot (base.ts cleanup). That halves what a step writes back before it completes.
 */
export const SMALL_TREE = 512;

/** fsync `dir`'s tree when it has at most `limit` entries; false (nothing synced) when bigger. */
export async function fsyncSmallTree(dir: string, limit = SMALL_TREE): Promise<boolean> {
  const files: string[] = [];
  const dirs: string[] = [dir];
  for (let i = 0; i < dirs.length; i++) {
    const d = dirs[i]!;
    const ents = await fs.readdir(d, { withFileTypes: true });
    for (const e of ents) {
      if (files.length + dirs.length > limit) return false;
      if (e.isDirectory()) dirs.push(path.join(d, e.name));
      else if (e.isFile()) files.push(path.join(d, e.name));
    }
  }
  // libuv's pool runs these a few at a time; the journal batches concurrent fsyncs into one commit.
  await Promise.all([...files, ...dirs].map((p) => fsyncPath(p)));
  return true;
}

async function fsyncPath(p: string): Promise<void> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Unreadable by mode is impossible as root; a file swapped for a symlink or removed meanwhile
    // is persisted through its directory's fsync.
    if (code === 'ELOOP' || code === 'ENOENT') return;
    throw err;
  }
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Group commit of syncfs per filesystem (st_dev): at most one running, one queued. */
const syncs = new Map<number, { running: Promise<void>; queued?: Promise<void> }>();

/** syncfs(2) on the filesystem holding `dir` (coreutils `sync -f`), falling back to sync(2). */
export async function syncFs(dir: string): Promise<void> {
  const dev = (await fs.stat(dir)).dev;
  const cur = syncs.get(dev);
  if (!cur) {
    const running = spawnSync(dir).finally(() => {
      if (syncs.get(dev)?.running === running) syncs.delete(dev);
    });
    syncs.set(dev, { running });
    return running;
  }
  // A sync is running but may have started before our writes: wait for the next one.
  cur.queued ??= cur.running
    .catch(() => undefined)
    .then(() => {
      const running = spawnSync(dir);
      syncs.set(dev, { running });
      return running.finally(() => {
        if (syncs.get(dev)?.running === running) syncs.delete(dev);
      });
    });
  return cur.queued;
}

async function spawnSync(dir: string): Promise<void> {
  try {
    await run('sync', ['-f', dir]);
  } catch {
    await run('sync', []);
  }
}

/** Make the tree `fsDir` (a snapshot's fs/ under `snapshotsDir`) durable; see the file comment. */
export async function syncSnapshotTree(fsDir: string, snapshotsDir: string): Promise<void> {
  if (await fsyncSmallTree(fsDir)) {
    // the folders naming fs/: <snapshots>/<id>/ and <snapshots>/
    await Promise.all([fsyncPath(path.dirname(fsDir)), fsyncPath(snapshotsDir)]);
    return;
  }
  await syncFs(fsDir);
}
