import { InvalidArgumentError } from '../diagnostics/errors.js';
import type { ContainerConfig } from '../image/types.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ProcessOverrides {
  /** `--entrypoint`: '' clears the image's entrypoint. */
  entrypoint?: string;
  /** Positional CMD... after the image name; empty = use the image's. */
  cmd: string[];
  /** `-e` / `--env-file` entries in order; `K` alone takes the value from `hostEnv`. */
  env: string[];
  workdir?: string;
  user?: string;
  hostname: string;
  tty: boolean;
}

export interface ResolvedProcess {
  args: string[];
  env: string[];
  cwd: string;
  /** As written (name or uid, optional :group); resolved to numbers against the rootfs later. */
  user: string;
}

/**
 * What docker runs for an image and `docker run` flags:
 * - `--entrypoint` replaces the image's ENTRYPOINT and also drops its CMD;
 * - positional args replace CMD; the process is ENTRYPOINT + CMD;
 * - env: image Env, then HOSTNAME, TERM (with -t), then -e in order (later wins); PATH defaulted.
 */
export function resolveProcess(
  config: ContainerConfig,
  o: ProcessOverrides,
  hostEnv: NodeJS.ProcessEnv = process.env,
): ResolvedProcess {
  let entrypoint = config.Entrypoint ?? [];
  let cmd = config.Cmd ?? [];
  if (o.entrypoint !== undefined) {
    entrypoint = o.entrypoint === '' ? [] : [o.entrypoint];
    cmd = [];
  }
  if (o.cmd.length > 0) cmd = o.cmd;
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw new InvalidArgumentError('no command specified', {
      code: 'CONTAINER_NO_COMMAND',
      hint: 'the image has no ENTRYPOINT or CMD: give a command after the image name',
    });
  }

  const env = new Map<string, string>();
  const set = (entry: string) => {
    const eq = entry.indexOf('=');
    if (eq === 0) throw new InvalidArgumentError(`invalid environment variable: ${entry}`, { code: 'CONTAINER_BAD_ENV' });
    if (eq < 0) {
      const v = hostEnv[entry];
      if (v !== undefined) env.set(entry, v);
      return;
    }
    env.set(entry.slice(0, eq), entry.slice(eq + 1));
  };
  for (const e of config.Env ?? []) set(e);
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  env.set('HOSTNAME', o.hostname);
  if (o.tty) env.set('TERM', 'xterm');
  for (const e of o.env) set(e);

  const cwd = o.workdir ?? (config.WorkingDir || '/');
  if (!cwd.startsWith('/')) {
    throw new InvalidArgumentError(`the working directory '${cwd}' is invalid, it needs to be an absolute path`, {
      code: 'CONTAINER_BAD_WORKDIR',
    });
  }
  return {
    args,
    env: [...env].map(([k, v]) => `${k}=${v}`),
    cwd,
    user: o.user ?? config.User ?? '',
  };
}

/** Parse a docker `--env-file`: KEY=VALUE lines, `#` comments, blank lines skipped, `KEY` alone from the host. */
export function parseEnvFile(text: string, file: string): string[] {
  const out: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const name = eq < 0 ? line : line.slice(0, eq);
    if (name === '' || /\s/.test(name)) {
      throw new InvalidArgumentError(`${file}:${i + 1}: variable '${name}' contains whitespaces`, { code: 'CONTAINER_BAD_ENV_FILE' });
    }
    out.push(line);
  });
  return out;
}
