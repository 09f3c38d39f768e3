/**
 * `RUN --mount=...` (BuildKit's commands_runmount.go). The value is one CSV record of
 * `key=value` fields (and the bare keys `ro`, `rw`, `required`).
 *
 * Parsing runs twice, like BuildKit: once while parsing instructions, with `expand`
 * undefined (fields holding a `$` are left for later), and again in the graph converter with
 * the stage's variables. `from` is never expanded.
 */
import { parseGoBool, parseRamInBytes, parseUint32 } from './values.js';
import { suggest } from './suggest.js';
import type { CacheSharing, MountType, RunMount } from './types.js';

export const MOUNT_TYPES: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARING: readonly CacheSharing[] = ['shared', 'private', 'locked'];
const ALL_KEYS = [
  'type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid',
  'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env',
];

/** A mount problem; `hint` carries a "did you mean". */
export class MountSyntaxError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

/** Go's encoding/csv for one record: commas separate, double quotes group, `""` escapes. */
export function splitCsvRecord(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw new MountSyntaxError(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += s[i++];
      }
      if (i < s.length && s[i] !== ',') throw new MountSyntaxError(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
    } else {
      const end = s.indexOf(',', i);
      field = end === -1 ? s.slice(i) : s.slice(i, end);
      if (field.includes('"')) throw new MountSyntaxError(`failed to parse csv mounts: bare " in non-quoted-field`);
      i = end === -1 ? s.length : end;
    }
    out.push(field);
    if (i >= s.length) break;
    i++; // the comma
  }
  return out;
}

export function parseMount(value: string, expand?: (word: string) => string): RunMount {
  const fields = splitCsvRecord(value);
  const m: RunMount = { type: 'bind', readonly: true, required: false };
  let roAuto = true;
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq === -1 ? field : field.slice(0, eq)).toLowerCase();
    if (eq === -1) {
      switch (key) {
        case 'readonly':
        case 'ro':
          m.readonly = true;
          roAuto = false;
          continue;
        case 'readwrite':
        case 'rw':
          m.readonly = false;
          roAuto = false;
          continue;
        case 'required':
          if (m.type === 'secret' || m.type === 'ssh') {
            m.required = true;
            continue;
          }
          throw new MountSyntaxError(`unexpected key '${key}' for mount type '${m.type}'`);
        default:
          throw new MountSyntaxError(`invalid field '${field}' must be a key=value pair`);
      }
    }
    let v = field.slice(eq + 1);
    if (key === 'from') {
      const i = v.indexOf('$');
      if (i !== -1 && i !== v.length - 1) {
        throw new MountSyntaxError(`'${key}' doesn't support variable expansion, define alias stage instead`);
      }
    } else if (expand) {
      v = expand(v);
    } else if (v.includes('$')) {
      if (key === 'type') return m; // nothing more can be checked before expansion
      continue;
    }
    switch (key) {
      case 'type': {
        const t = v.toLowerCase() as MountType;
        if (!MOUNT_TYPES.includes(t)) {
          const close = suggest(v, MOUNT_TYPES);
          throw new MountSyntaxError(`unsupported mount type "${v}"`, `${close ? `did you mean ${close}? ` : ''}valid types: ${MOUNT_TYPES.join(', ')}`);
        }
        m.type = t;
        break;
      }
      case 'from':
        m.from = v;
        break;
      case 'source':
      case 'src':
        m.source = v;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = v;
        break;
      case 'readonly':
      case 'ro':
      case 'readwrite':
      case 'rw': {
        const b = parseGoBool(v);
        if (b === undefined) throw new MountSyntaxError(`invalid value for ${key}: ${v}`);
        m.readonly = key === 'readonly' || key === 'ro' ? b : !b;
        roAuto = false;
        break;
      }
      case 'required': {
        if (m.type !== 'secret' && m.type !== 'ssh') throw new MountSyntaxError(`unexpected key '${key}' for mount type '${m.type}'`);
        const b = parseGoBool(v);
        if (b === undefined) throw new MountSyntaxError(`invalid value for ${key}: ${v}`);
        m.required = b;
        break;
      }
      case 'size':
        if (m.type !== 'tmpfs') throw new MountSyntaxError(`unexpected key '${key}' for mount type '${m.type}'`);
        try {
          m.size = parseRamInBytes(v);
        } catch {
          throw new MountSyntaxError(`invalid value for ${key}: ${v}`);
        }
        break;
      case 'id':
        m.id = v;
        break;
      case 'sharing': {
        const s = v.toLowerCase() as CacheSharing;
        if (!SHARING.includes(s)) {
          throw new MountSyntaxError(`unsupported sharing value "${v}"`, `valid values: ${SHARING.join(', ')}`);
        }
        m.sharing = s;
        break;
      }
      case 'mode': {
        const n = parseUint32(v, 8);
        if (n === undefined) throw new MountSyntaxError(`invalid value ${v} for mode`, 'mode is octal, e.g. mode=0755');
        m.mode = n;
        break;
      }
      case 'uid':
      case 'gid': {
        const n = parseUint32(v, 10);
        if (n === undefined) throw new MountSyntaxError(`invalid value ${v} for ${key}`);
        m[key] = n;
        break;
      }
      case 'env':
        m.env = v;
        break;
      default: {
        const close = suggest(key, ALL_KEYS);
        throw new MountSyntaxError(`unexpected key '${key}' in '${field}'`, close ? `did you mean ${close}?` : `valid keys: ${ALL_KEYS.join(', ')}`);
      }
    }
  }
  const fileInfoAllowed = m.type === 'secret' || m.type === 'ssh' || m.type === 'cache';
  if (!fileInfoAllowed) {
    for (const k of ['mode', 'uid', 'gid'] as const) {
      if (m[k] !== undefined) throw new MountSyntaxError(`${k} not allowed for "${m.type}" type mounts`);
    }
  }
  if (roAuto) m.readonly = !(m.type === 'cache' || m.type === 'tmpfs');
  if (m.type === 'secret') {
    if (m.from !== undefined) throw new MountSyntaxError('secret mount should not have a from');
    if (m.sharing !== undefined) throw new MountSyntaxError('secret mount should not define sharing');
    if (!m.source && !m.target && !m.id && m.env === undefined) {
      throw new MountSyntaxError('invalid secret mount. one of source, target required');
    }
    if (m.source && m.id) throw new MountSyntaxError("both source and id can't be set");
  }
  if (m.sharing !== undefined && m.type !== 'cache') throw new MountSyntaxError(`invalid cache sharing set for ${m.type} mount`);
  if (m.env !== undefined && m.type !== 'secret') throw new MountSyntaxError(`unexpected key 'env' for mount type '${m.type}'`);
  return m;
}
