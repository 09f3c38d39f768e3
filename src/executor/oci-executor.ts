import { spawn, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, promises as fs, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StartError } from './errors.js';
import { dropCopiedUpEtc, overlayUpperDir, prepareEtcFiles, removeEtcStubs, type EtcFiles } from './etc-files.js';
import { KilnError } from '../diagnostics/errors.js';
import { directDir, mountAll, unmountAll } from '../snapshot/mount.js';
import type { Mount } from '../snapshot/types.js';
import { Cgroup, cgroupVersion } from './cgroups.js';
import { bundledRuntimePath } from '../util/runtime-path.js';
import { generateSpec, processSpec } from './spec.js';
import type { ExecMount, ExecTarget, Executor, ProcessIO, ProcessSpec, RunOptions, RunResult, RuntimeName } from './types.js';

export interface OciExecutorOptions {
  /** The runtime binary; default: build/Release/kiln-runtime (or $KILN_RUNTIME) / runc from a fixed system path. */
  binary?: string;
  /** Where bundles (and runc's state) live while containers run. Default: <tmp>/kiln-executor. */
  stateDir?: string;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const SAFE_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

/** The bundled runtime built by node-gyp: <package>/build/Release/kiln-runtime (same from src/ and dist/). */
export function kilnRuntimePath(): string {
  if (process.env.KILN_RUNTIME) return process.env.KILN_RUNTIME;
  return bundledRuntimePath();
}

export function runcPath(): string {
  for (const p of ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc']) if (existsSync(p)) return p;
  return 'runc';
}

function signalName(code: number): string | undefined {
  if (code <= 128 || code > 128 + 64) return undefined;
  return Object.entries(os.constants.signals).find(([, n]) => n === code - 128)?.[0];
}

/**
 * The error lines of a runtime's --log-format json log (kiln-runtime and runc write the same shape),
 * and whether the runtime reported an OOM kill (kiln-runtime logs "oom-kill: ..." as a warning).
 */
async function readLog(file: string): Promise<{ errors: string[]; oomKill: boolean }> {
  let text = '';
  try {
    text = readFileSync(file, 'utf8'); // a few lines at most; read after every RUN
  } catch {
    /* no log */
  }
  const errors: string[] = [];
  let oomKill = false;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as { level?: string; msg?: string };
      if (e.level === 'error' || e.level === 'fatal') errors.push(String(e.msg ?? ''));
      if (String(e.msg ?? '').startsWith('oom-kill:')) oomKill = true;
    } catch {
      errors.push(line);
    }
  }
  return { errors, oomKill };
}

interface Spawned {
  args: string[];
  bundle: string;
  pidFile: string;
  logFile: string;
}

/**
 * An Executor that writes an OCI bundle and runs it with an OCI runtime binary in the foreground
 * (`<runtime> run --bundle B ID`). kiln-runtime and runc get the same bundle; only argv differs.
 */
export abstract class OciRuntimeExecutor implements Executor {
  abstract readonly runtime: RuntimeName;
  protected readonly binary: string;
  protected readonly stateDir: string;

  constructor(binary: string, options: OciExecutorOptions = {}) {
    this.binary = options.binary ?? binary;
    this.stateDir = options.stateDir ?? path.join(os.tmpdir(), 'kiln-executor');
  }

  protected abstract globalArgs(logFile: string): string[];
  /** Runtime-specific options of `run` for these RunOptions. */
  protected runArgs(_options: RunOptions): string[] {
    return [];
  }
  protected abstract execArgs(target: ExecTarget, processFile: string, pidFile: string): string[];

