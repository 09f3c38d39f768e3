import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kiln } from '../../helpers/cli.js';
import { containerSkipReason, importBusybox } from '../../helpers/busybox.js';
import { cases, type Case, type PathFact } from './cases.js';

const reason = containerSkipReason();
if (reason) console.warn(`skipping kiln build conformance: ${reason}`);

function materialize(dir: string, c: Case): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'Dockerfile'), c.dockerfile);
  for (const [p, v] of Object.entries(c.files ?? {})) {
    const abs = path.join(dir, p);
    mkdirSync(path.dirname(abs), { recursive: true });
    if (typeof v === 'string') writeFileSync(abs, v);
    else if (v.link !== undefined) symlinkSync(v.link, abs);
    else {
      writeFileSync(abs, v.data ?? '');
      if (v.mode !== undefined) chmodSync(abs, v.mode);
    }
  }
  if (c.setup) execFileSync('sh', ['-c', c.setup], { cwd: dir });
}

function factOf(abs: string): PathFact | undefined {
  let st;
  try {
    st = lstatSync(abs);
  } catch {
    return undefined;
  }
  const f: PathFact = { type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  if (st.isSymbolicLink()) f.link = readlinkSync(abs);
  else if (st.isFile()) f.content = readFileSync(abs, 'utf8');
  return f;
}

describe.skipIf(!!reason)('kiln build conformance', () => {
  let tmp = '';
  let root = '';
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-conformance-'));
    root = path.join(tmp, 'root');
    importBusybox(root);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('has at least 40 cases with unique names', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  for (const c of cases) {
    it.concurrent(c.name, async () => {
      const ctx = path.join(tmp, 'cases', c.name);
      const out = path.join(tmp, 'out', c.name);
      materialize(ctx, c);
      const meta = path.join(tmp, `${c.name}.json`);
      const r = await kiln(root, 'build', '--progress', 'plain', '--metadata-file', meta, ...(c.args ?? []), ctx);
      if (c.failCode) {
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).toContain(`[${c.failCode}]`);
        return;
      }
      expect(r.code, r.stderr.slice(-3000)).toBe(0);
      const id = JSON.parse(readFileSync(meta, 'utf8'))['containerimage.config.digest'] as string;
      const config = JSON.parse(readFileSync(path.join(root, 'content/blobs/sha256', id.slice(7)), 'utf8')) as {
        config?: Record<string, unknown> & { Env?: string[] };
        rootfs: { diff_ids: string[] };
      };
      if (c.paths) {
        const o = await kiln(root, 'build', '--progress', 'quiet', '-o', `type=local,dest=${out}`, ...(c.args ?? []), ctx);
        expect(o.code, o.stderr).toBe(0);
        for (const [p, want] of Object.entries(c.paths)) {
          const got = factOf(path.join(out, p));
          if (want.absent) {
            expect(got, `${p} should not exist`).toBeUndefined();
            continue;
          }
          expect(got, `${p} should exist`).toBeDefined();
          expect(got, p).toMatchObject(want);
        }
      }
      if (c.config) expect(config.config).toMatchObject(c.config);
      for (const e of c.envHas ?? []) expect(config.config?.Env ?? []).toContain(e);
      for (const e of c.envLacks ?? []) expect((config.config?.Env ?? []).some((x) => x.startsWith(`${e}=`))).toBe(false);
      if (c.newLayers !== undefined) {
        const lastFrom = c.dockerfile.split('\n').filter((l) => l.startsWith('FROM ')).at(-1) ?? '';
        const base = /^FROM scratch\b/.test(lastFrom) ? 0 : 1;
        expect(config.rootfs.diff_ids.length - base).toBe(c.newLayers);
      }
    });
  }
});
