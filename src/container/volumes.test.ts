import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { kiln, tempRoot } from '../../test/helpers/cli.js';
import { ContainerStore } from './store.js';
import type { ContainerRecord } from './types.js';
import type { Digest } from '../image/types.js';

let cleanup = () => {};
afterEach(() => cleanup());

function fresh(): string {
  const t = tempRoot();
  cleanup = t.cleanup;
  return t.root;
}

describe('kiln volume', () => {
  it('creates, lists, inspects and removes a named volume, keeping data until removal', async () => {
    const root = fresh();
    expect((await kiln(root, 'volume', 'create', '--label', 'team=build', 'data')).stdout).toBe('data\n');
    const [info] = JSON.parse((await kiln(root, 'volume', 'inspect', 'data')).stdout);
    expect(info).toMatchObject({ Name: 'data', Driver: 'local', Labels: { team: 'build' }, Anonymous: false });
    writeFileSync(path.join(info.Mountpoint, 'kept.txt'), 'hello');
    // creating it again keeps the data (docker returns the existing volume)
    await kiln(root, 'volume', 'create', 'data');
    expect(existsSync(path.join(info.Mountpoint, 'kept.txt'))).toBe(true);
    const ls = await kiln(root, 'volume', 'ls');
    expect(ls.stdout).toMatch(/^DRIVER\s+VOLUME NAME\nlocal\s+data\n$/);
    expect((await kiln(root, 'volume', 'rm', 'data')).code).toBe(0);
    expect(existsSync(info.Mountpoint)).toBe(false);
    expect((await kiln(root, 'volume', 'ls', '-q')).stdout).toBe('');
  });

  it('rejects bad names and unknown volumes with a clear error and exit code', async () => {
    const root = fresh();
    const bad = await kiln(root, 'volume', 'create', '../escape');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('invalid volume name');
    const missing = await kiln(root, 'volume', 'inspect', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such volume: nope');
    const usage = await kiln(root, 'volume', 'ls', '--bogus');
    expect(usage.code).toBe(2);
  });

  it('refuses to remove a volume in use, and prune skips it', async () => {
    const root = fresh();
    await kiln(root, 'volume', 'create', 'busy');
    const anon = (await kiln(root, 'volume', 'create')).stdout.trim();
    const free = (await kiln(root, 'volume', 'create', 'free')).stdout.trim();
    await new ContainerStore(root).create((id, name) => ({
      id, name, image: 'x', imageDigest: 'sha256:' + '0'.repeat(64), created: new Date().toISOString(),
      imageTarget: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: ('sha256:' + '1'.repeat(64)) as Digest, size: 2 },
      args: ['true'], env: [], cwd: '/', user: '', hostname: id.slice(0, 12), tty: false, interactive: false,
      init: false, readonlyRootfs: false, network: 'none', resources: {}, runtime: 'kiln', autoRemove: false,
      snapshotKey: id, config: {}, labels: {},
      mounts: [{ type: 'volume', name: 'busy', target: '/data', readonly: false, anonymous: false }],
    }) satisfies ContainerRecord, 'user1');
    const rm = await kiln(root, 'volume', 'rm', 'busy');
    expect(rm.code).toBe(1);
    expect(rm.stderr).toContain('in use by container(s) user1');
    // plain prune removes only anonymous unused volumes
    const prune = await kiln(root, 'volume', 'prune', '-f');
    expect(prune.stdout).toContain(anon);
    expect(prune.stdout).not.toContain(free);
    const pruneAll = await kiln(root, 'volume', 'prune', '-a', '-f');
    expect(pruneAll.stdout).toContain(free);
    expect((await kiln(root, 'volume', 'ls', '-q')).stdout).toBe('busy\n');
  });
});
