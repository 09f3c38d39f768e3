/**
 * A small, backtracking-free implementation of the part of Go's RE2 syntax that
 * moby/patternmatcher can produce when it translates a .dockerignore pattern into a
 * regular expression (literals, `.`, `[...]` classes with ranges, POSIX and Perl
 * classes, escapes, `(...)`, `*` `+` `?`, `^` `$`). Matching is a Thompson NFA
 * simulation: linear in the path length times the pattern size, whatever the input.
 *
 * We parse upstream's generated regexp string (rather than the glob directly) so that
 * odd inputs such as `[*]` behave as they do in BuildKit, where the `*` inside the
 * brackets has already been rewritten to `[^/]*` before Go's regexp parser sees it.
 *
 * Not supported (reported as a syntax error, so the pattern is a "bad pattern"):
 * `\p{..}` Unicode classes, `\Q..\E`, `\b` `\B` word boundaries, `(?flags)` groups.
 */

export class RegexSyntaxError extends Error {}

type Range = [number, number];

interface CharNode {
  t: 'char';
  ranges: Range[];
  negate: boolean;
}
type Node =
  | CharNode
  | { t: 'bot' }
  | { t: 'eot' }
  | { t: 'empty' }
  | { t: 'cat'; items: Node[] }
  | { t: 'alt'; alts: Node[] }
  | { t: 'rep'; op: '*' | '+' | '?'; n: Node };

const NL = 0x0a;
const MAX_RUNE = 0x10ffff;

const PERL: Record<string, Range[]> = {
  d: [[0x30, 0x39]],
  s: [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]],
  w: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
};

const POSIX: Record<string, Range[]> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};

function negateRanges(r: Range[]): Range[] {
  const sorted = [...r].sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of sorted) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= MAX_RUNE) out.push([next, MAX_RUNE]);
  return out;
}

const isOctal = (c: number | undefined): c is number => c !== undefined && c >= 0x30 && c <= 0x37;
const isAlnum = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

class Parser {
  private i = 0;
  constructor(private readonly s: readonly number[]) {}

  parse(): Node {
    const n = this.parseAlt();
    if (this.i < this.s.length) throw new RegexSyntaxError('unexpected )');
    return n;
  }

  private peek(k = 0): number | undefined {
    return this.s[this.i + k];
  }

  private parseAlt(): Node {
    const alts = [this.parseSeq()];
    while (this.peek() === 0x7c /* | */) {
      this.i++;
      alts.push(this.parseSeq());
    }
    return alts.length === 1 ? alts[0]! : { t: 'alt', alts };
  }

