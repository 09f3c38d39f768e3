/**
 * `--change` / `-c` of `kiln import` (and later `kiln commit`): a Dockerfile instruction applied to an
 * image config, as docker's `dockerfile.BuildFromConfig` does for CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
 * ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL (and SHELL). A deliberately small parser: JSON or shell form,
 * KEY=VALUE pairs with quotes, and `ENV KEY VALUE`.
 */
import { InvalidArgumentError } from '../diagnostics/errors.js';
import type { ContainerConfig } from './types.js';

export const CHANGE_INSTRUCTIONS = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'USER', 'VOLUME', 'WORKDIR', 'STOPSIGNAL', 'SHELL'];

function bad(change: string, msg: string): InvalidArgumentError {
  return new InvalidArgumentError(`--change "${change}": ${msg}`, {
    code: 'IMAGE_INVALID_CHANGE',
    hint: `supported instructions: ${CHANGE_INSTRUCTIONS.join(', ')}`,
  });
}

/** Split words honouring "double" and 'single' quotes and backslash escapes (outside single quotes). */
export function splitWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let q: '"' | "'" | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (q) {
      if (c === q) q = undefined;
      else if (c === '\\' && q === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      q = c;
      has = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (q) throw new Error(`unterminated ${q} quote`);
  if (has) out.push(cur);
  return out;
}

function jsonOrShell(change: string, rest: string, shell: string[]): string[] {
  const t = rest.trim();
  if (t.startsWith('[')) {
    try {
      const v: unknown = JSON.parse(t);
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
    } catch {
      /* not JSON: shell form, as docker does */
    }
  }
  if (t === '') throw bad(change, 'needs an argument');
  return [...shell, t];
}

function pairs(change: string, rest: string, allowLegacy: boolean): Array<[string, string]> {
  let words: string[];
  try {
    words = splitWords(rest);
  } catch (err) {
    throw bad(change, (err as Error).message);
  }
  if (words.length === 0) throw bad(change, 'needs KEY=VALUE');
  if (allowLegacy && !words[0]!.includes('=')) {
    // ENV KEY VALUE (the rest of the line is the value)
    const key = words[0]!;
    const value = rest.trim().slice(rest.trim().indexOf(key) + key.length).trim();
    return [[key, splitWords(value).join(' ')]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw bad(change, `"${w}" is not KEY=VALUE`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** Apply one change to a container config (mutates and returns it). */
export function applyChange(config: ContainerConfig, change: string): ContainerConfig {
  const m = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(change);
  if (!m) throw bad(change, 'expected an instruction such as CMD ["sh"]');
  const instr = m[1]!.toUpperCase();
  const rest = m[2] ?? '';
  const shell = config.Shell && config.Shell.length > 0 ? config.Shell : ['/bin/sh', '-c'];
  switch (instr) {
    case 'CMD':
      config.Cmd = jsonOrShell(change, rest, shell);
      break;
    case 'ENTRYPOINT':
      config.Entrypoint = jsonOrShell(change, rest, shell);
      break;
    case 'SHELL': {
      const v = jsonOrShell(change, rest, []);
      if (!rest.trim().startsWith('[')) throw bad(change, 'SHELL requires the JSON form, e.g. SHELL ["/bin/bash", "-c"]');
      config.Shell = v;
      break;
    }
    case 'ENV': {
      const env = [...(config.Env ?? [])];
      for (const [k, v] of pairs(change, rest, true)) {
        const i = env.findIndex((e) => e.split('=')[0] === k);
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      config.Env = env;
      break;
    }
    case 'LABEL': {
      const labels = { ...(config.Labels ?? {}) };
      for (const [k, v] of pairs(change, rest, false)) labels[k] = v;
      config.Labels = labels;
      break;
    }
    case 'EXPOSE': {
      const ports = { ...(config.ExposedPorts ?? {}) };
      const words = rest.trim().split(/\s+/).filter(Boolean);
      if (words.length === 0) throw bad(change, 'needs at least one port');
      for (const w of words) {
        const pm = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
        if (!pm) throw bad(change, `invalid port "${w}"`);
        const from = Number(pm[1]);
        const to = pm[2] ? Number(pm[2]) : from;
        if (from < 1 || to > 65535 || to < from) throw bad(change, `invalid port range "${w}"`);
        for (let p = from; p <= to; p++) ports[`${p}/${(pm[3] ?? 'tcp').toLowerCase()}`] = {};
      }
      config.ExposedPorts = ports;
      break;
    }
    case 'VOLUME': {
      const t = rest.trim();
      let vols: string[];
      if (t.startsWith('[')) vols = jsonOrShell(change, t, []);
      else vols = t.split(/\s+/).filter(Boolean);
      if (vols.length === 0) throw bad(change, 'needs at least one path');
      const v = { ...(config.Volumes ?? {}) };
      for (const p of vols) v[p] = {};
      config.Volumes = v;
      break;
    }
    case 'ONBUILD': {
      const t = rest.trim();
      const sub = /^([A-Za-z]+)/.exec(t)?.[1]?.toUpperCase();
      if (!sub) throw bad(change, 'needs an instruction');
      if (sub === 'ONBUILD' || sub === 'FROM' || sub === 'MAINTAINER') throw bad(change, `${sub} isn't allowed as an ONBUILD trigger`);
      config.OnBuild = [...(config.OnBuild ?? []), t];
      break;
    }
    case 'USER':
    case 'WORKDIR':
    case 'STOPSIGNAL': {
      const t = rest.trim();
      if (t === '') throw bad(change, `${instr} needs an argument`);
      if (instr === 'USER') config.User = t;
      else if (instr === 'STOPSIGNAL') config.StopSignal = t;
      else config.WorkingDir = t.startsWith('/') ? t : `${config.WorkingDir ?? '/'}/${t}`.replace(/\/+/g, '/');
      break;
    }
    default:
      throw bad(change, `${instr} is not supported`);
  }
  return config;
}
