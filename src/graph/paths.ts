/** POSIX path helpers matching Go's path package (Clean/Join) and BuildKit's NormalizePath. */
import path from 'node:path/posix';

/** Go's path.Clean. */
export function clean(p: string): string {
  if (p === '') return '.';
  return path.normalize(p).replace(/(.)\/+$/, '$1');
}

/** Go's path.Join (empty parts skipped, result cleaned; "" when all empty). */
export function join(...parts: string[]): string {
  const nonEmpty = parts.filter((p) => p !== '');
  return nonEmpty.length === 0 ? '' : clean(nonEmpty.join('/'));
}

/** BuildKit's system.NormalizePath: resolve `p` against `workdir`; keep a trailing slash when asked. */
export function normalizePath(workdir: string, p: string, keepSlash: boolean): string {
  const trailing = keepSlash && (p.endsWith('/') || p.endsWith('/.') || p === '.' || p === './');
  let out = p.startsWith('/') ? clean(p) : join(workdir || '/', p);
  if (!out.startsWith('/')) out = `/${out}`;
  if (trailing && !out.endsWith('/')) out += '/';
  return out;
}

/**
 * BuildKit's normalizeWorkdir: a relative WORKDIR builds on the current one (and is cleaned);
 * an absolute one is kept as written (`WORKDIR /abs/` stays `/abs/`, as docker 20.10 records it).
 */
export function normalizeWorkdir(current: string, requested: string): string {
  if (requested.startsWith('/')) return requested;
  return clean(`/${join(current || '/', requested)}`);
}
