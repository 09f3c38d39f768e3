/**
 * BuildKit's shell-word lexer (frontend/dockerfile/shell/lex.go), behaviour for
 * behaviour: quote removal, the escape character, `$name` / `${name...}` expansion
 * with every modifier BuildKit supports, and splitting into words.
 *
 * The structure mirrors upstream (processStopOn / processDollar / quotes) so the
 * odd corners match; recursion only happens through `${`, and that depth is capped.
 */
import { KilnError } from '../diagnostics/errors.js';
import { toEnvGetter } from './env.js';
import {
  compileShellPattern,
  findMatch,
  fromCodePoints,
  PatternSyntaxError,
  reversePattern,
  toCodePoints,
  DEFAULT_PATTERN_BUDGET,
} from './pattern.js';
import type { EnvGetter, EnvInput, ProcessWordResult, ShellOptions } from './types.js';
import { isGoDigit, isGoLetter, isGoSpace } from './unicode.js';

const EOF = -1;
const DOLLAR = 0x24;
const SQUOTE = 0x27;
const DQUOTE = 0x22;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const COLON = 0x3a;
const SLASH = 0x2f;
const BOM = 0xfeff;

export const DEFAULT_MAX_DEPTH = 200;

/** An error inside the lexer; turned into a KilnError with upstream's wording at the top. */
class LexError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/**
 * Collects words the way upstream's wordsStruct does. The current word is kept as a
 * list of pieces (see processStopOn for why not `+=`).
 */
class Words {
  private parts: string[] = [];
  private len = 0;
  private inWord = false;
  readonly words: string[] = [];

  private flush(): void {
    this.words.push(this.parts.length === 1 ? this.parts[0]! : this.parts.join(''));
    this.parts = [];
    this.len = 0;
  }
  addChar(cp: number): void {
    if (isGoSpace(cp)) {
      if (this.inWord && this.len !== 0) {
        this.flush();
        this.inWord = false;
      }
    } else {
      this.addRawChar(cp);
    }
  }
  addRawChar(cp: number): void {
    this.addRawString(String.fromCodePoint(cp));
  }
  addString(s: string): void {
    // Runs of non-space characters are appended whole; every Go space is one UTF-16 unit.
    let i = 0;
    while (i < s.length) {
      let j = i;
      while (j < s.length && !isGoSpace(s.charCodeAt(j))) j++;
      if (j > i) this.addRawString(s.slice(i, j));
      if (j < s.length) this.addChar(s.charCodeAt(j));
      i = j + 1;
    }
  }
  addRawString(s: string): void {
    if (s.length > 0) {
      this.parts.push(s);
      this.len += s.length;
    }
    this.inWord = true;
  }
  finish(): string[] {
    if (this.len > 0) {
      this.flush();
      this.inWord = false;
    }
    return this.words;
  }
}

