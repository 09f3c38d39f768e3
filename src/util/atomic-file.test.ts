import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { replaceFileUnsynced, writeFileAtomic, writeSmallFileAtomic } from './atomic-file.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-atomic-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe.each([
  ['writeFileAtomic', (f: string, d: string, mode?: number) => writeFileAtomic(f, d, mode)],
  ['writeSmallFileAtomic', (f: string, d: string, mode?: number) => writeSmallFileAtomic(f, d, mode)],
  ['writeSmallFileAtomic without the directory fsync', (f: string, d: string, mode?: number) => writeSmallFileAtomic(f, d, mode, { syncDir: false })],
  ['replaceFileUnsynced', async (f: string, d: string, mode?: number) => replaceFileUnsynced(f, d, mode)],
])('%s', (_name, write) => {
  it('replaces the file whole, with the mode asked for, and leaves no temporary file', async () => {
    const f = path.join(dir, 'meta.json');
    writeFileSync(f, 'old contents that are longer than the new ones');
    await write(f, '{"v":2}', 0o600);
    expect(readFileSync(f, 'utf8')).toBe('{"v":2}');
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['meta.json']);
  });

  it('writes a large buffer completely', async () => {
    const f = path.join(dir, 'big');
    const data = 'x'.repeat(3 << 20);
    await write(f, data);
    expect(statSync(f).size).toBe(data.length);
  });
});

it('writeSmallFileAtomic fails on a missing directory and creates nothing', async () => {
  const f = path.join(dir, 'missing', 'meta.json');
  await expect(writeSmallFileAtomic(f, 'x')).rejects.toThrow(/ENOENT/);
  expect(readdirSync(dir)).toEqual([]);
});

it('replaceFileUnsynced makes a missing directory, then writes into it', () => {
  const f = path.join(dir, 'records', 'ab', 'r.json');
  replaceFileUnsynced(f, '{"k":1}');
  replaceFileUnsynced(f, '{"k":2}');
  expect(readFileSync(f, 'utf8')).toBe('{"k":2}');
  expect(readdirSync(path.dirname(f))).toEqual(['r.json']);
});
