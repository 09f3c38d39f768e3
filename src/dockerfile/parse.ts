/**
 * parse(): Dockerfile text -> Ast, exactly as BuildKit's frontend/dockerfile/parser reads
 * it (see ../shared/conformance/README.md §1). This file is the line-level pre-pass:
 * physical lines, parser directives, comments, continuation with the escape token, empty
 * continuation warnings, heredoc bodies and the 64 KiB line limit. The instruction-level
 * syntax (flags, exec-form JSON) comes from the nearley grammars in grammar/.
 */
import type { Diagnostic, Position, SourceRange } from '../diagnostics/types.js';
import { DiagnosticsError, DockerfileError } from '../diagnostics/errors.js';
import type { ArgNode, Ast, Directives, FlagNode, Heredoc, InstructionNode, ParseOptions } from './types.js';
import { DirectiveError, DirectiveParser } from './directives.js';
import { chompHeredocContent, heredocsFromLine, ShellLexError } from './heredoc.js';
import { goLower, leadingSpace } from './gotext.js';
import {
  LineParseError,
  parseHealthConfig,
  parseMaybeJson,
  parseMaybeJsonToList,
  parseNameVal,
  parseString,
  parseWordPieces,
  splitWhitespace,
  type Parsed,
} from './line-parsers.js';
import { splitCommand } from './split-command.js';

/** bufio.MaxScanTokenSize - 1: the longest line upstream reads. */
export const MAX_LINE_BYTES = 65535;

/** The 18 instructions upstream's parser dispatches on (lower case). */
export const INSTRUCTIONS: readonly string[] = [
  'add', 'arg', 'cmd', 'copy', 'entrypoint', 'env', 'expose', 'from', 'healthcheck',
  'label', 'maintainer', 'onbuild', 'run', 'shell', 'stopsignal', 'user', 'volume', 'workdir',
];

type Dispatch = (rest: string, escape: string) => Parsed;
// A Map, not an object: keywords are user input (`__proto__`, `constructor` ...).
const DISPATCH = new Map<string, Dispatch>(Object.entries({
  add: parseMaybeJsonToList,
  copy: parseMaybeJsonToList,
  volume: parseMaybeJsonToList,
  arg: (rest, esc) => ({ pieces: parseWordPieces(rest, esc), json: false }),
  cmd: parseMaybeJson,
  entrypoint: parseMaybeJson,
  run: parseMaybeJson,
  shell: parseMaybeJson,
  env: (rest, esc) => ({ pieces: parseNameVal(rest, 'ENV', esc), json: false }),
  label: (rest, esc) => ({ pieces: parseNameVal(rest, 'LABEL', esc), json: false }),
  expose: (rest) => ({ pieces: splitWhitespace(rest), json: false }),
  from: (rest) => ({ pieces: splitWhitespace(rest), json: false }),
  healthcheck: parseHealthConfig,
  maintainer: parseString,
  stopsignal: parseString,
  user: parseString,
  workdir: parseString,
} satisfies Record<string, Dispatch>));

const HEREDOC_INSTRUCTIONS = new Set(['add', 'copy', 'run']);

/** Where a piece of the joined instruction text came from. */
interface Segment {
  /** Offset in the joined text. */
  at: number;
  line: number;
  column: number;
}

class SourceMap {
  constructor(
    private readonly file: string,
    private readonly segments: Segment[],
  ) {}

  pos(offset: number): Position {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (segs[mid]!.at <= offset) lo = mid;
      else hi = mid - 1;
    }
    const s = segs[lo]!;
    return { line: s.line, column: s.column + (offset - s.at) };
  }

  range(start: number, end: number): SourceRange {
    const a = this.pos(start);
    const b = end > start ? this.pos(end - 1) : a;
    return { file: this.file, start: a, end: end > start ? { line: b.line, column: b.column + 1 } : a };
  }
}

/** Remove every trailing \r and \n (bytes.TrimRight(b, "\r\n")). */
function trimNewline(s: string): string {
  let j = s.length;
  while (j > 0) {
    const c = s.charCodeAt(j - 1);
    if (c !== 0x0a && c !== 0x0d) break;
    j--;
  }
  return j === s.length ? s : s.slice(0, j);
}

