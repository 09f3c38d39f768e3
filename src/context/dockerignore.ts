/**
 * .dockerignore handling with moby/patternmatcher semantics (as vendored by BuildKit):
 * parsing the file (ignorefile.ReadAll), building a matcher (patternmatcher.New),
 * the modern ancestor-aware match (MatchesOrParentMatches), the deprecated
 * package-level helper (Matches), and an incremental form for tree walks that can
 * tell when a whole directory may be skipped.
 */
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { KilnError } from '../diagnostics/errors.js';
import { goTrimSpace } from '../shell/unicode.js';
import { BadPattern, filepathMatch } from './filepath-match.js';
import { goClean, goDir } from './gopath.js';
import { BadPatternError, Pattern } from './pattern.js';

/** Largest .dockerignore we read, and Go's bufio.Scanner line limit. */
export const MAX_IGNOREFILE_BYTES = 16 * 1024 * 1024;
const MAX_LINE = 64 * 1024;

function badPattern(pattern: string, cause?: unknown): KilnError {
  return new KilnError('CONTEXT_BAD_PATTERN', `syntax error in pattern "${pattern}"`, {
    hint: 'check for an unclosed [, an invalid range such as [z-a], or a trailing \\',
    ...(cause ? { cause } : {}),
  });
}

/** ignorefile.ReadAll: the text of a .dockerignore file to its pattern list. */
export function parseIgnoreFile(text: string | null | undefined, file = '.dockerignore'): string[] {
  if (text === null || text === undefined) return [];
  const out: string[] = [];
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop(); // no token after a final newline
  lines.forEach((raw, idx) => {
    let line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (idx === 0 && line.startsWith('\ufeff')) line = line.slice(1);
    if (Buffer.byteLength(line) > MAX_LINE) {
      throw new KilnError('CONTEXT_IGNOREFILE', `error reading ${file}: line ${idx + 1} is too long`, {
        hint: `lines are limited to ${MAX_LINE} bytes`,
      });
    }
    if (line.startsWith('#')) return;
    let pattern = goTrimSpace(line);
    if (pattern === '') return;
    const invert = pattern.startsWith('!');
    if (invert) pattern = goTrimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = goClean(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    out.push(invert ? '!' + pattern : pattern);
  });
  return out;
}

/**
 * Per-pattern memory of a directory during a walk: 1 = the pattern matches the
 * directory or one of its ancestors, 0 = it matches none of them, -1 = not evaluated.
 */
export type MatchState = Int8Array;

export class PatternMatcher {
  readonly patterns: readonly Pattern[];
  /** Whether any pattern is an exclusion (`!pattern`). */
  readonly exclusions: boolean;

  /** patternmatcher.New: trim, drop empty, clean, split off `!`, syntax-check. */
  constructor(patterns: readonly string[]) {
    const list: Pattern[] = [];
    let exclusions = false;
    for (const raw of patterns) {
      let p = goTrimSpace(raw);
      if (p === '') continue;
      p = goClean(p);
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) {
          throw new KilnError('CONTEXT_BAD_PATTERN', 'illegal exclusion pattern: "!"', {
            hint: 'write the path to re-include after the !',
          });
        }
        exclusion = true;
        exclusions = true;
        p = p.slice(1);
      }
      try {
        filepathMatch(p, '.');
      } catch (err) {
        if (err instanceof BadPattern) throw badPattern(p, err);
        throw err;
      }
      list.push(new Pattern(p, exclusion));
    }
    this.patterns = list;
    this.exclusions = exclusions;
  }

  private static test(p: Pattern, file: string): boolean {
    try {
      return p.match(file);
    } catch (err) {
      if (err instanceof BadPatternError) throw badPattern(err.pattern, err);
      throw err;
    }
  }

  /** The same test, but a bad pattern counts as "no match" (upstream ignores those errors). */
  private static quiet(p: Pattern, file: string): boolean {
    try {
      return p.match(file);
    } catch {
      return false;
    }
  }

  /**
   * MatchesOrParentMatches (BuildKit's behaviour): a pattern applies if it matches the
   * path or any ancestor directory; inclusions are tried while unmatched, exclusions
   * while matched. `file` is '/'-separated and used as given.
   */
  matches(file: string): boolean {
    let matched = false;
    const parent = goDir(file);
    const parentDirs = parent.split('/');
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      let match = PatternMatcher.test(p, file);
      if (!match && parent !== '.') {
        for (let i = 0; i < parentDirs.length && !match; i++) {
          match = PatternMatcher.quiet(p, parentDirs.slice(0, i + 1).join('/'));
        }
      }
      if (match) matched = !p.exclusion;
    }
    return matched;
  }

  /** MatchesExact: no ancestor matching. */
  matchesExact(file: string): boolean {
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      if (PatternMatcher.test(p, file)) matched = !p.exclusion;
    }
    return matched;
  }

  /** The deprecated Matches: only the ancestor with as many segments as the pattern is tried. */
  matchesSingleParent(file: string): boolean {
    let matched = false;
    const parent = goDir(file);
    const parentDirs = parent.split('/');
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      let match = PatternMatcher.test(p, file);
      if (!match && parent !== '.' && p.dirs.length <= parentDirs.length) {
        match = PatternMatcher.quiet(p, parentDirs.slice(0, p.dirs.length).join('/'));
      }
      if (match) matched = !p.exclusion;
    }
    return matched;
  }

  /** The state to pass for entries at the top of the tree. */
  rootState(): MatchState {
    return new Int8Array(this.patterns.length).fill(0);
  }

  /**
   * Incremental MatchesOrParentMatches for a walk from the top down: `rel` is a clean
   * relative path and `parent` the state of its directory (rootState() at the top).
   * Gives the same answer as matches(rel) and the state to hand to rel's children.
   */
  matchWithParent(rel: string, parent: MatchState): { matched: boolean; state: MatchState } {
    const state = new Int8Array(this.patterns.length);
    let matched = false;
    this.patterns.forEach((p, i) => {
      const inherited = parent[i]!;
      if (inherited === 1) {
        state[i] = 1;
      } else if (p.exclusion !== matched) {
        state[i] = -1; // not needed for this path; the children evaluate it if they must
        return;
      } else if (inherited === 0) {
        state[i] = PatternMatcher.test(p, rel) ? 1 : 0;
      } else {
        // Unknown for the ancestors: check them now, as matches() would.
        let m = PatternMatcher.test(p, rel);
        const dirs = rel.split('/');
        for (let k = 1; k < dirs.length && !m; k++) m = PatternMatcher.quiet(p, dirs.slice(0, k).join('/'));
        state[i] = m ? 1 : 0;
      }
      if (p.exclusion !== matched) return;
      if (state[i] === 1) matched = !p.exclusion;
    });
    return { matched, state };
  }

  /**
   * Can a walk skip everything below directory `dir` (clean, relative), given that
   * `dir` itself is matched (ignored)? True when no exclusion pattern could match
   * anything under it: then every descendant is ignored too.
   */
  canSkipDir(dir: string, dirMatched: boolean): boolean {
    if (!dirMatched) return false;
    for (const p of this.patterns) {
      if (!p.exclusion) continue;
      try {
        if (p.couldMatchUnder(dir)) return false;
      } catch {
        return false; // a bad pattern: let the per-file checks report it
      }
    }
    return true;
  }
}

