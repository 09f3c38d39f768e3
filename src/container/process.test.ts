import { describe, expect, it } from 'vitest';
import { parseEnvFile, resolveProcess } from './process.js';
import { resolveUser } from './passwd.js';

const base = { cmd: [], env: [], hostname: 'abc123', tty: false };

describe('resolveProcess (docker run semantics)', () => {
  it('combines ENTRYPOINT and CMD, and positional args replace CMD only', () => {
    const cfg = { Entrypoint: ['/app/report.sh'], Cmd: ['--top'] };
    expect(resolveProcess(cfg, base).args).toEqual(['/app/report.sh', '--top']);
    expect(resolveProcess(cfg, { ...base, cmd: ['--help'] }).args).toEqual(['/app/report.sh', '--help']);
  });

  it('--entrypoint replaces the entrypoint and drops the image CMD', () => {
    const cfg = { Entrypoint: ['/app/report.sh'], Cmd: ['--top'] };
    expect(resolveProcess(cfg, { ...base, entrypoint: 'sh' }).args).toEqual(['sh']);
    expect(resolveProcess(cfg, { ...base, entrypoint: '', cmd: ['id'] }).args).toEqual(['id']);
  });

  it('fails clearly when there is nothing to run', () => {
    expect(() => resolveProcess({}, base)).toThrow(/no command specified/);
  });

  it('layers env: image, HOSTNAME, TERM for -t, then -e; PATH defaulted; bare -e K from the host', () => {
    const p = resolveProcess({ Env: ['A=1', 'B=2'], Cmd: ['sh'] }, { ...base, tty: true, env: ['B=3', 'FROM_HOST', 'MISSING'] }, { FROM_HOST: 'yes' });
    expect(p.env).toEqual([
      'A=1', 'B=3', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=abc123', 'TERM=xterm', 'FROM_HOST=yes',
    ]);
  });

  it('uses the image WorkingDir and User unless overridden, and rejects relative -w', () => {
    const cfg = { Cmd: ['sh'], WorkingDir: '/app', User: 'app' };
    expect(resolveProcess(cfg, base)).toMatchObject({ cwd: '/app', user: 'app' });
    expect(resolveProcess(cfg, { ...base, workdir: '/tmp', user: '0:0' })).toMatchObject({ cwd: '/tmp', user: '0:0' });
    expect(() => resolveProcess(cfg, { ...base, workdir: 'rel' })).toThrow(/absolute path/);
  });

  it('parses env files with comments and rejects names with spaces, naming file and line', () => {
    expect(parseEnvFile('# c\nA=1\n\nB\n', 'f.env')).toEqual(['A=1', 'B']);
    expect(() => parseEnvFile('A=1\nBAD NAME=2\n', 'f.env')).toThrow('f.env:2');
  });
});

describe('resolveUser (image /etc/passwd and /etc/group)', () => {
  const files: Record<string, string> = {
    '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n',
    '/etc/group': 'root:x:0:\napp:x:1000:\nwheel:x:10:app,other\naudio:x:29:app\n',
  };
  const read = async (p: string) => files[p];

  it('resolves names to ids with supplementary groups', async () => {
    expect(await resolveUser('app', read)).toEqual({ uid: 1000, gid: 1000, additionalGids: [10, 29], home: '/home/app' });
    expect(await resolveUser('app:wheel', read)).toMatchObject({ uid: 1000, gid: 10 });
    expect(await resolveUser('', read)).toMatchObject({ uid: 0, gid: 0, home: '/root' });
  });

  it('accepts numeric ids without entries and rejects unknown names', async () => {
    expect(await resolveUser('4242', read)).toMatchObject({ uid: 4242, gid: 0, additionalGids: [] });
    expect(await resolveUser('4242:77', read)).toMatchObject({ uid: 4242, gid: 77 });
    await expect(resolveUser('nobody', read)).rejects.toThrow(/unable to find user nobody/);
    await expect(resolveUser('app:nogroup', read)).rejects.toThrow(/unable to find group nogroup/);
  });
});
