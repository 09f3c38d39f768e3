import { spawn } from 'node:child_process';
import { existsSync, promises as fs, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { NativeSnapshotter } from './index.js';

// Child processes run the built code (dist/), so these tests need `npm run build` first.
const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'snapshot', 'index.js');
const reason = existsSync(dist) ? null : `${dist} missing (run npm run build)`;
if (reason) console.warn(`skipping multi-process snapshot tests: ${reason}`);
const base = mkdtempSync(path.join(os.tmpdir(), 'kiln-snap-mp-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function child(code: string): { done: Promise<number>; pid: number; kill: () => void } {
  const p = spawn(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(dist)});\n${code}`], { stdio: ['ignore', 'inherit', 'inherit'] });
  return { done: new Promise((r) => p.on('exit', (c, s) => r(c ?? (s ? 128 : 1)))), pid: p.pid!, kill: () => p.kill('SIGKILL') };
}

describe.skipIf(!!reason)('snapshots shared by several processes', () => {
  it('4 processes preparing and committing at once all succeed with distinct snapshots', async () => {
    const root = path.join(base, 'shared');
    const kids = Array.from({ length: 4 }, (_, k) =>
      child(`const sn = new m.NativeSnapshotter(${JSON.stringify(root)});
        for (let i = 0; i < 8; i++) { const mm = await sn.prepare('p${k}-' + i); await (await import('node:fs/promises')).writeFile(mm[0].source + '/f', '${k}-' + i); await sn.commit('c${k}-' + i, 'p${k}-' + i); }`),
    );
    expect(await Promise.all(kids.map((c) => c.done))).toEqual([0, 0, 0, 0]);
    const sn = new NativeSnapshotter(root);
    const list = await sn.list();
    expect(list.length).toBe(32);
    expect(list.every((s) => s.kind === 'committed')).toBe(true);
    const dirs = new Set(await Promise.all(list.map((s) => sn.fsDir(s.name))));
    expect(dirs.size).toBe(32);
    for (const s of list) expect(await fs.readFile(path.join(await sn.fsDir(s.name), 'f'), 'utf8')).toBe(s.name.slice(1));
  });

  it('kill -9 in the middle of a prepare leaves a store that opens clean', async () => {
    const root = path.join(base, 'killed');
    const sn = new NativeSnapshotter(root);
    const m = await sn.prepare('big-a');
    for (let d = 0; d < 40; d++) {
      await fs.mkdir(path.join(m[0]!.source, `d${d}`));
      await Promise.all(Array.from({ length: 100 }, (_, i) => fs.writeFile(path.join(m[0]!.source, `d${d}`, `f${i}`), Buffer.alloc(4096, i))));
    }
    await sn.commit('big', 'big-a');
    const c = child(`const sn = new m.NativeSnapshotter(${JSON.stringify(root)}); await sn.prepare('victim', 'big'); console.log('finished before kill');`);
    // wait until the child has a record (preparing) and its folder, then kill it
    const meta = path.join(root, 'snapshots', 'native', 'metadata.json');
    for (let i = 0; i < 400; i++) {
      const t = await fs.readFile(meta, 'utf8').catch(() => '');
      if (t.includes('"victim"')) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    c.kill();
    await c.done;
    const again = new NativeSnapshotter(root);
    const names = (await again.list()).map((s) => s.name);
    // either the child finished (then victim is complete) or its leftovers were cleaned
    if (names.includes('victim')) expect((await fs.readdir(await again.fsDir('victim'))).length).toBe(40);
    else expect((await fs.readdir(path.join(root, 'snapshots', 'native', 'snapshots'))).sort()).toEqual(['1']);
    await expect(again.prepare('after', 'big')).resolves.toBeDefined();
  });
});