/**
 * trimContinuationCharacter: upstream's `([^E])E[ \t]*$|^E[ \t]*$` with E the escape
 * token, written out by hand (linear time). Returns the line without the continuation
 * and whether the line ends the instruction.
 */
function trimContinuation(line: string, esc: string): [string, boolean] {
  let j = line.length;
  while (j > 0) {
    const c = line.charCodeAt(j - 1);
    if (c !== 0x20 && c !== 0x09) break;
    j--;
  }
  if (j === 0 || line[j - 1] !== esc) return [line, true];
  if (j === 1) return ['', false];
  if (line[j - 2] === esc) return [line, true];
  return [line.slice(0, j - 1), false];
}

function isCommentLine(s: string): boolean {
  const i = leadingSpace(s);
  return i < s.length && s.charCodeAt(i) === 0x23;
}

/** Index of the first line over MAX_LINE_BYTES in UTF-8, or -1. */
function firstLongLine(lines: string[], bom: boolean): number {
  for (let k = 0; k < lines.length; k++) {
    const l = lines[k]!;
    const extra = k === 0 && bom ? 3 : 0; // a BOM counts: upstream's scanner reads it as part of line 1
    // At most 3 UTF-8 bytes per UTF-16 unit: only long lines need counting.
    if ((l.length + 1) * 3 > MAX_LINE_BYTES && Buffer.byteLength(l, 'utf8') + extra > MAX_LINE_BYTES) return k;
  }
  return -1;
}

/** The same, counted in the input bytes (invalid UTF-8 must not count as 3-byte U+FFFD). */
function firstLongLineInBytes(buf: Buffer): number {
  // (a BOM counts: upstream's scanner reads it as part of the first line)
  let start = 0;
  for (let k = 0; start < buf.length; k++) {
    const nl = buf.indexOf(0x0a, start);
    const end = nl < 0 ? buf.length : nl;
    if (end - start > MAX_LINE_BYTES) return k;
    start = end + 1;
  }
  return -1;
}

/** Split into lines at \n, keeping whether each had one; no empty final line. */
function splitLines(text: string): { lines: string[]; lastHasNewline: boolean } {
  if (text === '') return { lines: [], lastHasNewline: false };
  const lines = text.split('\n');
  const lastHasNewline = lines[lines.length - 1] === '';
  if (lastHasNewline) lines.pop();
  return { lines, lastHasNewline };
}

interface Built {
  node: InstructionNode;
  /** Lower-cased keyword of the node that decides heredoc support (the child for ONBUILD). */
  heredocKeyword: string;
  heredocJson: boolean;
}

/**
 * newNodeFromLine for a joined line: keyword, flags, arguments; ONBUILD wraps the rest as
 * an instruction of its own (iteratively, so `ONBUILD ONBUILD ...` cannot exhaust the stack).
 */
function buildInstruction(line: string, lineOffset: number, escape: string, map: SourceMap, wholeRange: SourceRange): InstructionNode {
  const chain: InstructionNode[] = [];
  let text = line;
  let base = lineOffset;
  for (;;) {
    const split = splitCommand(text, escape);
    const kw = goLower(split.keyword);
    const flags: FlagNode[] = split.flags.map((f) => {
      const body = f.text.slice(2);
      const eq = body.indexOf('=');
      const flag: FlagNode = {
        text: f.text,
        name: eq < 0 ? body : body.slice(0, eq),
        range: map.range(base + f.start, base + f.end),
      };
      if (eq >= 0) flag.value = body.slice(eq + 1);
      return flag;
    });
    const argsBase = base + split.argsStart;
    const node: InstructionNode = {
      keyword: split.keyword,
      flags,
      args: [],
      json: false,
      heredocs: [],
      original: split.args,
      range: chain.length === 0 ? wholeRange : map.range(base + split.keywordStart, base + text.length),
    };
    chain.push(node);
    if (kw === 'onbuild') {
      if (split.args === '') break;
      text = split.args;
      base = argsBase;
      continue;
    }
    const fn = DISPATCH.get(kw);
    if (!fn) {
      // Unknown keyword: accepted, arguments dropped (dumped as one empty string).
      node.args = [{ value: '', range: map.range(argsBase, argsBase) }];
      break;
    }
    let parsed: Parsed;
    try {
      parsed = fn(split.args, escape);
    } catch (e) {
      if (e instanceof LineParseError) {
        const r = e.span ? map.range(argsBase + e.span.start, argsBase + e.span.end) : wholeRange;
        throw new DockerfileError(e.code, e.message, { range: r });
      }
      throw e;
    }
    node.json = parsed.json;
    node.args = parsed.pieces.map((p): ArgNode => ({ value: p.value, range: map.range(argsBase + p.start, argsBase + p.end) }));
    break;
  }
  for (let i = chain.length - 1; i > 0; i--) chain[i - 1]!.child = chain[i]!;
  return chain[0]!;
}