  private parseSeq(): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === 0x7c || c === 0x29 /* ) */) break;
      if (c === 0x2a || c === 0x2b || c === 0x3f) {
        // * + ? with nothing (or another repetition) before it
        const prev = items[items.length - 1];
        if (!prev || prev.t === 'bot' || prev.t === 'eot') throw new RegexSyntaxError('missing argument to repetition operator');
        if (prev.t === 'rep') throw new RegexSyntaxError('invalid nested repetition operator');
        this.i++;
        const op = c === 0x2a ? '*' : c === 0x2b ? '+' : '?';
        items[items.length - 1] = { t: 'rep', op, n: prev };
        if (this.peek() === 0x3f) this.i++; // non-greedy marker: irrelevant for a yes/no match
        // `a**` is an error in Go; mark the node so a following operator is caught
        continue;
      }
      items.push(this.parseAtom());
    }
    if (items.length === 0) return { t: 'empty' };
    return items.length === 1 ? items[0]! : { t: 'cat', items };
  }

  private parseAtom(): Node {
    const c = this.s[this.i++]!;
    switch (c) {
      case 0x28 /* ( */: {
        if (this.peek() === 0x3f) throw new RegexSyntaxError('flag groups are not supported');
        const inner = this.parseAlt();
        if (this.peek() !== 0x29) throw new RegexSyntaxError('missing closing )');
        this.i++;
        return inner;
      }
      case 0x5b /* [ */:
        return this.parseClass();
      case 0x2e /* . */:
        return { t: 'char', ranges: [[NL, NL]], negate: true };
      case 0x5e /* ^ */:
        return { t: 'bot' };
      case 0x24 /* $ */:
        return { t: 'eot' };
      case 0x5c /* \ */: {
        const e = this.peek();
        if (e === 0x41 /* A */) {
          this.i++;
          return { t: 'bot' };
        }
        if (e === 0x7a /* z */) {
          this.i++;
          return { t: 'eot' };
        }
        const perl = this.tryPerl();
        if (perl) return perl;
        const r = this.parseEscape();
        return { t: 'char', ranges: [[r, r]], negate: false };
      }
      default:
        return { t: 'char', ranges: [[c, c]], negate: false };
    }
  }

  /** `\d \D \s \S \w \W` at the current position (which is just after a backslash). */
  private tryPerl(): CharNode | undefined {
    const e = this.peek();
    if (e === undefined) return undefined;
    const ch = String.fromCodePoint(e);
    const base = PERL[ch.toLowerCase()];
    if (!base || !/[dswDSW]/.test(ch)) return undefined;
    this.i++;
    return { t: 'char', ranges: base, negate: ch !== ch.toLowerCase() };
  }

  /** After a backslash: one escaped character (Go's parseEscape). */
  private parseEscape(): number {
    const c = this.s[this.i++];
    if (c === undefined) throw new RegexSyntaxError('trailing backslash at end of expression');
    if (c < 0x80 && !isAlnum(c)) return c;
    switch (c) {
      case 0x30: case 0x31: case 0x32: case 0x33: case 0x34: case 0x35: case 0x36: case 0x37: {
        // \1-\7 alone would be a backreference (unsupported in Go): octal needs a second digit
        if (c !== 0x30 && !isOctal(this.peek())) break;
        let r = c - 0x30;
        for (let k = 1; k < 3 && isOctal(this.peek()); k++) r = r * 8 + (this.s[this.i++]! - 0x30);
        return r;
      }
      case 0x78 /* x */: {
        if (this.peek() === 0x7b) {
          this.i++;
          let hex = '';
          while (this.peek() !== undefined && this.peek() !== 0x7d) hex += String.fromCodePoint(this.s[this.i++]!);
          if (this.peek() !== 0x7d || !/^[0-9a-fA-F]+$/.test(hex) || parseInt(hex, 16) > MAX_RUNE) break;
          this.i++;
          return parseInt(hex, 16);
        }
        const a = this.s[this.i];
        const b = this.s[this.i + 1];
        const h = a !== undefined && b !== undefined ? String.fromCodePoint(a, b) : '';
        if (!/^[0-9a-fA-F]{2}$/.test(h)) break;
        this.i += 2;
        return parseInt(h, 16);
      }
      case 0x61: return 7; // \a
      case 0x66: return 12; // \f
      case 0x6e: return 10; // \n
      case 0x72: return 13; // \r
      case 0x74: return 9; // \t
      case 0x76: return 11; // \v
    }
    throw new RegexSyntaxError('invalid escape sequence');
  }

  private parseClass(): CharNode {
    let negate = false;
    if (this.peek() === 0x5e) {
      negate = true;
      this.i++;
    }
    const ranges: Range[] = [];
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw new RegexSyntaxError('missing closing ]');
      if (c === 0x5d && !first) {
        this.i++;
        break;
      }
      first = false;
      // POSIX [:name:] (only when a closing ":]" exists)
      if (c === 0x5b && this.peek(1) === 0x3a) {
        const rest = String.fromCodePoint(...this.s.slice(this.i + 2, this.i + 40));
        const end = rest.indexOf(':]');
        if (end >= 0) {
          let name = rest.slice(0, end);
          let neg = false;
          if (name.startsWith('^')) {
            neg = true;
            name = name.slice(1);
          }
          const r = POSIX[name];
          if (!r) throw new RegexSyntaxError('invalid character class range');
          ranges.push(...(neg ? negateRanges(r) : r));
          this.i += 2 + end + 2;
          continue;
        }
      }
      if (c === 0x5c) {
        this.i++;
        const perl = this.tryPerl();
        if (perl) {
          ranges.push(...(perl.negate ? negateRanges(perl.ranges) : perl.ranges));
          continue;
        }
        this.i--;
      }
      const lo = this.classChar();
      let hi = lo;
      if (this.peek() === 0x2d && this.peek(1) !== undefined && this.peek(1) !== 0x5d) {
        this.i++;
        hi = this.classChar();
        if (hi < lo) throw new RegexSyntaxError('invalid character class range');
      }
      ranges.push([lo, hi]);
    }
    return { t: 'char', ranges, negate };
  }

  private classChar(): number {
    const c = this.s[this.i];
    if (c === undefined) throw new RegexSyntaxError('missing closing ]');
    this.i++;
    if (c === 0x5c) return this.parseEscape();
    return c;
  }
}

