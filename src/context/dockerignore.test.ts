import fc from 'fast-check';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KilnError } from '../diagnostics/errors.js';
import { parseIgnoreFile, PatternMatcher, readDockerignore } from './dockerignore.js';
import { GoRegex } from './goregex.js';
import { compilePattern } from './pattern.js';

describe('parseIgnoreFile', () => {
  it('handles CRLF, BOM, comments, cleaning and a missing final newline', () => {
    expect(parseIgnoreFile('\ufeff# c\r\n./a//b/\r\n  !  /x/../y  \r\n*.log')).toEqual(['a/b', '!y', '*.log']);
    expect(parseIgnoreFile(' # not a comment')).toEqual(['# not a comment']);
    expect(parseIgnoreFile('/')).toEqual(['/']);
  });
  it('rejects absurdly long lines like Go bufio.Scanner', () => {
    expect(() => parseIgnoreFile('a'.repeat(70_000))).toThrow(KilnError);
  });
});

describe('readDockerignore', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-ignore-'));
    await mkdir(path.join(dir, 'ctx'));
    await mkdir(path.join(dir, 'df'));
    await writeFile(path.join(dir, 'ctx/.dockerignore'), 'from-context\n');
    await writeFile(path.join(dir, 'df/Dockerfile'), 'FROM scratch\n');
    await writeFile(path.join(dir, 'df/Dockerfile.dockerignore'), 'from-dockerfile\n');
    await writeFile(path.join(dir, 'df/Other'), 'FROM scratch\n');
    await symlink('/etc/hostname', path.join(dir, 'df/Linked.dockerignore'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prefers <Dockerfile>.dockerignore over <context>/.dockerignore', async () => {
    const r = await readDockerignore(path.join(dir, 'ctx'), path.join(dir, 'df/Dockerfile'));
    expect(r).toEqual({ patterns: ['from-dockerfile'], source: path.join(dir, 'df/Dockerfile.dockerignore') });
  });
  it('falls back to the context .dockerignore, then to nothing', async () => {
    expect((await readDockerignore(path.join(dir, 'ctx'), path.join(dir, 'df/Other'))).patterns).toEqual([
      'from-context',
    ]);
    expect(await readDockerignore(path.join(dir, 'df'))).toEqual({ patterns: [], source: null });
  });
  it('refuses to follow a symlinked ignore file', async () => {
    await expect(readDockerignore(path.join(dir, 'ctx'), path.join(dir, 'df/Linked'))).rejects.toThrow(KilnError);
  });
});

