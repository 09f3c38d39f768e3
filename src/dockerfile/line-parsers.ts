/**
 * Per-instruction argument rules, exactly as BuildKit's line parsers split them (see
 * ../shared/conformance/README.md §1). Every function works on the argument text after
 * the keyword and flags (already trimmed) and returns pieces with their offsets in it.
 */
import nearley from 'nearley';
import execGrammar, { type Element } from './execform.generated.js';
import wordsGrammar, { makeWordsLexer, type WordPiece } from './words.generated.js';
import { goQuote, isGoSpace, leadingSpace } from './gotext.js';

/** One argument with its [start, end) offsets in the argument text. */
export interface Piece {
  value: string;
  start: number;
  end: number;
}

export class LineParseError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Offsets of the offending text in the argument text, when known. */
    readonly span?: { start: number; end: number },
  ) {
    super(message);
  }
}

export const ERR_NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

/** The words grammar with another start symbol (words.ne has two: `words` and `nameval`). */
function withStart(start: string): nearley.Grammar {
  const g = nearley.Grammar.fromCompiled(wordsGrammar);
  g.start = start;
  return g;
}
const compiledWords = withStart('words');
const compiledNameVal = withStart('nameval');
const wordParsers = new Map<string, { parser: nearley.Parser; initial: ReturnType<nearley.Parser['save']> }>();
/** A parser for `start` with this escape token, rewound to its initial column (save/restore). */
function wordsParser(start: 'words' | 'nameval', escape: string): nearley.Parser {
  const key = start + escape;
  let p = wordParsers.get(key);
  if (!p) {
    const lexer = makeWordsLexer(escape) as unknown as nearley.Lexer; // moo's lexer is nearley-compatible; only the d.ts signatures differ
    const parser = new nearley.Parser(start === 'words' ? compiledWords : compiledNameVal, { lexer });
    p = { parser, initial: parser.save() };
    wordParsers.set(key, p);
  }
  p.parser.restore(p.initial);
  return p.parser;
}

function runWords<T>(start: 'words' | 'nameval', rest: string, escape: string): T[] {
  const parser = wordsParser(start, escape);
  try {
    parser.feed(rest);
  } catch {
    return [];
  }
  if (parser.results.length > 1) throw new Error(`internal error: ${start} grammar is ambiguous (${parser.results.length} parses)`);
  return parser.results as T[];
}

/** The number of parses of `text` by the words grammar (for the unambiguity tests). */
export function wordsParseCount(start: 'words' | 'nameval', text: string, escape = '\\'): number {
  const parser = wordsParser(start, escape);
  try {
    parser.feed(text);
  } catch {
    return 0;
  }
  return parser.results.length;
}

/**
 * parseWords: split on unquoted whitespace, keeping quotes and escape tokens in the
 * words (they are removed later, by the shell-word expander). An escape token at the
 * very end is dropped. Quotes may hold whitespace; an unterminated quote runs to the end.
 * Lexed by moo and parsed by the `words` rule of grammar/words.ne.
 */
export function parseWordPieces(rest: string, escape = '\\'): Piece[] {
  const r = runWords<WordPiece[]>('words', rest, escape);
  if (r.length !== 1) throw new Error('internal error: the words grammar rejected its input');
  return r[0]!;
}

/** parseWords as upstream exposes it: just the strings. */
export function parseWords(rest: string, escape = '\\'): string[] {
  return parseWordPieces(rest, escape).map((p) => p.value);
}

/** regexp `[\t\v\f\r ]+`: the separator of whitespace-delimited arguments. */
const RE_WS = /[\t\v\f\r ]+/g;

/** parseStringsWhitespaceDelimited */
export function splitWhitespace(rest: string): Piece[] {
  if (rest === '') return [];
  const out: Piece[] = [];
  let last = 0;
  RE_WS.lastIndex = 0;
  for (let m = RE_WS.exec(rest); m; m = RE_WS.exec(rest)) {
    out.push({ value: rest.slice(last, m.index), start: last, end: m.index });
    last = m.index + m[0].length;
  }
  out.push({ value: rest.slice(last), start: last, end: rest.length });
  return out;
}

/**
 * parseNameVal for ENV and LABEL: flat (name, value, separator) triples. The old form
 * `KEY name value` (first word without `=`) gives one triple with separator "".
 */
export function parseNameVal(rest: string, key: string, escape = '\\'): Piece[] {
  const r = runWords<{ form: 'none' | 'legacy' | 'pairs'; words: WordPiece[] }>('nameval', rest, escape);
  if (r.length === 0) {
    // name=value form with a word that has no `=`: report the first such word
    const bad = parseWordPieces(rest, escape).find((w) => !w.value.includes('='))!;
    throw new LineParseError(
      'PARSE_NAME_VALUE',
      `Syntax error - can't find = in ${goQuote(bad.value)}. Must be of the form: name=value`,
      { start: bad.start, end: bad.end },
    );
  }
  const { form, words } = r[0]!;
  if (form === 'none') return [];
  if (form === 'legacy') {
    const m = /[\t\v\f\r ]+/.exec(rest);
    if (!m) throw new LineParseError('PARSE_MISSING_VALUE', `${key} must have two arguments`, { start: 0, end: rest.length });
    const vStart = m.index + m[0].length;
    return [
      { value: rest.slice(0, m.index), start: 0, end: m.index },
      { value: rest.slice(vStart), start: vStart, end: rest.length },
      { value: '', start: rest.length, end: rest.length },
    ];
  }
  const out: Piece[] = [];
  for (const w of words) {
    const eq = w.value.indexOf('=');
    const eqAt = w.start + eq;
    out.push(
      { value: w.value.slice(0, eq), start: w.start, end: eqAt },
      { value: w.value.slice(eq + 1), start: eqAt + 1, end: w.end },
      { value: '=', start: eqAt, end: eqAt + 1 },
    );
  }
  return out;
}


