/**
 * kill -9 at random moments of import, tag and prune: the store must always open, and
 * `kiln system check` must find nothing corrupt, missing, invalid or stray (orphans are allowed).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main.js';
import { Capture, makeTar } from '../image/testing.js';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/kiln.js');
const distMain = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');
const reason = existsSync(distMain) ? '' : 'dist/ not built (run npm run build)';
if (reason) console.warn(`skipping crash-consistency tests: ${reason}`);

async function kiln(root: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(['--root', root, ...args], { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

function killAfter(ms: number, args: string[]): Promise<void> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: 'ignore' });
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  return new Promise((resolve) =>
    child.on('close', () => {
      clearTimeout(timer);
      resolve();
    }),
  );
}

describe.skipIf(!!reason)('crash consistency (kill -9)', () => {
  let dir: string;
  let tarFile: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-crash-'));
    const big = Buffer.alloc(24 << 20);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    tarFile = path.join(dir, 'rootfs.tar');
    await fs.writeFile(tarFile, await makeTar([{ name: 'big', body: big }, ...Array.from({ length: 50 }, (_, i) => ({ name: `d/f${i}`, body: `file ${i}` }))]));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('a store killed during import, tag and prune always opens and checks clean', async () => {
    const root = path.join(dir, 'root');
    expect((await kiln(root, 'import', tarFile, 'base:1')).code).toBe(0);
    const delays = [30, 120, 250, 400, 700, 1000, 1500];
    for (const [i, ms] of delays.entries()) {
      await killAfter(ms, ['--root', root, 'import', tarFile, `crash:${i}`]);
      await killAfter(ms / 4, ['--root', root, 'tag', 'base:1', `t:${i}`]);
      if (i % 3 === 2) await killAfter(ms / 2, ['--root', root, 'system', 'prune', '-a', '-f']);
      const check = await kiln(root, 'system', 'check', '-q');
      expect(check.code, `after kill at ${ms} ms:\n${check.stdout}${check.stderr}`).toBe(0);
      expect((await kiln(root, 'images', '-q')).code).toBe(0);
    }
    // and the store still works normally
    expect((await kiln(root, 'import', tarFile, 'after:1')).code).toBe(0);
    expect((await kiln(root, 'system', 'prune', '-f')).code).toBe(0);
    const final = await kiln(root, 'system', 'check');
    expect(final.code, final.stdout).toBe(0);
    expect(await fs.readdir(path.join(root, 'content', 'ingest'))).toEqual([]);
  }, 120_000);
});
