import { isPendingLayer, type CacheRecord, type StepLayer, type StepResult } from './types.js';

export type CacheExportMode = 'min' | 'max';

/**
 * Which records a `--cache-to` exports. `max`: every record of the build. `min` (the default):
 * only records whose layers are all part of the final result, so no intermediate stage's layers
 * are exported. Keys need only input keys, so in a fresh root the final stage's records still
 * hit without the intermediate stages being rebuilt.
 */
export function selectRecordsForExport(records: readonly CacheRecord[], final: StepResult, mode: CacheExportMode): CacheRecord[] {
  if (mode === 'max') return [...records];
  const finalLayers = new Set(final.layers.map(layerId));
  return records.filter((r) => r.result.layers.every((l) => finalLayers.has(layerId(l))));
}

/** A layer's identity within one root: its blob, or the snapshot a pending layer comes from. */
const layerId = (l: StepLayer): string => (isPendingLayer(l) ? `pending:${l.pending}` : l.descriptor.digest);

export type CacheToSpec =
  | { type: 'local'; dest: string; mode: CacheExportMode }
  | { type: 'registry'; ref: string; mode: CacheExportMode }
  /** the records of the image's own layers, in its config (BuildKit's inline cache; min only) */
  | { type: 'inline'; mode: 'min' };

export type CacheFromSpec = { type: 'local'; src: string; tag?: string } | { type: 'registry'; ref: string };

function parseAttrs(flag: string, value: string): Map<string, string> {
  const m = new Map<string, string>();
  const parts = value.split(',');
  for (const [i, part] of parts.entries()) {
    if (!part) continue;
    const eq = part.indexOf('=');
    // a bare value alone is a registry ref (buildx); anywhere else a part must be KEY=VALUE
    if (eq === -1 && i === 0 && parts.length === 1) m.set('ref', part);
    else if (eq <= 0) throw new CacheSpecError(`${flag} ${value}: "${part}" is not KEY=VALUE`);
    else m.set(part.slice(0, eq).trim(), part.slice(eq + 1));
  }
  return m;
}

export class CacheSpecError extends Error {}

/** `type=local,dest=DIR[,mode=min|max]` or `type=registry,ref=REF[,mode=...]` */
export function parseCacheTo(value: string): CacheToSpec {
  const a = parseAttrs('--cache-to', value);
  const type = a.get('type') ?? (a.has('ref') ? 'registry' : undefined);
  const mode = a.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new CacheSpecError(`--cache-to ${value}: mode must be min or max`);
  for (const k of a.keys()) {
    if (!['type', 'dest', 'ref', 'mode', 'ignore-error', 'oci-mediatypes', 'image-manifest', 'compression'].includes(k)) {
      throw new CacheSpecError(`--cache-to ${value}: unknown attribute "${k}"`);
    }
  }
  if (type === 'registry') {
    const ref = a.get('ref');
    if (!ref) throw new CacheSpecError(`--cache-to ${value}: ref=REGISTRY/REPO:TAG is required`);
    return { type: 'registry', ref, mode };
  }
  if (type === 'inline') {
    if (mode !== 'min') throw new CacheSpecError(`--cache-to ${value}: type=inline supports only mode=min`);
    return { type: 'inline', mode: 'min' };
  }
  if (type !== 'local') throw new CacheSpecError(`--cache-to ${value}: only type=local, type=registry and type=inline are supported`);
  const dest = a.get('dest');
  if (!dest) throw new CacheSpecError(`--cache-to ${value}: dest=DIR is required`);
  return { type: 'local', dest, mode };
}

/** `type=local,src=DIR[,tag=T]` or `type=registry,ref=REF` (a bare value is a registry ref, as buildx) */
export function parseCacheFrom(value: string): CacheFromSpec {
  const a = parseAttrs('--cache-from', value);
  const type = a.get('type') ?? (a.has('ref') ? 'registry' : undefined);
  for (const k of a.keys()) {
    if (!['type', 'src', 'ref', 'tag', 'digest'].includes(k)) throw new CacheSpecError(`--cache-from ${value}: unknown attribute "${k}"`);
  }
  if (type === 'registry') {
    const ref = a.get('ref');
    if (!ref) throw new CacheSpecError(`--cache-from ${value}: ref=REGISTRY/REPO:TAG is required`);
    return { type: 'registry', ref };
  }
  if (type !== 'local') throw new CacheSpecError(`--cache-from ${value}: only type=local and type=registry are supported`);
  const src = a.get('src');
  if (!src) throw new CacheSpecError(`--cache-from ${value}: src=DIR is required`);
  const tag = a.get('tag');
  return tag ? { type: 'local', src, tag } : { type: 'local', src };
}