// ---- Thompson NFA ----

const enum K {
  Char,
  Split,
  Bot,
  Eot,
  Match,
}

/** A state of the lazily built DFA: a set of NFA states after reading some text. */
interface DState {
  items: number[];
  matched: boolean;
  acceptAtEnd: boolean;
  next: Map<number, DState>;
}

const MAX_DFA_STATES = 4096;

interface State {
  k: K;
  node?: CharNode;
  out: number;
  out1: number;
}

/** A compiled regular expression supporting only "does it match anywhere". */
export class GoRegex {
  private readonly states: State[] = [];
  private readonly start: number;
  private marks: Int32Array;
  private gen = 0;
  private readonly dfa = new Map<string, DState>();
  private startState: DState | undefined;

  constructor(source: string) {
    const cps = Array.from(source, (ch) => ch.codePointAt(0)!);
    const ast = new Parser(cps).parse();
    const match = this.add({ k: K.Match, out: -1, out1: -1 });
    this.start = this.build(ast, match);
    this.marks = new Int32Array(this.states.length).fill(-1);
  }

  private add(s: State): number {
    this.states.push(s);
    return this.states.length - 1;
  }

  /** Build `n` so that it continues to `next`; returns its entry state. */
  private build(n: Node, next: number): number {
    switch (n.t) {
      case 'empty':
        return next;
      case 'char':
        return this.add({ k: K.Char, node: n, out: next, out1: -1 });
      case 'bot':
        return this.add({ k: K.Bot, out: next, out1: -1 });
      case 'eot':
        return this.add({ k: K.Eot, out: next, out1: -1 });
      case 'cat': {
        let entry = next;
        for (let i = n.items.length - 1; i >= 0; i--) entry = this.build(n.items[i]!, entry);
        return entry;
      }
      case 'alt': {
        let entry = this.build(n.alts[n.alts.length - 1]!, next);
        for (let i = n.alts.length - 2; i >= 0; i--) {
          entry = this.add({ k: K.Split, out: this.build(n.alts[i]!, next), out1: entry });
        }
        return entry;
      }
      case 'rep': {
        if (n.op === '?') return this.add({ k: K.Split, out: this.build(n.n, next), out1: next });
        const loop = this.add({ k: K.Split, out: -1, out1: next });
        const body = this.build(n.n, loop);
        this.states[loop]!.out = body;
        return n.op === '*' ? loop : body;
      }
    }
  }

  private static charMatches(node: CharNode, c: number): boolean {
    let inside = false;
    for (const [lo, hi] of node.ranges) {
      if (c >= lo && c <= hi) {
        inside = true;
        break;
      }
    }
    return inside !== node.negate;
  }

