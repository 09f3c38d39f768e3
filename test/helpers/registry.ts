/**
 * Start Debian's `docker-registry` (the CNCF distribution registry) on 127.0.0.1 for tests and benches.
 * Storage lives in a temp dir removed by stop(). Optional htpasswd (Basic) or token (Bearer) auth.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';

export const REGISTRY_BIN = process.env.KILN_TEST_REGISTRY_BIN ?? '/usr/bin/docker-registry';

/** Why registry tests cannot run here, or undefined when they can. */
export function registryUnavailable(): string | undefined {
  if (!existsSync(REGISTRY_BIN)) return `${REGISTRY_BIN} is not installed (Debian package docker-registry)`;
  return undefined;
}

export function skopeoUnavailable(): string | undefined {
  const r = spawnSync('skopeo', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'skopeo is not installed (Debian package skopeo)';
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface RegistryAuth {
  /** htpasswd users (Basic auth). */
  basic?: Record<string, string>;
  /** Token auth: realm URL, service, issuer and the root certificate the registry trusts. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

function yaml(port: number, dir: string, auth: RegistryAuth | undefined, htpasswdFile: string, tls?: { cert: string; key: string }): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: kiln-test-secret',
  ];
  if (tls) lines.push('  tls:', `    certificate: ${tls.cert}`, `    key: ${tls.key}`);
  if (auth?.basic) {
    lines.push('auth:', '  htpasswd:', '    realm: kiln-test', `    path: ${htpasswdFile}`);
  } else if (auth?.token) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${auth.token.realm}`,
      `    service: ${auth.token.service}`,
      `    issuer: ${auth.token.issuer}`,
      `    rootcertbundle: ${auth.token.rootCertBundle}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function waitReady(port: number, child: ChildProcess, stderr: () => string, tls: boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const get = tls ? https.get : http.get;
      const req = get({ host: '127.0.0.1', port, path: '/v2/', timeout: 1000, rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => {
        req.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`docker-registry did not start on port ${port}: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Start a registry; call stop() in afterAll. */
export async function startRegistry(options: { auth?: RegistryAuth; tls?: { cert: string; key: string } } = {}): Promise<TestRegistry> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-registry-'));
  const htpasswdFile = path.join(dir, 'htpasswd');
  if (options.auth?.basic) {
    const lines = Object.entries(options.auth.basic).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4)}`);
    await fs.writeFile(htpasswdFile, `${lines.join('\n')}\n`);
  }
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    const configFile = path.join(dir, 'config.yml');
    await fs.writeFile(configFile, yaml(port, dir, options.auth, htpasswdFile, options.tls));
    const child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 20_000) err += d;
    });
    try {
      await waitReady(port, child, () => err, !!options.tls);
    } catch (e) {
      child.kill('SIGKILL');
      if (tries < 3 && /address already in use/.test(err)) continue;
      await fs.rm(dir, { recursive: true, force: true });
      throw e;
    }
    return {
      host: `127.0.0.1:${port}`,
      port,
      dir,
      async stop() {
        if (child.exitCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 3000);
          await exited;
          clearTimeout(t);
        }
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  }
}

/** A CA and a server certificate for 127.0.0.1 (openssl), for TLS registry tests. */
export async function makeTlsCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const run = (...args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr.toString()}`);
  };
  await fs.writeFile(path.join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=kiln-test-ca');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.cnf');
  return { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') };
}
