import type { Readable, Writable } from 'node:stream';
import type { Mount } from '../snapshot/types.js';

/** Which OCI runtime binary runs the bundle. Both get the very same config.json and rootfs. */
export type RuntimeName = 'kiln' | 'runc';

export interface ProcessUser {
  uid: number;
  gid: number;
  /** Supplementary groups (docker: the user's groups from the image's /etc/group, plus --group-add). */
  additionalGids?: number[];
  umask?: number;
}

export interface Rlimit {
  type: string; // 'RLIMIT_NOFILE' ...
  soft: number;
  hard: number;
}

/** cgroup limits; absent fields mean "no limit". */
export interface Resources {
  /** bytes (docker -m) */
  memory?: number;
  /** memory + swap in bytes (docker --memory-swap); absent: runtime default */
  memorySwap?: number;
  /** docker --pids-limit */
  pids?: number;
  /** docker --cpus: becomes cpu quota/period (period 100000us) */
  cpus?: number;
  /** docker --cpu-shares */
  cpuShares?: number;
}

/** The process to run and the container-wide knobs that go with it (buildkit's executor.Meta). */
export interface ProcessSpec {
  args: string[];
  /** KEY=VALUE; a default PATH is added when absent (as docker does). */
  env: string[];
  /** Absolute, inside the container. Created when missing (as runc does). */
  cwd: string;
  user: ProcessUser;
  /** Container id: names the cgroup (`kiln/<id>`) and the runtime's container. Random when absent. */
  id?: string;
  hostname?: string;
  /** Allocate a pty for the process (docker -t). The runtime relays it to its own stdio. */
  terminal?: boolean;
  /** 'none' (default): a new network namespace with only loopback up; 'host': the host's. */
  network?: 'none' | 'host';
  readonlyRootfs?: boolean;
  resources?: Resources;
  /** A PID-1 that reaps zombies and forwards signals (docker --init). kiln runtime only; runc ignores it. */
  init?: boolean;
  /** no_new_privs (docker --security-opt no-new-privileges). Default false, like docker and buildkit RUN. */
  noNewPrivileges?: boolean;
  /** Capability names (with or without CAP_); default: docker's 14. Goes to bounding/effective/permitted. */
  capabilities?: string[];
  rlimits?: Rlimit[];
  /** Extra annotations for config.json. */
  annotations?: Record<string, string>;
}

/** One extra mount, in runtime-spec form; applied in order after the defaults (/proc, /dev, /sys ...). */
export interface ExecMount {
  /** Absolute path inside the container. Resolved inside the rootfs by the runtime (symlinks cannot escape). */
  destination: string;
  /** 'bind' (volumes are binds of their host dir), 'tmpfs', or another filesystem type. */
  type: string;
  source: string;
  /** e.g. ['rbind', 'ro'], ['nosuid', 'nodev', 'size=65536k'] */
  options: string[];
}

/**
 * Where the process's stdio goes. A stream is piped (stdin is ended when the stream ends);
 * 'inherit' hands kiln's own fd to the runtime (needed for an interactive terminal);
 * absent means /dev/null for stdin and "discard" for output.
 */
export interface ProcessIO {
  stdin?: Readable | 'inherit';
  stdout?: Writable | 'inherit';
  stderr?: Writable | 'inherit';
}

export interface StartedInfo {
  id: string;
  /** host pid of the container's first process (for exec, kill, ps) */
  pid: number;
  /** host pid of the runtime process that supervises it */
  runtimePid: number;
}

export interface RunOptions {
  /** Called once the process has been exec'd inside the container. */
  onStarted?: (info: StartedInfo) => void;
  /**
   * The container ends when this process dies, even by SIGKILL (a build step: a killed build must
   * not leave its RUN running). kiln-runtime only (`run --die-with PID`); runc has no such option.
   */
  endWithCaller?: boolean;
}

export interface RunResult {
  /** Exit status; a process killed by signal N reports 128+N (as docker). */
  exitCode: number;
  /** The signal name when exitCode > 128 and the process was killed by that signal (e.g. 'SIGKILL'). */
  signal?: string;
  /** A process in the container was killed by the kernel's OOM killer (memory limit). */
  oomKilled: boolean;
}

/** The running container an exec joins. */
export interface ExecTarget {
  id: string;
  /** host pid of the container's first process (StartedInfo.pid) */
  pid: number;
}

/**
 * Runs processes over a rootfs with mounts (buildkit's executor.Executor).
 *
 * Ownership: `run` mounts `rootfs` itself (unless it is a single bind mount it can use directly),
 * creates the cgroup `kiln/<id>` under kiln's own cgroup and always releases both before it settles,
 * whether the process succeeded, failed or was cancelled. Aborting `signal` kills every process of
 * the container (SIGKILL through the cgroup) and then resolves with the resulting status (137).
 * It rejects (KilnError RUNTIME_*) only when the container could not be started.
 */
export interface Executor {
  readonly runtime: RuntimeName;
  run(spec: ProcessSpec, rootfs: Mount[], mounts: readonly ExecMount[], io: ProcessIO, signal?: AbortSignal, options?: RunOptions): Promise<RunResult>;
  /** Run another process in a running container: its namespaces and cgroup (docker exec). */
  exec(target: ExecTarget, spec: ProcessSpec, io: ProcessIO, signal?: AbortSignal, options?: RunOptions): Promise<RunResult>;
}
