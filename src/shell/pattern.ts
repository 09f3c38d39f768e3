/**
 * Shell patterns for `${v#p}`, `${v%p}`, `${v/p/r}` and friends.
 *
 * BuildKit turns the pattern into a Go regular expression (`*` → `.*` or `.*?`,
 * `?` → `.`, everything else literal) and lets Go's leftmost-first engine find the
 * match. We compile the same token list and run it on a small Pike VM with thread
 * priorities, which gives exactly Go's leftmost-first answer (including greedy vs lazy
 * stars) in O(text × pattern) time with no backtracking. A step budget bounds the
 * work for hostile inputs.
 */
import { KilnError } from '../diagnostics/errors.js';

const enum Tok {
  Lit,
  Any,
  Star,
}

interface Token {
  kind: Tok;
  cp: number;
}

export interface ShellPattern {
  readonly tokens: readonly Token[];
  readonly greedy: boolean;
}

/** Raised for malformed patterns; the caller wraps it with upstream's wording. */
export class PatternSyntaxError extends Error {}

const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;

/** Default work budget: NFA threads stepped, shared by all substitutions in one word. */
export const DEFAULT_PATTERN_BUDGET = 5_000_000;

export function toCodePoints(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i)!;
    out.push(cp);
    i += cp > 0xffff ? 2 : 1;
  }
  return out;
}

export function fromCodePoints(cps: readonly number[], start = 0, end = cps.length): string {
  let s = '';
  const CHUNK = 8192;
  for (let i = start; i < end; i += CHUNK) {
    s += String.fromCodePoint(...cps.slice(i, Math.min(end, i + CHUNK)));
  }
  return s;
}

/**
 * Compile a pattern (already expanded, escapes kept raw) like upstream's
 * convertShellPatternToRegex. `\` before `}` or `/` is dropped; `\*`, `\?`, `\\` are
 * literals; any other escape is an error.
 */
export function compileShellPattern(pattern: readonly number[], greedy: boolean): ShellPattern {
  const tokens: Token[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const cp = pattern[i]!;
    if (cp === 0x2a /* * */) {
      // `**` finds the same span as `*` for greedy and lazy stars alike; collapsing
      // keeps the epsilon closure at most two states deep.
      if (tokens.length === 0 || tokens[tokens.length - 1]!.kind !== Tok.Star) {
        tokens.push({ kind: Tok.Star, cp: 0 });
      }
      continue;
    }
    if (cp === 0x3f /* ? */) {
      tokens.push({ kind: Tok.Any, cp: 0 });
      continue;
    }
    if (cp === BACKSLASH) {
      const next = pattern[i + 1];
      if (next === 0x7d /* } */ || next === 0x2f /* / */) continue;
      i++;
      if (next !== 0x2a && next !== 0x3f && next !== BACKSLASH) {
        const shown = next === undefined ? '\ufffd' : String.fromCodePoint(next);
        throw new PatternSyntaxError(`invalid escape '\\${shown}'`);
      }
      tokens.push({ kind: Tok.Lit, cp: next });
      continue;
    }
    tokens.push({ kind: Tok.Lit, cp });
  }
  return { tokens, greedy };
}

/** Reverse a pattern but keep `\x` pairs in order (upstream's reversePattern). */
export function reversePattern(p: readonly number[]): number[] {
  const out = new Array<number>(p.length);
  const last = p.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = p[i]!;
    const outIdx = last - i;
    if (tok === BACKSLASH && i !== last) {
      out[outIdx - 1] = tok;
      out[outIdx] = p[i + 1]!;
      i += 2;
    } else {
      out[outIdx] = tok;
      i++;
    }
  }
  return out;
}

interface Thread {
  state: number;
  start: number;
}

/**
 * Find the leftmost-first match of `pat` in `text` starting the search at `from`.
 * `anchored` only allows a match starting at `from` (used with from = 0 for `^`).
 * Returns [start, end) in code points, or null.
 */
export function findMatch(
  pat: ShellPattern,
  text: readonly number[],
  from: number,
  anchored: boolean,
  budget: { left: number } = { left: DEFAULT_PATTERN_BUDGET },
): [number, number] | null {
  const toks = pat.tokens;
  const n = toks.length;
  // mark[state] = generation in which the state was added; separate arrays for the
  // current and next list are not needed because lists are built one at a time.
  const mark = new Int32Array(n + 1).fill(-1);
  let gen = 0;

  const add = (list: Thread[], state: number, start: number): void => {
    // Iterative epsilon closure over at most one Star (stars are collapsed).
    if (mark[state] === gen) return;
    const tok = state < n ? toks[state]! : undefined;
    if (tok && tok.kind === Tok.Star) {
      mark[state] = gen;
      const next = state + 1;
      if (pat.greedy) {
        list.push({ state, start });
        if (mark[next] !== gen) {
          mark[next] = gen;
          list.push({ state: next, start });
        }
      } else {
        if (mark[next] !== gen) {
          mark[next] = gen;
          list.push({ state: next, start });
        }
        list.push({ state, start });
      }
      return;
    }
    mark[state] = gen;
    list.push({ state, start });
  };

  let clist: Thread[] = [];
  let matched: [number, number] | null = null;
  for (let p = from; p <= text.length; p++) {
    if (matched === null && (!anchored || p === from)) add(clist, 0, p);
    if (clist.length === 0) break;
    gen++;
    const nlist: Thread[] = [];
    const c = p < text.length ? text[p]! : -1;
    budget.left -= clist.length;
    if (budget.left < 0) {
      throw new KilnError(
        'SHELL_PATTERN_TOO_COMPLEX',
        'pattern substitution needs too much work (pattern or value too long)',
      );
    }
    for (const th of clist) {
      if (th.state === n) {
        matched = [th.start, p];
        break; // lower-priority threads are cut
      }
      if (c < 0) continue;
      const tok = toks[th.state]!;
      switch (tok.kind) {
        case Tok.Lit:
          if (c === tok.cp) add(nlist, th.state + 1, th.start);
          break;
        case Tok.Any:
          if (c !== NEWLINE) add(nlist, th.state + 1, th.start);
          break;
        case Tok.Star:
          // A star thread in the list is its "consume one more" branch.
          if (c !== NEWLINE) {
            // Re-entering the star state yields both branches in priority order.
            add(nlist, th.state, th.start);
          }
          break;
      }
    }
    clist = nlist; // built under `gen`, so the next start thread dedupes against it
  }
  return matched;
}
