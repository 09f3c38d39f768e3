import { createHash } from 'node:crypto';
import { promises as fs, existsSync, mkdtempSync, rmdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { resolveUser } from '../../container/passwd.js';
import { KilnError } from '../../diagnostics/errors.js';
import type { ExecMount as ExecutorMount, ProcessSpec } from '../../executor/types.js';
import type { BindMount, CacheMount, ExecMount, ExecOp, InputIndex, SecretMount, Vertex } from '../../graph/types.js';
import { withLock } from '../../util/lock-file.js';
import { warmXattr } from '../../util/xattr.js';
import { directDir, mountAll, mountPointPrefix, oneShotMounts, unmountAll } from '../../snapshot/mount.js';
import type { Mount } from '../../snapshot/types.js';
import type { StepResult } from '../../cache/types.js';
import { digestOf } from '../cache-key.js';
import type { CacheMap, OpContext, OpHandler } from '../types.js';
import type { WorkerDeps } from './deps.js';
import { resolveInRoot } from './root-path.js';
import { copySpec } from './copy.js';
import { EMPTY_RESULT, activeKey, commitStep, stepSnapshotName, withActive } from './snapshots.js';

type ExecVertex = Vertex & { op: ExecOp };

/** A RUN whose process exited non-zero (BuildKit's wording). */
export class ExecFailedError extends KilnError {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number,
    readonly signal?: string,
  ) {
    super('SOLVE_EXEC_FAILED', `process "${args.join(' ')}" did not complete successfully: exit code: ${exitCode}`);
  }
}

/** What RUN's key is made of: the op without cache-mount ids' contents or secret values. */
function keyedOp(op: ExecOp): unknown {
  return {
    ...op,
    // secrets and cache mounts enter by shape only (target, id), never by contents
    mounts: op.mounts.map((m) => (m.type === 'secret' ? { type: 'secret', id: m.id, target: m.target, env: m.env } : m)),
  };
}

/** `env:NAME` / `arg:NAME` key components (`args`: the names a build ARG set), for "ARG X changed". */
function envComponents(env: readonly string[], args: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    const eq = e.indexOf('=');
    const name = eq < 0 ? e : e.slice(0, eq);
    out[`${args.includes(name) ? 'arg' : 'env'}:${name}`] = eq < 0 ? '' : e.slice(eq + 1);
  }
  return out;
}

interface Prepared {
  /** the step's root filesystem, mounted */
  rootDir: string;
  mounts: ExecutorMount[];
  env: string[];
  cleanup: Array<() => Promise<void>>;
}

/** A lock per cache id (sharing=locked): callers in this process queue in order; other kiln processes wait on the file. */
function withCacheLock<T>(lockFile: string, fn: () => Promise<T>): Promise<T> {
  return withLock(lockFile, fn, { timeoutMs: 3_600_000, staleMs: Infinity });
}

const busy = new Map<string, number>();

/**
 * RUN (BuildKit's ExecOp): the process runs through the executor over a writable snapshot of its
 * rootfs input, with the stage's Env, USER, WORKDIR and mounts; the snapshot is then diffed into a
 * layer and committed. Cache mounts persist under `<root>/cache-mounts/`, secrets come from a
 * tmpfs and are removed after the step, and neither enters the key, a layer or the logs.
 */
export class ExecHandler implements OpHandler<Vertex> {
  constructor(private readonly deps: WorkerDeps) {}

  async cacheMap(ctx: OpContext<Vertex>): Promise<CacheMap> {
    const op = (ctx.vertex as ExecVertex).op;
    return {
      digest: digestOf({ kind: 'exec', op: keyedOp(op) }),
      components: { 'op:command': op.args.join(' '), 'op:user': op.user, 'op:workdir': op.cwd, ...envComponents(op.env, ctx.vertex.meta?.args) },
    };
  }

