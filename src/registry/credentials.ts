import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RegistryError } from './errors.js';
import { DOCKER_HUB } from './reference.js';

/** Credentials for one registry. `identityToken` is an OAuth2 refresh token (docker's `identitytoken`). */
export interface Credentials {
  username: string;
  password: string;
  identityToken?: string;
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG ? path.resolve(env.DOCKER_CONFIG) : path.join(os.homedir(), '.docker');
  return path.join(dir, 'config.json');
}

/** The key docker uses in `auths` for a registry. */
export const authKey = (registry: string): string => (registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry);

/** Docker matches `auths` keys after stripping the scheme and path ("https://host/v1/" == "host"). */
function keyHost(key: string): string {
  const h = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  return h === 'index.docker.io' || h === 'registry-1.docker.io' ? DOCKER_HUB : h;
}

async function readConfig(file: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new RegistryError('REGISTRY_CREDENTIALS', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (text.trim() === '') return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as DockerConfigFile;
  } catch (err) {
    throw new RegistryError('REGISTRY_CREDENTIALS', `${file}: invalid JSON: ${(err as Error).message}`, { cause: err });
  }
}

function helperFor(config: DockerConfigFile, registry: string): string | undefined {
  for (const [k, v] of Object.entries(config.credHelpers ?? {})) if (keyHost(k) === registry) return v;
  return config.credsStore || undefined;
}

function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (!/^[A-Za-z0-9_.-]+$/.test(helper)) {
    return Promise.reject(new RegistryError('REGISTRY_CREDENTIALS', `invalid credential helper name "${helper}"`));
  }
  const bin = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [action], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) =>
      reject(new RegistryError('REGISTRY_CREDENTIALS', `credential helper ${bin} failed to start: ${e.message}`, { cause: e })),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else {
        const msg = (out.trim() || err.trim() || `exit code ${code}`).slice(0, 500);
        const e = new RegistryError('REGISTRY_CREDENTIALS', `credential helper ${bin} ${action}: ${msg}`);
        (e as { notFound?: boolean }).notFound = /credentials not found/i.test(msg);
        reject(e);
      }
    });
    child.stdin.end(input);
  });
}

/** Look up credentials for `registry` the way docker does: credHelpers, credsStore, then `auths`. */
export async function getCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  const config = await readConfig(dockerConfigPath(env));
  const helper = helperFor(config, registry);
  if (helper) {
    try {
      const out = await runHelper(helper, 'get', registry === DOCKER_HUB ? authKey(registry) : registry, env);
      const parsed = JSON.parse(out) as { Username?: string; Secret?: string };
      if (typeof parsed.Secret !== 'string') return undefined;
      if (parsed.Username === '<token>') return { username: '', password: '', identityToken: parsed.Secret };
      return { username: parsed.Username ?? '', password: parsed.Secret };
    } catch (err) {
      if ((err as { notFound?: boolean }).notFound) return undefined;
      throw err;
    }
  }
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (keyHost(key) !== registry || !entry) continue;
    let username = entry.username ?? '';
    let password = entry.password ?? '';
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i < 0) throw new RegistryError('REGISTRY_CREDENTIALS', `${dockerConfigPath(env)}: auths["${key}"].auth is not base64 of user:password`);
      username = decoded.slice(0, i);
      password = decoded.slice(i + 1);
    }
    const creds: Credentials = { username, password };
    if (entry.identitytoken) creds.identityToken = entry.identitytoken;
    if (creds.username || creds.password || creds.identityToken) return creds;
  }
  return undefined;
}

async function writeConfig(file: string, config: DockerConfigFile): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const fh = await fs.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(config, null, '\t')}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
}

/** Store credentials like `docker login`: through the helper when one is configured, else base64 in `auths`. */
export async function saveCredentials(registry: string, creds: Credentials, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = dockerConfigPath(env);
  const config = await readConfig(file);
  const helper = helperFor(config, registry);
  if (helper) {
    await runHelper(helper, 'store', JSON.stringify({ ServerURL: authKey(registry), Username: creds.username, Secret: creds.password }), env);
    return `credential helper docker-credential-${helper}`;
  }
  const auths = { ...(config.auths ?? {}) };
  for (const k of Object.keys(auths)) if (keyHost(k) === registry) delete auths[k];
  auths[authKey(registry)] = { auth: Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64') };
  await writeConfig(file, { ...config, auths });
  return file;
}

/** Remove stored credentials; returns false when there were none. */
export async function removeCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const file = dockerConfigPath(env);
  const config = await readConfig(file);
  let removed = false;
  const helper = helperFor(config, registry);
  if (helper) {
    try {
      await runHelper(helper, 'erase', authKey(registry), env);
      removed = true;
    } catch (err) {
      if (!(err as { notFound?: boolean }).notFound) throw err;
    }
  }
  const auths = { ...(config.auths ?? {}) };
  for (const k of Object.keys(auths)) {
    if (keyHost(k) === registry) {
      delete auths[k];
      removed = true;
    }
  }
  if (config.auths && Object.keys(auths).length !== Object.keys(config.auths).length) await writeConfig(file, { ...config, auths });
  return removed;
}