class ShellWord {
  private pos = 0;
  private depth = 0;
  private rawEscapes: boolean;
  private readonly escape: number;
  private readonly budget = { left: DEFAULT_PATTERN_BUDGET };
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    private readonly src: string,
    private readonly env: EnvGetter,
    private readonly opts: ShellOptions,
  ) {
    this.rawEscapes = !!opts.rawEscapes;
    const esc = opts.escapeToken ?? '\\';
    if (esc !== '\\' && esc !== '`') {
      throw new KilnError('SHELL_INVALID_ESCAPE', `invalid escape token '${esc}' does not validate`, {
        hint: 'the escape character must be \\ or `',
      });
    }
    this.escape = esc.codePointAt(0)!;
    // Go's text/scanner skips a byte order mark at the very start.
    if (src.codePointAt(0) === BOM) this.pos = 1;
  }

  private peek(): number {
    return this.pos < this.src.length ? this.src.codePointAt(this.pos)! : EOF;
  }
  private next(): number {
    if (this.pos >= this.src.length) return EOF;
    const cp = this.src.codePointAt(this.pos)!;
    this.pos += cp > 0xffff ? 2 : 1;
    return cp;
  }

  private getEnv(name: string): [string, boolean] {
    const v = this.env.get(name);
    if (v !== undefined) {
      this.matched.add(name);
      return [v, true];
    }
    this.unmatched.add(name);
    return ['', false];
  }

  run(): { result: string; words: string[] } {
    return this.processStopOn(EOF, this.rawEscapes);
  }

  /** Process until the end or until `stop` (consumed). */
  private processStopOn(stop: number, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      // Pieces joined once at the end: a long `+=` chain builds a deep rope that is
      // costly for the garbage collector on multi-megabyte words.
      const result: string[] = [];
      const words = new Words();
      const quotes = !this.opts.skipProcessQuotes;
      while (this.peek() !== EOF) {
        let ch = this.peek();
        if (stop !== EOF && ch === stop) {
          this.next();
          return { result: result.join(''), words: words.finish() };
        }
        if (ch === DOLLAR) {
          const tmp = this.processDollar();
          result.push(tmp);
          words.addString(tmp);
          continue;
        }
        if (quotes && (ch === SQUOTE || ch === DQUOTE)) {
          const tmp = ch === SQUOTE ? this.processSingleQuote() : this.processDoubleQuote();
          result.push(tmp);
          words.addRawString(tmp);
          continue;
        }
        const run = this.plainRun(stop, quotes);
        if (run > this.pos) {
          const chunk = this.src.slice(this.pos, run);
          this.pos = run;
          result.push(chunk);
          words.addRawString(chunk);
          continue;
        }
        ch = this.next();
        if (ch === this.escape) {
          if (this.rawEscapes) {
            words.addRawChar(ch);
            result.push(String.fromCodePoint(ch));
          }
          ch = this.next();
          if (ch === EOF) break; // an escape at the very end is dropped
          words.addRawChar(ch);
        } else {
          words.addChar(ch);
        }
        result.push(String.fromCodePoint(ch));
      }
      if (stop !== EOF) {
        throw new LexError(
          'SHELL_UNTERMINATED',
          `unexpected end of statement while looking for matching ${String.fromCodePoint(stop)}`,
          this.pos,
        );
      }
      return { result: result.join(''), words: words.finish() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  /**
   * End of a run of ordinary characters from the current position: nothing that
   * processStopOn treats specially (and no whitespace, which splits words). Lets long
   * words be copied in slices instead of one character at a time.
   */
  private plainRun(stop: number, quotes: boolean): number {
    const src = this.src;
    let j = this.pos;
    while (j < src.length) {
      const c = src.charCodeAt(j);
      if (c === DOLLAR || c === this.escape || c === stop || isGoSpace(c)) break;
      if (quotes && (c === SQUOTE || c === DQUOTE)) break;
      j++;
    }
    return j;
  }

  private processSingleQuote(): string {
    const start = this.pos;
    let result = '';
    let ch = this.next();
    if (this.opts.rawQuotes) result += String.fromCodePoint(ch);
    const end = this.src.indexOf("'", this.pos);
    if (end < 0) {
      this.pos = this.src.length;
      throw new LexError(
        'SHELL_UNTERMINATED_QUOTE',
        'unexpected end of statement while looking for matching single-quote',
        start,
      );
    }
    result += this.src.slice(this.pos, end);
    this.pos = end + 1;
    if (this.opts.rawQuotes) result += "'";
    return result;
  }

  private processDoubleQuote(): string {
    const start = this.pos;
    const result: string[] = [];
    let ch = this.next();
    if (this.opts.rawQuotes) result.push(String.fromCodePoint(ch));
    for (;;) {
      const p = this.peek();
      if (p === EOF) {
        throw new LexError(
          'SHELL_UNTERMINATED_QUOTE',
          'unexpected end of statement while looking for matching double-quote',
          start,
        );
      }
      if (p === DQUOTE) {
        this.next();
        if (this.opts.rawQuotes) result.push('"');
        return result.join('');
      }
      if (p === DOLLAR) {
        result.push(this.processDollar());
        continue;
      }
      let j = this.pos;
      for (let c = this.src.charCodeAt(j); j < this.src.length && c !== DQUOTE && c !== DOLLAR && c !== this.escape; ) {
        c = this.src.charCodeAt(++j);
      }
      if (j > this.pos) {
        result.push(this.src.slice(this.pos, j));
        this.pos = j;
        continue;
      }
      ch = this.next();
      if (ch === this.escape) {
        if (this.rawEscapes) result.push(String.fromCodePoint(ch));
        const after = this.peek();
        if (after === EOF) continue; // ignored; the loop then reports the open quote
        if (after === DQUOTE || after === DOLLAR || after === this.escape) ch = this.next();
      }
      result.push(String.fromCodePoint(ch));
    }
  }

  private processName(): string {
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name.length === 0 && isGoDigit(ch)) {
        while (this.peek() !== EOF && isGoDigit(this.peek())) name += String.fromCodePoint(this.next());
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) {
        return String.fromCodePoint(this.next());
      }
      if (!isGoLetter(ch) && !isGoDigit(ch) && ch !== 0x5f /* _ */) break;
      name += String.fromCodePoint(this.next());
    }
    return name;
  }

  private processDollar(): string {
    const start = this.pos;
    this.next(); // $
    if (this.peek() !== LBRACE) {
      const name = this.processName();
      if (name === '') return '$';
      const [value, found] = this.getEnv(name);
      if (!found && this.opts.skipUnsetEnv) return '$' + name;
      return value;
    }
    this.next(); // {
    const maxDepth = this.opts.maxDepth ?? DEFAULT_MAX_DEPTH;
    if (this.depth >= maxDepth) {
      throw new LexError(
        'SHELL_TOO_DEEP',
        `variable substitutions nested more than ${maxDepth} deep`,
        start,
      );
    }
    this.depth++;
    try {
      return this.processBraced(start);
    } finally {
      this.depth--;
    }
  }

  private processBraced(start: number): string {
    const first = this.peek();
    if (first === EOF) throw new LexError('SHELL_MISSING_BRACE', "syntax error: missing '}'", start);
    if (first === LBRACE || first === RBRACE || first === COLON) {
      throw new LexError('SHELL_BAD_SUBSTITUTION', 'syntax error: bad substitution', start);
    }
    const name = this.processName();
    let ch = this.next();
    if (ch === EOF) {
      // Upstream reports "unsupported modifier (\ufffd)"; the missing brace is the real problem.
      throw new LexError('SHELL_MISSING_BRACE', "syntax error: missing '}'", start);
    }
    let chs = String.fromCodePoint(ch);
    let nullIsUnset = false;

    if (ch === RBRACE) {
      const [value, set] = this.getEnv(name);
      if (!set && this.opts.skipUnsetEnv) return `\${${name}}`;
      return value;
    }
    if (ch === SLASH) return this.processReplace(name, start);

    if (ch === COLON) {
      nullIsUnset = true;
      ch = this.next();
      chs += ch === EOF ? '' : String.fromCodePoint(ch);
    } else if (!isModifier(ch)) {
      throw unsupported(chs, start);
    }
    const rawEscapes = ch === 0x23 /* # */ || ch === 0x25; /* % */
    if (nullIsUnset && rawEscapes) throw unsupported(chs, start);

    const word = this.processStopOnInBrace('}', rawEscapes, start);
    const [value, set] = this.getEnv(name);
    if (this.opts.skipUnsetEnv && !set) return `\${${name}${chs}${word}}`;

    switch (ch) {
      case 0x2d /* - */:
        return !set || (nullIsUnset && value === '') ? word : value;
      case 0x2b /* + */:
        return !set || (nullIsUnset && value === '') ? '' : word;
      case 0x3f /* ? */:
        if (!set) {
          throw new LexError(
            'SHELL_REQUIRED_VARIABLE',
            `${name}: ${word !== '' ? word : 'is not allowed to be unset'}`,
            start,
          );
        }
        if (nullIsUnset && value === '') {
          throw new LexError(
            'SHELL_REQUIRED_VARIABLE',
            `${name}: ${word !== '' ? word : 'is not allowed to be empty'}`,
            start,
          );
        }
        return value;
      case 0x23 /* # */:
      case 0x25 /* % */: {
        let pat = word;
        let greedy = false;
        if (pat.length > 0 && pat.codePointAt(0) === ch) {
          greedy = true;
          pat = pat.slice(1);
        }
        return ch === 0x25 ? this.trimSuffix(pat, value, greedy, start) : this.trimPrefix(pat, value, greedy, start);
      }
      default:
        throw unsupported(chs, start);
    }
  }

  /** processStopOn for the text inside `${...}`, with upstream's "missing" errors. */
  private processStopOnInBrace(stop: '}' | '/', rawEscapes: boolean, start: number): string {
    try {
      return this.processStopOn(stop.codePointAt(0)!, rawEscapes).result;
    } catch (err) {
      if (err instanceof LexError && err.code === 'SHELL_UNTERMINATED' && this.peek() === EOF) {
        throw new LexError(
          'SHELL_MISSING_BRACE',
          stop === '}' ? "syntax error: missing '}'" : "syntax error: missing '/' in ${}",
          start,
        );
      }
      throw err;
    }
  }

  private processReplace(name: string, start: number): string {
    const replaceAll = this.peek() === SLASH;
    if (replaceAll) this.next();
    const pattern = this.processStopOnInBrace('/', true, start);
    const replacement = this.processStopOnInBrace('}', true, start);
    const [value, set] = this.getEnv(name);
    if (this.opts.skipUnsetEnv && !set) return `\${${name}/${pattern}/${replacement}}`;

    const pat = this.compile(pattern, true, start);
    const text = toCodePoints(value);
    if (!replaceAll) {
      const m = findMatch(pat, text, 0, false, this.budget);
      if (!m) return value;
      return fromCodePoints(text, 0, m[0]) + replacement + fromCodePoints(text, m[1]);
    }
    return replaceAllGo(pat, text, replacement, this.budget);
  }

  private compile(pattern: string, greedy: boolean, start: number) {
    try {
      return compileShellPattern(toCodePoints(pattern), greedy);
    } catch (err) {
      if (err instanceof PatternSyntaxError) {
        throw new LexError(
          'SHELL_INVALID_PATTERN',
          `invalid pattern (${pattern}) in substitution: ${err.message}`,
          start,
        );
      }
      throw err;
    }
  }

  private trimPrefix(pattern: string, value: string, greedy: boolean, start: number): string {
    const pat = this.compile(pattern, greedy, start);
    const text = toCodePoints(value);
    const m = findMatch(pat, text, 0, true, this.budget);
    return m ? fromCodePoints(text, m[1]) : value;
  }

  private trimSuffix(pattern: string, value: string, greedy: boolean, start: number): string {
    // Shortest/longest rightmost match = leftmost match on the reversed strings.
    const rp = fromCodePoints(reversePattern(toCodePoints(pattern)));
    const rv = fromCodePoints(toCodePoints(value).reverse());
    const trimmed = this.trimPrefix(rp, rv, greedy, start);
    return fromCodePoints(toCodePoints(trimmed).reverse());
  }
}

