/**
 * Go's path/filepath.Match (Unix), on code points. patternmatcher only uses it to
 * syntax-check each pattern (`filepath.Match(p, ".")`), so its peculiar early exits
 * decide which malformed patterns are rejected when the matcher is built.
 */

export class BadPattern extends Error {
  constructor() {
    super('syntax error in pattern');
  }
}

const SEP = 0x2f;
type CP = readonly number[];

function scanChunk(p: CP): { star: boolean; chunk: CP; rest: CP } {
  let i0 = 0;
  let star = false;
  while (i0 < p.length && p[i0] === 0x2a) {
    i0++;
    star = true;
  }
  let inrange = false;
  let i = i0;
  scan: for (; i < p.length; i++) {
    switch (p[i]) {
      case 0x5c:
        if (i + 1 < p.length) i++;
        break;
      case 0x5b:
        inrange = true;
        break;
      case 0x5d:
        inrange = false;
        break;
      case 0x2a:
        if (!inrange) break scan;
        break;
    }
  }
  return { star, chunk: p.slice(i0, i), rest: p.slice(i) };
}

function getEsc(chunk: CP, at: number): [number, number] {
  if (at >= chunk.length || chunk[at] === 0x2d || chunk[at] === 0x5d) throw new BadPattern();
  if (chunk[at] === 0x5c) {
    at++;
    if (at >= chunk.length) throw new BadPattern();
  }
  const r = chunk[at]!;
  at++;
  if (at >= chunk.length) throw new BadPattern();
  return [r, at];
}

/** Returns the rest of `s` after the chunk, or null when it does not match. */
function matchChunk(chunk: CP, s: CP, sAt: number): number | null {
  let failed = false;
  let i = 0;
  while (i < chunk.length) {
    if (!failed && sAt >= s.length) failed = true;
    const c = chunk[i]!;
    if (c === 0x5b) {
      let r = -1;
      if (!failed) r = s[sAt++]!;
      i++;
      let negated = false;
      if (i < chunk.length && chunk[i] === 0x5e) {
        negated = true;
        i++;
      }
      let match = false;
      let nrange = 0;
      for (;;) {
        if (i < chunk.length && chunk[i] === 0x5d && nrange > 0) {
          i++;
          break;
        }
        let lo: number;
        [lo, i] = getEsc(chunk, i);
        let hi = lo;
        if (chunk[i] === 0x2d) [hi, i] = getEsc(chunk, i + 1);
        if (lo <= r && r <= hi) match = true;
        nrange++;
      }
      if (match === negated) failed = true;
      continue;
    }
    if (c === 0x3f) {
      if (!failed) {
        if (s[sAt] === SEP) failed = true;
        sAt++;
      }
      i++;
      continue;
    }
    if (c === 0x5c) {
      i++;
      if (i >= chunk.length) throw new BadPattern();
    }
    if (!failed) {
      if (chunk[i] !== s[sAt]) failed = true;
      sAt++;
    }
    i++;
  }
  return failed ? null : sAt;
}

const cps = (s: string): number[] => Array.from(s, (ch) => ch.codePointAt(0)!);

/** filepath.Match(pattern, name); throws BadPattern for malformed patterns it reaches. */
export function filepathMatch(pattern: string, name: string): boolean {
  let p: CP = cps(pattern);
  const s = cps(name);
  let at = 0;
  pattern: while (p.length > 0) {
    const { star, chunk, rest } = scanChunk(p);
    p = rest;
    if (star && chunk.length === 0) {
      return !s.slice(at).includes(SEP);
    }
    const t = matchChunk(chunk, s, at);
    if (t !== null && (t === s.length || p.length > 0)) {
      at = t;
      continue;
    }
    if (star) {
      for (let i = at; i < s.length && s[i] !== SEP; i++) {
        const t2 = matchChunk(chunk, s, i + 1);
        if (t2 !== null) {
          if (p.length === 0 && t2 < s.length) continue;
          at = t2;
          continue pattern;
        }
      }
    }
    // Before returning false, check the rest of the pattern is well-formed.
    while (p.length > 0) {
      const next = scanChunk(p);
      p = next.rest;
      matchChunk(next.chunk, [], 0);
    }
    return false;
  }
  return at === s.length;
}
