/**
 * Source positions. Lines and columns are 1-based (as moo reports them);
 * `end` is exclusive: the position just after the last character.
 */
export interface Position {
  line: number;
  column: number;
}

export interface SourceRange {
  file: string;
  start: Position;
  end: Position;
}

export type Severity = 'error' | 'warning';

/** One located problem. Front-end stages collect these instead of stopping at the first. */
export interface Diagnostic {
  severity: Severity;
  code: string;
  message: string;
  range?: SourceRange;
  hint?: string;
}
