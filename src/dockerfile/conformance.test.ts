import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KilnError } from '../diagnostics/errors.js';
import { dump, parse } from './index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const conformance = path.resolve(repoRoot, '../shared/conformance');
const missing = existsSync(conformance) ? '' : `conformance data not found at ${conformance}`;
if (missing) console.warn('skipping parser conformance: ' + missing);

const cases = (dir: string): string[] =>
  existsSync(path.join(conformance, dir))
    ? readdirSync(path.join(conformance, dir), { withFileTypes: true })
        .filter((e) => e.isDirectory() && e.name !== 'LICENSES')
        .map((e) => e.name)
        .sort()
    : [];

describe.skipIf(!!missing)('parser-testfiles: every case dumps to its result', () => {
  it.each(cases('parser-testfiles'))('%s', (name) => {
    const dir = path.join(conformance, 'parser-testfiles', name);
    const ast = parse(readFileSync(path.join(dir, 'Dockerfile')));
    expect(dump(ast)).toBe(readFileSync(path.join(dir, 'result'), 'utf8'));
  });
});

describe.skipIf(!!missing)('parser-testfiles-negative: every case fails with a located error', () => {
  it.each(cases('parser-testfiles-negative'))('%s', (name) => {
    const file = path.join(conformance, 'parser-testfiles-negative', name, 'Dockerfile');
    let err: unknown;
    try {
      parse(readFileSync(file));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toMatch(/^PARSE_/);
    expect((err as KilnError).range?.start.line).toBeGreaterThanOrEqual(1);
  });
});

describe.skipIf(!!missing)('real-world: 225 public Dockerfiles match the reference parser', () => {
  it.each(cases('real-world'))('%s', (name) => {
    const dir = path.join(conformance, 'real-world', name);
    const src = readFileSync(path.join(dir, 'Dockerfile'));
    if (existsSync(path.join(dir, 'result'))) {
      expect(dump(parse(src))).toBe(readFileSync(path.join(dir, 'result'), 'utf8'));
    } else {
      const expected = readFileSync(path.join(dir, 'error'), 'utf8').trim();
      let err: unknown;
      try {
        parse(src);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KilnError);
      // upstream prefixes the message with its location; ours carries it in `range`
      expect(expected).toContain((err as KilnError).message);
    }
  });
});
