import type { Descriptor, Digest } from '../image/types.js';
import type { DiffOptions } from './types.js';

/**
 * A layer written from a committed snapshot's changes (a build step's, src/solver/ops/layers.ts),
 * remembered in a label of that snapshot: per diff options, since SOURCE_DATE_EPOCH or the
 * compression give another blob from the same tree.
 */
export interface WrittenLayer {
  descriptor: Descriptor;
  diffID: Digest;
}

/** The snapshot label holding the layer written with these options. */
export function writtenLayerLabel(d: Pick<DiffOptions, 'compression' | 'mediaTypes' | 'sourceDateEpoch'>): string {
  return `kiln.layer.${d.compression ?? 'gzip'}.${d.mediaTypes ?? 'oci'}${d.sourceDateEpoch !== undefined ? `@${d.sourceDateEpoch}` : ''}`;
}

export function parseWrittenLayer(v: string | undefined): WrittenLayer | undefined {
  if (!v) return undefined;
  try {
    const x = JSON.parse(v) as WrittenLayer;
    return typeof x.diffID === 'string' && typeof x.descriptor?.digest === 'string' ? x : undefined;
  } catch {
    return undefined;
  }
}