  /**
   * The epsilon closure of `seeds` (one pass, marks shared): Char states go to `out`; `^` holds
   * when `atStart`; `$` states are kept in `out` (the lazy DFA decides them at the end of the
   * text), followed (the text ends here), or dropped (more text follows). True if Match is reached.
   */
  private epsilon(seeds: readonly number[], atStart: boolean, eot: 'keep' | 'follow' | 'drop', out: number[] = []): boolean {
    this.gen++;
    let matched = false;
    const stack = [...seeds].reverse();
    while (stack.length) {
      const id = stack.pop()!;
      if (id < 0 || this.marks[id] === this.gen) continue;
      this.marks[id] = this.gen;
      const st = this.states[id]!;
      switch (st.k) {
        case K.Match:
          matched = true;
          break;
        case K.Char:
          out.push(id);
          break;
        case K.Split:
          stack.push(st.out1, st.out);
          break;
        case K.Bot:
          if (atStart) stack.push(st.out);
          break;
        case K.Eot:
          if (eot === 'keep') out.push(id);
          else if (eot === 'follow') stack.push(st.out);
          break;
      }
    }
    return matched;
  }

  private dstate(seeds: readonly number[], atStart: boolean): DState {
    const items: number[] = [];
    const matched = this.epsilon(seeds, atStart, 'keep', items);
    const key = (atStart ? 's' : '') + items.join(',');
    let d = this.dfa.get(key);
    if (!d) {
      // Does the text match if it ends here? Follow `$` states with the end condition.
      let acceptAtEnd = matched;
      if (!acceptAtEnd) {
        const eots = items.filter((id) => this.states[id]!.k === K.Eot).map((id) => this.states[id]!.out);
        if (eots.length) acceptAtEnd = this.epsilon(eots, atStart, 'follow');
      }
      d = { items, matched, acceptAtEnd, next: new Map() };
      if (this.dfa.size >= MAX_DFA_STATES) {
        // Bounded memory: drop the cache and rebuild on demand.
        this.dfa.clear();
        this.startState = undefined;
      }
      this.dfa.set(key, d);
    }
    return d;
  }

  private step(d: DState, c: number): DState {
    let n = d.next.get(c);
    if (n) return n;
    const seeds: number[] = [];
    for (const id of d.items) {
      const st = this.states[id]!;
      if (st.k === K.Char && GoRegex.charMatches(st.node!, c)) seeds.push(st.out);
    }
    if (!this.onlyAtStart) seeds.push(this.start); // unanchored: a match may start here
    n = this.dstate(seeds, false);
    d.next.set(c, n);
    return n;
  }

  /** Go's Regexp.MatchString: is there a match anywhere in `text`? (lazy DFA, linear time) */
  test(text: string): boolean {
    let d = this.startState ?? (this.startState = this.dstate([this.start], true));
    if (d.matched) return true;
    for (let i = 0; i < text.length; ) {
      const c = text.codePointAt(i)!;
      i += c > 0xffff ? 2 : 1;
      d = this.step(d, c);
      if (d.matched) return true;
      if (d.items.length === 0 && this.onlyAtStart) return false;
    }
    return d.acceptAtEnd;
  }

  /**
   * Feed `prefix` from the start of the text and report whether some continuation
   * could still lead to a match (used to decide whether a directory can be skipped).
   * Conservative: answers true when unsure.
   */
  couldMatchWithPrefix(prefix: string): boolean {
    const cps = Array.from(prefix, (ch) => ch.codePointAt(0)!);
    let clist: number[] = [];
    // `$` never holds inside the prefix: drop it
    if (this.epsilon([this.start], true, 'drop', clist)) return true;
    for (const c of cps) {
      const seeds = clist.filter((id) => GoRegex.charMatches(this.states[id]!.node!, c)).map((id) => this.states[id]!.out);
      const nlist: number[] = [];
      if (this.epsilon(seeds, false, 'drop', nlist)) return true;
      // Unanchored expressions could start anywhere later: stay conservative.
      if (!this.onlyAtStart) return true;
      clist = nlist;
      if (clist.length === 0) return false;
    }
    return true;
  }

  /** True when every match must start at position 0 (the expression begins with ^). */
  private get onlyAtStart(): boolean {
    const s = this.states[this.start]!;
    return s.k === K.Bot;
  }
}