function isSpecialParam(cp: number): boolean {
  // @ * # ? - $ ! 0
  return (
    cp === 0x40 || cp === 0x2a || cp === 0x23 || cp === 0x3f || cp === 0x2d || cp === 0x24 || cp === 0x21 || cp === 0x30
  );
}

function isModifier(cp: number): boolean {
  // + - ? # %
  return cp === 0x2b || cp === 0x2d || cp === 0x3f || cp === 0x23 || cp === 0x25;
}

function unsupported(chs: string, offset: number): LexError {
  return new LexError('SHELL_UNSUPPORTED_MODIFIER', `unsupported modifier (${chs}) in substitution`, offset);
}

/**
 * Go's Regexp.ReplaceAllString: every non-overlapping leftmost-first match is replaced,
 * an empty match right after a previous match is skipped, and `$name`, `${name}` in the
 * replacement are expanded as group references (only group 0, the whole match, exists
 * here; other names expand to nothing, `$$` is a dollar).
 */
function replaceAllGo(
  pat: ReturnType<typeof compileShellPattern>,
  text: number[],
  repl: string,
  budget: { left: number },
): string {
  let out = '';
  let lastEnd = 0;
  let searchPos = 0;
  while (searchPos <= text.length) {
    const m = findMatch(pat, text, searchPos, false, budget);
    if (!m) break;
    out += fromCodePoints(text, lastEnd, m[0]);
    if (m[1] > lastEnd || m[0] === 0) out += expandGoTemplate(repl, fromCodePoints(text, m[0], m[1]));
    lastEnd = m[1];
    searchPos = searchPos + 1 > m[1] ? searchPos + 1 : m[1];
  }
  return out + fromCodePoints(text, lastEnd);
}