  async run(spec: ProcessSpec, rootfs: Mount[], mounts: readonly ExecMount[], io: ProcessIO, signal?: AbortSignal, options: RunOptions = {}): Promise<RunResult> {
    const id = spec.id ?? randomBytes(16).toString('hex');
    if (!ID_RE.test(id)) throw new KilnError('RUNTIME_INVALID_ID', `invalid container id ${JSON.stringify(id)}`);
    signal?.throwIfAborted();
    // The bundle's few small files are made and removed with synchronous calls: when several RUNs
    // start at once, each thread-pool round trip waits behind the others' and the last container
    // started tens of milliseconds late.
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    const bundle = mkdtempSync(path.join(this.stateDir, `${id.slice(0, 12)}-`));
    // the cgroup is made while the bundle is prepared (its mkdirs can wait on the kernel's cgroup lock)
    const cgroupMade = Cgroup.forContainer(`kiln/${id}`);
    cgroupMade.catch(() => undefined); // awaited below: this only keeps an early failure from going unhandled
    let cgroup: Cgroup | undefined;
    let mounted: string | undefined;
    let etc: EtcFiles = { mounts: [], stubs: [] };
    try {
      let rootPath = directDir(rootfs);
      let readonly = !!spec.readonlyRootfs;
      if (rootPath && rootfs[0]!.options.includes('ro')) readonly = true;
      if (!rootPath) {
        if (rootfs.length === 0) throw new KilnError('RUNTIME_NO_ROOTFS', 'no rootfs mounts given');
        rootPath = path.join(bundle, 'rootfs');
        mkdirSync(rootPath);
        await mountAll(rootfs, rootPath);
        mounted = rootPath;
      }
      if (!readonly) etc = await prepareEtcFiles(path.join(bundle, 'etc'), rootPath, spec, mounts, overlayUpperDir(rootfs));
      const config = generateSpec({ spec: { ...spec, readonlyRootfs: readonly }, rootPath, mounts: [...etc.mounts, ...mounts], cgroupsPath: `kiln/${id}/ctr` });
      writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
      const logFile = path.join(bundle, 'runtime.log');
      const pidFile = path.join(bundle, 'pid');
      const args = [...this.globalArgs(logFile), 'run', '--bundle', bundle, '--pid-file', pidFile, ...this.runArgs(options), id];
      cgroup = await cgroupMade;
      return await this.spawnRuntime({ args, bundle, pidFile, logFile }, id, cgroup, io, signal, options);
    } finally {
      cgroup ??= await cgroupMade.catch(() => undefined);
      await cgroup?.killAll().catch(() => undefined);
      // independent clean-ups side by side: a v1 cgroup's rmdir often answers EBUSY for a few ms
      // after its last process exits, which should not hold up the unmount and the commit
      await Promise.all([
        this.afterRun(id),
        cgroup?.remove().catch(() => undefined),
        (async () => {
          await removeEtcStubs(etc).catch(() => undefined);
          if (mounted) await unmountAll(mounted).catch(() => undefined);
          await dropCopiedUpEtc(etc).catch(() => undefined);
          rmSync(bundle, { recursive: true, force: true });
        })(),
      ]);
    }
  }

