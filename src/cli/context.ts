import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';

/** What every command gets: where the store is, where to print, and source texts for code frames. */
export interface CliContext {
  /** The store root: --root, else $KILN_ROOT, else /var/lib/kiln (root) or $XDG_DATA_HOME/kiln. */
  root(): string;
  debug(): boolean;
  stdout: Writable;
  stderr: Writable;
  /** Dockerfile texts by the name used in diagnostics, so errors can show a code frame. */
  sources: Map<string, string>;
  /** Set by a command that wants a specific exit code without throwing (e.g. `kiln run` propagating the container's). */
  exitCode?: number;
}

export function defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KILN_ROOT) return path.resolve(env.KILN_ROOT);
  if (typeof process.getuid === 'function' && process.getuid() === 0) return '/var/lib/kiln';
  const data = env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'kiln');
}
