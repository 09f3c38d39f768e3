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

describe.skipIf(!!reason)('kiln build --push and the inline cache, through docker-registry', () => {
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

  it('pushes every -t name after the build, layers gzip-compressed on the way; skopeo and a fresh root see the same image', async () => {
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
    // the build stored its layer as a plain tar (compressed only when leaving the machine) ...
    const local = JSON.parse((await kiln(root, 'image', 'inspect', name)).stdout)[0];
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`], { encoding: 'utf8' }));
    expect(raw.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+gzip']);
    // ... and the registry's manifest differs only in its layer blobs: same config, same image ID
    expect(raw.config.digest).toBe(local.Id);
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

  it('runs no RUN step and gives the same image, from the registry and from the local store', async () => {
    const ctx = tmp('kiln-inline-ctx-');
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo one > /one\nRUN echo two > /two\nCMD ["cat", "/one", "/two"]\n');
    const name = `${reg.host}/kiln/inline:v1`;
    const a = tmp('kiln-inline-a-');
    importBusybox(a);
    const first = await kiln(a, 'build', '--progress', 'plain', '--cache-to', 'type=inline', '--push', '-t', name, ctx);
    expect(first.code).toBe(0);
    const idA = JSON.parse((await kiln(a, 'image', 'inspect', name)).stdout)[0].Id;

    // a brand-new root that has only the same base image (the same bytes, as a pull would give):
    // everything comes from the pushed image
    const b = tmp('kiln-inline-b-');
    const base = path.join(ctx, 'base.tar');
    expect((await kiln(a, 'save', 'busybox:latest', '-o', base)).code).toBe(0);
    expect((await kiln(b, 'load', '-i', base)).code).toBe(0);
    const second = await kiln(b, 'build', '--progress', 'plain', '--cache-to', 'type=inline', '--cache-from', name, '-t', 'again:v1', ctx);
    expect(second.code).toBe(0);
    expect(second.stderr).not.toContain('cache miss');
    expect(second.stderr.match(/CACHED/g)?.length).toBeGreaterThanOrEqual(2);
    expect(JSON.parse((await kiln(b, 'image', 'inspect', 'again:v1')).stdout)[0].Id).toBe(idA);
    expect((await kiln(b, 'run', '--rm', 'again:v1')).stdout).toBe('one\ntwo\n');

    // and from an image in the local store (no registry needed)
    const c = tmp('kiln-inline-c-');
    expect((await kiln(c, 'load', '-i', base)).code).toBe(0);
    const again = path.join(ctx, 'again.tar');
    expect((await kiln(b, 'save', 'again:v1', '-o', again)).code).toBe(0);
    expect((await kiln(c, 'load', '-i', again)).code).toBe(0);
    const third = await kiln(c, 'build', '--progress', 'plain', '--cache-from', 'again:v1', '-t', 'third:v1', ctx);
    expect(third.code).toBe(0);
    expect(third.stderr).not.toContain('cache miss');
  });
});
