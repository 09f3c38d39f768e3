import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { KilnError, NotFoundError } from '../diagnostics/errors.js';
import { applyTar } from '../diff/apply.js';
import { entryFor, treeChanges, type LayerEntry } from '../diff/changes.js';
import { diffSnapshot, snapshotChanges } from '../diff/compare.js';
import { writeTar } from '../diff/tar-writer.js';
import { applyChange } from '../image/changes.js';
import type { ContainerConfig, Descriptor, Digest, HistoryEntry, ImageConfig } from '../image/types.js';
import { withMountedSnapshot } from '../snapshot/index.js';
import type { ContainerEngine } from './engine.js';
import { pathInRoot } from './rootfs-files.js';
import type { Container } from './store.js';

/**
 * Run `fn` with the container's root filesystem as a host directory: through /proc/<pid>/root
 * while it runs (its overlay is mounted in its own namespace), else by mounting its snapshot.
 */
export async function withContainerRoot<T>(engine: ContainerEngine, c: Container, fn: (root: string) => Promise<T>): Promise<T> {
  if (c.state.status === 'running' && c.state.pid !== undefined) return fn(`/proc/${c.state.pid}/root`);
  const sn = await engine.snapshotter();
  return withMountedSnapshot(await sn.mounts(c.record.snapshotKey), fn);
}

export type ChangeKind = 'A' | 'C' | 'D';