/** regexp.Expand for a pattern with no capture groups besides 0. */
function expandGoTemplate(template: string, whole: string): string {
  if (!template.includes('$')) return template;
  let out = '';
  let i = 0;
  while (i < template.length) {
    const d = template.indexOf('$', i);
    if (d < 0) {
      out += template.slice(i);
      break;
    }
    out += template.slice(i, d);
    i = d + 1;
    if (template[i] === '$') {
      out += '$';
      i++;
      continue;
    }
    let name: string | undefined;
    if (template[i] === '{') {
      const close = template.indexOf('}', i + 1);
      const inner = close < 0 ? '' : template.slice(i + 1, close);
      if (close > 0 && /^[A-Za-z0-9_]+$/.test(inner)) {
        name = inner;
        i = close + 1;
      }
    } else {
      const mm = /^[A-Za-z0-9_]+/.exec(template.slice(i, i + 256));
      if (mm) {
        name = mm[0];
        i += name.length;
      }
    }
    if (name === undefined) {
      out += '$'; // malformed: the dollar is kept as text
      continue;
    }
    if (/^[0-9]+$/.test(name) && Number(name) === 0) out += whole;
  }
  return out;
}

function quoteForMessage(word: string): string {
  const MAX = 200;
  const shown = word.length > MAX ? word.slice(0, MAX) + '…' : word;
  return JSON.stringify(shown);
}

