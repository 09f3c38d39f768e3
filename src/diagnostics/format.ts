import type { Diagnostic, SourceRange } from './types.js';

export interface FormatOptions {
  /** The source text of `range.file`, to print a code frame. */
  source?: string;
  /** Lines of context around the marked range. */
  context?: number;
}

/** `Dockerfile:3:1` */
export function formatLocation(range: SourceRange): string {
  return `${range.file}:${range.start.line}:${range.start.column}`;
}

/**
 * A code frame in buildkit/vitest style:
 *
 *     2 |   FROM busybox
 *   > 3 |   RUNN echo hi
 *       |   ^^^^
 */
export function codeFrame(source: string, range: SourceRange, context = 2): string {
  const lines = source.split(/\r?\n/);
  const first = Math.max(1, range.start.line - context);
  const lastMarked = Math.max(range.start.line, range.end.line > range.start.line && range.end.column === 1 ? range.end.line - 1 : range.end.line);
  const last = Math.min(lines.length, lastMarked + context);
  const width = String(last).length;
  const out: string[] = [];
  for (let n = first; n <= last; n++) {
    const text = (lines[n - 1] ?? '').replace(/\t/g, ' ');
    const marked = n >= range.start.line && n <= lastMarked;
    out.push(`${marked ? '>' : ' '} ${String(n).padStart(width)} | ${truncate(text)}`);
    if (marked && n === range.start.line && range.end.line === range.start.line) {
      const len = Math.max(1, range.end.column - range.start.column);
      out.push(`  ${' '.repeat(width)} | ${' '.repeat(range.start.column - 1)}${'^'.repeat(Math.min(len, 120))}`);
    }
  }
  return out.join('\n');
}

function truncate(s: string): string {
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

/** Render one diagnostic for a terminal: `Dockerfile:3:1: error: message [CODE]`, frame, hint. */
export function formatDiagnostic(d: Diagnostic, opts: FormatOptions = {}): string {
  const where = d.range ? `${formatLocation(d.range)}: ` : '';
  const parts = [`${where}${d.severity}: ${d.message} [${d.code}]`];
  if (d.range && opts.source !== undefined) parts.push(codeFrame(opts.source, d.range, opts.context));
  if (d.hint) parts.push(`hint: ${d.hint}`);
  return parts.join('\n');
}