/** Parse a Dockerfile. Throws DockerfileError (one problem) or DiagnosticsError (several). */
export function parse(input: string | Buffer, opts: ParseOptions = {}): Ast {
  const file = opts.file ?? 'Dockerfile';
  // ignoreBOM: keep it in the text, so exactly one BOM is removed below (as upstream does)
  let text = typeof input === 'string' ? input : new TextDecoder('utf-8', { ignoreBOM: true }).decode(input);
  const hadBom = text.charCodeAt(0) === 0xfeff;
  if (hadBom) text = text.slice(1);
  const { lines, lastHasNewline } = splitLines(text);
  const n = lines.length;

  const directives: Directives = {};
  const directiveRanges: Record<string, SourceRange> = {};
  const instructions: InstructionNode[] = [];
  const warnings: Diagnostic[] = [];
  const errors: DockerfileError[] = [];
  const dparser = new DirectiveParser('#');
  let escape = '\\';

  const lineRange = (lineNo: number, from = 1, to?: number): SourceRange => ({
    file,
    start: { line: lineNo, column: from },
    end: { line: lineNo, column: to ?? trimNewline(lines[lineNo - 1] ?? '').length + 1 },
  });

  // The scanner stops at the first line longer than 64 KiB; what comes before still parses.
  let limit = n;
  let tooLong: DockerfileError | undefined;
  const longLine = typeof input === 'string' ? firstLongLine(lines, hadBom) : firstLongLineInBytes(input);
  if (longLine >= 0) {
    limit = longLine;
    tooLong = new DockerfileError('PARSE_LINE_TOO_LONG', `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`, {
      range: lineRange(longLine + 1, 1, 1),
    });
  }

  const directive = (token: string, lineNo: number): void => {
    let d;
    try {
      d = dparser.parseLine(token);
    } catch (e) {
      if (e instanceof DirectiveError) throw new DockerfileError('PARSE_DIRECTIVE_REPEATED', e.message, { range: lineRange(lineNo) });
      throw e;
    }
    if (!d) return;
    if (d.name === 'escape') {
      if (d.value !== '`' && d.value !== '\\') {
        throw new DockerfileError('PARSE_INVALID_ESCAPE', `invalid escape token '${d.value}' does not match \` or \\`, {
          range: lineRange(lineNo),
          hint: 'use `# escape=\\` or `# escape=`` (a backtick)',
        });
      }
      escape = d.value;
    }
    directives[d.name] = d.value;
    directiveRanges[d.name] = lineRange(lineNo);
  };

  let i = 0;
  while (i < limit) {
    const lineNo = i + 1;
    const raw = trimNewline(lines[i]!);
    i++;
    const lead = leadingSpace(raw);
    const token = lead === 0 ? raw : raw.slice(lead);
    directive(token, lineNo);
    const content = token.charCodeAt(0) === 0x23 ? '' : token;
    let [joined, eol] = trimContinuation(content, escape);
    if (eol && joined === '') continue;

    const segments: Segment[] = [{ at: 0, line: lineNo, column: lead + 1 }];
    let hasEmpty = false;
    let current = lineNo;
    while (!eol && i < limit) {
      const rawCont = trimNewline(lines[i]!);
      current = i + 1;
      i++;
      directive(rawCont, current);
      if (isCommentLine(rawCont)) continue;
      if (leadingSpace(rawCont) === rawCont.length) {
        hasEmpty = true;
        continue;
      }
      const [c, e] = trimContinuation(rawCont, escape);
      eol = e;
      segments.push({ at: joined.length, line: current, column: 1 });
      joined += c;
    }
    const map = new SourceMap(file, segments);
    const startPos = map.pos(leadingSpace(joined));
    const whole = (): SourceRange => ({ file, start: startPos, end: { line: current, column: trimNewline(lines[current - 1] ?? '').length + 1 } });

    if (hasEmpty) {
      warnings.push({
        severity: 'warning',
        code: 'PARSE_EMPTY_CONTINUATION',
        message: `Empty continuation line found in: ${joined}`,
        range: whole(),
        hint: 'Empty continuation lines will become errors in a future release',
      });
    }

    let node: InstructionNode;
    try {
      node = buildInstruction(joined, 0, escape, map, whole());
    } catch (e) {
      if (e instanceof DockerfileError) {
        // Keep going: later instructions may have problems of their own.
        errors.push(e);
        continue;
      }
      throw e;
    }

    const target = goLower(node.keyword) === 'onbuild' && node.child ? node.child : node;
    if (HEREDOC_INSTRUCTIONS.has(goLower(target.keyword)) && !target.json && joined.includes('<<')) {
      let openers;
      try {
        openers = heredocsFromLine(joined);
      } catch (e) {
        if (e instanceof ShellLexError) {
          errors.push(new DockerfileError('PARSE_HEREDOC', e.message, { range: whole() }));
          continue;
        }
        throw e;
      }
      for (const h of openers) {
        let content = '';
        let terminated = false;
        const bodyStart = i + 1;
        while (i < limit) {
          const rawLine = lines[i]!;
          const withNl = i < n - 1 || lastHasNewline ? rawLine + '\n' : rawLine;
          current = i + 1;
          i++;
          let possible = trimNewline(rawLine);
          if (h.chomp) possible = possible.replace(/^\t+/, '');
          if (possible === h.name) {
            terminated = true;
            break;
          }
          content += withNl;
        }
        if (!terminated) {
          errors.push(
            new DockerfileError('PARSE_UNTERMINATED_HEREDOC', 'unterminated heredoc', {
              range: { file, start: startPos, end: { line: Math.max(current, startPos.line), column: 1 } },
              hint: `end the here-document with a line that is exactly ${JSON.stringify(h.name)}`,
            }),
          );
          throw finalError(errors);
        }
        const doc: Heredoc = {
          name: h.name,
          body: h.chomp ? chompHeredocContent(content) : content,
          expand: h.expand,
          chomp: h.chomp,
          fileDescriptor: h.fileDescriptor,
          content,
          range: { file, start: { line: bodyStart, column: 1 }, end: { line: current, column: trimNewline(lines[current - 1] ?? '').length + 1 } },
        };
        node.heredocs.push(doc);
        if (target !== node) target.heredocs.push(doc);
      }
      node.range = whole();
    }
    instructions.push(node);
  }

  if (errors.length > 0) throw finalError(errors);
  if (instructions.length === 0) {
    const last = Math.max(1, limit);
    throw new DockerfileError('PARSE_NO_INSTRUCTIONS', 'file with no instructions', {
      range: { file, start: { line: last, column: 1 }, end: { line: last, column: 1 } },
      hint: 'a Dockerfile needs at least one instruction, usually FROM',
    });
  }
  if (tooLong) throw tooLong;
  return { file, directives, directiveRanges, instructions, warnings };
}

function finalError(errors: DockerfileError[]): DockerfileError | DiagnosticsError {
  if (errors.length === 1) return errors[0]!;
  return new DiagnosticsError(errors.map((e) => e.toDiagnostic()));
}