describe('PatternMatcher', () => {
  it('re-includes with exclusions and respects ancestor matches', () => {
    const pm = new PatternMatcher(['node_modules', '*.md', '!README.md', 'docs/**', '!docs/keep/*.txt']);
    expect(pm.matches('node_modules/a/b.js')).toBe(true);
    expect(pm.matches('x.md')).toBe(true);
    expect(pm.matches('README.md')).toBe(false);
    expect(pm.matches('docs/a/b')).toBe(true);
    expect(pm.matches('docs/keep/a.txt')).toBe(false);
    expect(pm.matches('src/x.ts')).toBe(false);
  });

  it('says when a directory can be skipped', () => {
    const pm = new PatternMatcher(['node_modules', 'build', '!build/keep.txt', 'logs']);
    expect(pm.canSkipDir('node_modules', pm.matches('node_modules'))).toBe(true);
    expect(pm.canSkipDir('logs', pm.matches('logs'))).toBe(true);
    expect(pm.canSkipDir('build', pm.matches('build'))).toBe(false);
    expect(pm.canSkipDir('src', pm.matches('src'))).toBe(false);
    // An exclusion that can match at any depth keeps every directory walkable.
    const any = new PatternMatcher(['node_modules', '!**/important.log']);
    expect(any.canSkipDir('node_modules', true)).toBe(false);
    expect(any.matches('node_modules/x/important.log')).toBe(false);
    const pm2 = new PatternMatcher(['*', '!src/*.ts']);
    expect(pm2.canSkipDir('vendor', true)).toBe(true);
    expect(pm2.canSkipDir('src', true)).toBe(false);
  });

  it('never skips a directory that holds a re-included path (property)', () => {
    const seg = fc.constantFrom('a', 'b', 'c.txt', 'd.md');
    const relPath = fc.array(seg, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));
    const pat = fc.oneof(
      relPath,
      fc.constantFrom('*', '**', '**/*.md', 'a/**', '*/b', '[ab]', 'a?', '**/c.txt', 'a/*/c.txt'),
    );
    const patterns = fc.array(fc.tuple(fc.boolean(), pat).map(([neg, p]) => (neg ? '!' + p : p)), { maxLength: 5 });
    fc.assert(
      fc.property(patterns, relPath, (ps, file) => {
        const pm = new PatternMatcher(ps);
        const parts = file.split('/');
        for (let k = 1; k < parts.length; k++) {
          const d = parts.slice(0, k).join('/');
          if (pm.canSkipDir(d, pm.matches(d))) {
            expect(pm.matches(file)).toBe(true);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('gives the same answer incrementally (walk form) as matches() (property)', () => {
    const seg = fc.constantFrom('a', 'b', 'c.txt', 'd.md', '.x');
    const relPath = fc.array(seg, { minLength: 1, maxLength: 5 }).map((s) => s.join('/'));
    const pat = fc.oneof(relPath, fc.constantFrom('*', '**', '**/*.md', 'a/**', '*/b', '[ab]', 'a?', '.*', '**/c.txt', 'b/**/c.txt'));
    const patterns = fc.array(fc.tuple(fc.boolean(), pat).map(([neg, p]) => (neg ? '!' + p : p)), { maxLength: 6 });
    fc.assert(
      fc.property(patterns, relPath, (ps, file) => {
        const pm = new PatternMatcher(ps);
        const parts = file.split('/');
        let state = pm.rootState();
        for (let k = 1; k <= parts.length; k++) {
          const p = parts.slice(0, k).join('/');
          const r = pm.matchWithParent(p, state);
          expect(r.matched).toBe(pm.matches(p));
          state = r.state;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('follows Go regexp for odd bracket content (as upstream translates it)', () => {
    // `[*]` becomes the regexp `^[[^/]*]$`: a class {[ ^ /} repeated, then a literal ].
    const pm = new PatternMatcher(['[*]']);
    expect(pm.matches(']')).toBe(true);
    expect(pm.matches('[^]')).toBe(true);
    expect(pm.matches('*')).toBe(false);
    expect(new PatternMatcher(['a[[:digit:]]']).matches('a7')).toBe(true);
  });

  it('matches hostile patterns in linear time', () => {
    const pattern = '**/'.repeat(200) + '*a*'.repeat(200) + 'b';
    const pm = new PatternMatcher([pattern]);
    const t0 = performance.now();
    expect(pm.matches('a'.repeat(3000))).toBe(false);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('terminates with a boolean or a KilnError for random patterns', () => {
    const ch = fc.constantFrom('*', '?', '[', ']', '^', '-', '\\', '/', 'a', 'b', '.', '!', '(', '{', ':', ' ');
    const str = fc.array(ch, { maxLength: 12 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.array(str, { maxLength: 4 }), str, (ps, file) => {
        try {
          const pm = new PatternMatcher(ps);
          expect(typeof pm.matches(file)).toBe('boolean');
        } catch (err) {
          if (!(err instanceof KilnError)) throw err;
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('GoRegex', () => {
  it('agrees with JavaScript RegExp on the expressions patternmatcher builds (property)', () => {
    const ch = fc.constantFrom('*', '?', '[', ']', '^', '-', '/', 'a', 'b', '.', '\\');
    const pattern = fc.array(ch, { minLength: 1, maxLength: 10 }).map((a) => a.join(''));
    const pathStr = fc.array(fc.constantFrom('a', 'b', '/', '.', '-', '\n', ']'), { maxLength: 10 }).map((a) => a.join(''));
    fc.assert(
      fc.property(pattern, fc.array(pathStr, { minLength: 1, maxLength: 5 }), (p, paths) => {
        const c = compilePattern(p);
        if (c.type !== 'regexp') return;
        // A class opening with ']' is a literal ']' in Go but an empty class in JavaScript.
        if (/\[\^?\]/.test(c.regexp!)) return;
        let js: RegExp;
        try {
          js = new RegExp(c.regexp!, 'u');
        } catch {
          return; // not valid JS syntax either way; syntax errors are covered elsewhere
        }
        let re: GoRegex;
        try {
          re = new GoRegex(c.regexp!);
        } catch {
          return; // Go rejects some things JS accepts (e.g. a**), and vice versa
        }
        for (const path of paths) expect(re.test(path), `${c.regexp} on ${JSON.stringify(path)}`).toBe(js.test(path));
      }),
      { numRuns: 3000 },
    );
  });

  it('implements the constructs patternmatcher emits', () => {
    expect(new GoRegex('^(.*/)?dir2/[^/]*$').test('a/b/dir2/x')).toBe(true);
    expect(new GoRegex('^(.*/)?dir2/[^/]*$').test('a/b/dir2/x/y')).toBe(false);
    expect(new GoRegex('^a\\.b$').test('a.b')).toBe(true);
    expect(new GoRegex('^a\\.b$').test('axb')).toBe(false);
    expect(new GoRegex('^[^b-d]$').test('\n')).toBe(true);
    expect(new GoRegex('^.$').test('\n')).toBe(false);
    expect(() => new GoRegex('^[z-a]$')).toThrow();
    expect(() => new GoRegex('^a**$')).toThrow();
  });
});