  async exec(ctx: OpContext<Vertex>, inputs: readonly StepResult[]): Promise<StepResult> {
    const v = ctx.vertex as ExecVertex;
    const op = v.op;
    const executor = this.deps.executor;
    if (!executor) throw new KilnError('SOLVE_NO_EXECUTOR', 'RUN needs a container runtime, and none is configured');
    const base = op.rootfs === null ? EMPTY_RESULT : inputs[op.rootfs]!;
    return withActive(this.deps, 'run', base, async (key, rootMounts) => {
      const rootDir = await this.mountTree(rootMounts);
      const prepared: Prepared = { rootDir: rootDir.dir, mounts: [], env: [...op.env], cleanup: [] };
      try {
        const reader = async (p: string) => fs.readFile(await resolveInRoot(rootDir.dir, p, true), 'utf8').catch(() => undefined);
        const user = await resolveUser(op.user || 'root', reader).catch((err: unknown) => {
          if (op.user === '' || op.user === 'root' || op.user === '0') return { uid: 0, gid: 0, additionalGids: [], home: '/root' };
          throw err;
        });
        for (const m of op.mounts) await this.prepareMount(ctx, v, m, inputs, prepared);
        // Mount points the runtime creates stay in the layer as empty dirs/files: docker 20.10's
        // BuildKit keeps them (recorded in test/conformance), so kiln does too.
        if (!prepared.env.some((e) => e.startsWith('HOME='))) prepared.env.push(`HOME=${user.home || '/'}`);
        const spec: ProcessSpec = {
          args: op.args,
          env: prepared.env,
          cwd: op.cwd || '/',
          user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
          hostname: op.hostname ?? 'buildkitsandbox',
          network: op.network === 'none' ? 'none' : 'host', // no bridge yet: "default" is the host's network
        };
        if (op.security === 'insecure') throw new KilnError('SOLVE_UNSUPPORTED', 'RUN --security=insecure is not supported');
        const out = new LogStream((d) => ctx.log('stdout', d));
        const err = new LogStream((d) => ctx.log('stderr', d));
        // the step's layer is diffed later, which needs the xattr addon (3-4 ms to load, at the
        // export in S1): it is loaded while this container runs, if it runs that long
        const warm = setTimeout(warmXattr, 200);
        const res = await ctx
          .waiting(() => executor.run(spec, [{ type: 'bind', source: rootDir.dir, options: ['rbind', 'rw'] }], prepared.mounts, { stdout: out, stderr: err }, ctx.signal, { endWithCaller: true }))
          .finally(() => clearTimeout(warm));
        if (ctx.signal.aborted) throw ctx.signal.reason ?? new KilnError('SOLVE_CANCELED', 'canceled');
        if (res.exitCode !== 0) throw new ExecFailedError(op.args, res.exitCode, res.signal);
      } finally {
        for (const c of prepared.cleanup.reverse()) await c().catch(() => undefined);
        await rootDir.release();
      }
      return commitStep(this.deps, key, stepSnapshotName(ctx.key), base);
    });
  }

