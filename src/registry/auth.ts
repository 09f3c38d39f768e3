import { RegistryError } from './errors.js';

/** One challenge of a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"`. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse `WWW-Authenticate` (RFC 7235: several challenges, quoted-string params with escapes). */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const s = header;
  const skipWs = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
  };
  const token = (): string => {
    const m = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(s.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };
  while (i < s.length) {
    skipWs();
    const scheme = token();
    if (!scheme) break;
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      const save = i;
      const name = token();
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      if (!name || s[i] !== '=') {
        i = save;
        break;
      }
      i++;
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else value = token();
      challenge.params[name.toLowerCase()] = value;
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      if (s[i] === ',') i++;
      else break;
    }
  }
  return out;
}

/** Scope string for a repository: `repository:library/busybox:pull,push`. */
export const repositoryScope = (repository: string, actions: string[]): string => `repository:${repository}:${actions.join(',')}`;

export function parseTokenResponse(body: string): { token: string; expiresIn?: number } {
  let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    throw new RegistryError('REGISTRY_UNAUTHORIZED', 'token server returned a body that is not JSON');
  }
  const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
  if (typeof token !== 'string' || !token) throw new RegistryError('REGISTRY_UNAUTHORIZED', 'token server returned no token');
  if (/[\r\n]/.test(token)) throw new RegistryError('REGISTRY_UNAUTHORIZED', 'token server returned a token with line breaks');
  const result: { token: string; expiresIn?: number } = { token };
  if (typeof parsed.expires_in === 'number' && parsed.expires_in > 0) result.expiresIn = parsed.expires_in;
  return result;
}
