/**
 * Here-document openers (`<<EOF`, `<<-EOF`, `3<<"EOF"`, `<< EOF`) as BuildKit finds them:
 * the instruction line is split into shell words (quotes and escapes kept raw, variables
 * left as written), every word matching `^(\d*)<<(-?)([^<]*)$` is an opener, and its
 * terminator is the word after quote removal. A quoted terminator turns expansion off.
 */

const EOF = -1;
/** Nesting limit for `${...}` inside `${...}`; deeper input is treated as a lexing error. */
const MAX_DEPTH = 200;

export class ShellLexError extends Error {}

interface LexOptions {
  rawQuotes: boolean;
  rawEscapes: boolean;
}

const isSpace = (c: number): boolean =>
  c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0x85 || c === 0xa0 || c === 0x1680 ||
  (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;

const LETTER = /\p{L}/u;
const DIGIT = /\p{Nd}/u;

/**
 * A small port of the word-splitting half of BuildKit's shell lexer, used only with no
 * variables set and unset variables kept as written (SkipUnsetEnv). Escape token is `\`.
 */
class WordLexer {
  private pos = 0;
  private readonly chars: number[];
  private depth = 0;

  constructor(text: string, private readonly opts: LexOptions) {
    this.chars = Array.from(text, (c) => c.codePointAt(0)!);
  }

  private peek(): number {
    return this.pos < this.chars.length ? this.chars[this.pos]! : EOF;
  }
  private next(): number {
    return this.pos < this.chars.length ? this.chars[this.pos++]! : EOF;
  }

  /** The words of the whole input. */
  words(): string[] {
    const words: string[] = [];
    let buf = '';
    let inWord = false;
    // Whitespace right after `<<` stays in the word, so `<<  EOF` is one opener.
    let wsAfterOp = false;
    const flush = (): void => {
      if (buf.length > 0) words.push(buf);
      buf = '';
      inWord = false;
      wsAfterOp = false;
    };
    const addChar = (c: number): void => {
      if (isSpace(c)) {
        if (inWord && (wsAfterOp || buf.endsWith('<<'))) {
          buf += String.fromCodePoint(c);
          wsAfterOp = true;
        } else if (inWord && buf.length !== 0) flush();
      } else {
        buf += String.fromCodePoint(c);
        inWord = true;
        wsAfterOp = false;
      }
    };
    const addRaw = (s: string): void => {
      buf += s;
      inWord = true;
      wsAfterOp = false;
    };
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (ch === 0x24 /* $ */) {
        for (const c of this.dollar()) addChar(c.codePointAt(0)!);
      } else if (ch === 0x27 /* ' */) {
        addRaw(this.singleQuote());
      } else if (ch === 0x22 /* " */) {
        addRaw(this.doubleQuote());
      } else {
        let c = this.next();
        if (c === 0x5c /* \ */) {
          if (this.opts.rawEscapes) addRaw('\\');
          c = this.next();
          if (c === EOF) break;
          addRaw(String.fromCodePoint(c));
        } else {
          addChar(c);
        }
      }
    }
    flush();
    return words;
  }

  /** processStopOn for a nested word inside `${...}`. */
  private until(stop: number, rawEscapes: boolean): string {
    let out = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (ch === stop) {
        this.next();
        return out;
      }
      if (ch === 0x24) out += this.dollar();
      else if (ch === 0x27) out += this.singleQuote();
      else if (ch === 0x22) out += this.doubleQuote();
      else {
        let c = this.next();
        if (c === 0x5c) {
          if (rawEscapes) out += '\\';
          c = this.next();
          if (c === EOF) break;
        }
        out += String.fromCodePoint(c);
      }
    }
    throw new ShellLexError(`unexpected end of statement while looking for matching ${String.fromCodePoint(stop)}`);
  }

  private singleQuote(): string {
    this.next();
    let out = this.opts.rawQuotes ? "'" : '';
    for (;;) {
      const c = this.next();
      if (c === EOF) throw new ShellLexError('unexpected end of statement while looking for matching single-quote');
      if (c === 0x27) return this.opts.rawQuotes ? out + "'" : out;
      out += String.fromCodePoint(c);
    }
  }

  private doubleQuote(): string {
    this.next();
    let out = this.opts.rawQuotes ? '"' : '';
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new ShellLexError('unexpected end of statement while looking for matching double-quote');
      if (p === 0x22) {
        this.next();
        return this.opts.rawQuotes ? out + '"' : out;
      }
      if (p === 0x24) {
        out += this.dollar();
        continue;
      }
      let c = this.next();
      if (c === 0x5c) {
        if (this.opts.rawEscapes) out += '\\';
        const n = this.peek();
        if (n === EOF) continue;
        if (n === 0x22 || n === 0x24 || n === 0x5c) c = this.next();
      }
      out += String.fromCodePoint(c);
    }
  }

  private name(): string {
    let name = '';
    for (;;) {
      const c = this.peek();
      if (c === EOF) break;
      const s = String.fromCodePoint(c);
      if (name.length === 0 && DIGIT.test(s)) {
        while (this.peek() !== EOF && DIGIT.test(String.fromCodePoint(this.peek()))) name += String.fromCodePoint(this.next());
        return name;
      }
      if (name.length === 0 && '@*#?-$!0'.includes(s)) {
        this.next();
        return s;
      }
      if (!LETTER.test(s) && !DIGIT.test(s) && s !== '_') break;
      name += String.fromCodePoint(this.next());
    }
    return name;
  }

  /** `$name` / `${...}` with nothing set: written back as it was (SkipUnsetEnv). */
  private dollar(): string {
    if (++this.depth > MAX_DEPTH) throw new ShellLexError('substitutions nested too deeply');
    try {
      this.next();
      if (this.peek() !== 0x7b /* { */) {
        const name = this.name();
        return name === '' ? '$' : '$' + name;
      }
      this.next();
      const p = this.peek();
      if (p === EOF) throw new ShellLexError("syntax error: missing '}'");
      if (p === 0x7b || p === 0x7d || p === 0x3a) throw new ShellLexError('syntax error: bad substitution');
      const name = this.name();
      let ch = this.next();
      let chs = ch === EOF ? '\ufffd' : String.fromCodePoint(ch);
      let nullIsUnset = false;
      if (ch === 0x7d) return '${' + name + '}';
      if (ch === 0x3a /* : */) {
        nullIsUnset = true;
        ch = this.next();
        chs += ch === EOF ? '\ufffd' : String.fromCodePoint(ch);
      }
      if (nullIsUnset || ch === 0x2b || ch === 0x2d || ch === 0x3f || ch === 0x23 || ch === 0x25) {
        const raw = ch === 0x23 || ch === 0x25;
        if (nullIsUnset && raw) throw new ShellLexError(`unsupported modifier (${chs}) in substitution`);
        let word: string;
        try {
          word = this.until(0x7d, raw);
        } catch (e) {
          if (this.peek() === EOF) throw new ShellLexError("syntax error: missing '}'");
          throw e;
        }
        return '${' + name + chs + word + '}';
      }
      if (ch === 0x2f /* / */) {
        if (this.peek() === 0x2f) this.next();
        let pattern: string;
        let replacement: string;
        try {
          pattern = this.until(0x2f, true);
        } catch (e) {
          if (this.peek() === EOF) throw new ShellLexError("syntax error: missing '/' in ${}");
          throw e;
        }
        try {
          replacement = this.until(0x7d, true);
        } catch (e) {
          if (this.peek() === EOF) throw new ShellLexError("syntax error: missing '}'");
          throw e;
        }
        return '${' + name + '/' + pattern + '/' + replacement + '}';
      }
      throw new ShellLexError(`unsupported modifier (${chs}) in substitution`);
    } finally {
      this.depth--;
    }
  }
}

