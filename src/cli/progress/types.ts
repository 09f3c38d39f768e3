import type { Writable } from 'node:stream';
import type { ProgressEvent } from '../../solver/types.js';

export type { ProgressEvent };

export const PROGRESS_MODES = ['auto', 'tty', 'plain', 'rawjson', 'quiet'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** Consumes the solver's event stream and shows it. `close` prints the final state. */
export interface ProgressRenderer {
  onEvent(event: ProgressEvent): void;
  /** Stop timers and print the final frame. Safe to call twice. */
  close(): Promise<void>;
}

export interface RendererOptions {
  out: Writable;
  now?: () => number;
}
