import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { KilnError, NotFoundError, isNotFound } from '../diagnostics/errors.js';
import { createExecutor } from '../executor/index.js';
import type { ExecMount, ProcessIO, RunResult } from '../executor/types.js';
import { unpackImage } from '../image/unpack.js';
import type { ResolvedImage } from '../image/store.js';
import { withMountedSnapshot } from '../snapshot/index.js';
import type { ContainerEngine } from './engine.js';
import { JsonLogWriter } from './logs.js';
import { resolveUser, type ResolvedUser } from './passwd.js';
import { resolveProcess } from './process.js';
import { pathInRoot, readFileInRoot } from './rootfs-files.js';
import { removeContainer } from './lifecycle.js';
import type { Container } from './store.js';
import type { ContainerMount, ContainerRecord } from './types.js';

export interface CreateOptions {
  image: string;
  cmd: string[];
  name?: string;
  entrypoint?: string;
  env: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  mounts: ContainerMount[];
  readonlyRootfs: boolean;
  network: 'none' | 'host';
  memory?: number;
  pidsLimit?: number;
  cpus?: number;
  init: boolean;
  interactive: boolean;
  tty: boolean;
  runtime: 'kiln' | 'runc';
  autoRemove: boolean;
  labels: Record<string, string>;
  pull?: PullPolicy;
  /** Progress lines (pulling), written to stderr by the CLI. */
  log?: (line: string) => void;
}

export type PullPolicy = 'missing' | 'always' | 'never';

/**
 * The image to create a container from, pulled from its registry as docker run does: when it is
 * missing locally (`--pull missing`, the default), always, or never.
 */
export async function findImage(engine: ContainerEngine, ref: string, pull: PullPolicy = 'missing', log?: (line: string) => void): Promise<ResolvedImage> {
  const local = pull === 'always' ? undefined : await engine.images.getImage(ref).catch((err) => {
    if (!isNotFound(err)) throw err;
    return undefined;
  });
  if (local) return local;
  const hint = 'get it with kiln pull, kiln load -i FILE.tar, kiln import ROOTFS.tar NAME, or kiln build -t';
  if (pull === 'never') throw new NotFoundError(`unable to find image '${ref}' locally`, { code: 'IMAGE_NOT_FOUND', hint });
  if (pull === 'missing') log?.(`Unable to find image '${ref}' locally`);
  try {
    const { pullImage } = await import('../registry/pull.js');
    const result = await pullImage(ref, { root: engine.root, content: engine.content });
    log?.(`Status: Downloaded newer image for ${result.name}`);
  } catch (err) {
    throw new NotFoundError(`unable to find image '${ref}' locally, and pulling it failed: ${(err as Error).message}`, { code: 'IMAGE_NOT_FOUND', hint, cause: err });
  }
  return engine.images.getImage(ref);
}

