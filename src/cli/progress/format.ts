/** Small formatting helpers shared by the renderers (BuildKit's conventions). */

/** A log timestamp relative to the step start: 3 decimals under 10 s, 2 under 100 s, else 1. */
export function logTimestamp(ms: number): string {
  const sec = Math.max(0, ms) / 1000;
  const prec = sec < 10 ? 3 : sec < 100 ? 2 : 1;
  return sec.toFixed(prec);
}

/** `1.2s` */
export function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

/**
 * Split a chunk of output into lines, continuing a partial line from the previous chunk.
 * Returns the complete lines and the new partial tail. `\r\n` counts as one line end.
 */
export function splitLines(partial: string, chunk: string): { lines: string[]; rest: string } {
  const text = partial + chunk;
  const parts = text.split('\n');
  const rest = parts.pop() ?? '';
  return { lines: parts.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)), rest };
}

// eslint-disable-next-line no-control-regex
const ANSI_RE = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07/g;

/** Remove terminal escapes (used by tests and to keep step output from moving the cursor). */
export function stripAnsi(s: string): string {
  return s.replace(ANSI_RE, '');
}

/** Cut `s` to `width` display columns, adding `...` when cut (ASCII width approximation). */
export function fit(s: string, width: number): string {
  if (width <= 0) return '';
  if (s.length <= width) return s;
  if (width <= 3) return s.slice(0, width);
  return `${s.slice(0, width - 3)}...`;
}
