/** "did you mean" suggestions (BuildKit's util/suggest): the closest candidate by edit distance. */

/** Edit distance counting a swap of two neighbours as one edit (optimal string alignment). */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) rows.push([i]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The candidate closest to `value`, or undefined when none is close enough
 * (at most a third of the word's length, and at least 1, edits away).
 */
export function suggest(value: string, candidates: readonly string[], caseInsensitive = true): string | undefined {
  if (value.length > 64) return undefined; // never spend quadratic time on hostile input
  const v = caseInsensitive ? value.toLowerCase() : value;
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = levenshtein(v, caseInsensitive ? c.toLowerCase() : c);
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  const limit = Math.max(1, Math.floor(v.length / 3));
  return bestDist > 0 && bestDist <= limit ? best : undefined;
}
