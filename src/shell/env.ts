import type { EnvGetter, EnvInput } from './types.js';

class MapEnv implements EnvGetter {
  constructor(private readonly map: ReadonlyMap<string, string>) {}
  get(name: string): string | undefined {
    return this.map.get(name);
  }
}

function isEnvGetter(env: EnvInput): env is EnvGetter {
  return !(env instanceof Map) && !Array.isArray(env) && typeof (env as EnvGetter).get === 'function';
}

/** Normalise any accepted environment shape into an EnvGetter. */
export function toEnvGetter(env: EnvInput | undefined): EnvGetter {
  if (env === undefined) return new MapEnv(new Map());
  if (env instanceof Map) return new MapEnv(env as ReadonlyMap<string, string>);
  if (Array.isArray(env)) return new MapEnv(envListToMap(env as readonly string[]));
  if (isEnvGetter(env)) return env;
  // A plain object: copy own properties only, so `constructor` or `__proto__` are never "set".
  const map = new Map<string, string>();
  for (const [k, v] of Object.entries(env as Readonly<Record<string, string>>)) map.set(k, v);
  return new MapEnv(map);
}

/** `NAME=value` strings to a map, split at the first `=`; a later definition wins. */
export function envListToMap(list: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const e of list) {
    const i = e.indexOf('=');
    if (i < 0) map.set(e, '');
    else map.set(e.slice(0, i), e.slice(i + 1));
  }
  return map;
}
