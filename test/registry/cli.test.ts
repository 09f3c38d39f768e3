import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { LocalContentStore } from '../../src/content/index.js';
import { registryUnavailable, skopeoUnavailable, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { blobList, buildImage, writeOciLayout } from './fixtures.js';

const reason = registryUnavailable() ?? skopeoUnavailable();
if (reason) console.warn(`skipping registry CLI tests: ${reason}`);

const kiln = (...argv: string[]) => runCli(argv);

describe.skipIf(!!reason)('kiln pull/push/login/logout against a registry with htpasswd auth', () => {
  let reg: TestRegistry;
  let tmp: string;
  let root: string;
  const savedDockerConfig = process.env.DOCKER_CONFIG;
  beforeAll(async () => {
    reg = await startRegistry({ auth: { basic: { alice: 's3cret' } } });
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-reg-cli-'));
    root = path.join(tmp, 'root');
    process.env.DOCKER_CONFIG = path.join(tmp, 'docker');
    const src = await LocalContentStore.open(path.join(tmp, 'src'), { sync: false });
    const img = await buildImage(src, [20_000, 30_000], { tag: 'cli' });
    await writeOciLayout(src, path.join(tmp, 'layout'), img, 'v1');
    execFileSync('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:s3cret', `oci:${path.join(tmp, 'layout')}:v1`, `docker://${reg.host}/team/app:v1`], {
      stdio: 'pipe',
    });
  });
  afterAll(async () => {
    if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = savedDockerConfig;
    await reg?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('refuses to pull without credentials and stores nothing', async () => {
    const r = await kiln('--root', root, 'pull', `${reg.host}/team/app:v1`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('REGISTRY_UNAUTHORIZED');
    expect(r.stderr).toContain(`kiln login ${reg.host}`);
    const content = await LocalContentStore.open(root);
    expect(await blobList(content)).toEqual([]);
  });

  it('rejects a wrong password and writes no credentials', async () => {
    const r = await kiln('--root', root, 'login', '-u', 'alice', '-p', 'wrong', reg.host);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('REGISTRY_UNAUTHORIZED');
    await expect(fs.readFile(path.join(tmp, 'docker', 'config.json'), 'utf8')).rejects.toThrow();
  });

  it('logs in, pulls with progress, pushes a new tag that skopeo sees, logs out', async () => {
    const login = await kiln('--root', root, 'login', '-u', 'alice', '-p', 's3cret', reg.host);
    expect(login.stderr).toContain('--password-stdin');
    expect(login.stdout).toBe('Login Succeeded\n');
    const cfg = JSON.parse(await fs.readFile(path.join(tmp, 'docker', 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(cfg.auths[reg.host]!.auth, 'base64').toString()).toBe('alice:s3cret');

    const pull = await kiln('--root', root, 'pull', `${reg.host}/team/app:v1`);
    expect(pull.stderr).toBe('');
    expect(pull.code).toBe(0);
    expect(pull.stdout).toMatch(/^v1: Pulling from 127\.0\.0\.1:\d+\/team\/app\n/);
    expect(pull.stdout).toMatch(/[0-9a-f]{12}: Pull complete\n/);
    expect(pull.stdout).toMatch(/Digest: sha256:[0-9a-f]{64}\n/);
    expect(pull.stdout).toContain(`Status: Downloaded newer image for ${reg.host}/team/app:v1\n`);

    const quiet = await kiln('--root', root, 'pull', '-q', `${reg.host}/team/app:v1`);
    expect(quiet.stdout).toBe(`${reg.host}/team/app:v1\n`);

    // Tag the pulled image under a new name with the image store, then push it.
    const { openStores } = await import('../../src/store/index.js');
    const stores = await openStores(root);
    await stores.images.tag(`${reg.host}/team/app:v1`, `${reg.host}/team/copy:v2`);
    const push = await kiln('--root', root, 'push', `${reg.host}/team/copy:v2`);
    expect(push.code).toBe(0);
    expect(push.stdout).toContain(`The push refers to repository [${reg.host}/team/copy]`);
    expect(push.stdout).toMatch(/v2: digest: sha256:[0-9a-f]{64} size: \d+\n/);
    const inspect = JSON.parse(
      execFileSync('skopeo', ['inspect', '--tls-verify=false', '--creds', 'alice:s3cret', `docker://${reg.host}/team/copy:v2`], { encoding: 'utf8' }),
    ) as { Digest: string };
    expect(push.stdout).toContain(inspect.Digest);

    const logout = await kiln('--root', root, 'logout', reg.host);
    expect(logout.stdout).toBe(`Removing login credentials for ${reg.host}\n`);
    const again = await kiln('--root', root, 'logout', reg.host);
    expect(again.stdout).toBe(`Not logged in to ${reg.host}\n`);
    const denied = await kiln('--root', root, 'pull', `${reg.host}/team/app:v1`);
    expect(denied.code).toBe(1);
  });

  const built = existsSync(path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js'));
  it.skipIf(!built)('logs in with --password-stdin (bin/kiln.js from dist/)', async () => {
    const bin = path.join(__dirname, '..', '..', 'bin', 'kiln.js');
    const env = { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-stdin') };
    const bad = spawnSync(process.execPath, [bin, '--root', root, 'login', '-u', 'alice', '--password-stdin', reg.host], { input: 'wrong\n', env, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('REGISTRY_UNAUTHORIZED');
    const ok = spawnSync(process.execPath, [bin, '--root', root, 'login', '-u', 'alice', '--password-stdin', reg.host], { input: 's3cret\n', env, encoding: 'utf8' });
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe('Login Succeeded\n');
    const cfg = JSON.parse(await fs.readFile(path.join(tmp, 'docker-stdin', 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(cfg.auths[reg.host]!.auth, 'base64').toString()).toBe('alice:s3cret');
    const noUser = spawnSync(process.execPath, [bin, '--root', root, 'login', '--password-stdin', reg.host], { input: 'x', env, encoding: 'utf8' });
    expect(noUser.status).toBe(2);
  });

  it('reports a missing tag and a bad platform clearly', async () => {
    await kiln('--root', root, 'login', '-u', 'alice', '-p', 's3cret', reg.host);
    const missing = await kiln('--root', root, 'pull', `${reg.host}/team/app:nope`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('REGISTRY_NOT_FOUND');
    const plat = await kiln('--root', root, 'pull', '--platform', 'linux//x', `${reg.host}/team/app:v1`);
    expect(plat.code).toBe(2);
    await kiln('--root', root, 'logout', reg.host);
  });
});
