import { createExecutor } from '../executor/index.js';
import type { ProcessIO, RunResult } from '../executor/types.js';
import type { ContainerEngine } from './engine.js';
import { resolveUser } from './passwd.js';
import { readFileInRoot } from './rootfs-files.js';
import type { Container } from './store.js';

export interface ExecOptions {
  args: string[];
  env: string[];
  tty: boolean;
  workdir?: string;
  user?: string;
  io: ProcessIO;
  signal?: AbortSignal;
}

/**
 * docker exec: run another process in a running container, in its namespaces and cgroup, with the
 * container's env (plus -e), working directory and user unless overridden. Names are resolved in
 * the container's own /etc/passwd, read through /proc/<pid>/root without leaving that root.
 */
export async function execInContainer(engine: ContainerEngine, c: Container, o: ExecOptions): Promise<RunResult> {
  const pid = c.state.pid!;
  const user = await resolveUser(o.user ?? c.record.user, (p) => readFileInRoot(`/proc/${pid}/root`, p));
  const env = new Map<string, string>();
  for (const e of [...c.record.env, ...o.env]) {
    const eq = e.indexOf('=');
    if (eq > 0) env.set(e.slice(0, eq), e.slice(eq + 1));
    else if (process.env[e] !== undefined) env.set(e, process.env[e]!);
  }
  if (!env.has('HOME')) env.set('HOME', user.home);
  if (o.tty) env.set('TERM', 'xterm');
  const executor = createExecutor(c.record.runtime);
  return executor.exec(
    { id: c.record.id, pid },
    {
      id: c.record.id,
      args: o.args,
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: o.workdir ?? c.record.cwd,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      terminal: o.tty,
    },
    o.io,
    o.signal,
  );
}
