/** Parsing of `kiln build` flag values (docker buildx conventions). */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../diagnostics/errors.js';
import type { OutputSpec } from '../../build.js';
import type { NamedContext } from '../../graph/types.js';
import { parseReference } from '../../image/reference.js';
import type { SecretValue } from '../../solver/ops/deps.js';

export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** `k=v,k2=v2` (a value may not contain commas, as in buildx's CSV without quotes). */
export function parseCsv(flag: string, value: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of value.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid ${flag} "${value}": "${part}" is not KEY=VALUE`);
    m.set(part.slice(0, eq).trim(), part.slice(eq + 1));
  }
  return m;
}

function normalizeName(n: string): string {
  try {
    return parseReference(n).toString();
  } catch (err) {
    throw new UsageError(`invalid tag "${n}": ${(err as Error).message}`);
  }
}

export function parseTags(tags: readonly string[]): string[] {
  return tags.map(normalizeName);
}

/** `-o type=local,dest=DIR`, `-o DIR`, `-o -`, `type=image,name=a,b`, `type=oci|docker|tar,dest=F`. */
export function parseOutput(value: string): OutputSpec {
  if (!value.includes('=')) {
    if (value === '-') return { type: 'tar', dest: '-' };
    return { type: 'local', dest: path.resolve(value) };
  }
  // name= may list several names separated by commas: collect unknown bare parts into it
  const parts = value.split(',');
  const attrs = new Map<string, string>();
  let last = '';
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq <= 0) {
      if (last === 'name') attrs.set('name', `${attrs.get('name')},${p}`);
      else throw new UsageError(`invalid --output "${value}": "${p}" is not KEY=VALUE`);
      continue;
    }
    last = p.slice(0, eq);
    attrs.set(last, p.slice(eq + 1));
  }
  const type = attrs.get('type') ?? 'local';
  const names = (attrs.get('name') ?? '').split(',').filter(Boolean).map(normalizeName);
  const dest = attrs.get('dest');
  switch (type) {
    case 'image':
    case 'registry':
      if (type === 'registry' || attrs.get('push') === 'true') return { type: 'image', names, push: true };
      return { type: 'image', names };
    case 'local':
    case 'tar':
      if (!dest) throw new UsageError(`--output type=${type} needs dest=PATH`);
      return { type, dest: dest === '-' ? '-' : path.resolve(dest) };
    case 'oci':
    case 'docker':
      if (!dest) throw new UsageError(`--output type=${type} needs dest=FILE (loading into a docker engine is not supported)`);
      return { type, dest: dest === '-' ? '-' : path.resolve(dest), names };
    case 'cacheonly':
      return { type: 'image', names: [] };
    default:
      throw new UsageError(`unknown --output type "${type}"`, 'use type=image, local, tar, oci or docker');
  }
}

/** `--secret id=ID[,src=FILE|env=VAR][,type=file|env]`; without a type, env when $ID is set. */
export async function parseSecret(value: string, env: NodeJS.ProcessEnv = process.env): Promise<SecretValue> {
  const a = parseCsv('--secret', value);
  const id = a.get('id');
  if (!id) throw new UsageError(`invalid --secret "${value}": id=ID is required`);
  let type = a.get('type');
  const src = a.get('src') ?? a.get('source');
  const envName = a.get('env');
  if (!type) type = envName ? 'env' : src ? 'file' : env[id] !== undefined ? 'env' : 'file';
  if (type === 'env') {
    const name = envName ?? src ?? id;
    const v = env[name];
    if (v === undefined) throw new UsageError(`--secret ${id}: environment variable ${name} is not set`);
    return { id, value: Buffer.from(v) };
  }
  if (type !== 'file') throw new UsageError(`invalid --secret type "${type}" (file, env)`);
  const file = src ?? id;
  try {
    return { id, value: await fs.readFile(file) };
  } catch {
    throw new UsageError(`--secret ${id}: cannot read ${file}`);
  }
}

export function parseBuildContexts(list: readonly string[]): Record<string, NamedContext> {
  const out: Record<string, NamedContext> = {};
  for (const c of list) {
    const eq = c.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid --build-context "${c}"`, 'write --build-context NAME=DIR or NAME=docker-image://REF');
    const name = c.slice(0, eq);
    const value = c.slice(eq + 1);
    out[name] = value.startsWith('docker-image://') ? { type: 'image', ref: value.slice('docker-image://'.length) } : { type: 'local', path: path.resolve(value) };
  }
  return out;
}

export function parseLabels(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid --label "${l}"`, 'write --label KEY=VALUE');
    out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}