/** docker create: resolve the image and the process, make the writable layer and the volumes, write the record. */
export async function createContainer(engine: ContainerEngine, o: CreateOptions): Promise<Container> {
  const image = await findImage(engine, o.image, o.pull, o.log);
  const snapshotter = await engine.snapshotter();
  const parent = await unpackImage({ content: engine.content, snapshotter, root: engine.root }, image);
  const cfg = image.config.config ?? {};

  // Image VOLUMEs not covered by an explicit mount become anonymous volumes, as in docker.
  const mounts: ContainerMount[] = [...o.mounts];
  for (const target of Object.keys(cfg.Volumes ?? {})) {
    const clean = path.posix.normalize(target).replace(/(.)\/$/, '$1');
    if (!mounts.some((m) => m.target === clean)) mounts.push({ type: 'volume', name: '', target: clean, readonly: false, anonymous: true });
  }
  for (const m of mounts) {
    if (m.type === 'volume') {
      const v = await engine.volumes.create(m.anonymous ? undefined : m.name);
      m.name = v.Name;
    } else if (m.type === 'bind' && !existsSync(m.source)) {
      throw new NotFoundError(`invalid mount config: bind source path does not exist: ${m.source}`, { code: 'CONTAINER_BIND_SOURCE_MISSING' });
    }
  }

  const c = await engine.containers.create((id, name) => {
    const hostname = o.hostname ?? id.slice(0, 12);
    const proc = resolveProcess(cfg, {
      cmd: o.cmd,
      env: o.env,
      hostname,
      tty: o.tty,
      ...(o.entrypoint !== undefined ? { entrypoint: o.entrypoint } : {}),
      ...(o.workdir !== undefined ? { workdir: o.workdir } : {}),
      ...(o.user !== undefined ? { user: o.user } : {}),
    });
    const record: ContainerRecord = {
      id,
      name,
      image: o.image,
      imageDigest: image.id,
      imageTarget: image.target,
      created: new Date().toISOString(),
      args: proc.args,
      env: proc.env,
      cwd: proc.cwd,
      user: proc.user,
      hostname,
      tty: o.tty,
      interactive: o.interactive,
      init: o.init,
      readonlyRootfs: o.readonlyRootfs,
      network: o.network,
      mounts,
      resources: {
        ...(o.memory !== undefined ? { memory: o.memory } : {}),
        ...(o.pidsLimit !== undefined ? { pidsLimit: o.pidsLimit } : {}),
        ...(o.cpus !== undefined ? { cpus: o.cpus } : {}),
      },
      runtime: o.runtime,
      autoRemove: o.autoRemove,
      snapshotKey: `container-${id}`,
      config: cfg,
      ...(cfg.StopSignal ? { stopSignal: cfg.StopSignal } : {}),
      labels: { ...(cfg.Labels ?? {}), ...o.labels },
    };
    return record;
  }, o.name);
  try {
    await snapshotter.prepare(c.record.snapshotKey, parent, { 'kiln.container': c.record.id });
  } catch (err) {
    await engine.containers.remove(c.record.id);
    throw err;
  }
  return c;
}

