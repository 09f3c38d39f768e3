import { InvalidArgumentError } from '../../diagnostics/errors.js';

/**
 * Apply a `--chmod` value to a file's current mode: an octal number (`0755`, given as a number)
 * or a symbolic mode (`u+x,go-w`, `a=rX`, as chmod(1) and BuildKit 1.14+ accept).
 */
export function applyChmod(spec: number | string, current: number, isDir: boolean): number {
  // BuildKit (fsutil copyFileInfo): an octal --chmod sets the 0777 bits; setuid/setgid/sticky
  // come from the source file, never from the flag (recorded from docker 20.10's BuildKit)
  if (typeof spec === 'number') return (current & 0o7000) | (spec & 0o777);
  if (/^[0-7]{1,4}$/.test(spec)) return (current & 0o7000) | (parseInt(spec, 8) & 0o777);
  let mode = current & 0o7777;
  for (const clause of spec.split(',')) {
    const m = /^([ugoa]*)([-+=])([rwxXst]*)$/.exec(clause);
    if (!m) throw new InvalidArgumentError(`invalid chmod ${JSON.stringify(spec)}`, { code: 'SOLVE_BAD_CHMOD' });
    const who = m[1] || 'a';
    const op = m[2]!;
    const perms = m[3]!;
    let mask = 0;
    const hasX = isDir || (current & 0o111) !== 0;
    for (const w of who) {
      const u = w === 'u' || w === 'a';
      const g = w === 'g' || w === 'a';
      const o = w === 'o' || w === 'a';
      for (const p of perms) {
        const bit = p === 'r' ? 4 : p === 'w' ? 2 : p === 'x' || (p === 'X' && hasX) ? 1 : 0;
        if (u) mask |= bit << 6;
        if (g) mask |= bit << 3;
        if (o) mask |= bit;
        if (p === 's') mask |= (u ? 0o4000 : 0) | (g ? 0o2000 : 0);
        if (p === 't') mask |= 0o1000;
      }
    }
    let whoMask = 0;
    for (const w of who) whoMask |= w === 'u' ? 0o4700 : w === 'g' ? 0o2070 : w === 'o' ? 0o1007 : 0o7777;
    if (op === '+') mode |= mask;
    else if (op === '-') mode &= ~mask;
    else mode = (mode & ~whoMask) | mask;
  }
  return mode;
}
