/**
 * A tiny Docker token server (the Bearer flow of the distribution spec) for docker-registry's
 * `auth.token` config: it signs RS256 JWTs with a self-signed certificate (made with openssl) that
 * the registry trusts through `rootcertbundle`. Users with the right Basic credentials get every
 * action they ask for; anonymous callers get `pull` on repositories under `public/` only.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';

export function opensslUnavailable(): string | undefined {
  return spawnSync('openssl', ['version']).status === 0 ? undefined : 'openssl is not installed';
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** Every token request: the scopes asked and whether credentials were valid. */
  log: Array<{ scopes: string[]; user?: string; status: number }>;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export async function startTokenServer(dir: string, users: Record<string, string>): Promise<TokenServer> {
  const keyFile = path.join(dir, 'token.key');
  const certFile = path.join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=kiln-test-token'], {
    stdio: 'pipe',
  });
  const key: KeyObject = createPrivateKey(await fs.readFile(keyFile));
  const certDer = Buffer.from(
    (await fs.readFile(certFile, 'utf8')).replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''),
    'base64',
  );
  const service = 'kiln-test-registry';
  const issuer = 'kiln-test-issuer';
  const log: TokenServer['log'] = [];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [u, ...rest] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (u && users[u] !== undefined && users[u] === rest.join(':')) user = u;
      else {
        log.push({ scopes, status: 401 });
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end('{"details":"incorrect username or password"}');
        return;
      }
    }
    const access = scopes.flatMap((s) => {
      const m = /^repository:([^:]+):(.+)$/.exec(s);
      if (!m) return [];
      const wanted = m[2]!.split(',');
      const actions = user ? wanted : m[1]!.startsWith('public/') ? wanted.filter((a) => a === 'pull') : [];
      return [{ type: 'repository', name: m[1]!, actions }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = { iss: issuer, sub: user ?? '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const token = `${input}.${b64url(sign('sha256', Buffer.from(input), key))}`;
    const entry: TokenServer['log'][number] = { scopes, status: 200 };
    if (user) entry.user = user;
    log.push(entry);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    log,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
