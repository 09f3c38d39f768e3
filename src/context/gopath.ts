/**
 * Go's path/filepath Clean and Dir for '/'-separated paths. patternmatcher and
 * ignorefile clean patterns and compute parent directories with these, and the
 * exact results (`Clean("")` is ".", `Dir("a/")` is "a") decide matches.
 */

/** filepath.Clean (Unix). */
export function goClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.charCodeAt(0) === 0x2f;
  const parts: string[] = [];
  let dotdot = 0; // number of leading '..' kept in a relative path
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length > dotdot) parts.pop();
      else if (!rooted) {
        parts.push('..');
        dotdot++;
      }
      continue;
    }
    parts.push(seg);
  }
  const body = parts.join('/');
  if (rooted) return '/' + body;
  return body === '' ? '.' : body;
}

/** filepath.Dir (Unix): everything before the last '/', cleaned. */
export function goDir(p: string): string {
  const i = p.lastIndexOf('/');
  return goClean(p.slice(0, i + 1));
}
