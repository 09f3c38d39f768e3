import type { Diagnostic, SourceRange } from './types.js';

export interface KilnErrorOptions {
  range?: SourceRange;
  hint?: string;
  cause?: unknown;
}

/**
 * The one error type of kiln. `code` is a stable string prefixed by the stage that
 * raised it (PARSE_, INSTR_, GRAPH_, SOLVE_, CONTENT_, SNAPSHOT_, LAYER_, IMAGE_,
 * RUNTIME_, REGISTRY_, CLI_ ...). Classify errors by code or by the predicates below,
 * never by message text.
 */
export class KilnError extends Error {
  readonly code: string;
  range?: SourceRange;
  readonly hint?: string;

  constructor(code: string, message: string, options: KilnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.range) this.range = options.range;
    if (options.hint !== undefined) this.hint = options.hint;
  }

  toDiagnostic(): Diagnostic {
    const d: Diagnostic = { severity: 'error', code: this.code, message: this.message };
    if (this.range) d.range = this.range;
    if (this.hint !== undefined) d.hint = this.hint;
    return d;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, ...this.toDiagnostic() };
  }
}

/** A Dockerfile that cannot be parsed or converted; always has a range. */
export class DockerfileError extends KilnError {}

/** Several located problems reported together (esbuild's BuildFailure). */
export class DiagnosticsError extends KilnError {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]) {
    const first = diagnostics[0];
    super(first?.code ?? 'DIAGNOSTICS', first ? first.message : 'no diagnostics', {
      ...(first?.range ? { range: first.range } : {}),
    });
    this.diagnostics = diagnostics;
  }
}

/** A bad command line: exit code 2. */
export class UsageError extends KilnError {
  constructor(message: string, hint?: string) {
    super('CLI_USAGE', message, hint === undefined ? {} : { hint });
  }
}

export class NotFoundError extends KilnError {
  constructor(message: string, options: KilnErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'NOT_FOUND', message, options);
  }
}

export class AlreadyExistsError extends KilnError {
  constructor(message: string, options: KilnErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'ALREADY_EXISTS', message, options);
  }
}

export class InvalidArgumentError extends KilnError {
  constructor(message: string, options: KilnErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'INVALID_ARGUMENT', message, options);
  }
}

export class FailedPreconditionError extends KilnError {
  constructor(message: string, options: KilnErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'FAILED_PRECONDITION', message, options);
  }
}

function walkCauses(err: unknown, test: (e: unknown) => boolean): boolean {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    if (test(e)) return true;
  }
  return false;
}

export const isNotFound = (err: unknown): boolean => walkCauses(err, (e) => e instanceof NotFoundError);
export const isAlreadyExists = (err: unknown): boolean =>
  walkCauses(err, (e) => e instanceof AlreadyExistsError);
export const hasCode = (err: unknown, code: string): boolean =>
  walkCauses(err, (e) => e instanceof KilnError && e.code === code);

/** Attach a range to an error that has none yet (buildkit's WithLocation). */
export function withRange<E>(err: E, range: SourceRange): E {
  if (err instanceof KilnError && !err.range) err.range = range;
  return err;
}
