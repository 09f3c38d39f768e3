import { Command, Option } from 'commander';
import { FailedPreconditionError, UsageError } from '../../diagnostics/errors.js';
import { ContainerEngine } from '../../container/engine.js';
import { killContainer, removeContainer, signalNumber, stopContainer, waitStopped } from '../../container/lifecycle.js';
import { readLogs } from '../../container/logs.js';
import { execInContainer } from '../../container/exec.js';
import type { Container } from '../../container/store.js';
import { imageInspect } from '../../image/inspect.js';
import type { CliContext } from '../context.js';
import { imageSize } from './images.js';
import { formatTable, humanAgo } from '../table.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

function statusText(c: Container): string {
  const s = c.state;
  if (s.status === 'running') return `Up ${humanAgo(s.startedAt).replace(/ ago$/, '')}`;
  if (s.status === 'created') return 'Created';
  return `Exited (${s.exitCode ?? 0}) ${humanAgo(s.finishedAt)}`;
}

function commandText(c: Container): string {
  const text = c.record.args.join(' ');
  return JSON.stringify(text.length > 20 ? `${text.slice(0, 19)}…` : text);
}

/** docker inspect's shape for a container (the fields kiln knows). */
export function inspectContainer(c: Container): Record<string, unknown> {
  const r = c.record;
  const s = c.state;
  return {
    Id: r.id,
    Created: r.created,
    Path: r.args[0],
    Args: r.args.slice(1),
    State: {
      Status: s.status,
      Running: s.status === 'running',
      Paused: false,
      Restarting: false,
      OOMKilled: Boolean(s.oomKilled),
      Dead: false,
      Pid: s.status === 'running' ? s.pid ?? 0 : 0,
      ExitCode: s.exitCode ?? 0,
      Error: s.error ?? '',
      StartedAt: s.startedAt ?? '0001-01-01T00:00:00Z',
      FinishedAt: s.finishedAt ?? '0001-01-01T00:00:00Z',
    },
    Image: r.imageDigest,
    Name: `/${r.name}`,
    Driver: 'kiln',
    HostConfig: {
      AutoRemove: r.autoRemove,
      NetworkMode: r.network,
      ReadonlyRootfs: r.readonlyRootfs,
      Init: r.init,
      Runtime: r.runtime,
      Memory: r.resources.memory ?? 0,
      PidsLimit: r.resources.pidsLimit ?? 0,
      NanoCpus: r.resources.cpus ? Math.round(r.resources.cpus * 1e9) : 0,
    },
    Mounts: r.mounts.map((m) =>
      m.type === 'bind'
        ? { Type: 'bind', Source: m.source, Destination: m.target, RW: !m.readonly }
        : m.type === 'volume'
          ? { Type: 'volume', Name: m.name, Destination: m.target, RW: !m.readonly }
          : { Type: 'tmpfs', Destination: m.target, RW: !m.options.includes('ro') },
    ),
    Config: {
      Hostname: r.hostname,
      User: r.user,
      Tty: r.tty,
      OpenStdin: r.interactive,
      Env: r.env,
      Cmd: r.config.Cmd ?? null,
      Entrypoint: r.config.Entrypoint ?? null,
      Image: r.image,
      WorkingDir: r.cwd,
      Labels: r.labels,
      StopSignal: r.stopSignal ?? 'SIGTERM',
    },
  };
}

