import path from 'node:path';
import { InvalidArgumentError } from '../diagnostics/errors.js';
import { DEFAULT_CAPABILITIES, DEFAULT_MOUNTS, DEFAULT_PATH, DEFAULT_RLIMITS, DEVICE_RULES, MASKED_PATHS, READONLY_PATHS } from './defaults.js';
import type { ExecMount, ProcessSpec, Rlimit } from './types.js';

/** The parts of the OCI runtime-spec config.json that kiln writes. */
export interface OciProcess {
  terminal: boolean;
  user: { uid: number; gid: number; additionalGids?: number[]; umask?: number };
  args: string[];
  env: string[];
  cwd: string;
  capabilities: { bounding: string[]; effective: string[]; permitted: string[]; inheritable: string[]; ambient: string[] };
  rlimits: Rlimit[];
  noNewPrivileges: boolean;
}

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: ExecMount[];
  annotations?: Record<string, string>;
  linux: {
    namespaces: { type: string; path?: string }[];
    cgroupsPath: string;
    resources: {
      devices: { allow: boolean; type?: string; major?: number; minor?: number; access: string }[];
      memory?: { limit?: number; swap?: number };
      pids?: { limit: number };
      cpu?: { quota?: number; period?: number; shares?: number };
    };
    maskedPaths: string[];
    readonlyPaths: string[];
    rootfsPropagation?: string;
  };
}

export interface SpecOptions {
  spec: ProcessSpec;
  /** rootfs directory (absolute, or relative to the bundle) */
  rootPath: string;
  mounts?: readonly ExecMount[];
  /** cgroupsPath; relative paths nest under the runtime's own cgroup. */
  cgroupsPath: string;
}

const CAP_RE = /^(CAP_)?[A-Z_]+$/;

/** Validate a container path given by a user or an image: absolute, no NUL. `..` is cleaned lexically. */
export function containerPath(p: string, what: string): string {
  if (typeof p !== 'string' || !p.startsWith('/') || p.includes('\0')) {
    throw new InvalidArgumentError(`${what} must be an absolute path inside the container, got ${JSON.stringify(p)}`, { code: 'RUNTIME_INVALID_PATH' });
  }
  return path.posix.normalize(p);
}

function id32(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xfffffffe) throw new InvalidArgumentError(`${what} ${n} is out of range (0..4294967294)`, { code: 'RUNTIME_INVALID_ID' });
  return n;
}

/** The process part of a spec (also what `exec` hands the runtime as process.json). */
export function processSpec(spec: ProcessSpec): OciProcess {
  if (!Array.isArray(spec.args) || spec.args.length === 0) throw new InvalidArgumentError('no command to run', { code: 'RUNTIME_NO_COMMAND' });
  const caps = (spec.capabilities ?? DEFAULT_CAPABILITIES).map((c) => {
    const up = c.toUpperCase();
    if (!CAP_RE.test(up)) throw new InvalidArgumentError(`invalid capability ${JSON.stringify(c)}`, { code: 'RUNTIME_INVALID_CAPABILITY' });
    return up.startsWith('CAP_') ? up : `CAP_${up}`;
  });
  const env = [...spec.env];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);
  const user: OciProcess['user'] = { uid: id32(spec.user.uid, 'uid'), gid: id32(spec.user.gid, 'gid') };
  if (spec.user.additionalGids?.length) user.additionalGids = spec.user.additionalGids.map((g) => id32(g, 'gid'));
  if (spec.user.umask !== undefined) user.umask = spec.user.umask;
  return {
    terminal: !!spec.terminal,
    user,
    args: [...spec.args],
    env,
    cwd: containerPath(spec.cwd || '/', 'working directory'),
    // inheritable and ambient stay empty (CVE-2022-24769)
    capabilities: { bounding: caps, effective: [...caps], permitted: [...caps], inheritable: [], ambient: [] },
    rlimits: (spec.rlimits ?? DEFAULT_RLIMITS).map((r) => ({ ...r })),
    noNewPrivileges: !!spec.noNewPrivileges,
  };
}

/**
 * A Docker-default config.json for `spec`: the 14 default capabilities, masked and read-only
 * /proc and /sys paths, default devices only, private propagation, a new pid/ipc/uts/mount (and
 * network unless 'host') namespace, cgroup limits. The one policy function every container spec
 * (RUN step, run, exec) goes through.
 */
export function generateSpec(opts: SpecOptions): OciSpec {
  const { spec } = opts;
  const user = (opts.mounts ?? []).map((m) => ({ ...m, destination: containerPath(m.destination, 'mount destination'), options: [...m.options] }));
  const taken = new Set(user.map((m) => m.destination));
  const mounts: ExecMount[] = [
    ...DEFAULT_MOUNTS.filter((m) => !taken.has(m.destination)).map((m) => ({ ...m, options: [...m.options] })),
    ...user,
  ];
  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if ((spec.network ?? 'none') === 'none') namespaces.push({ type: 'network' });
  else if (spec.network !== 'host') throw new InvalidArgumentError(`unsupported network ${JSON.stringify(spec.network)} (none, host)`, { code: 'RUNTIME_INVALID_NETWORK' });
  const resources: OciSpec['linux']['resources'] = { devices: DEVICE_RULES.map((d) => ({ ...d })) };
  const r = spec.resources ?? {};
  if (r.memory !== undefined) {
    if (!(r.memory > 0)) throw new InvalidArgumentError(`memory limit must be positive, got ${r.memory}`, { code: 'RUNTIME_INVALID_RESOURCES' });
    resources.memory = { limit: r.memory };
    if (r.memorySwap !== undefined) resources.memory.swap = r.memorySwap;
  }
  if (r.pids !== undefined) resources.pids = { limit: r.pids };
  if (r.cpus !== undefined || r.cpuShares !== undefined) {
    resources.cpu = {};
    if (r.cpus !== undefined) {
      if (!(r.cpus > 0)) throw new InvalidArgumentError(`--cpus must be positive, got ${r.cpus}`, { code: 'RUNTIME_INVALID_RESOURCES' });
      resources.cpu.period = 100000;
      resources.cpu.quota = Math.round(r.cpus * 100000);
    }
    if (r.cpuShares !== undefined) resources.cpu.shares = r.cpuShares;
  }
  const out: OciSpec = {
    ociVersion: '1.0.2',
    process: processSpec(spec),
    root: { path: opts.rootPath, readonly: !!spec.readonlyRootfs },
    mounts,
    linux: {
      namespaces,
      cgroupsPath: opts.cgroupsPath,
      resources,
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
      rootfsPropagation: 'rprivate',
    },
  };
  if (spec.hostname) out.hostname = spec.hostname;
  const annotations = { ...(spec.annotations ?? {}) };
  if (spec.init) annotations['io.kiln.init'] = 'true';
  if (Object.keys(annotations).length) out.annotations = annotations;
  return out;
}
