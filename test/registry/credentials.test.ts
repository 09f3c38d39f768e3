import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCredentials, removeCredentials, saveCredentials } from '../../src/registry/index.js';

describe('Docker config.json credentials', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-creds-'));
    // A credential helper that stores into a JSON file, like docker-credential-pass would.
    const bin = path.join(dir, 'bin');
    await fs.mkdir(bin);
    const helper = path.join(bin, 'docker-credential-kilntest');
    await fs.writeFile(
      helper,
      `#!${process.execPath}
const fs = require('fs');
const file = ${JSON.stringify(path.join(dir, 'helper-store.json'))};
const db = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
let input = '';
process.stdin.on('data', (d) => (input += d)).on('end', () => {
  const action = process.argv[2];
  if (action === 'get') {
    const e = db[input.trim()];
    if (!e) { process.stdout.write('credentials not found in native keychain'); process.exit(1); }
    process.stdout.write(JSON.stringify({ ServerURL: input.trim(), Username: e.Username, Secret: e.Secret }));
  } else if (action === 'store') {
    const e = JSON.parse(input); db[e.ServerURL] = e; fs.writeFileSync(file, JSON.stringify(db));
  } else if (action === 'erase') {
    if (!db[input.trim()]) { process.stdout.write('credentials not found in native keychain'); process.exit(1); }
    delete db[input.trim()]; fs.writeFileSync(file, JSON.stringify(db));
  }
});
`,
      { mode: 0o755 },
    );
    env = { ...process.env, DOCKER_CONFIG: path.join(dir, 'docker'), PATH: `${bin}:${process.env.PATH}` };
  });
  afterAll(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('reads auths written by docker (base64 auth, URL-style keys)', async () => {
    await fs.mkdir(path.join(dir, 'docker'), { recursive: true });
    await fs.writeFile(
      path.join(dir, 'docker', 'config.json'),
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') },
          'http://reg.example:5000': { auth: Buffer.from('bob:p:w').toString('base64') },
        },
        psFormat: 'table {{.ID}}',
      }),
    );
    expect(await getCredentials('docker.io', env)).toEqual({ username: 'hub', password: 'pw' });
    expect(await getCredentials('reg.example:5000', env)).toEqual({ username: 'bob', password: 'p:w' });
    expect(await getCredentials('other.example', env)).toBeUndefined();
  });

  it('saves and removes like docker login/logout, keeping other settings', async () => {
    await saveCredentials('127.0.0.1:5000', { username: 'u', password: 'p' }, env);
    const file = path.join(dir, 'docker', 'config.json');
    const cfg = JSON.parse(await fs.readFile(file, 'utf8')) as { auths: Record<string, { auth: string }>; psFormat: string };
    expect(cfg.psFormat).toBe('table {{.ID}}');
    expect(cfg.auths['127.0.0.1:5000']).toEqual({ auth: Buffer.from('u:p').toString('base64') });
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(await removeCredentials('127.0.0.1:5000', env)).toBe(true);
    expect(await removeCredentials('127.0.0.1:5000', env)).toBe(false);
    expect(await getCredentials('127.0.0.1:5000', env)).toBeUndefined();
  });

  it('uses credHelpers / credsStore through docker-credential-<name>', async () => {
    await fs.writeFile(path.join(dir, 'docker', 'config.json'), JSON.stringify({ credHelpers: { 'helped.example': 'kilntest' } }));
    expect(await getCredentials('helped.example', env)).toBeUndefined();
    await saveCredentials('helped.example', { username: 'carol', password: 'tok' }, env);
    expect(await getCredentials('helped.example', env)).toEqual({ username: 'carol', password: 'tok' });
    // nothing in plain text in config.json
    expect(await fs.readFile(path.join(dir, 'docker', 'config.json'), 'utf8')).not.toContain('tok');
    expect(await removeCredentials('helped.example', env)).toBe(true);
    expect(await getCredentials('helped.example', env)).toBeUndefined();

    await fs.writeFile(path.join(dir, 'docker', 'config.json'), JSON.stringify({ credsStore: 'missinghelper' }));
    await expect(getCredentials('x.example', env)).rejects.toMatchObject({ code: 'REGISTRY_CREDENTIALS' });
  });

  it('reports a broken config.json clearly', async () => {
    await fs.writeFile(path.join(dir, 'docker', 'config.json'), '{not json');
    await expect(getCredentials('x.example', env)).rejects.toMatchObject({ code: 'REGISTRY_CREDENTIALS' });
  });
});