  async exec(target: ExecTarget, spec: ProcessSpec, io: ProcessIO, signal?: AbortSignal, options: RunOptions = {}): Promise<RunResult> {
    if (!ID_RE.test(target.id)) throw new KilnError('RUNTIME_INVALID_ID', `invalid container id ${JSON.stringify(target.id)}`);
    signal?.throwIfAborted();
    await fs.mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    const dir = await fs.mkdtemp(path.join(this.stateDir, `exec-${target.id.slice(0, 12)}-`));
    try {
      const processFile = path.join(dir, 'process.json');
      await fs.writeFile(processFile, JSON.stringify(processSpec(spec)));
      const logFile = path.join(dir, 'runtime.log'), pidFile = path.join(dir, 'pid');
      const args = [...this.globalArgs(logFile), ...this.execArgs(target, processFile, pidFile)];
      // exec'd processes live in the container's cgroup: a cancel kills them via their own pid
      return await this.spawnRuntime({ args, bundle: dir, pidFile, logFile }, target.id, Cgroup.open(`kiln/${target.id}`), io, signal, options, true);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  /** Runtime-specific cleanup after the runtime process is gone (runc: delete leftover state). */
  protected async afterRun(_id: string): Promise<void> {}

  private async spawnRuntime(s: Spawned, id: string, cgroup: Cgroup, io: ProcessIO, signal: AbortSignal | undefined, options: RunOptions, isExec = false): Promise<RunResult> {
    const oomBefore = isExec ? await cgroup.oomKillCount() : 0;
    const stdio: StdioOptions = [
      io.stdin === 'inherit' ? 'inherit' : io.stdin ? 'pipe' : 'ignore',
      io.stdout === 'inherit' ? 'inherit' : io.stdout ? 'pipe' : 'ignore',
      io.stderr === 'inherit' ? 'inherit' : io.stderr ? 'pipe' : 'ignore',
    ];
    const child = spawn(this.binary, s.args, { stdio, env: SAFE_ENV, cwd: s.bundle });
    const closed = new Promise((r) => child.once('close', r));
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (err) => reject(new KilnError('RUNTIME_NOT_FOUND', `cannot start ${this.runtime} runtime ${this.binary}: ${err.message}`, { cause: err, hint: this.runtime === 'kiln' ? 'build it with `npm run build` (node-gyp)' : 'install the runc package' }))),
    );
    if (io.stdin && io.stdin !== 'inherit' && child.stdin) {
      child.stdin.on('error', () => undefined); // the process may exit without reading
      (io.stdin as Readable).pipe(child.stdin);
    }
    if (io.stdout && io.stdout !== 'inherit') child.stdout?.pipe(io.stdout, { end: false });
    if (io.stderr && io.stderr !== 'inherit') child.stderr?.pipe(io.stderr, { end: false });

    let started = false;
    const poll = options.onStarted
      ? setInterval(() => {
          if (started) return;
          fs.readFile(s.pidFile, 'utf8').then((t) => {
            const pid = Number(t.trim());
            if (!started && pid > 0) {
              started = true;
              clearInterval(poll);
              options.onStarted!({ id, pid, runtimePid: child.pid ?? 0 });
            }
          }, () => undefined);
        }, 3)
      : undefined;

    // cgroup v1 counts OOM kills only in the victim's own cgroup, which the runtime removes when the
    // container ends: runc's is watched while the container runs (v2 counts hierarchically in
    // kiln/<id>; kiln-runtime reads the count before it removes ctr/ and logs "oom-kill").
    let ctrOoms = 0;
    const ctr = Cgroup.open(`${cgroup.rel}/ctr`);
    const oomPoll = !isExec && cgroupVersion() === 1 && this.runtime !== 'kiln'
      ? setInterval(() => void ctr.oomKillCount().then((n) => (ctrOoms = Math.max(ctrOoms, n))), 20)
      : undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      const targetPid = isExec ? fs.readFile(s.pidFile, 'utf8').then((t) => Number(t)).catch(() => 0) : Promise.resolve(0);
      void targetPid.then((p) => {
        if (p > 0) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            /* gone */
          }
        } else if (!isExec) void cgroup.killAll();
      });
      killTimer = setTimeout(() => child.kill('SIGKILL'), 2000);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const exit = await Promise.race([
        spawnError,
        new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, sig) => resolve({ code, sig }))),
      ]);
      // let the pipes drain (the container's processes are gone, so they close promptly)
      // (the timer is cleared: a pending one would keep a short-lived kiln process alive for a second)
      let drainTimer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((r) => (drainTimer = setTimeout(r, 1000)))]);
      clearTimeout(drainTimer);
      child.stdout?.destroy();
      child.stderr?.destroy();
      const exitCode = exit.code ?? 128 + (os.constants.signals[exit.sig ?? 'SIGKILL'] ?? 9);
      if (oomPoll) ctrOoms = Math.max(ctrOoms, await ctr.oomKillCount());
      const { errors, oomKill } = await readLog(s.logFile);
      if (errors.length && exitCode !== 0 && !started && !(await fs.stat(s.pidFile).then(() => true, () => false))) {
        throw new StartError(`${this.runtime}: ${errors.join('; ')}`, exitCode, `container ${id}, exit status ${exitCode}`);
      }
      const oomKilled = oomKill || ctrOoms > 0 || (await cgroup.oomKillCount()) > oomBefore;
      const result: RunResult = { exitCode, oomKilled };
      const sig = signalName(exitCode);
      if (sig) result.signal = sig;
      if (!started && options.onStarted && (await fs.stat(s.pidFile).then(() => true, () => false))) {
        // the process ran and exited before the poll saw it
        const pid = Number(await fs.readFile(s.pidFile, 'utf8').catch(() => '0'));
        started = true;
        options.onStarted({ id, pid, runtimePid: child.pid ?? 0 });
      }
      return result;
    } finally {
      if (poll) clearInterval(poll);
      if (oomPoll) clearInterval(oomPoll);
      if (killTimer) clearTimeout(killTimer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** Runs containers with kiln's bundled runtime (runtime/kiln-runtime.c). */
export class KilnRuntimeExecutor extends OciRuntimeExecutor {
  readonly runtime = 'kiln' as const;
  constructor(options: OciExecutorOptions = {}) {
    super(kilnRuntimePath(), options);
  }
  protected globalArgs(logFile: string): string[] {
    return ['--log', logFile, '--log-format', 'json'];
  }
  protected override runArgs(options: RunOptions): string[] {
    return options.endWithCaller ? ['--die-with', String(process.pid)] : [];
  }
  protected execArgs(target: ExecTarget, processFile: string, pidFile: string): string[] {
    return ['exec', '--pid', String(target.pid), '--process', processFile, '--pid-file', pidFile];
  }
}

/** Runs the same bundles with runc (Debian package), for comparison (`--runtime runc`). */
export class RuncExecutor extends OciRuntimeExecutor {
  readonly runtime = 'runc' as const;
  constructor(options: OciExecutorOptions = {}) {
    super(runcPath(), options);
  }
  private get runcRoot(): string {
    return path.join(this.stateDir, 'runc');
  }
  protected globalArgs(logFile: string): string[] {
    return ['--root', this.runcRoot, '--log', logFile, '--log-format', 'json'];
  }
  protected execArgs(target: ExecTarget, processFile: string, pidFile: string): string[] {
    return ['exec', '--process', processFile, '--pid-file', pidFile, target.id];
  }
  protected override async afterRun(id: string): Promise<void> {
    // `runc run` deletes its container on a normal exit; after a SIGKILL its state may remain
    if (!existsSync(path.join(this.runcRoot, id))) return;
    await new Promise<void>((resolve) => {
      const p = spawn(this.binary, ['--root', this.runcRoot, 'delete', '--force', id], { stdio: 'ignore', env: SAFE_ENV });
      p.once('exit', () => resolve());
      p.once('error', () => resolve());
    });
  }
}

/** The executor for `--runtime kiln|runc`. */
export function createExecutor(runtime: RuntimeName = 'kiln', options: OciExecutorOptions = {}): Executor {
  if (runtime === 'kiln') return new KilnRuntimeExecutor(options);
  if (runtime === 'runc') return new RuncExecutor(options);
  throw new KilnError('RUNTIME_UNKNOWN', `unknown runtime ${JSON.stringify(runtime)} (kiln, runc)`);
}
