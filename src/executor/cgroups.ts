import { promises as fs, readFileSync, readdirSync, rmdirSync, statfsSync, type Dirent } from 'node:fs';
import path from 'node:path';

/**
 * cgroup helpers shared by the executor and the container commands. Paths are relative to the
 * calling process's own cgroup in each hierarchy, exactly as runc and kiln-runtime treat a relative
 * `linux.cgroupsPath`, so kiln stays inside whatever cgroup (and limits) it was started in.
 * The executor creates `kiln/<id>` here and runs the container in `kiln/<id>/ctr`: the parent
 * outlives the runtime's own cleanup, so the hierarchical OOM-kill counter can still be read.
 */

const CGROUP2_SUPER_MAGIC = 0x63677270;
/** v1 controllers a container's processes are placed in (cpuset needs extra setup and is skipped). */
export const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct', 'devices', 'freezer', 'blkio'] as const;

export type CgroupVersion = 1 | 2;

let cachedVersion: CgroupVersion | undefined;
/** 2 when /sys/fs/cgroup is a cgroup2 mount (unified), else 1 (legacy or hybrid: controllers on v1). */
export function cgroupVersion(): CgroupVersion {
  if (cachedVersion === undefined) {
    try {
      cachedVersion = Number(statfsSync('/sys/fs/cgroup').type) === CGROUP2_SUPER_MAGIC ? 2 : 1;
    } catch {
      cachedVersion = 1;
    }
  }
  return cachedVersion;
}

interface Hierarchy {
  /** v1: the hierarchy's controllers (or name=...); v2: [''] */
  controllers: string[];
  mountPoint: string;
  mountRoot: string;
}

/** Every cgroup hierarchy mounted here: v1 ones, and cgroup2 (the only one on unified hosts, `unified` on hybrid ones). */
function hierarchies(): Hierarchy[] {
  const out: Hierarchy[] = [];
  const v2 = cgroupVersion() === 2;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const f = pre.split(' ');
    const [fstype, , superOpts] = post.split(' ');
    const root = f[3] ?? '/', mnt = f[4] ?? '';
    if (fstype === 'cgroup2' && (!v2 || mnt === '/sys/fs/cgroup') && !out.some((h) => h.controllers[0] === '')) out.push({ controllers: [''], mountPoint: mnt, mountRoot: root });
    if (!v2 && fstype === 'cgroup') {
      const ctrls = (superOpts ?? '').split(',').filter((o) => !['rw', 'ro', 'relatime', 'noexec', 'nosuid', 'nodev', 'xattr', 'clone_children', 'noprefix'].includes(o) && !o.startsWith('release_agent='));
      if (ctrls.length && !out.some((h) => h.controllers.includes(ctrls[0]!))) out.push({ controllers: ctrls, mountPoint: mnt, mountRoot: root });
    }
  }
  return out;
}

/** The path for a v1 `controller` ('' = the v2 line) in the text of a /proc/PID/cgroup file. */
function cgroupLine(text: string, controller: string): string | undefined {
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (controller === '' ? m[2] === '' && m[1] === '0' : m[2]!.split(',').includes(controller)) return m[3];
  }
  return undefined;
}

export interface CgroupDir {
  /** the hierarchy's first controller (v1, e.g. 'memory', 'name=systemd') or '' (cgroup2) */
  controller: string;
  dir: string;
  /** kiln puts processes and limits here (v1: memory, pids, cpu, ...; always the cgroup2 one) */
  used: boolean;
}

let ownDirs: CgroupDir[] | undefined;

/**
 * This process's own cgroup directory in every hierarchy, worked out once per process: reading
 * /proc/self/mountinfo (which grows with every snapshot mounted) and /proc/self/cgroup for each of
 * a v1 host's ten hierarchies cost ~4 ms of this thread per RUN step. Neither changes while kiln runs.
 */
function ownCgroupDirs(): CgroupDir[] {
  if (ownDirs) return ownDirs;
  const v2 = cgroupVersion() === 2;
  const own = readFileSync('/proc/self/cgroup', 'utf8');
  ownDirs = hierarchies().map((h) => {
    const controller = h.controllers[0]!;
    let dir = cgroupLine(own, controller) ?? '/';
    if (h.mountRoot !== '/' && dir.startsWith(h.mountRoot)) dir = dir.slice(h.mountRoot.length) || '/';
    const used = v2 || h.controllers.some((c) => (V1_CONTROLLERS as readonly string[]).includes(c));
    return { controller, dir: path.join(h.mountPoint, dir), used };
  });
  return ownDirs;
}

/** Host directories of `rel` (relative to our own cgroup) in every hierarchy. */
export function cgroupDirs(rel: string): CgroupDir[] {
  if (rel.startsWith('/') || rel.split('/').includes('..')) throw new Error(`cgroup path must be relative without '..': ${rel}`);
  return ownCgroupDirs().map((d) => ({ ...d, dir: path.join(d.dir, rel) }));
}

/**
 * A counter from a cgroup file. Read synchronously: cgroupfs answers from memory in microseconds,
 * and the OOM watch reads it every 20 ms per running container, where four thread-pool round trips
 * a read cost ~0.17 ms of this thread each time (34 ms of S1's 0.5 s of CPU).
 */
