/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`), as BuildKit's DirectiveParser
 * reads them: only in the unbroken run of directive lines at the very top, names
 * case-insensitive, each at most once; the first line that is not a known directive
 * ends the run for good.
 */

/** The directive names upstream knows. */
export const KNOWN_DIRECTIVES: ReadonlySet<string> = new Set(['syntax', 'escape', 'check']);

export interface DirectiveMatch {
  name: string;
  value: string;
}

export class DirectiveError extends Error {}

const GO_RE_SPACE = '[\\t\\n\\f\\r ]'; // Go regexp's \s (no \v)
const GO_RE_SPACE_CHARS = new Set(['\t', '\n', '\f', '\r', ' ']);

/**
 * Match `<prefix>\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` without backtracking
 * hazards: the value is the remainder with trailing `\s` removed; when the remainder is
 * only whitespace, the lazy `.+?` takes the last whitespace character (Go's answer).
 */
export function matchDirectiveLine(line: string, prefix: string): DirectiveMatch | null {
  if (!line.startsWith(prefix)) return null;
  const head = new RegExp(`^${GO_RE_SPACE}*([a-zA-Z][a-zA-Z0-9]*)${GO_RE_SPACE}*=`).exec(line.slice(prefix.length));
  if (!head) return null;
  const afterEq = line.slice(prefix.length + head[0].length);
  if (afterEq.length === 0 || afterEq.includes('\n')) return null;
  let i = 0;
  while (i < afterEq.length && GO_RE_SPACE_CHARS.has(afterEq[i]!)) i++;
  let value: string;
  if (i === afterEq.length) {
    value = afterEq[afterEq.length - 1]!;
  } else {
    let j = afterEq.length;
    while (j > i && GO_RE_SPACE_CHARS.has(afterEq[j - 1]!)) j--;
    value = afterEq.slice(i, j);
  }
  return { name: head[1]!, value };
}

/** The stateful reader upstream feeds every processed line to. */
export class DirectiveParser {
  private done = false;
  private readonly seen = new Set<string>();
  line = 0;

  constructor(private readonly prefix = '#') {}

  /** Returns the directive on this line, null when it is not one; throws on a repeated directive. */
  parseLine(line: string): DirectiveMatch | null {
    this.line++;
    if (this.done) return null;
    const m = matchDirectiveLine(line, this.prefix);
    if (!m) {
      this.done = true;
      return null;
    }
    const name = m.name.toLowerCase();
    if (!KNOWN_DIRECTIVES.has(name)) {
      this.done = true;
      return null;
    }
    if (this.seen.has(name)) throw new DirectiveError(`only one ${name} parser directive can be used`);
    this.seen.add(name);
    return { name, value: m.value };
  }

  get finished(): boolean {
    return this.done;
  }
}

export interface FoundDirective extends DirectiveMatch {
  /** 1-based line number. */
  line: number;
}

/** ParseAll: every directive at the top of `text` (lines split like bufio.ScanLines). */
export function parseDirectives(text: string, prefix = '#', firstLine = 0): FoundDirective[] {
  const p = new DirectiveParser(prefix);
  p.line = firstLine;
  const out: FoundDirective[] = [];
  const lines = splitScanLines(text);
  for (const l of lines) {
    if (p.finished) break;
    const d = p.parseLine(l);
    if (d) out.push({ ...d, line: p.line });
  }
  return out;
}

/** bufio.ScanLines: split at \n, drop one trailing \r, no empty final token. */
function splitScanLines(text: string): string[] {
  if (text === '') return [];
  const parts = text.split('\n');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

export interface DetectedDirective {
  /** The value up to its first space (for syntax: the frontend image reference). */
  ref: string;
  /** The whole value. */
  cmdline: string;
  /** 1-based line of the directive. */
  line: number;
}

function discard(text: string): { text: string; line: number } {
  let t = text.startsWith('\ufeff') ? text.slice(1) : text;
  let line = 0;
  const nl = t.indexOf('\n');
  const first = nl < 0 ? t : t.slice(0, nl);
  if (first.startsWith('#!')) {
    t = nl < 0 ? '' : t.slice(nl + 1);
    line = 1;
  }
  return { text: t, line };
}

function fromParser(key: string, text: string, prefix: string, line: number): DetectedDirective | null {
  let found: FoundDirective[];
  try {
    found = parseDirectives(text, prefix, line);
  } catch {
    found = [];
  }
  for (const d of found) {
    if (d.name === key) {
      const sp = d.value.indexOf(' ');
      return { ref: sp < 0 ? d.value : d.value.slice(0, sp), cmdline: d.value, line: d.line };
    }
  }
  return null;
}

function parseDirectiveAnyFormat(key: string, input: string, anyFormat: boolean): DetectedDirective | null {
  const { text, line } = discard(input);
  const hash = fromParser(key, text, '#', line);
  if (hash || !anyFormat) return hash;
  const slashes = fromParser(key, text, '//', line);
  if (slashes) return slashes;
  try {
    const obj: unknown = JSON.parse(text);
    if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
      const v = (obj as Record<string, unknown>)[key];
      if (typeof v === 'string') return { ref: v, cmdline: v, line };
    }
  } catch {
    // not JSON
  }
  return null;
}

/** DetectSyntax: `# syntax=`, then `// syntax=`, then a whole-file JSON object; after an optional BOM and `#!` line. */
export function detectSyntax(text: string): DetectedDirective | null {
  return parseDirectiveAnyFormat('syntax', text, true);
}

/** ParseDirective: a named directive in the `#` form only. */
export function parseDirective(key: string, text: string): DetectedDirective | null {
  return parseDirectiveAnyFormat(key, text, false);
}
