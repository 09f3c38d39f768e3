/**
 * One .dockerignore pattern, compiled the way moby/patternmatcher does: the pattern
 * is classified as an exact string, a prefix (`dir/**`), a suffix (`**` + literal)
 * or a regular expression, and regular expressions are evaluated by our own
 * linear-time engine (goregex.ts) on the very regexp text upstream would build.
 */
import { GoRegex, RegexSyntaxError } from './goregex.js';

export type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

export class BadPatternError extends Error {
  constructor(readonly pattern: string) {
    super(`syntax error in pattern "${pattern}"`);
  }
}

// Characters that are literal in filepath patterns but special in regular expressions.
const ESCAPE = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

export interface Compiled {
  type: MatchType;
  /** The Go-syntax regexp upstream builds (regexp type only). */
  regexp?: string;
}

/** Classify and translate a cleaned pattern (separator '/'), as patternmatcher's compile. */
export function compilePattern(cleaned: string): Compiled {
  let reg = '^';
  let type: MatchType = 'exact';
  const chars = Array.from(cleaned);
  let k = 0;
  if (chars[0] === '\ufeff') k = 1; // Go's text/scanner skips a leading BOM
  const peek = () => chars[k];
  for (let i = 0; k < chars.length; i++) {
    const ch = chars[k++]!;
    if (ch === '*') {
      if (peek() === '*') {
        k++;
        if (peek() === '/') k++; // treat **/ as **
        if (peek() === undefined) {
          if (type === 'exact') type = 'prefix';
          else {
            reg += '.*';
            type = 'regexp';
          }
        } else {
          reg += '(.*/)?';
          type = 'regexp';
        }
        if (i === 0) type = 'suffix';
      } else {
        reg += '[^/]*';
        type = 'regexp';
      }
    } else if (ch === '?') {
      reg += '[^/]';
      type = 'regexp';
    } else if (ESCAPE.has(ch)) {
      reg += '\\' + ch;
    } else if (ch === '\\') {
      if (peek() !== undefined) {
        reg += '\\' + chars[k++]!;
        type = 'regexp';
      } else {
        reg += '\\';
      }
    } else if (ch === '[' || ch === ']') {
      reg += ch;
      type = 'regexp';
    } else {
      reg += ch;
    }
  }
  if (type === 'regexp') return { type, regexp: reg + '$' };
  return { type };
}

export class Pattern {
  readonly dirs: string[];
  private compiled?: { type: MatchType; regex?: GoRegex };

  constructor(
    /** The cleaned pattern without its leading `!`. */
    readonly cleaned: string,
    readonly exclusion: boolean,
  ) {
    this.dirs = cleaned.split('/');
  }

  toString(): string {
    return this.cleaned;
  }

  /** The classification, compiling on first use. Throws BadPatternError. */
  get type(): MatchType {
    return this.ensure().type;
  }

  private ensure(): { type: MatchType; regex?: GoRegex } {
    if (this.compiled) return this.compiled;
    // Like upstream, a failed compile is not cached: every call fails the same way.
    const c = compilePattern(this.cleaned);
    if (c.type !== 'regexp') return (this.compiled = { type: c.type });
    try {
      return (this.compiled = { type: 'regexp', regex: new GoRegex(c.regexp!) });
    } catch (err) {
      if (err instanceof RegexSyntaxError) throw new BadPatternError(this.cleaned);
      throw err;
    }
  }

  /** Does the pattern match this exact path string (no ancestor logic)? */
  match(path: string): boolean {
    const c = this.ensure();
    switch (c.type) {
      case 'exact':
        return path === this.cleaned;
      case 'prefix':
        return path.startsWith(this.cleaned.slice(0, -2));
      case 'suffix': {
        const suffix = this.cleaned.slice(2);
        if (path.endsWith(suffix)) return true;
        return suffix.startsWith('/') && path === suffix.slice(1);
      }
      case 'regexp':
        return c.regex!.test(path);
    }
  }

  /**
   * Could this pattern match some path strictly below directory `dir`?
   * Exact for string types; for regexps, true unless the expression provably dies
   * while reading `dir/`.
   */
  couldMatchUnder(dir: string): boolean {
    const c = this.ensure();
    const dirSlash = dir + '/';
    switch (c.type) {
      case 'exact':
        return this.cleaned.startsWith(dirSlash) && this.cleaned.length > dirSlash.length;
      case 'prefix': {
        const pre = this.cleaned.slice(0, -2);
        return dirSlash.startsWith(pre) || pre.startsWith(dirSlash);
      }
      case 'suffix':
        return true;
      case 'regexp':
        return c.regex!.couldMatchWithPrefix(dirSlash);
    }
  }
}
