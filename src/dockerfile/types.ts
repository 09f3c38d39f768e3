import type { SourceRange, Diagnostic } from '../diagnostics/types.js';

/** Parser directives found at the top of the file (keys lower-cased). */
export interface Directives {
  syntax?: string;
  escape?: '\\' | '`';
  check?: string;
  [key: string]: string | undefined;
}

/** A `--name[=value]` flag as written after the keyword, quotes removed (Docker's flag text). */
export interface FlagNode {
  /** The flag text without quotes, e.g. `--from=builder`; what Docker's dump shows. */
  text: string;
  /** `from` */
  name: string;
  /** `builder`; undefined for a bare `--flag`. */
  value?: string;
  range: SourceRange;
}

/** One argument string, split exactly as Docker's parser splits it for this instruction. */
export interface ArgNode {
  value: string;
  range: SourceRange;
}

export interface Heredoc {
  /** The terminator, quotes removed. */
  name: string;
  /** The body lines with their newlines; with chomp, leading tabs already removed. */
  body: string;
  /** False when any part of the terminator word was quoted: no variable expansion in the body. */
  expand: boolean;
  /** `<<-`: leading tabs stripped. */
  chomp: boolean;
  /** The digits before `<<`, or 0. */
  fileDescriptor: number;
  /** The body exactly as read (leading tabs kept even with chomp), as upstream's Heredoc.Content. */
  content?: string;
  range: SourceRange;
}

/** One instruction: the unit of the dump format (see ../shared/conformance/README.md). */
export interface InstructionNode {
  /** The keyword exactly as written (`Run`, `FROM`). */
  keyword: string;
  flags: FlagNode[];
  /**
   * Arguments as Docker's parser splits them: ENV/LABEL give name, value, separator triples;
   * ARG gives raw words; RUN/CMD/ENTRYPOINT/SHELL give JSON elements or the whole rest;
   * an unknown keyword gives `[""]`; ONBUILD gives none (see `child`).
   */
  args: ArgNode[];
  /** True when written in exec (JSON array) form. */
  json: boolean;
  heredocs: Heredoc[];
  /** ONBUILD only: the wrapped instruction. */
  child?: InstructionNode;
  /** The instruction text after the keyword (and after line joining), trimmed: what shell form runs. */
  original: string;
  range: SourceRange;
}

export interface Ast {
  file: string;
  directives: Directives;
  /** Where each directive was written, by lower-cased name. */
  directiveRanges: Record<string, SourceRange>;
  instructions: InstructionNode[];
  warnings: Diagnostic[];
}

export interface ParseOptions {
  /** Name used in ranges and messages; default `Dockerfile`. */
  file?: string;
}
