import { describe, expect, it } from 'vitest';
import { goClean, goDir } from './gopath.js';

describe('goClean / goDir', () => {
  it('matches Go filepath.Clean', () => {
    const cases: [string, string][] = [
      ['', '.'], ['.', '.'], ['/', '/'], ['//', '/'], ['a/', 'a'], ['a//b', 'a/b'], ['./a/./b/', 'a/b'],
      ['a/../..', '..'], ['../../a', '../../a'], ['/../a', '/a'], ['a/b/../../c', 'c'], ['/a/..', '/'],
      ['abc/def/../../..', '..'], ['abc/./../def', 'def'],
    ];
    for (const [i, o] of cases) expect(goClean(i), i).toBe(o);
  });
  it('matches Go filepath.Dir', () => {
    const cases: [string, string][] = [['a', '.'], ['a/b', 'a'], ['a/', 'a'], ['/', '/'], ['/a', '/'], ['a/b/c', 'a/b'], ['', '.']];
    for (const [i, o] of cases) expect(goDir(i), i).toBe(o);
  });
});
