import os from 'node:os';
import { FailedPreconditionError, KilnError } from '../diagnostics/errors.js';
import type { ContainerEngine } from './engine.js';
import { processAlive } from '../util/process.js';
import type { Container } from './store.js';

/** `TERM`, `SIGTERM`, `15` -> a signal node accepts; unknown names are a clear error. */
export function signalNumber(sig: string | number): NodeJS.Signals | number {
  if (typeof sig === 'number' || /^\d+$/.test(sig)) {
    const n = Number(sig);
    if (n < 1 || n > 64) throw new KilnError('CONTAINER_BAD_SIGNAL', `invalid signal: ${sig}`);
    return n;
  }
  const name = sig.toUpperCase();
  const full = name.startsWith('SIG') ? name : `SIG${name}`;
  if (!(full in os.constants.signals)) throw new KilnError('CONTAINER_BAD_SIGNAL', `invalid signal: ${sig}`);
  return full as NodeJS.Signals;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until the container is no longer running; returns its latest record. */
export async function waitStopped(engine: ContainerEngine, id: string, timeoutMs = Infinity, signal?: AbortSignal): Promise<Container> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    const c = await engine.containers.load(id);
    if (!c) throw new KilnError('CONTAINER_NOT_FOUND', `no such container: ${id}`);
    if (c.state.status !== 'running') return c;
    if (Date.now() >= deadline || signal?.aborted) return c;
    await sleep(delay);
  }
}

/** Send a signal to the container's init process. */
export async function killContainer(engine: ContainerEngine, c: Container, sig: string | number = 'SIGKILL'): Promise<void> {
  if (c.state.status !== 'running' || c.state.pid === undefined || !processAlive(c.state.pid)) {
    throw new FailedPreconditionError(`container ${c.record.id.slice(0, 12)} is not running`, { code: 'CONTAINER_NOT_RUNNING' });
  }
  process.kill(c.state.pid, signalNumber(sig));
}

/** docker stop: the stop signal, then SIGKILL after `timeoutSec`. A stopped container is left as it is. */
export async function stopContainer(engine: ContainerEngine, c: Container, timeoutSec = 10): Promise<Container> {
  if (c.state.status !== 'running') return c;
  try {
    await killContainer(engine, c, c.record.stopSignal ?? 'SIGTERM');
  } catch (err) {
    if (!(err instanceof FailedPreconditionError)) throw err;
  }
  let after = await waitStopped(engine, c.record.id, timeoutSec * 1000);
  if (after.state.status === 'running') {
    try {
      await killContainer(engine, after, 'SIGKILL');
    } catch (err) {
      if (!(err instanceof FailedPreconditionError)) throw err;
    }
    after = await waitStopped(engine, c.record.id, 30_000);
  }
  return after;
}

/** docker rm: refuses a running container unless forced; `volumes` also removes its anonymous volumes. */
export async function removeContainer(engine: ContainerEngine, c: Container, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
  if (c.state.status === 'running') {
    if (!opts.force) {
      throw new FailedPreconditionError(
        `cannot remove container ${c.record.name}: container is running`,
        { code: 'CONTAINER_RUNNING', hint: 'stop the container before removing it, or use kiln rm -f' },
      );
    }
    try {
      await killContainer(engine, c, 'SIGKILL');
    } catch (err) {
      if (!(err instanceof FailedPreconditionError)) throw err;
    }
    await waitStopped(engine, c.record.id, 30_000);
  }
  const snapshotter = await engine.snapshotter();
  try {
    await snapshotter.remove(c.record.snapshotKey);
  } catch (err) {
    if ((err as KilnError).code !== 'SNAPSHOT_NOT_FOUND' && !String((err as Error).message).includes('not found')) throw err;
  }
  await engine.containers.remove(c.record.id);
  if (opts.volumes) {
    for (const m of c.record.mounts) {
      if (m.type === 'volume' && m.anonymous) await engine.volumes.remove(m.name).catch(() => {});
    }
  }
}
