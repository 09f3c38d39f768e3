import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KilnError } from '../diagnostics/errors.js';
import { matchesCompat, parseIgnoreFile, PatternMatcher } from './dockerignore.js';
import { goClean } from './gopath.js';
import { compilePattern } from './pattern.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.resolve(repoRoot, '../shared/conformance/dockerignore');
const reason = existsSync(dir) ? '' : `conformance data not found at ${dir}`;
if (reason) console.warn('skipping dockerignore conformance: ' + reason);

interface Case {
  patterns: string[];
  path: string;
  expected: boolean;
  error?: boolean;
  pattern?: string;
  matchType?: string;
  regexpSlash?: string;
  patternCount?: number;
  hasExclusions?: boolean;
  thenMatch?: { path: string; repeat: number };
  source: string;
}

const load = (f: string) => JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
const sets: Record<string, { cases: Case[] }> = reason ? {} : load('patterns.json').sets;
const named = (name: string) => (sets[name]?.cases ?? []).map((c, i) => ({ ...c, i }));

/** Walk from the top down with matchWithParent, as a tree walker would. */
function matchIncrementally(pm: PatternMatcher, p: string): boolean {
  const parts = p.split('/');
  let state = pm.rootState();
  let result = false;
  for (let k = 1; k <= parts.length; k++) {
    const r = pm.matchWithParent(parts.slice(0, k).join('/'), state);
    state = r.state;
    result = r.matched;
  }
  return result;
}

describe.skipIf(!!reason)('dockerignore/ignorefile.json', () => {
  const cases: { input: string | null; expected: string[] }[] = reason ? [] : load('ignorefile.json').cases;
  it.each(cases)('$input', ({ input, expected }) => {
    expect(parseIgnoreFile(input)).toEqual(expected);
  });
});

describe.skipIf(!!reason)('dockerignore/patterns.json', () => {
  it.each(named('matches'))('matches #$i: $patterns vs $path', (c) => {
    const pm = new PatternMatcher(c.patterns);
    expect(pm.matches(c.path)).toBe(c.expected);
    // The incremental walk form agrees wherever the path is a clean relative path.
    if (c.path === goClean(c.path) && !c.path.startsWith('/')) {
      expect(matchIncrementally(pm, c.path)).toBe(c.expected);
    }
  });

  for (const set of ['filepathMatchCompat', 'simple']) {
    it.each(named(set))(`${set} #$i: $patterns vs $path`, (c) => {
      if (c.error) {
        expect(() => matchesCompat(c.path, c.patterns)).toThrow(KilnError);
        return;
      }
      expect(matchesCompat(c.path, c.patterns)).toBe(c.expected);
    });
  }

  it.each(named('newPatterns'))('newPatterns #$i: $patterns', (c) => {
    if (c.error) {
      expect(() => new PatternMatcher(c.patterns)).toThrow(KilnError);
      return;
    }
    const pm = new PatternMatcher(c.patterns);
    if (c.patternCount !== undefined) expect(pm.patterns.length).toBe(c.patternCount);
    if (c.hasExclusions !== undefined) expect(pm.exclusions).toBe(c.hasExclusions);
    if (c.thenMatch) {
      for (let k = 0; k < c.thenMatch.repeat; k++) {
        let err: unknown;
        try {
          pm.matches(c.thenMatch.path);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(KilnError);
        expect((err as KilnError).code).toBe('CONTEXT_BAD_PATTERN');
        expect((err as Error).message).toMatch(/syntax error in pattern/);
      }
    }
  });

  it.each(named('compile'))('compile #$i: $pattern', (c) => {
    const got = compilePattern(goClean(c.pattern!));
    expect(got.type).toBe(c.matchType);
    if (c.matchType === 'regexp') expect(got.regexp).toBe(c.regexpSlash);
  });
});
