/** Docker-style tables: columns left-aligned, separated by at least three spaces. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** 1.5kB, 12.3MB, 1.2GB, as docker prints sizes (decimal units). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toPrecision(3).replace(/\.0+$/, '')}${units[i]}`;
}

/** "3 minutes ago", as docker prints times. */
export function humanAgo(iso: string | undefined, now = Date.now()): string {
  if (!iso) return 'N/A';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 1) return 'Less than a second ago';
  if (s < 60) return `${s} second${s === 1 ? '' : 's'} ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'} ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `About ${h === 1 ? 'an' : h} hour${h === 1 ? '' : 's'} ago`;
  const d = Math.round(h / 24);
  if (d < 14) return `${d} days ago`;
  const w = Math.round(d / 7);
  if (d < 60) return `${w} weeks ago`;
  return `${Math.round(d / 30)} months ago`;
}

/** `--label K=V` / `-e K=V` style pairs; `K` alone is allowed when `allowBare`. */
export function parseKeyValue(flag: string, value: string, allowBare = false): [string, string | undefined] {
  const eq = value.indexOf('=');
  if (eq === 0 || (eq < 0 && !allowBare)) {
    throw new Error(`invalid argument "${value}" for "${flag}": expected KEY=VALUE`);
  }
  return eq < 0 ? [value, undefined] : [value.slice(0, eq), value.slice(eq + 1)];
}
