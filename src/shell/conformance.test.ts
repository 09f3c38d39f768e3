import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KilnError } from '../diagnostics/errors.js';
import { processWord, processWords } from './index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.resolve(repoRoot, '../shared/conformance/shell');
const reason = existsSync(dir) ? '' : `conformance data not found at ${dir}`;
if (reason) console.warn('skipping shell conformance: ' + reason);

const ENV = { PWD: '/home', SHELL: 'bash', KOREAN: '한국어', NULL: '' };

interface Row {
  line: number;
  input: string;
  expected: string;
}

function envVarRows(): Row[] {
  const rows: Row[] = [];
  readFileSync(path.join(dir, 'envVarTest'), 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      if (raw.startsWith('#') || raw.trim() === '') return;
      const parts = raw.split('|');
      if (parts.length !== 3) throw new Error(`envVarTest:${i + 1}: malformed`);
      const platform = parts[0]!.trim();
      if (platform !== 'A' && platform !== 'U') return; // W rows are Windows-only
      rows.push({ line: i + 1, input: parts[1]!.trim(), expected: parts[2]!.trim() });
    });
  return rows;
}

describe.skipIf(!!reason)('shell/envVarTest (Linux rows)', () => {
  const rows = reason ? [] : envVarRows();
  it('has the documented number of Linux vectors', () => {
    expect(rows.length).toBe(228);
  });
  it.each(rows)('line $line: $input', ({ input, expected }) => {
    if (expected === 'error') {
      expect(() => processWord(input, ENV)).toThrow(KilnError);
    } else {
      expect(processWord(input, ENV).result).toBe(expected);
    }
  });
});

describe.skipIf(!!reason)('shell/wordsTest', () => {
  const cases: { line: number; input: string; env: Record<string, string>; expected: string[] | 'error' }[] = [];
  if (!reason) {
    const env: Record<string, string> = {};
    readFileSync(path.join(dir, 'wordsTest'), 'utf8')
      .split('\n')
      .forEach((raw, i) => {
        if (raw.startsWith('#') || raw === '') return;
        if (raw.startsWith('ENV ')) {
          const rest = raw.slice(4).replace(/^ +/, '');
          const eq = rest.indexOf('=');
          env[rest.slice(0, eq)] = rest.slice(eq + 1);
          return;
        }
        const bar = raw.indexOf('|');
        const input = raw.slice(0, bar).trim();
        const exp = raw.slice(bar + 1).replace(/^ +/, '');
        cases.push({ line: i + 1, input, env: { ...env }, expected: exp === 'error' ? 'error' : exp.split(',') });
      });
  }
  it('has the documented number of vectors', () => {
    expect(cases.length).toBe(24);
  });
  it.each(cases)('line $line: $input', ({ input, env, expected }) => {
    if (expected === 'error') {
      expect(() => processWords(input, env)).toThrow(KilnError);
    } else {
      expect(processWords(input, env)).toEqual(expected);
    }
  });
});

interface PwCase {
  input: string;
  env?: Record<string, string>;
  envList?: string[];
  expected?: string;
  matched?: string[];
  unmatched?: string[];
  error?: boolean;
  errorContains?: string;
  source: string;
}

describe.skipIf(!!reason)('shell/process-word.json', () => {
  const sets = reason
    ? {}
    : (JSON.parse(readFileSync(path.join(dir, 'process-word.json'), 'utf8')).sets as Record<string, { cases: PwCase[] }>);
  for (const [name, set] of Object.entries(sets)) {
    it.each(set.cases.map((c, i) => ({ ...c, i })))(`${name} #$i: $input`, (c) => {
      const env = c.envList ?? c.env ?? {};
      if (c.error) {
        let caught: unknown;
        try {
          processWord(c.input, env);
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(KilnError);
        if (c.errorContains) expect((caught as Error).message).toContain(c.errorContains);
        return;
      }
      const r = processWord(c.input, env);
      expect(r.result).toBe(c.expected);
      if (c.matched) expect([...r.matched].sort()).toEqual([...c.matched].sort());
      if (c.unmatched) expect([...r.unmatched].sort()).toEqual([...c.unmatched].sort());
    });
  }
});
