import { execFile } from 'node:child_process';
import { promises as fs, existsSync, mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KilnError } from '../diagnostics/errors.js';
import { processAlive } from '../util/process.js';
import { bundledMountHelper } from '../util/runtime-path.js';
import { MountServer } from './mount-server.js';
import type { Mount } from './types.js';

/**
 * Performing `Mount[]` with the bundled runtime's `mount`/`umount` commands (the same arguments as
 * mount(8)/umount(8), a fraction of util-linux's start-up: a build mounts and unmounts for every
 * step), or util-linux's when the runtime is not built; both from fixed paths, never from a PATH
 * that a container could influence.
 *
 * Long overlay lowerdir lists: the kernel copies mount options into one page (4096 bytes). When the
 * joined options are longer than MAX_OPTIONS_LENGTH, `compactOverlay` rewrites every lowerdir,
 * upperdir and workdir as a path relative to their longest common parent and mount(8) is run with
 * that directory as its working directory (containerd's trick). With kiln's short snapshot ids
 * (`<n>/fs`) that fits about 500 layers, which is also the kernel's overlay stack limit.
 */
export const MAX_OPTIONS_LENGTH = 4000;

function tool(name: string): string {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  return name;
}

let server: MountServer | undefined;

/**
 * Run mount(8)/umount(8)-style commands: through the bundled runtime's mount server when it is
 * built (one helper process for all of them), else one `kiln-runtime` or util-linux process a call.
 * Rejects with an Error carrying `stderr` when the command fails.
 */
