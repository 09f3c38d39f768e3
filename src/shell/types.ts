import type { SourceRange } from '../diagnostics/types.js';

/** Looks up variables. Names are case-sensitive (Linux semantics). */
export interface EnvGetter {
  get(name: string): string | undefined;
}

/**
 * Anything that can serve as an environment: a Map or plain object of name → value,
 * a list of `NAME=value` strings (a later entry wins, as BuildKit's EnvsFromSlice),
 * or an EnvGetter.
 */
export type EnvInput =
  | ReadonlyMap<string, string>
  | Readonly<Record<string, string>>
  | readonly string[]
  | EnvGetter;

export interface ShellOptions {
  /** The Dockerfile escape character: `\` (default) or `` ` ``. */
  escapeToken?: string;
  /** Keep quote characters in the result (BuildKit's RawQuotes). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result (BuildKit's RawEscapes). */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters (BuildKit's SkipProcessQuotes). */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written (BuildKit's SkipUnsetEnv). */
  skipUnsetEnv?: boolean;
  /** Where the word came from; attached to errors. */
  range?: SourceRange;
  /** Maximum `${...}` nesting depth (default 200). Deeper input is an error. */
  maxDepth?: number;
}

export interface ProcessWordResult {
  /** The word with quotes removed and variables expanded, whitespace kept. */
  result: string;
  /** The same, split on unquoted whitespace (including whitespace from unquoted values). */
  words: string[];
  /** Variable names that were looked up and found. */
  matched: Set<string>;
  /** Variable names that were looked up and not found. */
  unmatched: Set<string>;
}
