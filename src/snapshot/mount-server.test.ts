import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bundledRuntimePath } from '../util/runtime-path.js';
import { MountServer } from './mount-server.js';

const helper = bundledRuntimePath();
const reason = process.getuid?.() !== 0 ? 'mounting needs root' : !existsSync(helper) ? `${helper} is not built (npm run build)` : '';
if (reason) console.warn(`skipping the mount server tests: ${reason}`);

const mounted = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);

describe.skipIf(!!reason)('kiln-runtime mount-server', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-mount-server-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('mounts and unmounts in order, reports a failing command with its status and message, runs in the given directory', async () => {
    const s = new MountServer(helper);
    const dirs = Array.from({ length: 8 }, (_, i) => path.join(tmp, `m${i}`));
    for (const d of dirs) mkdirSync(d);
    // all in flight at once: each answer matches its request
    const mounts = await Promise.all(dirs.map((d, i) => s.call('mount', ['-t', 'tmpfs', '-o', `size=${i + 1}m`, 'tmpfs', d])));
    expect(mounts.map((r) => r.status)).toEqual(dirs.map(() => 0));
    for (const d of dirs) expect(mounted(d)).toBe(true);
    writeFileSync(path.join(dirs[0]!, 'f'), 'on tmpfs');
    // a relative target, resolved in cwd
    expect(await s.call('umount', ['m0'], tmp)).toEqual({ status: 0, stderr: '' });
    expect(mounted(dirs[0]!)).toBe(false);
    expect(existsSync(path.join(dirs[0]!, 'f'))).toBe(false);
    const again = await s.call('umount', [dirs[0]!]);
    expect(again.status).toBe(32);
    expect(again.stderr).toMatch(/not mounted/);
    for (const d of dirs.slice(1)) expect((await s.call('umount', [d])).status).toBe(0);
    expect(s.failure).toBeUndefined();
  });

  it('never keeps the process alive: a script that used it exits by itself', () => {
    const script = path.join(tmp, 'use.mjs');
    const mod = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'snapshot', 'mount-server.js');
    if (!existsSync(mod)) return console.warn(`skipping the exit check: ${mod} is not built`);
    const d = path.join(tmp, 'exit');
    mkdirSync(d);
    writeFileSync(
      script,
      `import { MountServer } from ${JSON.stringify(mod)};\n` +
        `const s = new MountServer(${JSON.stringify(helper)});\n` +
        `const a = await s.call('mount', ['-t', 'tmpfs', 'tmpfs', ${JSON.stringify(d)}]);\n` +
        `const b = await s.call('umount', [${JSON.stringify(d)}]);\n` +
        `console.log(a.status, b.status);\n`,
    );
    const out = execFileSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
    expect(out).toBe('0 0\n');
  });
});
