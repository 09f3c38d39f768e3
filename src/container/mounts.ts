import path from 'node:path';
import { UsageError } from '../diagnostics/errors.js';
import type { ContainerMount } from './types.js';

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

function cleanTarget(flag: string, target: string): string {
  if (!target.startsWith('/')) throw new UsageError(`invalid ${flag} specification: destination "${target}" is not an absolute path`);
  const t = path.posix.normalize(target);
  if (t === '/') throw new UsageError(`invalid ${flag} specification: destination can't be '/'`);
  return t.replace(/\/$/, '');
}

/**
 * `-v SRC:DST[:OPTS]` as docker parses it on Linux: an absolute SRC is a bind mount, a name is a named
 * volume, `-v /dst` alone is an anonymous volume. OPTS: ro|rw (and z/Z, which mean nothing here).
 */
export function parseVolumeFlag(spec: string, cwd = process.cwd()): ContainerMount {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw new UsageError(`invalid volume specification: '${spec}'`);
  if (parts.length === 1) return { type: 'volume', name: '', target: cleanTarget('-v', parts[0]!), readonly: false, anonymous: true };
  const [src, dst, opts = ''] = parts as [string, string, string?];
  let readonly = false;
  for (const o of opts.split(',').filter(Boolean)) {
    if (o === 'ro') readonly = true;
    else if (o === 'rw') readonly = false;
    else if (!['z', 'Z', 'nocopy', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'].includes(o)) {
      throw new UsageError(`invalid volume specification: '${spec}': unknown option ${o}`);
    }
  }
  const target = cleanTarget('-v', dst);
  if (src.startsWith('/') || src.startsWith('.')) {
    return { type: 'bind', source: path.resolve(cwd, src), target, readonly };
  }
  if (!VOLUME_NAME.test(src)) throw new UsageError(`invalid volume specification: '${spec}': "${src}" includes invalid characters for a local volume name`);
  return { type: 'volume', name: src, target, readonly, anonymous: false };
}

/** `--mount type=bind|volume|tmpfs,source=..,target=..,readonly,...` */
export function parseMountFlag(spec: string, cwd = process.cwd()): ContainerMount {
  const kv = new Map<string, string>();
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    const k = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const v = eq < 0 ? 'true' : field.slice(eq + 1);
    if (kv.has(k)) throw new UsageError(`invalid --mount '${spec}': duplicate field ${k}`);
    kv.set(k, v);
  }
  const type = kv.get('type') ?? 'volume';
  const source = kv.get('source') ?? kv.get('src');
  const targetRaw = kv.get('target') ?? kv.get('destination') ?? kv.get('dst');
  if (!targetRaw) throw new UsageError(`invalid --mount '${spec}': target is required`);
  const target = cleanTarget('--mount', targetRaw);
  const ro = kv.get('readonly') ?? kv.get('ro');
  const readonly = ro !== undefined && ro !== 'false' && ro !== '0';
  const known = new Set(['type', 'source', 'src', 'target', 'destination', 'dst', 'readonly', 'ro', 'tmpfs-size', 'tmpfs-mode', 'bind-propagation', 'volume-nocopy', 'consistency']);
  for (const k of kv.keys()) if (!known.has(k)) throw new UsageError(`invalid --mount '${spec}': unknown field ${k}`);
  switch (type) {
    case 'bind':
      if (!source) throw new UsageError(`invalid --mount '${spec}': source is required for a bind mount`);
      return { type: 'bind', source: path.resolve(cwd, source), target, readonly };
    case 'volume':
      if (source !== undefined && !VOLUME_NAME.test(source)) throw new UsageError(`invalid --mount '${spec}': invalid volume name ${source}`);
      return source === undefined
        ? { type: 'volume', name: '', target, readonly, anonymous: true }
        : { type: 'volume', name: source, target, readonly, anonymous: false };
    case 'tmpfs': {
      const options: string[] = [];
      const size = kv.get('tmpfs-size');
      if (size) {
        if (!/^\d+[kmg]?$/i.test(size)) throw new UsageError(`invalid --mount '${spec}': bad tmpfs-size ${size}`);
        options.push(`size=${size}`);
      }
      const mode = kv.get('tmpfs-mode');
      if (mode) {
        if (!/^[0-7]{1,4}$/.test(mode)) throw new UsageError(`invalid --mount '${spec}': bad tmpfs-mode ${mode}`);
        options.push(`mode=${mode}`);
      }
      if (readonly) options.push('ro');
      return { type: 'tmpfs', target, options };
    }
    default:
      throw new UsageError(`invalid --mount '${spec}': type must be bind, volume or tmpfs, not ${type}`);
  }
}

/** `--tmpfs /path[:opts]` */
export function parseTmpfsFlag(spec: string): ContainerMount {
  const colon = spec.indexOf(':');
  const target = cleanTarget('--tmpfs', colon < 0 ? spec : spec.slice(0, colon));
  const options = colon < 0 ? [] : spec.slice(colon + 1).split(',').filter(Boolean);
  const allowed = /^(size=\d+[kmg%]?|mode=[0-7]{1,4}|uid=\d+|gid=\d+|nr_inodes=\d+[kmg]?|ro|rw|noexec|exec|nosuid|suid|nodev|dev)$/i;
  for (const o of options) if (!allowed.test(o)) throw new UsageError(`invalid --tmpfs '${spec}': unsupported option ${o}`);
  return { type: 'tmpfs', target, options };
}

/** Docker's memory syntax: 512m, 1g, 1024k, 100b, or bytes. */
export function parseMemory(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)([bkmg]?)b?$/i.exec(value.trim());
  if (!m) throw new UsageError(`invalid value "${value}" for "${flag}": expected a size like 512m or 1g`);
  const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'b' | 'k' | 'm' | 'g'];
  const bytes = Math.floor(Number(m[1]) * mult);
  if (bytes < 6 * 1024 * 1024) throw new UsageError(`invalid value "${value}" for "${flag}": minimum memory limit allowed is 6MB`);
  return bytes;
}
