import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { RegistryError } from './errors.js';

/** kiln's own settings file, `$KILN_ROOT/config.json`. Only the registry part is read here. */
export interface KilnRegistryConfig {
  /** Registries (host or host:port) that may be reached over plain HTTP. */
  insecureRegistries: string[];
}

export async function readKilnConfig(root: string): Promise<KilnRegistryConfig> {
  const file = path.join(root, 'config.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { insecureRegistries: [] };
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new RegistryError('REGISTRY_INSECURE', `${file}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const list = (parsed as { insecureRegistries?: unknown }).insecureRegistries;
  if (list !== undefined && (!Array.isArray(list) || list.some((x) => typeof x !== 'string'))) {
    throw new RegistryError('REGISTRY_INSECURE', `${file}: "insecureRegistries" must be an array of strings`);
  }
  return { insecureRegistries: (list as string[] | undefined) ?? [] };
}

function splitHostPort(hostPort: string): { host: string; port?: string } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort);
  if (m) return m[2] ? { host: m[1]!, port: m[2] } : { host: m[1]! };
  const i = hostPort.lastIndexOf(':');
  if (i > 0 && !hostPort.slice(0, i).includes(':')) return { host: hostPort.slice(0, i), port: hostPort.slice(i + 1) };
  return { host: hostPort };
}

/** localhost, 127.0.0.0/8 and ::1 may always use plain HTTP (as Docker allows). */
export function isLoopbackRegistry(hostPort: string): boolean {
  const { host } = splitHostPort(hostPort);
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** Whether plain HTTP may be used for `hostPort`. */
export function allowsPlainHttp(hostPort: string, config: KilnRegistryConfig): boolean {
  if (isLoopbackRegistry(hostPort)) return true;
  const { host } = splitHostPort(hostPort);
  return config.insecureRegistries.some((entry) => {
    const e = entry.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
    return e === hostPort || e === host;
  });
}

/** TLS material for one registry host, from Docker-style certs.d directories. */
export interface RegistryTls {
  ca?: string[];
  cert?: string;
  key?: string;
}

/**
 * Read `<dir>/<host>/` for each certs.d dir: `*.crt` are CA certificates (added to the system
 * roots), `<name>.cert` + `<name>.key` a client certificate (Docker's layout).
 */
export async function loadRegistryTls(hostPort: string, certsDirs: string[]): Promise<RegistryTls> {
  const result: RegistryTls = {};
  const extraCa: string[] = [];
  for (const base of certsDirs) {
    // hostPort passed the reference grammar (no '/'), and is kept literally as Docker does.
    const dir = path.resolve(base, hostPort);
    if (path.dirname(dir) !== path.resolve(base)) continue;
    let entries: string[];
    try {
      entries = await fs.readdir(dir);
    } catch {
      continue;
    }
    for (const name of entries.sort()) {
      const file = path.join(dir, name);
      if (name.endsWith('.crt')) extraCa.push(await fs.readFile(file, 'utf8'));
      else if (name.endsWith('.cert') && result.cert === undefined) {
        const keyFile = file.replace(/\.cert$/, '.key');
        try {
          result.key = await fs.readFile(keyFile, 'utf8');
          result.cert = await fs.readFile(file, 'utf8');
        } catch {
          throw new RegistryError('REGISTRY_TLS', `client certificate ${file} has no matching key ${keyFile}`);
        }
      }
    }
  }
  if (extraCa.length > 0) result.ca = [...tls.rootCertificates, ...extraCa];
  return result;
}

/** Default certs.d directories: kiln's own first, then Docker's. */
export function defaultCertsDirs(root: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = [path.join(root, 'certs.d')];
  dirs.push(env.KILN_DOCKER_CERTS_D ?? '/etc/docker/certs.d');
  return dirs;
}
