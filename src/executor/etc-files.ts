import { lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, utimesSync, writeFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import { cleanComponents, RootResolver } from '../diff/resolve.js';
import type { ExecMount, ProcessSpec } from './types.js';

const HOSTS_DEFAULTS = ['::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];

/**
 * `resolv.conf` for a container: the host's, minus loopback name servers when the container has its
 * own network namespace (they would point at the container itself), as docker does.
 */
export function containerResolvConf(host: string, hostNetwork: boolean): string {
  if (hostNetwork) return host;
  const lines = host.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$|::1$)/.test(l));
  return `${lines.join('\n').replace(/\n*$/, '')}\n`;
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

export interface EtcFiles {
  mounts: ExecMount[];
  /** Host paths of mount-point files that had to be created in the rootfs; remove them after the run. */
  stubs: string[];
  /** /etc's times before the stubs were created, to put back (BuildKit restores them too). */
  etc?: { path: string; atime: Date; mtime: Date };
  /** An overlay upper dir's `etc` that the stubs copied up and that was not there before. */
  copiedUp?: string;
}

/**
 * Synchronous file calls throughout (a few tiny files per RUN: see OciRuntimeExecutor.run); only
 * the path resolution inside the rootfs goes through the thread pool.
 *
 * Like docker and BuildKit, every process gets its own /etc/hosts (localhost and its host name),
 * /etc/hostname and /etc/resolv.conf, bind-mounted from files in `dir`; writes to them never reach
 * the image. Skipped when the rootfs has no /etc (e.g. FROM scratch) or the caller mounts one itself.
 * Mount-point files created for this are reported as stubs, so a layer never records them.
 */
export async function prepareEtcFiles(dir: string, rootPath: string, spec: ProcessSpec, mounts: readonly ExecMount[], upperDir?: string): Promise<EtcFiles> {
  const out: EtcFiles = { mounts: [], stubs: [] };
  const resolver = new RootResolver(rootPath);
  const etcParts = await resolver.resolve(['etc'], true);
  const etc = resolver.abs(etcParts);
  const st = lstatOrUndefined(etc);
  if (!st?.isDirectory()) return out;
  out.etc = { path: etc, atime: st.atime, mtime: st.mtime };
  if (upperDir) {
    const upperEtc = path.join(upperDir, ...etcParts);
    if (!lstatOrUndefined(upperEtc)) out.copiedUp = upperEtc;
  }
  const hostname = spec.hostname ?? 'localhost';
  let hostResolv = '';
  try {
    hostResolv = readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    /* none: an empty one */
  }
  const files: Record<string, string> = {
    hosts: `127.0.0.1\tlocalhost ${hostname}\n${HOSTS_DEFAULTS.join('\n')}\n`,
    hostname: `${hostname}\n`,
    'resolv.conf': containerResolvConf(hostResolv, spec.network === 'host'),
  };
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    const destination = `/etc/${name}`;
    if (mounts.some((m) => path.posix.normalize(m.destination) === destination)) continue;
    const inRoot = resolver.abs(await resolver.resolve(cleanComponents(destination), false));
    const existing = lstatOrUndefined(inRoot);
    if (existing && !existing.isFile()) continue; // a symlink or directory there: leave the image's choice alone
    if (!existing) {
      // 'wx': if another container sharing this rootfs made it first, it is theirs to remove
      try {
        writeFileSync(inRoot, '', { flag: 'wx', mode: 0o644 });
        out.stubs.push(inRoot);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    const source = path.join(dir, name);
    writeFileSync(source, text, { mode: 0o644 });
    out.mounts.push({ destination, type: 'bind', source, options: ['rbind', 'rw'] });
  }
  return out;
}

/**
 * Remove the stub files `prepareEtcFiles` created (only while still empty: never a file a process
 * wrote) and put /etc's times back, so a step that did not touch /etc leaves no trace of it.
 * Call while the rootfs is still mounted.
 */
export async function removeEtcStubs(files: EtcFiles): Promise<void> {
  if (files.stubs.length === 0) return;
  for (const p of files.stubs) {
    const st = lstatOrUndefined(p);
    if (st?.isFile() && st.size === 0) rmSync(p, { force: true });
  }
  if (files.etc) {
    try {
      utimesSync(files.etc.path, files.etc.atime, files.etc.mtime);
    } catch {
      /* gone with the rootfs */
    }
  }
}

/**
 * After the overlay is unmounted: an `etc` directory that exists in the upper dir only because the
 * stubs copied it up, and is empty again, is removed, so the lower /etc shows through unchanged and
 * the layer does not record it. (Touching an upper dir while it is mounted is undefined in overlayfs.)
 */
export async function dropCopiedUpEtc(files: EtcFiles): Promise<void> {
  if (!files.copiedUp || files.stubs.length === 0) return;
  try {
    if (readdirSync(files.copiedUp).length === 0) rmdirSync(files.copiedUp);
  } catch {
    /* gone, or in use */
  }
}

/** The upper dir of an overlay rootfs mount, if it is one. */
export function overlayUpperDir(rootfs: readonly { type: string; options: string[] }[]): string | undefined {
  if (rootfs.length !== 1 || rootfs[0]!.type !== 'overlay') return undefined;
  const opt = rootfs[0]!.options.find((o) => o.startsWith('upperdir='));
  return opt?.slice('upperdir='.length);
}
