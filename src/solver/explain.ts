import type { BuildHistory, CacheKey, HistoryStep } from '../cache/types.js';
import type { MissReason } from './types.js';

/** What the explainer knows about one input of the step that missed. */
export interface InputFacts {
  key: CacheKey;
  name: string;
  /** Set when the input itself ran in this build. */
  ranReason?: MissReason;
}

export interface ExplainOptions {
  noCache: boolean;
  /** The previous build of this scope, if any. */
  history: BuildHistory | undefined;
  previous: HistoryStep | undefined;
  key: CacheKey;
  components: Record<string, string>;
  inputs: readonly InputFacts[];
}

const MAX_VALUE = 40;

function show(v: string | undefined): string {
  if (v === undefined) return '(unset)';
  const s = v.length > MAX_VALUE ? `${v.slice(0, MAX_VALUE - 3)}...` : v;
  return JSON.stringify(s);
}

function shortDigest(d: string | undefined): string {
  if (!d) return '(none)';
  const hex = d.startsWith('sha256:') ? d.slice(7) : d;
  return `sha256:${hex.slice(0, 12)}`;
}

/** Differences between the key components of the previous run of a step and this one. */
function componentChanges(prev: Record<string, string>, cur: Record<string, string>): { kind: MissReason['kind']; text: string }[] {
  const out: { kind: MissReason['kind']; text: string }[] = [];
  const names = [...new Set([...Object.keys(prev), ...Object.keys(cur)])].sort();
  for (const name of names) {
    const a = prev[name];
    const b = cur[name];
    if (a === b) continue;
    if (name === 'image' || name.startsWith('image:')) {
      out.push({ kind: 'base-image', text: `the base image changed (${shortDigest(a)} -> ${shortDigest(b)})` });
    } else if (name.startsWith('file:')) {
      const p = name.slice(5);
      const what = a === undefined ? 'was added' : b === undefined ? 'was removed' : 'changed';
      out.push({ kind: 'context-file', text: `context file ${JSON.stringify(p)} ${what}` });
    } else if (name.startsWith('env:') || name.startsWith('arg:')) {
      const label = name.startsWith('env:') ? 'ENV' : 'ARG';
      out.push({ kind: 'env', text: `${label} ${name.slice(4)} changed (${show(a)} -> ${show(b)})` });
    } else {
      const field = name.startsWith('op:') ? name.slice(3) : name;
      out.push({ kind: 'instruction', text: `the instruction changed (${field})` });
    }
  }
  return out;
}

const ORDER: MissReason['kind'][] = ['base-image', 'context-file', 'env', 'instruction'];

/**
 * Why a step that is about to run was not cached, compared with the previous build of the same
 * Dockerfile and target. Order of precedence: --no-cache, first build, a new step, the step's own
 * changes (base image, context files, ARG/ENV values, the instruction), then an earlier step that ran.
 */
export function explainMiss(o: ExplainOptions): MissReason {
  if (o.noCache) return { kind: 'no-cache', message: '--no-cache was given' };
  if (!o.history) return { kind: 'first-build', message: 'first build of this Dockerfile and target' };
  const prev = o.previous;
  if (!prev) return { kind: 'new-step', message: 'a new step (not in the previous build)' };
  if (prev.key === o.key) {
    return { kind: 'pruned', message: 'the previous result of this step is no longer in the cache (pruned or another root)' };
  }
  const own = componentChanges(prev.components, o.components);
  if (own.length > 0) {
    own.sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
    const first = own[0]!;
    const more = own.length > 1 ? ` (and ${own.length - 1} more change${own.length > 2 ? 's' : ''})` : '';
    return { kind: first.kind, message: `${first.text}${more}`, details: own.map((c) => c.text) };
  }
  for (let i = 0; i < o.inputs.length; i++) {
    const inp = o.inputs[i]!;
    if (prev.inputs[i] === inp.key) continue;
    if (!inp.ranReason) return { kind: 'earlier-step', message: `an earlier step changed: ${inp.name}` };
    // details[0] of an earlier-step reason names the step where the chain of misses started
    const root =
      inp.ranReason.kind === 'earlier-step' && inp.ranReason.details?.[0]
        ? inp.ranReason.details[0]
        : `${inp.name} (${inp.ranReason.message})`;
    return { kind: 'earlier-step', message: `an earlier step ran: ${root}`, details: [root] };
  }
  if (o.inputs.length !== prev.inputs.length) return { kind: 'instruction', message: 'the step has different inputs' };
  return { kind: 'unknown', message: 'the cache key changed for an unknown reason' };
}
