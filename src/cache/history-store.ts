import { createHash } from 'node:crypto';
import path from 'node:path';
import { readJsonFile as readJson, replaceFileUnsynced } from '../util/atomic-file.js';
import type { BuildHistory, HistoryStep } from './types.js';

/**
 * The last build of each Dockerfile + target, so the next build can explain its cache misses.
 * One JSON file per scope under `<root>/meta/cache/history/`; an update merges the steps of
 * the new build over the old ones (steps that did not run this time keep their last state).
 */
export class HistoryStore {
  readonly dir: string;

  constructor(root: string) {
    this.dir = path.join(root, 'meta', 'cache', 'history');
  }

  private file(scope: string): string {
    return path.join(this.dir, `${createHash('sha256').update(scope).digest('hex')}.json`);
  }

  async load(scope: string): Promise<BuildHistory | undefined> {
    try {
      const h = await readJson<BuildHistory>(this.file(scope));
      return h && h.scope === scope && typeof h.steps === 'object' ? h : undefined;
    } catch {
      return undefined; // a damaged history only costs explanations
    }
  }

  async update(scope: string, steps: Record<string, HistoryStep>): Promise<void> {
    const old = await this.load(scope);
    const merged: BuildHistory = {
      scope,
      updated: new Date().toISOString(),
      steps: { ...(old?.steps ?? {}), ...steps },
    };
    // not synced: a history lost or torn by a power cut only costs the next build's explanations
    replaceFileUnsynced(this.file(scope), `${JSON.stringify(merged, null, 2)}\n`);
  }
}

/** In-memory history for tests. */
export class MemoryHistoryStore {
  readonly scopes = new Map<string, BuildHistory>();
  async load(scope: string): Promise<BuildHistory | undefined> {
    return this.scopes.get(scope);
  }
  async update(scope: string, steps: Record<string, HistoryStep>): Promise<void> {
    const old = this.scopes.get(scope);
    this.scopes.set(scope, { scope, updated: new Date().toISOString(), steps: { ...(old?.steps ?? {}), ...steps } });
  }
}

export type HistoryProvider = Pick<HistoryStore, 'load' | 'update'>;