export type JsonResult = { ok: true; pieces: Piece[] } | { ok: false };

const compiledExec = nearley.Grammar.fromCompiled(execGrammar);
/** A reusable parser rewound with save()/restore() (cheaper than constructing one per array). */
const execParser = new nearley.Parser(compiledExec);
const execInitial = execParser.save();
function freshExecParser(): nearley.Parser {
  execParser.restore(execInitial);
  return execParser;
}
/** Deeper nesting than this is judged without the grammar (see parseJsonArray). */
const MAX_JSON_DEPTH = 256;

function jsonDepth(s: string): number {
  let depth = 0;
  let max = 0;
  let inStr = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inStr) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inStr = false;
    } else if (c === 0x22) inStr = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** Go's encoding/json replaces unpaired surrogates with U+FFFD. */
function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/**
 * parseJSON: the text (after leading whitespace) must be exactly one JSON array and
 * nothing else but whitespace (json.Unmarshal). Valid JSON with a non-string element
 * throws ERR_NOT_STRING_ARRAY; anything else that is not such an array returns ok:false.
 */
export function parseJsonArray(text: string): JsonResult {
  const lead = leadingSpace(text);
  const body = text.slice(lead);
  if (!body.startsWith('[')) return { ok: false };
  if (jsonDepth(body) > MAX_JSON_DEPTH) {
    // Too deep for a grammar-driven parse to be sensible; the answer is the same:
    // valid JSON nested this deep necessarily holds a non-string element.
    try {
      const v: unknown = JSON.parse(body);
      if (Array.isArray(v)) throw new LineParseError('PARSE_JSON_NOT_STRINGS', ERR_NOT_STRING_ARRAY);
    } catch (e) {
      if (e instanceof LineParseError) throw e;
    }
    return { ok: false };
  }
  const parser = freshExecParser();
  try {
    parser.feed(body);
  } catch {
    return { ok: false };
  }
  const results = parser.results as Element[][];
  if (results.length === 0) return { ok: false };
  if (results.length > 1) throw new Error(`internal error: exec-form grammar is ambiguous (${results.length} parses)`);
  if (results[0]!.some((el) => el.overflow)) return { ok: false };
  const pieces: Piece[] = [];
  for (const el of results[0]!) {
    if (el.kind !== 'string' || !el.token) {
      const span = el.token ? { start: lead + el.token.offset, end: lead + el.token.offset + el.token.text.length } : undefined;
      throw new LineParseError('PARSE_JSON_NOT_STRINGS', ERR_NOT_STRING_ARRAY, span);
    }
    const start = lead + el.token.offset;
    pieces.push({ value: wellFormed(JSON.parse(el.token.text) as string), start, end: start + el.token.text.length });
  }
  return { ok: true, pieces };
}

/** The number of exec-form parses (for the unambiguity tests). */
export function execFormParseCount(text: string): number {
  const parser = freshExecParser();
  try {
    parser.feed(text);
  } catch {
    return 0;
  }
  return parser.results.length;
}

export interface Parsed {
  pieces: Piece[];
  json: boolean;
}

/** parseMaybeJSON: RUN, CMD, ENTRYPOINT, SHELL. */
export function parseMaybeJson(rest: string): Parsed {
  if (rest === '') return { pieces: [], json: false };
  const j = parseJsonArray(rest);
  if (j.ok) return { pieces: j.pieces, json: true };
  return { pieces: [{ value: rest, start: 0, end: rest.length }], json: false };
}

/** parseMaybeJSONToList: ADD, COPY, VOLUME. */
export function parseMaybeJsonToList(rest: string): Parsed {
  const j = parseJsonArray(rest);
  if (j.ok) return { pieces: j.pieces, json: true };
  return { pieces: splitWhitespace(rest), json: false };
}

/** parseHealthConfig: the type word (`CMD`, `NONE`, anything), then the rest like CMD. */
export function parseHealthConfig(rest: string): Parsed {
  let sep = 0;
  while (sep < rest.length && !isGoSpace(rest.charCodeAt(sep))) sep++;
  let next = sep;
  while (next < rest.length && isGoSpace(rest.charCodeAt(next))) next++;
  if (sep === 0) return { pieces: [], json: false };
  const cmd = parseMaybeJson(rest.slice(next));
  return {
    pieces: [{ value: rest.slice(0, sep), start: 0, end: sep }, ...cmd.pieces.map((p) => ({ ...p, start: p.start + next, end: p.end + next }))],
    json: cmd.json,
  };
}

/** parseString: the whole rest as one argument. */
export function parseString(rest: string): Parsed {
  return { pieces: rest === '' ? [] : [{ value: rest, start: 0, end: rest.length }], json: false };
}