/** The package-level Matches helper (deprecated semantics). */
export function matchesCompat(file: string, patterns: readonly string[]): boolean {
  const pm = new PatternMatcher(patterns);
  const f = goClean(file);
  if (f === '.') return false;
  return pm.matchesSingleParent(f);
}

/** The package-level MatchesOrParentMatches helper. */
export function matchesOrParentMatchesCompat(file: string, patterns: readonly string[]): boolean {
  const pm = new PatternMatcher(patterns);
  const f = goClean(file);
  if (f === '.') return false;
  return pm.matches(f);
}

async function readSmallFile(file: string): Promise<string | null> {
  let st;
  try {
    st = await lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      return null;
    }
    throw err;
  }
  if (st.isSymbolicLink()) {
    throw new KilnError('CONTEXT_IGNOREFILE', `${file} is a symbolic link; refusing to follow it`, {
      hint: 'make the ignore file a regular file',
    });
  }
  if (!st.isFile()) return null;
  if (st.size > MAX_IGNOREFILE_BYTES) {
    throw new KilnError('CONTEXT_IGNOREFILE', `${file} is larger than ${MAX_IGNOREFILE_BYTES} bytes`);
  }
  return readFile(file, 'utf8');
}

export interface IgnoreFile {
  patterns: string[];
  /** The file the patterns came from, or null when there is none. */
  source: string | null;
}

/**
 * The ignore patterns for a build: `<Dockerfile>.dockerignore` beside the Dockerfile
 * wins over `<context>/.dockerignore`; neither present means no patterns.
 */
export async function readDockerignore(contextDir: string, dockerfilePath?: string): Promise<IgnoreFile> {
  const candidates: string[] = [];
  if (dockerfilePath) candidates.push(path.resolve(dockerfilePath) + '.dockerignore');
  candidates.push(path.join(path.resolve(contextDir), '.dockerignore'));
  for (const file of candidates) {
    const text = await readSmallFile(file);
    if (text !== null) return { patterns: parseIgnoreFile(text, file), source: file };
  }
  return { patterns: [], source: null };
}
