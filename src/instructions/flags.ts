/**
 * Instruction flags (BuildKit's BFlags): each instruction declares the flags it accepts, and
 * `parseFlags` checks what was written against that list.
 */
import type { FlagNode } from '../dockerfile/types.js';
import { InstrCode, instrError } from './errors.js';
import { suggest } from './suggest.js';
import type { Located } from './types.js';

export type FlagType = 'string' | 'bool' | 'strings';
export type FlagSpecs = Record<string, FlagType>;

export interface ParsedFlags {
  strings: Map<string, Located>;
  bools: Map<string, Located<boolean>>;
  lists: Map<string, Located[]>;
}

export function parseFlags(instruction: string, flags: readonly FlagNode[], specs: FlagSpecs): ParsedFlags {
  const out: ParsedFlags = { strings: new Map(), bools: new Map(), lists: new Map() };
  const valid = Object.keys(specs).sort();
  for (const f of flags) {
    if (f.name === '') throw instrError(InstrCode.UnknownFlag, 'Missing flag name', f.range);
    const type = specs[f.name];
    if (type === undefined) {
      const close = suggest(f.name, valid);
      const hint =
        (close ? `did you mean --${close}? ` : '') +
        (valid.length ? `valid flags for ${instruction}: ${valid.map((v) => `--${v}`).join(', ')}` : `${instruction} takes no flags`);
      throw instrError(InstrCode.UnknownFlag, `unknown flag: --${f.name}`, f.range, hint);
    }
    if (type === 'strings') {
      if (f.value === undefined) throw instrError(InstrCode.FlagValue, `missing a value on flag: --${f.name}`, f.range);
      const list = out.lists.get(f.name) ?? [];
      list.push({ value: f.value, range: f.range });
      out.lists.set(f.name, list);
      continue;
    }
    if (out.strings.has(f.name) || out.bools.has(f.name)) {
      throw instrError(InstrCode.DuplicateFlag, `Duplicate flag specified: --${f.name}`, f.range);
    }
    if (type === 'bool') {
      const v = f.value === undefined ? 'true' : f.value.toLowerCase();
      if (v !== 'true' && v !== 'false') {
        throw instrError(InstrCode.FlagValue, `expecting boolean value for flag --${f.name}, not: ${f.value}`, f.range, `write --${f.name} or --${f.name}=true|false`);
      }
      out.bools.set(f.name, { value: v === 'true', range: f.range });
    } else {
      if (f.value === undefined) {
        throw instrError(InstrCode.FlagValue, `missing a value on flag: --${f.name}`, f.range, `write --${f.name}=<value>`);
      }
      out.strings.set(f.name, { value: f.value, range: f.range });
    }
  }
  return out;
}
