import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonLogWriter, readLogs } from './logs.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'kiln-logs-'));
  dirs.push(d);
  return path.join(d, 'json.log');
};

async function collect(it: AsyncIterable<{ log: string; stream: string }>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(`${e.stream}:${e.log}`);
  return out;
}

describe('json-file logs', () => {
  it('splits output into lines per stream, keeps a partial last line, and honours --tail', async () => {
    const file = tmp();
    const w = await JsonLogWriter.open(file);
    await w.write('stdout', Buffer.from('one\ntw'));
    await w.write('stderr', Buffer.from('err\n'));
    await w.write('stdout', Buffer.from('o\nthree'));
    await w.close();
    expect(await collect(readLogs(file))).toEqual(['stdout:one\n', 'stderr:err\n', 'stdout:two\n', 'stdout:three']);
    expect(await collect(readLogs(file, { tail: 2 }))).toEqual(['stdout:two\n', 'stdout:three']);
    expect(await collect(readLogs(file, { tail: 0 }))).toEqual([]);
  });

  it('keeps multi-byte characters split across chunks intact', async () => {
    const file = tmp();
    const w = await JsonLogWriter.open(file);
    const bytes = Buffer.from('héllo\n');
    await w.write('stdout', bytes.subarray(0, 2));
    await w.write('stdout', bytes.subarray(2));
    await w.close();
    expect(await collect(readLogs(file))).toEqual(['stdout:héllo\n']);
  });

  it('follows new output until the container stops', async () => {
    const file = tmp();
    const w = await JsonLogWriter.open(file);
    await w.write('stdout', Buffer.from('a\n'));
    let running = true;
    setTimeout(async () => {
      await w.write('stdout', Buffer.from('b\n'));
      await w.close();
      running = false;
    }, 150);
    const lines = await collect(readLogs(file, { follow: true, running: async () => running, pollMs: 20 }));
    expect(lines).toEqual(['stdout:a\n', 'stdout:b\n']);
  });
});