function execMounts(engine: ContainerEngine, record: ContainerRecord): ExecMount[] {
  return record.mounts.map((m): ExecMount => {
    switch (m.type) {
      case 'bind':
        return { destination: m.target, type: 'bind', source: m.source, options: ['rbind', m.readonly ? 'ro' : 'rw'] };
      case 'volume':
        return { destination: m.target, type: 'bind', source: path.join(engine.volumes.dir, m.name, '_data'), options: ['rbind', m.readonly ? 'ro' : 'rw'] };
      case 'tmpfs':
        return { destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', ...m.options] };
    }
  });
}

/**
 * What must be read from the container's filesystem before it starts: the user's ids (named users
 * need the image's /etc/passwd) and the image content of empty volumes (docker copies it up).
 */
async function prepareStart(engine: ContainerEngine, record: ContainerRecord): Promise<ResolvedUser> {
  const numeric = /^\d*(:\d*)?$/.test(record.user);
  const fresh: Array<Extract<ContainerMount, { type: 'volume' }>> = [];
  for (const m of record.mounts) {
    if (m.type !== 'volume') continue;
    const data = path.join(engine.volumes.dir, m.name, '_data');
    if ((await fs.readdir(data)).length === 0) fresh.push(m);
  }
  if (numeric && fresh.length === 0) {
    const [u = '', g] = record.user.split(':');
    const uid = u === '' ? 0 : Number(u);
    return { uid, gid: g ? Number(g) : 0, additionalGids: [], home: uid === 0 ? '/root' : '/' };
  }
  const snapshotter = await engine.snapshotter();
  const mounts = await snapshotter.mounts(record.snapshotKey);
  return withMountedSnapshot(mounts, async (dir) => {
    for (const m of fresh) {
      const src = await pathInRoot(dir, m.target);
      const st = await fs.stat(src).catch(() => undefined);
      if (!st?.isDirectory()) continue;
      await fs.cp(src, path.join(engine.volumes.dir, m.name, '_data'), { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    }
    return resolveUser(record.user, (p) => readFileInRoot(dir, p));
  });
}

export interface StartOptions {
  io: ProcessIO;
  signal?: AbortSignal;
  /** Also append output to the container's json.log (always, except for a terminal). */
  log?: boolean;
  /** Called with the host pid of the container's process once it runs. */
  onStarted?: (pid: number) => void;
}

/** Run the container's process in the foreground of this process and record its state. */
export async function runContainer(engine: ContainerEngine, c: Container, opts: StartOptions): Promise<RunResult> {
  const { record } = c;
  if (c.state.status === 'running') throw new KilnError('CONTAINER_RUNNING', `container ${record.name} is already running`);
  const startedAt = new Date().toISOString();
  let result: RunResult | undefined;
  let error: string | undefined;
  let runningWrite: Promise<void> = Promise.resolve();
  const log = opts.log !== false && !record.tty ? await JsonLogWriter.open(engine.containers.logPath(record.id)) : undefined;
  const io: ProcessIO = { ...opts.io };
  if (log) {
    for (const stream of ['stdout', 'stderr'] as const) {
      const target = opts.io[stream];
      const tee = new PassThrough();
      tee.on('data', (chunk: Buffer) => {
        void log.write(stream, chunk);
        if (target && target !== 'inherit') (target as Writable).write(chunk);
        else if (target === 'inherit') (stream === 'stdout' ? process.stdout : process.stderr).write(chunk);
      });
      io[stream] = tee;
    }
  }
  try {
    const user = await prepareStart(engine, record);
    const env = record.env.some((e) => e.startsWith('HOME=')) ? record.env : [...record.env, `HOME=${user.home}`];
    const snapshotter = await engine.snapshotter();
    const rootfs = await snapshotter.mounts(record.snapshotKey);
    const executor = createExecutor(record.runtime);
    result = await executor.run(
      {
        id: record.id,
        args: record.args,
        env,
        cwd: record.cwd,
        user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
        hostname: record.hostname,
        terminal: record.tty,
        network: record.network,
        readonlyRootfs: record.readonlyRootfs,
        init: record.init,
        resources: {
          ...(record.resources.memory !== undefined ? { memory: record.resources.memory } : {}),
          ...(record.resources.pidsLimit !== undefined ? { pids: record.resources.pidsLimit } : {}),
          ...(record.resources.cpus !== undefined ? { cpus: record.resources.cpus } : {}),
        },
      },
      rootfs,
      execMounts(engine, record),
      io,
      opts.signal,
      {
        onStarted: (info) => {
          opts.onStarted?.(info.pid);
          runningWrite = engine.containers.setState(record.id, { status: 'running', pid: info.pid, monitorPid: process.pid, startedAt });
        },
      },
    );
    return result;
  } catch (err) {
    error = (err as Error).message;
    throw err;
  } finally {
    await log?.close();
    await runningWrite.catch(() => {});
    await engine.containers.setState(record.id, {
      status: 'exited',
      exitCode: result?.exitCode ?? 125,
      ...(result?.signal ? { signal: result.signal } : {}),
      oomKilled: result?.oomKilled ?? false,
      ...(error ? { error } : {}),
      startedAt,
      finishedAt: new Date().toISOString(),
    });
    if (record.autoRemove) {
      const latest = await engine.containers.load(record.id);
      if (latest) await removeContainer(engine, latest, { volumes: true });
    }
  }
}

/** The monitor entry point, as a path node can run (dist/ even when this module runs from src/ under vitest). */
function monitorScript(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return path.join(path.dirname(here), 'monitor-main.js');
  return path.resolve(path.dirname(here), '../../dist/container/monitor-main.js');
}

/**
 * docker run -d: a detached monitor process runs the container, keeps its logs and records its exit,
 * so ps/logs/wait stay true after this kiln command has exited. Resolves once the container runs.
 */
export async function startDetached(engine: ContainerEngine, c: Container, timeoutMs = 30_000): Promise<Container> {
  const child = spawn(process.execPath, [monitorScript(), engine.root, c.record.id], {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env },
  });
  child.unref();
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; Date.now() < deadline; delay = Math.min(delay * 2, 100)) {
    const now = await engine.containers.load(c.record.id);
    if (!now) {
      // --rm and already finished
      return { ...c, state: { status: 'exited' } };
    }
    if (now.state.status !== 'created') {
      if (now.state.status === 'exited' && now.state.error) {
        throw new KilnError('CONTAINER_START_FAILED', `container ${c.record.name} failed to start: ${now.state.error}`);
      }
      return now;
    }
    await new Promise((r) => setTimeout(r, delay));
  }
  throw new KilnError('CONTAINER_START_TIMEOUT', `container ${c.record.name} did not start within ${timeoutMs / 1000}s`);
}