  /** `mounts` on a fresh temp dir (or their directory, when no mount is needed), until `release`. */
  private async mountTree(mounts: Mount[], prefix = mountPointPrefix('run')): Promise<{ dir: string; release: () => Promise<void> }> {
    const direct = directDir(mounts);
    if (direct) return { dir: direct, release: async () => undefined };
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix)); // synchronous: see OciRuntimeExecutor.run
    await mountAll(mounts, dir);
    return {
      dir,
      release: async () => {
        await unmountAll(dir).catch(() => undefined);
        try {
          rmdirSync(dir);
        } catch {
          /* still busy: an empty directory stays behind in the temp dir */
        }
      },
    };
  }

  private async inputDir(v: ExecVertex, input: InputIndex, inputs: readonly StepResult[], writable: boolean, p: Prepared): Promise<string> {
    if (input === null) {
      const d = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-empty-'));
      p.cleanup.push(() => fs.rm(d, { recursive: true, force: true }));
      return d;
    }
    const iv = this.deps.vertices.get(v.inputs[input]!);
    if (iv?.op.kind === 'source' && iv.op.source.kind === 'local') {
      const open = this.deps.contexts[iv.op.source.name];
      if (!open) throw new KilnError('SOLVE_CONTEXT_MISSING', `no build context named "${iv.op.source.name}"`);
      const ctxSrc = await open();
      if (!writable && ctxSrc.ignore.patterns.length === 0) return ctxSrc.dir;
      // a rw mount must never write into the user's directory, and .dockerignore'd files must not
      // be visible: mount a copy of what the build may see
      const copy = await fs.mkdtemp(path.join(this.deps.root, 'tmp-context-'));
      p.cleanup.push(() => fs.rm(copy, { recursive: true, force: true }));
      await copySpec({
        srcRoot: ctxSrc.dir,
        destRoot: copy,
        spec: { src: '/', dest: '/', allowWildcard: false, allowEmptyWildcard: false, dirContentsOnly: true, createDestPath: true },
        rootExclude: ctxSrc.ignore,
        defaultOwner: { uid: 0, gid: 0 },
      });
      return copy;
    }
    const r = inputs[input]!;
    if (!r.snapshot) return this.inputDir(v, null, inputs, writable, p);
    const sn = this.deps.snapshotter;
    let mounts: Mount[];
    if (writable) {
      const key = activeKey('bind-rw');
      mounts = oneShotMounts(await sn.prepare(key, r.snapshot, {}, { transient: true }));
      p.cleanup.push(() => sn.remove(key)); // writes to a rw bind are discarded with it
    } else {
      mounts = await sn.viewMounts(r.snapshot); // no record: the build's lease keeps the snapshot
    }
    const mounted = await this.mountTree(mounts, mountPointPrefix('bind'));
    p.cleanup.push(mounted.release);
    return mounted.dir;
  }

  private async prepareMount(ctx: OpContext<Vertex>, v: ExecVertex, m: ExecMount, inputs: readonly StepResult[], p: Prepared): Promise<void> {
    switch (m.type) {
      case 'bind':
        return this.bind(v, m, inputs, p);
      case 'cache':
        return this.cache(v, m, inputs, p);
      case 'tmpfs':
        p.mounts.push({ destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.size ? [`size=${m.size}`] : [])] });
        return;
      case 'secret':
        return this.secret(m, p);
      case 'ssh':
        if (m.required) throw new KilnError('SOLVE_UNSUPPORTED', 'RUN --mount=type=ssh is not supported yet');
        return;
    }
    void ctx;
  }

  private async bind(v: ExecVertex, m: BindMount, inputs: readonly StepResult[], p: Prepared): Promise<void> {
    const root = await this.inputDir(v, m.input, inputs, !m.readonly, p);
    const source = await resolveInRoot(root, m.source || '/', true);
    if (!existsSync(source)) throw new KilnError('SOLVE_MOUNT_SOURCE', `RUN --mount=type=bind: source "${m.source}" not found`);
    p.mounts.push({ destination: m.target, type: 'bind', source, options: ['rbind', m.readonly ? 'ro' : 'rw'] });
  }

  private async cache(v: ExecVertex, m: CacheMount, inputs: readonly StepResult[], p: Prepared): Promise<void> {
    const id = createHash('sha256').update(m.id).digest('hex').slice(0, 32);
    const base = path.join(this.deps.root, 'cache-mounts');
    const dir = path.join(base, id);
    await fs.mkdir(base, { recursive: true, mode: 0o700 });
    const lockFile = path.join(base, `${id}.lock`);
    let target = dir;
    const inUse = busy.get(dir) ?? 0;
    if (m.sharing === 'private' && inUse > 0) {
      // BuildKit: a private cache used by two steps at once gives the second one its own copy
      target = await fs.mkdtemp(path.join(base, `${id}-private-`));
      p.cleanup.push(() => fs.rm(target, { recursive: true, force: true }));
    } else {
      busy.set(dir, inUse + 1);
      p.cleanup.push(async () => {
        busy.set(dir, (busy.get(dir) ?? 1) - 1);
      });
    }
    const created = await fs
      .mkdir(target)
      .then(() => true)
      .catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EEXIST') return false;
        throw err;
      });
    if (created) {
      await fs.writeFile(path.join(base, `${id}.json`), JSON.stringify({ id: m.id, created: new Date().toISOString() }));
      if (m.input !== null) {
        const from = await this.inputDir(v, m.input, inputs, false, p);
        const src = await resolveInRoot(from, m.source || '/', true);
        await fs.cp(src, target, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
      }
      await fs.chmod(target, m.mode);
      await fs.chown(target, m.uid, m.gid);
    }
    p.mounts.push({ destination: m.target, type: 'bind', source: target, options: ['rbind', m.readonly ? 'ro' : 'rw'] });
    if (m.sharing === 'locked') {
      // hold the lock for the whole step: acquire now, release in cleanup
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let acquired!: () => void;
      const got = new Promise<void>((r) => (acquired = r));
      const done = withCacheLock(lockFile, async () => {
        acquired();
        await held;
      });
      await got;
      p.cleanup.push(async () => {
        release();
        await done;
      });
    }
  }

  private async secret(m: SecretMount, p: Prepared): Promise<void> {
    const s = this.deps.secrets.get(m.id);
    if (!s) {
      if (m.required) throw new KilnError('SOLVE_SECRET_MISSING', `secret "${m.id}" was not provided`, { hint: `pass it with --secret id=${m.id},src=FILE` });
      return;
    }
    if (m.env) p.env.push(`${m.env}=${s.value.toString('utf8')}`);
    if (m.target === undefined && m.env) return;
    const shm = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
    const dir = await fs.mkdtemp(path.join(shm, 'kiln-secret-'));
    p.cleanup.push(() => fs.rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'secret');
    await fs.writeFile(file, s.value, { mode: 0o600 });
    await fs.chown(file, m.uid, m.gid);
    await fs.chmod(file, m.mode);
    const destination = m.target ?? `/run/secrets/${m.id}`;
    p.mounts.push({ destination, type: 'bind', source: file, options: ['rbind', 'ro'] });
    // BuildKit leaves no file where a secret was mounted (its parent directories stay)
    const stub = await resolveInRoot(p.rootDir, destination, false);
    const existed = await fs.lstat(stub).then(() => true, () => false);
    if (!existed) {
      p.cleanup.unshift(async () => {
        const st = await fs.lstat(stub).catch(() => undefined);
        if (st?.isFile() && st.size === 0) await fs.rm(stub, { force: true });
      });
    }
  }
}

/** A Writable that hands every chunk to the step's log (kept in full by the progress stream). */
class LogStream extends Writable {
  constructor(private readonly sink: (d: Buffer) => void) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.sink(Buffer.from(chunk));
    cb();
  }
}