/** Run the lexer and convert internal failures to KilnErrors with upstream's message. */
function run(word: string, env: EnvInput | undefined, opts: ShellOptions): ProcessWordResult {
  const sw = new ShellWord(word, toEnvGetter(env), opts);
  try {
    const { result, words } = sw.run();
    return { result, words, matched: sw.matched, unmatched: sw.unmatched };
  } catch (err) {
    if (err instanceof LexError) {
      throw new KilnError(err.code, `failed to process ${quoteForMessage(word)}: ${err.message}`, {
        ...(opts.range ? { range: opts.range } : {}),
        hint: `at character ${err.offset + 1} of the word`,
      });
    }
    if (err instanceof KilnError) {
      if (opts.range && !err.range) err.range = opts.range;
      throw err;
    }
    if (err instanceof RangeError) {
      // Defensive: should be unreachable given the depth cap, but never leak a RangeError.
      throw new KilnError('SHELL_TOO_DEEP', `failed to process ${quoteForMessage(word)}: input too deeply nested`, {
        ...(opts.range ? { range: opts.range } : {}),
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * Expand one word (BuildKit's ProcessWordWithMatches): quotes removed, variables
 * expanded, whitespace kept. Also reports which names were found and which were not.
 */
export function processWord(word: string, env?: EnvInput, opts: ShellOptions = {}): ProcessWordResult {
  return run(word, env, opts);
}

/** Expand and split into words on unquoted whitespace (BuildKit's ProcessWords). */
export function processWords(word: string, env?: EnvInput, opts: ShellOptions = {}): string[] {
  return run(word, env, opts).words;
}

/** A configured lexer, like BuildKit's shell.Lex. */
export class Lex {
  constructor(readonly options: ShellOptions = {}) {}
  processWord(word: string, env?: EnvInput, extra: ShellOptions = {}): ProcessWordResult {
    return run(word, env, { ...this.options, ...extra });
  }
  processWords(word: string, env?: EnvInput, extra: ShellOptions = {}): string[] {
    return run(word, env, { ...this.options, ...extra }).words;
  }
}
