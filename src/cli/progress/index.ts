import type { Writable } from 'node:stream';
import { PlainRenderer } from './plain.js';
import { QuietRenderer, RawJsonRenderer } from './rawjson.js';
import { TtyRenderer } from './tty.js';
import { PROGRESS_MODES, type ProgressMode, type ProgressRenderer } from './types.js';
import { UsageError } from '../../diagnostics/errors.js';

export { PlainRenderer, RawJsonRenderer, QuietRenderer, TtyRenderer, PROGRESS_MODES };
export type { ProgressMode, ProgressRenderer };
export { LogCollector } from './log-collector.js';

export function parseProgressMode(value: string): ProgressMode {
  if ((PROGRESS_MODES as readonly string[]).includes(value)) return value as ProgressMode;
  throw new UsageError(`invalid --progress value "${value}"`, `use one of: ${PROGRESS_MODES.join(', ')}`);
}

/** `auto` means tty when the stream is a terminal (and TERM is not dumb), plain otherwise. */
export function resolveProgressMode(mode: ProgressMode, out: Writable, env: NodeJS.ProcessEnv = process.env): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  const isTty = Boolean((out as Writable & { isTTY?: boolean }).isTTY);
  return isTty && env.TERM !== 'dumb' ? 'tty' : 'plain';
}

/** A renderer for `--progress` (progress goes to stderr, as with docker build). */
export function createProgressRenderer(mode: ProgressMode, out: Writable, env: NodeJS.ProcessEnv = process.env): ProgressRenderer {
  switch (resolveProgressMode(mode, out, env)) {
    case 'tty':
      return new TtyRenderer({ out });
    case 'plain':
      return new PlainRenderer({ out });
    case 'rawjson':
      return new RawJsonRenderer({ out });
    case 'quiet':
      return new QuietRenderer();
  }
}