/** docker diff: the paths the container added (A), changed (C) or deleted (D), sorted by path. */
export async function diffContainer(engine: ContainerEngine, c: Container): Promise<Array<{ kind: ChangeKind; path: string }>> {
  const sn = await engine.snapshotter();
  const info = await sn.stat(c.record.snapshotKey);
  const entries: LayerEntry[] = [];
  for await (const e of await snapshotChanges(sn, c.record.snapshotKey)) entries.push(e);
  const exists = async (lower: string | undefined, p: string): Promise<boolean> => {
    if (!lower) return false;
    try {
      await fs.lstat(await pathInRoot(lower, p, false));
      return true;
    } catch {
      return false;
    }
  };
  const classify = async (lower: string | undefined) => {
    const out: Array<{ kind: ChangeKind; path: string }> = [];
    for (const e of entries) {
      const name = `/${e.header.name.replace(/\/$/, '')}`;
      const base = path.posix.basename(name);
      if (base === '.wh..wh..opq') continue;
      if (base.startsWith('.wh.')) {
        out.push({ kind: 'D', path: path.posix.join(path.posix.dirname(name), base.slice(4)) });
        continue;
      }
      out.push({ kind: (await exists(lower, name)) ? 'C' : 'A', path: name });
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  };
  if (info.parent === undefined) return classify(undefined);
  const viewKey = `diff-view-${c.record.id}-${process.pid}-${Date.now()}`;
  const mounts = await sn.view(viewKey, info.parent);
  try {
    return await withMountedSnapshot(mounts, (lower) => classify(lower));
  } finally {
    await sn.remove(viewKey).catch(() => {});
  }
}

export interface CommitOptions {
  changes: string[];
  message?: string;
  author?: string;
  names: string[];
}

/**
 * docker commit: the container's writable layer becomes a new layer on top of its image. Volumes
 * are separate mounts, so their contents never enter the layer. The new config starts from the
 * container's (its Env, Cmd, Entrypoint, WorkingDir, User as it was run) and then applies `-c`.
 */
export async function commitContainer(engine: ContainerEngine, c: Container, o: CommitOptions): Promise<{ descriptor: Descriptor; id: Digest }> {
  const r = c.record;
  // Validate the changes before the (possibly long) diff.
  let cfg: ContainerConfig = {
    ...r.config,
    Env: r.env.filter((e) => !e.startsWith('HOSTNAME=')),
    WorkingDir: r.cwd,
    ...(r.user ? { User: r.user } : {}),
    Labels: r.labels,
  };
  for (const change of o.changes) cfg = applyChange(cfg, change);
  const image = await engine.images.loadTarget(r.imageTarget);
  const sn = await engine.snapshotter();
  // a plain tar, as builds store theirs: compressed when the image leaves (src/image/compress-layers.ts)
  const layer = await diffSnapshot(sn, r.snapshotKey, engine.content, { compression: 'none' });
  const now = new Date().toISOString();
  const history: HistoryEntry = {
    created: now,
    created_by: r.args.join(' '),
    ...(o.author ? { author: o.author } : {}),
    ...(o.message ? { comment: o.message } : {}),
  };
  const config: ImageConfig = {
    ...image.config,
    created: now,
    config: cfg,
    rootfs: { type: 'layers', diff_ids: [...image.config.rootfs.diff_ids, layer.diffID] },
    history: [...(image.config.history ?? []), history],
  };
  if (o.author) config.author = o.author;
  const layers = image.manifest.layers.map((d, i) => ({ descriptor: d, diffID: image.config.rootfs.diff_ids[i]! }));
  layers.push({ descriptor: layer.descriptor, diffID: layer.diffID });
  const descriptor = await engine.images.createImage({ config, layers, names: o.names });
  return { descriptor, id: await engine.images.imageId(descriptor) };
}

/** docker export: the container's whole filesystem (image layers + its changes) as one tar. */
export async function exportContainer(engine: ContainerEngine, c: Container, out: NodeJS.WritableStream): Promise<void> {
  await withContainerRoot(engine, c, async (root) => {
    await pipeline(Readable.from(writeTar(treeChanges(null, root, {}))), out);
  });
}

export async function exportContainerToFile(engine: ContainerEngine, c: Container, file: string): Promise<void> {
  const tmp = `${file}.kiln-${process.pid}.tmp`;
  try {
    await exportContainer(engine, c, createWriteStream(tmp, { mode: 0o644 }));
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Prefix every entry name with `dir/` (a tar built from a host tree, placed at `dir` in the container). */
async function* placed(entries: AsyncIterable<LayerEntry>, dir: string): AsyncGenerator<LayerEntry> {
  for await (const e of entries) {
    const rel = e.header.name.replace(/^\.?\/*/, '');
    e.header = { ...e.header, name: path.posix.join(dir, rel) + (e.header.name.endsWith('/') ? '/' : '') };
    if (path.posix.basename(e.header.name.replace(/\/$/, '')).startsWith('.wh.')) {
      throw new KilnError('CONTAINER_CP_BAD_NAME', `cannot copy ${rel}: names starting with .wh. are reserved for layer whiteouts`);
    }
    yield e;
  }
}

/**
 * docker cp HOST_SRC CONTAINER:DEST. The destination is resolved inside the container's root (a
 * symlink there can never lead outside it), and the copy is written by the layer applier, which
 * confines every entry to that root.
 */
export async function copyIn(engine: ContainerEngine, c: Container, hostSrc: string, dest: string): Promise<void> {
  const st = await fs.lstat(hostSrc).catch(() => undefined);
  if (!st) throw new NotFoundError(`no such file or directory: ${hostSrc}`, { code: 'CONTAINER_CP_SOURCE_MISSING' });
  await withContainerRoot(engine, c, async (root) => {
    const destHost = await pathInRoot(root, dest);
    const destSt = await fs.stat(destHost).catch(() => undefined);
    const srcName = path.basename(path.resolve(hostSrc));
    const copyContents = hostSrc.endsWith('/.');
    // docker's rules: into an existing directory the source keeps its name; otherwise DEST is the new name.
    let target: string;
    if (destSt?.isDirectory()) target = copyContents ? dest : path.posix.join(dest, srcName);
    else if (dest.endsWith('/')) throw new NotFoundError(`destination directory ${dest} does not exist in the container`, { code: 'CONTAINER_CP_DEST_MISSING' });
    else target = dest;
    let entries: AsyncIterable<LayerEntry>;
    if (st.isDirectory()) {
      entries = placed(treeChanges(null, path.resolve(hostSrc), {}), target);
    } else {
      const one = await entryFor(path.resolve(hostSrc), path.posix.basename(target), await fs.lstat(hostSrc), {});
      entries = placed((async function* () {
        if (one) yield one;
      })(), path.posix.dirname(target));
    }
    await applyTar(writeTar(entries), root, { sameOwner: false });
  });
}

/** docker cp CONTAINER:SRC HOST_DEST: symlinks inside the copied tree are copied as links, never followed. */
export async function copyOut(engine: ContainerEngine, c: Container, src: string, hostDest: string): Promise<void> {
  await withContainerRoot(engine, c, async (root) => {
    const srcHost = await pathInRoot(root, src, false);
    const st = await fs.lstat(srcHost).catch(() => undefined);
    if (!st) throw new NotFoundError(`could not find the file ${src} in container ${c.record.name}`, { code: 'CONTAINER_CP_SOURCE_MISSING' });
    const destSt = await fs.stat(hostDest).catch(() => undefined);
    const target = destSt?.isDirectory() && !src.endsWith('/.') ? path.join(hostDest, path.posix.basename(src.replace(/\/+$/, '')) || 'root') : hostDest;
    await fs.cp(srcHost, target, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true, errorOnExist: false });
  });
}