function readNum(file: string, key: string): number {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** A cgroup (in every hierarchy) owned by kiln. */
export class Cgroup {
  private constructor(readonly rel: string, readonly dirs: CgroupDir[]) {}

  /**
   * Create `rel` under our own cgroup (idempotent). On v2, enables memory/pids/cpu for children where
   * allowed. Asynchronous, the hierarchies side by side: a cgroup mkdir usually takes microseconds but
   * waits for the kernel's cgroup lock while other containers join their cgroups, measured at up to
   * 22 ms (cpu, v1) with four RUNs starting; on this thread that stalled every other step.
   */
  static async create(rel: string): Promise<Cgroup> {
    const dirs = cgroupDirs(rel);
    await Promise.all(
      dirs.map(async (d) => {
        if (!d.used) return;
        if (d.controller === '' && cgroupVersion() === 2) {
          // enable controllers top-down so the container's cgroup gets them (best effort: delegation may refuse)
          const own = path.join(d.dir, ...rel.split('/').map(() => '..'));
          let cur = own;
          const enable = (dir: string) => fs.writeFile(path.join(dir, 'cgroup.subtree_control'), '+memory +pids +cpu').catch(() => undefined);
          for (const part of rel.split('/')) {
            await enable(cur);
            cur = path.join(cur, part);
            await fs.mkdir(cur, { recursive: true });
          }
          await enable(cur);
        } else await fs.mkdir(d.dir, { recursive: true });
      }),
    );
    return new Cgroup(rel, dirs);
  }

  /**
   * The cgroup `rel` for a container the runtime puts in `rel/ctr`. On v1 it is only opened: the
   * runtime (kiln-runtime and runc alike) makes the whole path itself and removes only `ctr`, so
   * `rel` still outlives it. Making it here meant waiting on the kernel's cgroup lock, which a
   * starting container holds for an RCU grace period while it joins its cgroups (measured at ~20 ms
   * with four RUNs starting): every other RUN's start waited behind that one. On v2 the
   * controllers must be enabled down the path first, as `create` does.
   */
  static async forContainer(rel: string): Promise<Cgroup> {
    return cgroupVersion() === 2 ? Cgroup.create(rel) : Cgroup.open(rel);
  }

  static open(rel: string): Cgroup {
    return new Cgroup(rel, cgroupDirs(rel));
  }

  private dir(controller: string): string | undefined {
    if (cgroupVersion() === 2) return this.dirs.find((d) => d.controller === '')?.dir;
    return this.dirs.find((d) => d.controller === controller)?.dir;
  }

  /** OOM kills in this cgroup and below (the kernel's counters are hierarchical). */
  async oomKillCount(): Promise<number> {
    if (cgroupVersion() === 2) return readNum(path.join(this.dir('')!, 'memory.events'), 'oom_kill');
    const d = this.dir('memory');
    return d ? readNum(path.join(d, 'memory.oom_control'), 'oom_kill') : 0;
  }

  /** Every pid in this cgroup and its descendants. */
  async pids(): Promise<number[]> {
    const root = cgroupVersion() === 2 ? this.dir('') : this.dir('pids') ?? this.dir('memory');
    const out: number[] = [];
    // synchronous: cgroupfs answers from memory (see readNum)
    const walk = (d: string): void => {
      let entries;
      try {
        entries = readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      let procs = '';
      try {
        procs = readFileSync(path.join(d, 'cgroup.procs'), 'utf8');
      } catch {
        /* gone meanwhile */
      }
      for (const p of procs.split('\n')) if (p) out.push(Number(p));
      for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
    };
    if (root) walk(root);
    return out;
  }

  /**
   * Tasks in the cgroup and below from v1's pids controller (one read instead of listing the
   * tree's dozens of control files); undefined when there is no pids hierarchy or it is gone.
   */
  private taskCount(): number | undefined {
    const d = cgroupVersion() === 1 ? this.dir('pids') : undefined;
    if (!d) return undefined;
    try {
      const n = Number(readFileSync(path.join(d, 'pids.current'), 'utf8'));
      return Number.isInteger(n) ? n : undefined;
    } catch {
      return undefined;
    }
  }

  /** SIGKILL every process in the cgroup tree, until it is empty (v2: cgroup.kill). */
  async killAll(): Promise<void> {
    if (cgroupVersion() === 2) {
      const ok = await fs.writeFile(path.join(this.dir('')!, 'cgroup.kill'), '1').then(() => true, () => false);
      if (ok) return;
    }
    for (let i = 0; i < 50; i++) {
      if (this.taskCount() === 0) return;
      const pids = await this.pids();
      if (pids.length === 0) return;
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Remove the cgroup and its (empty) children in every hierarchy; retries while the kernel still lists exiting tasks. */
  async remove(): Promise<void> {
    // rmdir and listing synchronously (cgroupfs, in memory: a RUN's cleanup made ~18 round trips
    // here on a v1 host's nine hierarchies); only the wait for exiting tasks is asynchronous.
    // rmdir first: it succeeds on a cgroup without children or tasks (its control files do not
    // count), which is the usual case once the runtime removed its own; listing a cgroup's
    // dozens of control files in every hierarchy first cost ~0.5 ms a RUN.
    const rmTree = async (d: string): Promise<void> => {
      for (let i = 0; i < 100; i++) {
        try {
          rmdirSync(d);
          return;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') return;
          if (code !== 'EBUSY' && code !== 'ENOTEMPTY') throw err;
        }
        let entries: Dirent[] = [];
        try {
          entries = readdirSync(d, { withFileTypes: true });
        } catch {
          /* gone meanwhile: the next rmdir says so */
        }
        const children = entries.filter((e) => e.isDirectory());
        for (const e of children) await rmTree(path.join(d, e.name));
        if (children.length === 0) await new Promise((r) => setTimeout(r, 5)); // tasks still exiting
      }
    };
    for (const d of this.dirs) await rmTree(d.dir);
  }
}
