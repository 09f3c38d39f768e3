import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { UsageError } from '../../diagnostics/errors.js';
import { ContainerEngine } from '../../container/engine.js';
import { parseMemory, parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from '../../container/mounts.js';
import { parseEnvFile } from '../../container/process.js';
import { createContainer, runContainer, startDetached, type CreateOptions } from '../../container/run.js';
import type { ContainerMount } from '../../container/types.js';
import { StartError } from '../../executor/errors.js';
import type { CliContext } from '../context.js';
import { reportError } from '../main.js';
import { parseKeyValue } from '../table.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface RunFlags {
  rm?: boolean;
  detach?: boolean;
  name?: string;
  env: string[];
  envFile: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  volume: string[];
  mount: string[];
  tmpfs: string[];
  readOnly?: boolean;
  network: string;
  hostname?: string;
  memory?: string;
  pidsLimit?: string;
  cpus?: string;
  init?: boolean;
  interactive?: boolean;
  tty?: boolean;
  runtime: string;
  pull: string;
  label: string[];
}

/** The flags `run` and `create` share, as docker defines them. */
function addCreateFlags(cmd: Command): Command {
  return cmd
    .argument('<image>', 'the image to run')
    .argument('[command...]', 'command and arguments (default: the image\'s ENTRYPOINT and CMD)')
    .option('--name <name>', 'assign a name to the container')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable; KEY alone takes it from this shell (repeatable)', collect, [])
    .option('--env-file <file>', 'read environment variables from a file (repeatable)', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user name or uid, optionally with group')
    .option('--entrypoint <cmd>', 'override the image\'s ENTRYPOINT (also drops its CMD)')
    .option('-v, --volume <spec>', 'bind mount HOST:CTR[:ro], named volume NAME:CTR[:ro], or anonymous volume CTR (repeatable)', collect, [])
    .option('--mount <spec>', 'type=bind|volume|tmpfs,source=..,target=..[,readonly] (repeatable)', collect, [])
    .option('--tmpfs <path[:opts]>', 'mount a tmpfs (repeatable)', collect, [])
    .option('--read-only', 'mount the container\'s root filesystem read-only')
    .addOption(
      new Option('--network <mode>', 'network: none (loopback only) or host; a bridged network with port publishing is not available yet')
        .choices(['none', 'host'])
        .default('none'),
    )
    .option('-h, --hostname <name>', 'container host name (default: the short container id)')
    .option('-m, --memory <bytes>', 'memory limit, e.g. 512m or 1g')
    .option('--pids-limit <n>', 'limit the number of processes')
    .option('--cpus <n>', 'number of CPUs, e.g. 1.5')
    .option('--init', 'run an init process as PID 1 that forwards signals and reaps zombies')
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .addOption(new Option('--runtime <name>', 'OCI runtime to run the container').choices(['kiln', 'runc']).default('kiln'))
    .addOption(new Option('--pull <policy>', 'pull the image before running').choices(['missing', 'always', 'never']).default('missing'))
    .option('-l, --label <KEY=VALUE>', 'set a label on the container (repeatable)', collect, []);
}

function toCreateOptions(image: string, command: string[], f: RunFlags, autoRemove: boolean, ctx: CliContext): CreateOptions {
  const env: string[] = [];
  for (const file of f.envFile) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`--env-file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    env.push(...parseEnvFile(text, file));
  }
  env.push(...f.env);
  const mounts: ContainerMount[] = [
    ...f.volume.map((v) => parseVolumeFlag(v)),
    ...f.mount.map((m) => parseMountFlag(m)),
    ...f.tmpfs.map((t) => parseTmpfsFlag(t)),
  ];
  const targets = new Set<string>();
  for (const m of mounts) {
    if (targets.has(m.target)) throw new UsageError(`duplicate mount point: ${m.target}`);
    targets.add(m.target);
  }
  const labels: Record<string, string> = {};
  for (const l of f.label) {
    try {
      const [k, v] = parseKeyValue('--label', l, true);
      labels[k] = v ?? '';
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const positiveNumber = (flag: string, v: string, integer: boolean) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new UsageError(`invalid value "${v}" for "${flag}": expected a positive ${integer ? 'integer' : 'number'}`);
    return n;
  };
  return {
    image,
    cmd: command,
    env,
    mounts,
    readonlyRootfs: Boolean(f.readOnly),
    network: f.network as 'none' | 'host',
    init: Boolean(f.init),
    interactive: Boolean(f.interactive),
    tty: Boolean(f.tty),
    runtime: f.runtime as 'kiln' | 'runc',
    autoRemove,
    labels,
    pull: f.pull as 'missing' | 'always' | 'never',
    log: (line: string) => ctx.stderr.write(`${line}\n`),
    ...(f.name !== undefined ? { name: f.name } : {}),
    ...(f.workdir !== undefined ? { workdir: f.workdir } : {}),
    ...(f.user !== undefined ? { user: f.user } : {}),
    ...(f.entrypoint !== undefined ? { entrypoint: f.entrypoint } : {}),
    ...(f.hostname !== undefined ? { hostname: f.hostname } : {}),
    ...(f.memory !== undefined ? { memory: parseMemory('--memory', f.memory) } : {}),
    ...(f.pidsLimit !== undefined ? { pidsLimit: positiveNumber('--pids-limit', f.pidsLimit, true) } : {}),
    ...(f.cpus !== undefined ? { cpus: positiveNumber('--cpus', f.cpus, false) } : {}),
  };
}

export function register(program: Command, ctx: CliContext): void {
  addCreateFlags(program.command('run'))
    .description('Create and run a new container from an image')
    .option('--rm', 'remove the container (and its anonymous volumes) when it exits')
    .option('-d, --detach', 'run in the background and print the container id')
    .passThroughOptions()
    .action(async (image: string, command: string[], f: RunFlags) => {
      try {
        await runAction(image, command, f);
      } catch (err) {
        if (err instanceof UsageError) throw err;
        // docker run's exit codes: 126/127 when the command cannot be run or found, 125 for other failures
        ctx.exitCode = err instanceof StartError && (err.exitStatus === 126 || err.exitStatus === 127) ? err.exitStatus : 125;
        reportError(err, ctx);
      }
    });

  async function runAction(image: string, command: string[], f: RunFlags): Promise<void> {
      if (f.tty && !process.stdin.isTTY && f.interactive) {
        throw new UsageError('the input device is not a TTY', 'drop -t, or run kiln from a terminal');
      }
      const engine = await ContainerEngine.open(ctx.root());
      const c = await createContainer(engine, toCreateOptions(image, command, f, Boolean(f.rm), ctx));
      if (f.detach) {
        await startDetached(engine, c);
        ctx.stdout.write(`${c.record.id}\n`);
        return;
      }
      // docker's sig-proxy: SIGINT/SIGTERM/SIGHUP to kiln go to the container's process instead.
      let pid: number | undefined;
      const forward = (sig: NodeJS.Signals) => {
        if (pid !== undefined) {
          try {
            process.kill(pid, sig);
          } catch {
            /* already gone */
          }
        }
      };
      const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
      for (const s of signals) process.on(s, forward);
      const result = await runContainer(engine, c, {
        io: {
          ...(f.interactive ? { stdin: 'inherit' as const } : {}),
          stdout: f.tty ? 'inherit' : ctx.stdout,
          stderr: f.tty ? 'inherit' : ctx.stderr,
        },
        onStarted: (p) => {
          pid = p;
        },
      }).finally(() => {
        for (const s of signals) process.off(s, forward);
      });
      ctx.exitCode = result.exitCode;
  }

  addCreateFlags(program.command('create'))
    .description('Create a new container without starting it')
    .passThroughOptions()
    .action(async (image: string, command: string[], f: RunFlags) => {
      const engine = await ContainerEngine.open(ctx.root());
      const c = await createContainer(engine, toCreateOptions(image, command, f, false, ctx));
      ctx.stdout.write(`${c.record.id}\n`);
    });

  program
    .command('start')
    .description('Start one or more created or stopped containers (in the background)')
    .argument('<container...>')
    .action(async (refs: string[]) => {
      const engine = await ContainerEngine.open(ctx.root());
      for (const ref of refs) {
        const c = await engine.containers.resolve(ref);
        if (c.state.status !== 'running') await startDetached(engine, c);
        ctx.stdout.write(`${ref}\n`);
      }
    });
}
