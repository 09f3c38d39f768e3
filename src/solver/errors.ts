import { KilnError } from '../diagnostics/errors.js';
import type { SourceRange } from '../diagnostics/types.js';

/**
 * A step failed. Keeps the original error's code (RUNTIME_EXIT_CODE, SNAPSHOT_..., or
 * SOLVE_FAILED for a plain Error) and adds which vertex it was, so the CLI can print the
 * Dockerfile lines of the failing step.
 */
export class VertexError extends KilnError {
  readonly vertex: { digest: string; name: string; ranges: readonly SourceRange[] };
  /** A command that opens a shell in the state before the failed step (set by the build). */
  debugCommand?: string;

  constructor(vertex: { digest: string; name: string; ranges?: readonly SourceRange[] }, cause: unknown) {
    const inner = cause instanceof Error ? cause : new Error(String(cause));
    const code = cause instanceof KilnError ? cause.code : 'SOLVE_FAILED';
    const range = vertex.ranges?.[0];
    super(code, inner.message, {
      cause,
      ...(range ? { range } : {}),
      ...(cause instanceof KilnError && cause.hint !== undefined ? { hint: cause.hint } : {}),
    });
    this.vertex = { digest: vertex.digest, name: vertex.name, ranges: vertex.ranges ?? [] };
  }
}

/** The build was cancelled (Ctrl-C, or a sibling failed first). */
export class CanceledError extends KilnError {
  constructor(message = 'build canceled', cause?: unknown) {
    super('SOLVE_CANCELED', message, cause === undefined ? {} : { cause });
  }
}

export function isCanceled(err: unknown): boolean {
  if (err instanceof CanceledError) return true;
  const e = err as { name?: string; code?: string } | undefined;
  return e?.name === 'AbortError' || e?.code === 'ABORT_ERR';
}