/** Split `text` into shell words with quotes/escapes raw or removed; throws ShellLexError. */
export function shellWords(text: string, opts: LexOptions): string[] {
  return new WordLexer(text, opts).words();
}

export interface HeredocOpener {
  /** The terminator, quotes removed. */
  name: string;
  fileDescriptor: number;
  expand: boolean;
  chomp: boolean;
}

const RE_HEREDOC = /^(\d*)<<(-?)([^<]*)$/;

const countQuotes = (s: string): number => {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x27 || c === 0x22) n++;
  }
  return n;
};

/**
 * ParseHeredoc: is this one shell word a heredoc opener? Returns null when it is not;
 * throws ShellLexError when the terminator word cannot be lexed (e.g. `<<'EOF`).
 */
export function parseHeredocWord(word: string): HeredocOpener | null {
  const m = RE_HEREDOC.exec(word);
  if (!m) return null;
  const fd = m[1] ? Number.parseInt(m[1], 10) : 0;
  const chomp = m[2] === '-';
  const rest = m[3]!;
  if (rest.length === 0) return null;
  const words = shellWords(rest, { rawQuotes: false, rawEscapes: false });
  if (words.length !== 1) return null;
  const raw = shellWords(rest, { rawQuotes: true, rawEscapes: false });
  if (raw.length !== words.length) {
    throw new ShellLexError(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const name = words[0]!;
  return { name, fileDescriptor: Number.isFinite(fd) ? fd : 0, expand: countQuotes(name) === countQuotes(raw[0]!), chomp };
}

/** heredocsFromLine: the openers in a whole instruction line, in order. */
export function heredocsFromLine(line: string): HeredocOpener[] {
  let words: string[];
  try {
    words = shellWords(line, { rawQuotes: true, rawEscapes: true });
  } catch {
    // Upstream ignores a lexing error here: the line simply has no heredocs.
    return [];
  }
  const out: HeredocOpener[] = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h) out.push(h);
  }
  return out;
}

/** ChompHeredocContent: remove leading tabs from every line (`<<-`). */
export function chompHeredocContent(src: string): string {
  return src.replace(/^\t+/gm, '');
}
