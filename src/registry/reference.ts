import type { Digest } from '../image/types.js';
import { checkDigest } from './digest.js';
import { RegistryError } from './errors.js';
import { DEFAULT_DOMAIN, parseReference } from '../image/reference.js';

/** A parsed image reference, normalised as Docker does (`bb` = `docker.io/library/bb:latest`). */
export interface RegistryReference {
  /** The registry as named by the user, normalised: `docker.io`, `127.0.0.1:5000`, `[::1]:5000`. */
  registry: string;
  /** The repository path inside the registry: `library/busybox`. */
  repository: string;
  tag?: string;
  digest?: Digest;
}

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);

export const DOCKER_HUB = DEFAULT_DOMAIN;

/**
 * Parse `NAME[:TAG|@DIGEST]` with the image store's normalisation (`bb` = `docker.io/library/bb:latest`).
 * The tag defaults to `latest` when neither tag nor digest is given.
 */
export function parseRegistryReference(input: string, options: { defaultTag?: boolean } = {}): RegistryReference {
  const r = parseReference(input, options);
  const ref: RegistryReference = { registry: r.domain, repository: r.path };
  if (r.tag !== undefined) ref.tag = r.tag;
  if (r.digest !== undefined) ref.digest = checkDigest(r.digest, 'reference digest');
  return ref;
}

/** `registry/repository` */
export const repoName = (ref: Pick<RegistryReference, 'registry' | 'repository'>): string => `${ref.registry}/${ref.repository}`;

/** The full normalised name: `docker.io/library/bb:latest`, `reg/x@sha256:…`, `reg/x:t@sha256:…`. */
export function formatReference(ref: RegistryReference): string {
  return `${repoName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** Normalise a registry host as given to `kiln login`/`logout` (accepts URLs and docker.io aliases). */
export function normaliseRegistryHost(input: string): string {
  let host = input.trim().replace(/^[a-z]+:\/\//i, '');
  host = host.replace(/\/.*$/, '');
  if (host === '' ) throw new RegistryError('REGISTRY_BAD_REFERENCE', `invalid registry "${input}"`);
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'docker.io') return DOCKER_HUB;
  if (!DOMAIN_RE.test(host)) throw new RegistryError('REGISTRY_BAD_REFERENCE', `invalid registry host "${input}"`);
  return host;
}

/** The host[:port] to connect to for a registry name. */
export const registryEndpointHost = (registry: string): string =>
  registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
