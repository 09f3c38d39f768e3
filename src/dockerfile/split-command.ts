/**
 * splitCommand + extractBuilderFlags: keyword, `--flags` and the remaining argument text
 * of one joined instruction line. The flag region is lexed by moo and parsed by the
 * nearley grammar in grammar/dockerfile.ne.
 */
import nearley from 'nearley';
import headGrammar, { makeHeadLexer } from './dockerfile.generated.js';
import { goTrimSpace, leadingSpace, trailingSpaceStart } from './gotext.js';

export interface FlagPiece {
  /** Flag text with quotes and escapes resolved, e.g. `--from=x y`. */
  text: string;
  /** [start, end) in the joined line. */
  start: number;
  end: number;
}

export interface SplitLine {
  /** The keyword as written. */
  keyword: string;
  keywordStart: number;
  flags: FlagPiece[];
  /** The argument text after the flags, trimmed. */
  args: string;
  /** Offset of `args` in the joined line. */
  argsStart: number;
}

const compiledHead = nearley.Grammar.fromCompiled(headGrammar);

/**
 * One parser per escape token, rewound to its initial column before each use with
 * nearley's save()/restore() (the documented way to reuse a parser): building a fresh
 * Parser costs more than parsing a typical flag region.
 */
const parsers = new Map<string, { parser: nearley.Parser; initial: ReturnType<nearley.Parser['save']> }>();
function headParser(escape: string): nearley.Parser {
  let p = parsers.get(escape);
  if (!p) {
    const lexer = makeHeadLexer(escape) as unknown as nearley.Lexer; // moo's lexer is nearley-compatible; only the d.ts signatures differ
    const parser = new nearley.Parser(compiledHead, { lexer });
    p = { parser, initial: parser.save() };
    parsers.set(escape, p);
  }
  p.parser.restore(p.initial);
  return p.parser;
}

interface HeadToken {
  type: string;
  text: string;
  offset: number;
}
interface HeadResult {
  flags: HeadToken[];
  terminator: HeadToken | null;
  rest: HeadToken | null;
}

/** Run the head grammar; exported for the unambiguity tests. */
export function parseHead(binary: string, escape = '\\'): HeadResult[] {
  const parser = headParser(escape);
  parser.feed(binary);
  return parser.results as HeadResult[];
}

const FLAG_SPACE = new Set(['\t', '\n', '\v', '\f', '\r', ' ', '\x85', '\xa0']);

/**
 * Resolve quotes and escapes inside one flag word, as extractBuilderFlags does (byte-wise).
 * The word ends at the first unquoted space; `length` is how much of `raw` it used.
 */
export function flagWordValue(raw: string, escape: string): { value: string; length: number } {
  let out = '';
  let quote = '';
  let i = 0;
  for (; i < raw.length; i++) {
    const ch = raw[i]!;
    if (!quote) {
      if (FLAG_SPACE.has(ch)) break;
      if (ch === "'" || ch === '"') {
        quote = ch;
        continue;
      }
      if (ch === escape) {
        if (i + 1 === raw.length) continue;
        out += raw[++i];
        continue;
      }
      out += ch;
    } else {
      if (ch === quote) {
        quote = '';
        continue;
      }
      if (ch === escape) {
        if (i + 1 === raw.length) {
          quote = '';
          continue;
        }
        out += raw[++i];
        continue;
      }
      out += ch;
    }
  }
  return { value: out, length: i };
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * Upstream scans flags one byte at a time and writes each byte back as the rune of the
 * same value, so a flag with non-ASCII text comes out Latin-1-decoded ("é" -> "Ã©").
 * We reproduce that by running the grammar over the UTF-8 bytes as a binary string.
 */
function extractFlags(argsRaw: string, base: number, escape: string): { flags: FlagPiece[]; restRaw: string; restStart: number } {
  if (!/^[\t\n\v\f\r ]*--/.test(argsRaw)) {
    return { flags: [], restRaw: argsRaw, restStart: base };
  }
  const ascii = isAscii(argsRaw);
  const binary = ascii ? argsRaw : Buffer.from(argsRaw, 'utf8').toString('latin1');
  // byte offset -> char offset in argsRaw
  const toChar = (off: number): number => (ascii ? off : Buffer.from(binary.slice(0, off), 'latin1').toString('utf8').length);
  const results = parseHead(binary, escape);
  if (results.length !== 1) throw new Error(`internal error: flag grammar gave ${results.length} parses`);
  const r = results[0]!;
  const flags: FlagPiece[] = [];
  let restOff = binary.length;
  for (const tok of r.flags) {
    const { value, length } = flagWordValue(tok.text, escape);
    if (value === '--') {
      // `--""` and friends: a word that is `--` after quote removal also ends the flags.
      restOff = tok.offset + length;
      return finish(flags, restOff);
    }
    flags.push({ text: value, start: base + toChar(tok.offset), end: base + toChar(tok.offset + length) });
  }
  if (r.rest) restOff = r.rest.offset;
  return finish(flags, restOff);

  function finish(fl: FlagPiece[], off: number): { flags: FlagPiece[]; restRaw: string; restStart: number } {
    const restBinary = binary.slice(off);
    const restRaw = ascii ? restBinary : Buffer.from(restBinary, 'latin1').toString('utf8');
    return { flags: fl, restRaw, restStart: base + toChar(off) };
  }
}

/** splitCommand: keyword, flags and argument text of a joined line. */
export function splitCommand(line: string, escape = '\\'): SplitLine {
  const lead = leadingSpace(line);
  const end = Math.max(lead, trailingSpaceStart(line));
  const trimmed = line.slice(lead, end);
  const m = /[\t\v\f\r ]+/.exec(trimmed);
  if (!m) return { keyword: trimmed, keywordStart: lead, flags: [], args: '', argsStart: end };
  const keyword = trimmed.slice(0, m.index);
  const argsRawStart = lead + m.index + m[0].length;
  const { flags, restRaw, restStart } = extractFlags(trimmed.slice(m.index + m[0].length), argsRawStart, escape);
  const args = goTrimSpace(restRaw);
  return { keyword, keywordStart: lead, flags, args, argsStart: restStart + leadingSpace(restRaw) };
}