export async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const helper = cmd === 'mount' || cmd === 'umount' ? bundledMountHelper() : null;
  if (helper && process.env.KILN_MOUNT_SERVER !== '0') {
    server ??= new MountServer(helper);
    if (!server.failure) {
      const r = await server.call(cmd as 'mount' | 'umount', args, cwd).catch(() => undefined);
      if (r && r.status === 0) return '';
      if (r) throw Object.assign(new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`), { stderr: r.stderr });
      // the helper failed (not the command): one process a call from now on
    }
  }
  return runOnce(cmd, args, cwd);
}

function runOnce(cmd: string, args: string[], cwd?: string): Promise<string> {
  const helper = cmd === 'mount' || cmd === 'umount' ? bundledMountHelper() : null;
  const [file, argv] = helper ? [helper, [cmd, ...args]] : [tool(cmd), args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { cwd, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const e = err as Error & { stderr?: string };
        e.stderr = String(stderr);
        reject(e);
      } else resolve(String(stdout));
    });
  });
}

export interface CompactedMount {
  cwd?: string;
  options: string[];
}

/** Rewrite overlay dir options relative to a common parent when the options are too long for one page. */
export function compactOverlay(m: Mount, limit = MAX_OPTIONS_LENGTH): CompactedMount {
  if (m.type !== 'overlay' || m.options.join(',').length <= limit) return { options: m.options };
  const dirs: string[] = [];
  for (const o of m.options) {
    const [k, v] = splitOpt(o);
    if (k === 'lowerdir') dirs.push(...v.split(':'));
    else if (k === 'upperdir' || k === 'workdir') dirs.push(v);
  }
  let common = path.dirname(dirs[0] ?? '/');
  for (const d of dirs) while (!(d + '/').startsWith(common === '/' ? '/' : common + '/')) common = path.dirname(common);
  // The snapshot dirs are `<common>/<id>/fs`; ids are relative to the snapshots folder.
  const rel = (p: string) => path.relative(common, p) || '.';
  const options = m.options.map((o) => {
    const [k, v] = splitOpt(o);
    if (k === 'lowerdir') return `lowerdir=${v.split(':').map(rel).join(':')}`;
    if (k === 'upperdir' || k === 'workdir') return `${k}=${rel(v)}`;
    return o;
  });
  if (options.join(',').length > limit) {
    throw new KilnError('SNAPSHOT_TOO_MANY_LAYERS', `overlay mount options are ${options.join(',').length} bytes even with relative paths (limit ${limit})`, {
      hint: 'squash the image (fewer layers) or use the native snapshotter',
    });
  }
  return { cwd: common, options };
}

function splitOpt(o: string): [string, string] {
  const i = o.indexOf('=');
  return i < 0 ? [o, ''] : [o.slice(0, i), o.slice(i + 1)];
}

/**
 * The same mounts for a ONE-SHOT writable use: the active snapshot is mounted once, then either
 * committed (commit makes its files durable itself, see sync.ts) or removed. Overlay mounts get
 * `volatile` (Linux 5.10+): unmounting a writable overlay otherwise runs sync_filesystem() on the
 * whole upper filesystem, measured at 20-400 ms (median ~60 ms) per umount2 on the shared, loaded
 * machine vs ~0.2 ms with volatile. Never use it for snapshots that are mounted again (containers:
 * a volatile work dir refuses a second mount). mountAll retries without it on older kernels.
 */
export function oneShotMounts(mounts: Mount[]): Mount[] {
  return mounts.map((m) =>
    m.type === 'overlay' && m.options.some((o) => o.startsWith('upperdir=')) && !m.options.includes('volatile')
      ? { ...m, options: [...m.options, 'volatile'] }
      : m,
  );
}

/** Mount `mounts` in order on `target` (each one on top of the previous, as containerd does). */
export async function mountAll(mounts: Mount[], target: string): Promise<void> {
  try {
    await mountAllOnce(mounts, target);
  } catch (err) {
    if (!mounts.some((m) => m.options.includes('volatile'))) throw err;
    // a kernel before 5.10 does not know `volatile`: mount without it (commit syncs or ties the snapshot to the boot)
    await mountAllOnce(mounts.map((m) => ({ ...m, options: m.options.filter((o) => o !== 'volatile') })), target);
  }
}

async function mountAllOnce(mounts: Mount[], target: string): Promise<void> {
  const done: number[] = [];
  try {
    for (const m of mounts) {
      const dest = m.target ? path.join(target, m.target) : target;
      if (m.type === 'bind') {
        const opts = m.options.filter((o) => o !== 'bind' && o !== 'rbind');
        const bind = m.options.includes('rbind') ? 'rbind' : 'bind';
        await run('mount', ['-o', [bind, ...opts].join(','), m.source, dest]);
      } else {
        const c = compactOverlay(m);
        await run('mount', ['-t', m.type, '-o', c.options.join(','), m.source, dest], c.cwd);
      }
      done.push(1);
    }
  } catch (err) {
    for (let i = 0; i < done.length; i++) await run('umount', [target]).catch(() => undefined);
    const e = err as Error & { stderr?: string };
    throw new KilnError('SNAPSHOT_MOUNT_FAILED', `mount on ${target} failed: ${(e.stderr || e.message).trim()}`, { cause: err });
  }
}

/** Unmount everything mounted on `target` (recursively), falling back to a lazy unmount when busy. */
export async function unmountAll(target: string): Promise<void> {
  try {
    await run('umount', ['-R', target]);
  } catch (err) {
    const msg = String((err as { stderr?: string }).stderr ?? '');
    if (/not mounted|no mount point/i.test(msg)) return;
    try {
      await run('umount', ['-l', '-R', target]);
    } catch (err2) {
      throw new KilnError('SNAPSHOT_UNMOUNT_FAILED', `umount ${target} failed: ${msg.trim()}`, { cause: err2 });
    }
  }
}

/**
 * The name prefix of a temp mount point this process makes for a snapshot: `kiln-<what>-<pid>-`
 * (mkdtemp adds six characters). The pid lets `unmountStale` tell a killed process's mounts.
 */
export function mountPointPrefix(what: 'run' | 'bind' | 'mount'): string {
  return `kiln-${what}-${process.pid}-`;
}

const STALE_MOUNT_RE = /^kiln-(?:run|bind|mount)-(\d+)-[A-Za-z0-9]{6}$/;

/**
 * Unmount (lazily, recursively) and remove the temp mount points of kiln processes that are gone:
 * a build killed with -9 leaves its step's overlay mounted. Only mount points named by
 * `mountPointPrefix` directly in `tmpRoot` are touched, and only when their pid is not alive.
 * Returns the mount points it unmounted.
 */
export async function unmountStale(tmpRoot = os.tmpdir()): Promise<string[]> {
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const stale = new Set<string>();
  for (const line of info.split('\n')) {
    const point = line.split(' ')[4];
    if (!point || path.dirname(point) !== tmpRoot) continue;
    const m = STALE_MOUNT_RE.exec(path.basename(point));
    if (m && !processAlive(Number(m[1]))) stale.add(point);
  }
  for (const point of stale) {
    await run('umount', ['-l', '-R', point]).catch(() => undefined);
    try {
      rmdirSync(point);
    } catch {
      /* still busy, or not empty: left as it is */
    }
  }
  return [...stale];
}

/**
 * Mount `mounts` on a fresh temp dir, run `fn(dir)`, and always unmount and remove the dir,
 * whether `fn` succeeds or throws.
 */
export async function withMountedSnapshot<T>(mounts: Mount[], fn: (dir: string) => Promise<T>, tmpRoot = os.tmpdir()): Promise<T> {
  // the mount point is made and removed synchronously: a COPY --from step mounts twice, and each
  // thread-pool round trip waits behind whatever else the build has queued
  const dir = mkdtempSync(path.join(tmpRoot, mountPointPrefix('mount')));
  try {
    await mountAll(mounts, dir);
    try {
      return await fn(dir);
    } finally {
      await unmountAll(dir);
    }
  } finally {
    try {
      rmdirSync(dir);
    } catch {
      /* still a mount point (the unmount failed, and that error is what is thrown): it stays */
    }
  }
}

/**
 * The directory holding the tree of `mounts` *without mounting*, when that is possible: a single
 * bind mount (native snapshots, overlay snapshots without parents, single-layer views). For trusted
 * kiln code (diff/apply) only; null when a real mount is needed.
 */
export function directDir(mounts: Mount[]): string | null {
  if (mounts.length === 1 && mounts[0]!.type === 'bind' && !mounts[0]!.target) return mounts[0]!.source;
  return null;
}

/** Like withMountedSnapshot, but skips the mount when `directDir` can name the tree. */
export async function withSnapshotDir<T>(mounts: Mount[], fn: (dir: string) => Promise<T>): Promise<T> {
  const d = directDir(mounts);
  return d ? fn(d) : withMountedSnapshot(mounts, fn);
}

const probes = new Map<string, Promise<string | null>>();

/**
 * Can overlayfs be used with upper dirs under `dir`? Mounts a tiny overlay there for real (a
 * lower, an upper, a whiteout through a delete) and caches the answer per directory.
 * Resolves to null when usable, otherwise to the reason why not.
 */
export function probeOverlay(dir: string): Promise<string | null> {
  const key = path.resolve(dir);
  let p = probes.get(key);
  if (!p) {
    p = doProbe(key);
    probes.set(key, p);
  }
  return p;
}

async function doProbe(dir: string): Promise<string | null> {
  if (process.platform !== 'linux') return 'overlayfs needs Linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'mounting overlayfs needs root';
  try {
    const fsList = await fs.readFile('/proc/filesystems', 'utf8');
    if (!/\boverlay\b/.test(fsList)) {
      await run('modprobe', ['overlay']).catch(() => undefined);
    }
  } catch {
    /* keep going: the mount below decides */
  }
  await fs.mkdir(dir, { recursive: true });
  const base = await fs.mkdtemp(path.join(dir, 'probe-'));
  try {
    for (const d of ['l1', 'l2', 'u', 'w', 'm']) await fs.mkdir(path.join(base, d));
    await fs.writeFile(path.join(base, 'l1', 'f'), 'x');
    const m: Mount = {
      type: 'overlay',
      source: 'overlay',
      options: [`lowerdir=${base}/l2:${base}/l1`, `upperdir=${base}/u`, `workdir=${base}/w`, ...OVERLAY_EXTRA_OPTIONS],
    };
    try {
      await mountAll([m], path.join(base, 'm'));
    } catch (err) {
      return `overlay mount failed: ${(err as Error).message}`;
    }
    try {
      await fs.rm(path.join(base, 'm', 'f'));
      const st = await fs.lstat(path.join(base, 'u', 'f'));
      if (!st.isCharacterDevice() || st.rdev !== 0) return 'overlay did not create a whiteout device';
    } finally {
      await unmountAll(path.join(base, 'm'));
    }
    return null;
  } catch (err) {
    return `overlay probe failed: ${(err as Error).message}`;
  } finally {
    await fs.rm(base, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Options added to every overlay mount: no inode index, no redirect xattrs for renamed dirs and no
 * metadata-only copy-up, so an upper dir always holds complete files and dirs and can be turned
 * into a layer by walking it.
 */
export const OVERLAY_EXTRA_OPTIONS = ['index=off', 'redirect_dir=off', 'metacopy=off'];