export function register(program: Command, ctx: CliContext): void {
  const open = () => ContainerEngine.open(ctx.root());

  program
    .command('ps')
    .description('List containers (running ones; all with -a)')
    .option('-a, --all', 'show all containers')
    .option('-q, --quiet', 'only display container ids')
    .option('--no-trunc', 'do not truncate output')
    .option('--format <format>', 'table or json', 'table')
    .action(async (o: { all?: boolean; quiet?: boolean; trunc: boolean; format: string }) => {
      const engine = await open();
      const list = (await engine.containers.list()).filter((c) => o.all || c.state.status === 'running');
      const id = (c: Container) => (o.trunc ? c.record.id.slice(0, 12) : c.record.id);
      if (o.quiet) {
        ctx.stdout.write(list.map((c) => `${id(c)}\n`).join(''));
      } else if (o.format === 'json') {
        ctx.stdout.write(list.map((c) => `${JSON.stringify({ ID: id(c), Image: c.record.image, Command: c.record.args.join(' '), CreatedAt: c.record.created, State: c.state.status, Status: statusText(c), Names: c.record.name })}\n`).join(''));
      } else if (o.format === 'table') {
        ctx.stdout.write(
          formatTable(
            ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'],
            list.map((c) => [id(c), c.record.image, commandText(c), humanAgo(c.record.created), statusText(c), '', c.record.name]),
          ),
        );
      } else {
        throw new UsageError(`invalid value "${o.format}" for "--format": expected table or json`);
      }
    });

  program
    .command('logs')
    .description('Show the output of a container')
    .argument('<container>')
    .option('-f, --follow', 'follow the output until the container stops')
    .option('-n, --tail <n>', 'number of lines from the end ("all" for everything)', 'all')
    .option('-t, --timestamps', 'show timestamps')
    .action(async (ref: string, o: { follow?: boolean; tail: string; timestamps?: boolean }) => {
      if (o.tail !== 'all' && !/^\d+$/.test(o.tail)) throw new UsageError(`invalid value "${o.tail}" for "--tail": expected a number or "all"`);
      const engine = await open();
      const c = await engine.containers.resolve(ref);
      if (c.record.tty) {
        // as docker: output of a -t container goes to the terminal only; nothing is kept
      }
      const running = async () => (await engine.containers.load(c.record.id))?.state.status === 'running';
      for await (const e of readLogs(engine.containers.logPath(c.record.id), {
        follow: Boolean(o.follow),
        running,
        ...(o.tail === 'all' ? {} : { tail: Number(o.tail) }),
      })) {
        (e.stream === 'stderr' ? ctx.stderr : ctx.stdout).write(o.timestamps ? `${e.time} ${e.log}` : e.log);
      }
    });

  program
    .command('stop')
    .description('Stop running containers: the stop signal, then SIGKILL after a grace period')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing', '10')
    .option('-s, --signal <signal>', 'signal to send instead of the image\'s STOPSIGNAL')
    .action(async (refs: string[], o: { time: string; signal?: string }) => {
      if (!/^\d+$/.test(o.time)) throw new UsageError(`invalid value "${o.time}" for "--time": expected whole seconds`);
      if (o.signal) signalNumber(o.signal);
      const engine = await open();
      for (const ref of refs) {
        const c = await engine.containers.resolve(ref);
        if (o.signal) c.record.stopSignal = o.signal;
        await stopContainer(engine, c, Number(o.time));
        ctx.stdout.write(`${ref}\n`);
      }
    });

  program
    .command('kill')
    .description('Send a signal (default SIGKILL) to running containers')
    .argument('<container...>')
    .option('-s, --signal <signal>', 'signal to send', 'SIGKILL')
    .action(async (refs: string[], o: { signal: string }) => {
      signalNumber(o.signal);
      const engine = await open();
      for (const ref of refs) {
        await killContainer(engine, await engine.containers.resolve(ref), o.signal);
        ctx.stdout.write(`${ref}\n`);
      }
    });

  program
    .command('rm')
    .description('Remove containers')
    .argument('<container...>')
    .option('-f, --force', 'kill and remove a running container')
    .option('-v, --volumes', 'also remove the container\'s anonymous volumes')
    .action(async (refs: string[], o: { force?: boolean; volumes?: boolean }) => {
      const engine = await open();
      let failed: unknown;
      for (const ref of refs) {
        try {
          await removeContainer(engine, await engine.containers.resolve(ref), o);
          ctx.stdout.write(`${ref}\n`);
        } catch (err) {
          failed ??= err;
          if (refs.length > 1) ctx.stderr.write(`Error: ${(err as Error).message}\n`);
        }
      }
      if (failed) throw failed;
    });

  program
    .command('wait')
    .description('Block until containers stop, then print their exit codes')
    .argument('<container...>')
    .action(async (refs: string[]) => {
      const engine = await open();
      for (const ref of refs) {
        const c = await engine.containers.resolve(ref);
        const done = await waitStopped(engine, c.record.id);
        ctx.stdout.write(`${done.state.exitCode ?? 0}\n`);
      }
    });

  program
    .command('inspect')
    .description('Show low-level information on containers (and images) as JSON')
    .argument('<name...>')
    .addOption(new Option('--type <type>', 'only look for this kind of object').choices(['container', 'image']))
    .action(async (refs: string[], o: { type?: string }) => {
      const engine = await open();
      const out: unknown[] = [];
      for (const ref of refs) {
        if (o.type !== 'image') {
          const c = await engine.containers.resolve(ref).catch((err) => {
            if (o.type === 'container') throw err;
            return undefined;
          });
          if (c) {
            out.push(inspectContainer(c));
            continue;
          }
        }
        const img = await engine.images.resolve(ref);
        out.push(imageInspect(img, await imageSize(engine.stores, img)));
      }
      ctx.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
    });

  program
    .command('exec')
    .description('Run a command in a running container')
    .argument('<container>')
    .argument('<command...>')
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user name or uid, optionally with group')
    .passThroughOptions()
    .action(async (ref: string, command: string[], o: { interactive?: boolean; tty?: boolean; env: string[]; workdir?: string; user?: string }) => {
      const engine = await open();
      const c = await engine.containers.resolve(ref);
      if (c.state.status !== 'running') {
        throw new FailedPreconditionError(`container ${c.record.id.slice(0, 12)} is not running`, { code: 'CONTAINER_NOT_RUNNING' });
      }
      const result = await execInContainer(engine, c, {
        args: command,
        env: o.env,
        tty: Boolean(o.tty),
        ...(o.workdir !== undefined ? { workdir: o.workdir } : {}),
        ...(o.user !== undefined ? { user: o.user } : {}),
        io: {
          ...(o.interactive ? { stdin: 'inherit' as const } : {}),
          stdout: o.tty ? 'inherit' : ctx.stdout,
          stderr: o.tty ? 'inherit' : ctx.stderr,
        },
      });
      ctx.exitCode = result.exitCode;
    });
}
