/**
 * The per-stage build state (BuildKit's llb.State): an immutable value; every helper returns
 * a new one. `root` is the vertex whose result is the current filesystem (null = empty).
 */
import type { NetworkMode } from '../instructions/types.js';
import type { PlatformString, VertexDigest } from './types.js';

export interface State {
  readonly root: VertexDigest | null;
  /** Ordered `[name, value]` pairs: the image ENV plus ARG values, as the RUN environment. */
  readonly env: readonly (readonly [string, string])[];
  readonly dir: string;
  readonly user: string;
  readonly platform: PlatformString;
  readonly network: NetworkMode;
}

export function emptyState(platform: PlatformString): State {
  return { root: null, env: [], dir: '/', user: '', platform, network: 'default' };
}

export function withRoot(s: State, root: VertexDigest | null): State {
  return { ...s, root };
}

/** Replace a variable in place, or append it (llb's AddEnv). */
export function addEnv(s: State, key: string, value: string): State {
  const i = s.env.findIndex(([k]) => k === key);
  const env = s.env.slice();
  if (i === -1) env.push([key, value]);
  else env[i] = [key, value];
  return { ...s, env };
}

const envMaps = new WeakMap<State['env'], Map<string, string>>();

/** The environment as a map; shared between states with the same env list (treat it as read-only). */
export function envMap(s: State): Map<string, string> {
  let m = envMaps.get(s.env);
  if (!m) {
    m = new Map(s.env);
    envMaps.set(s.env, m);
  }
  return m;
}

export function envList(s: State): string[] {
  return s.env.map(([k, v]) => `${k}=${v}`);
}
