import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerSkipReason, importBusybox } from '../helpers/busybox.js';
import { kiln } from '../helpers/cli.js';
import { registryUnavailable, skopeoUnavailable, startRegistry, type TestRegistry } from '../helpers/registry.js';

const reason = registryUnavailable() ?? skopeoUnavailable() ?? containerSkipReason();
if (reason) console.warn(`skipping kiln build --push test: ${reason}`);

describe.skipIf(!!reason)('kiln build --push, then kiln run from another root', () => {
  let reg: TestRegistry;
  const dirs: string[] = [];
  const tmp = (p: string) => {
    const d = mkdtempSync(path.join(os.tmpdir(), p));
    dirs.push(d);
    return d;
  };
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('pushes every -t name after the build; skopeo and a fresh root see the same image', async () => {
    const root = tmp('kiln-push-a-');
    importBusybox(root);
    const ctx = tmp('kiln-push-ctx-');
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo pushed > /msg\nCMD ["cat", "/msg"]\n');
    const name = `${reg.host}/kiln/pushed:v1`;
    const built = await kiln(root, 'build', '--progress', 'plain', '--push', '-t', name, ctx);
    expect(built.stderr).toContain(`pushed ${name}@sha256:`);
    expect(built.code).toBe(0);
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${name}`], { encoding: 'utf8' }));
    expect(inspect.Layers.length).toBe(2);
    const other = tmp('kiln-push-b-');
    const run = await kiln(other, 'run', '--rm', name);
    expect(run.stdout).toBe('pushed\n');
    expect(run.code).toBe(0);
  });

  it('refuses --push without a name, before building anything', async () => {
    const root = tmp('kiln-push-c-');
    const ctx = tmp('kiln-push-ctx2-');
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /\n');
    const r = await kiln(root, 'build', '--progress', 'plain', '--push', ctx);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nothing to push');
  });
});
