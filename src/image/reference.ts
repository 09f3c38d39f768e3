/**
 * Image references, parsed and normalised exactly like docker/distribution's `reference.ParseNormalizedNamed`
 * (+ `TagNameOnly` for the default `:latest`), and shown like `docker images` shows them (familiar names).
 *
 *   bb                      -> docker.io/library/bb:latest        (familiar: bb:latest)
 *   user/x:1                -> docker.io/user/x:1                 (familiar: user/x:1)
 *   localhost:5000/x        -> localhost:5000/x:latest
 *   index.docker.io/x       -> docker.io/library/x:latest
 *   x@sha256:<64 hex>       -> docker.io/library/x@sha256:<hex>   (no default tag when a digest is given)
 *
 * Grammar (distribution/reference/regexp.go):
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [domain '/'] path-component ['/' path-component]*
 *   domain     := host [':' port-number]
 *   host       := domain-name | IPv4address | \[ IPv6address \]
 *   path-component := alpha-numeric [separator alpha-numeric]*
 *   separator  := /[_.]|__|[-]+/
 *   tag        := /[\w][\w.-]{0,127}/
 */
import { InvalidArgumentError } from '../diagnostics/errors.js';
import { parseDigest } from './digest.js';
import type { Digest } from './types.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
export const NAME_TOTAL_LENGTH_MAX = 255;

const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const ipv6address = '\\[(?:[a-fA-F0-9:]+)\\]';
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = `${host}(?::[0-9]+)?`;
const tagPat = '[\\w][\\w.-]{0,127}';
const digestPat = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePat = `(?:${domainAndPort}/)?${remoteName}`;

/** Anchored, with capture groups: 1 = name, 2 = tag, 3 = digest. */
const REFERENCE_RE = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const ANCHORED_NAME_RE = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
const ANCHORED_TAG_RE = new RegExp(`^${tagPat}$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

export interface Reference {
  /** Registry host, e.g. `docker.io`, `localhost:5000`. */
  readonly domain: string;
  /** Repository path inside the registry, e.g. `library/bb`. */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: Digest;
  /** The full repository name: `domain/path`. */
  readonly name: string;
  /** The repository as docker shows it: `bb`, `user/x`, `localhost:5000/x`. */
  familiarName(): string;
  /** The reference as docker shows it: `bb:latest`, `user/x@sha256:…`. */
  familiar(): string;
  /** The fully qualified form: `docker.io/library/bb:latest`. */
  toString(): string;
}

export interface ParseReferenceOptions {
  /** Add `:latest` when neither tag nor digest is given (docker's TagNameOnly). Default true. */
  defaultTag?: boolean;
}

function invalid(message: string, input: string): InvalidArgumentError {
  return new InvalidArgumentError(message, {
    code: 'IMAGE_INVALID_REFERENCE',
    hint: `"${input}" is not a valid image reference; expected NAME[:TAG][@sha256:DIGEST], e.g. "busybox:latest" or "localhost:5000/team/app:1.0"`,
  });
}

/** distribution/reference's splitDockerDomain. */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf('/');
  let domain: string;
  let remainder: string;
  if (slash === -1) {
    return { domain: DEFAULT_DOMAIN, remainder: OFFICIAL_REPO_PREFIX + name };
  }
  const maybeDomain = name.slice(0, slash);
  const maybeRemainder = name.slice(slash + 1);
  if (maybeDomain === 'localhost') {
    domain = maybeDomain;
    remainder = maybeRemainder;
  } else if (maybeDomain === LEGACY_DEFAULT_DOMAIN) {
    domain = DEFAULT_DOMAIN;
    remainder = maybeRemainder;
  } else if (/[.:]/.test(maybeDomain) || maybeDomain.toLowerCase() !== maybeDomain) {
    domain = maybeDomain;
    remainder = maybeRemainder;
  } else {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  }
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

class ReferenceImpl implements Reference {
  readonly domain: string;
  readonly path: string;
  readonly tag?: string;
  readonly digest?: Digest;
  constructor(domain: string, path: string, tag: string | undefined, digest: Digest | undefined) {
    this.domain = domain;
    this.path = path;
    if (tag !== undefined) this.tag = tag;
    if (digest !== undefined) this.digest = digest;
  }
  get name(): string {
    return `${this.domain}/${this.path}`;
  }
  familiarName(): string {
    if (this.domain !== DEFAULT_DOMAIN) return this.name;
    if (this.path.startsWith(OFFICIAL_REPO_PREFIX)) {
      const rest = this.path.slice(OFFICIAL_REPO_PREFIX.length);
      if (!rest.includes('/')) return rest;
    }
    return this.path;
  }
  familiar(): string {
    return this.familiarName() + suffix(this.tag, this.digest);
  }
  toString(): string {
    return this.name + suffix(this.tag, this.digest);
  }
  toJSON(): string {
    return this.toString();
  }
}

function suffix(tag: string | undefined, digest: string | undefined): string {
  return (tag !== undefined ? `:${tag}` : '') + (digest !== undefined ? `@${digest}` : '');
}

/**
 * Parse and normalise an image reference like the docker CLI does.
 * Throws InvalidArgumentError with code IMAGE_INVALID_REFERENCE.
 */
export function parseReference(s: string, options: ParseReferenceOptions = {}): Reference {
  if (typeof s !== 'string' || s === '') throw invalid('invalid reference format: repository name must have at least one component', String(s));
  // no valid reference is longer (name 255 + tag 128 + digest); checked before any regular expression runs
  if (s.length > 1024) throw invalid(`invalid reference format: ${s.length} characters is too long for an image reference`, `${s.slice(0, 40)}…`);
  if (IDENTIFIER_RE.test(s)) {
    throw invalid(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`, s);
  }
  const { domain: d0, remainder } = splitDockerDomain(s);
  const tagSep = remainder.indexOf(':');
  const remote = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remote.toLowerCase() !== remote) {
    throw invalid(`invalid reference format: repository name (${remote}) must be lowercase`, s);
  }
  const full = `${d0}/${remainder}`;
  const m = REFERENCE_RE.exec(full);
  if (!m) {
    if (REFERENCE_RE.test(full.toLowerCase())) throw invalid('invalid reference format: repository name must be lowercase', s);
    throw invalid(`invalid reference format: "${s}"`, s);
  }
  const name = m[1]!;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(`invalid reference format: repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`, s);
  }
  const nm = ANCHORED_NAME_RE.exec(name);
  if (!nm || nm[1] === undefined) throw invalid(`invalid reference format: "${s}"`, s);
  const domain = nm[1];
  const path = nm[2]!;
  let tag = m[2];
  let digest: Digest | undefined;
  if (m[3] !== undefined) {
    try {
      digest = parseDigest(m[3]);
    } catch (err) {
      throw new InvalidArgumentError(`invalid reference format: ${(err as Error).message}`, {
        code: 'IMAGE_INVALID_REFERENCE',
        cause: err,
      });
    }
  }
  if (tag === undefined && digest === undefined && options.defaultTag !== false) tag = DEFAULT_TAG;
  return new ReferenceImpl(domain, path, tag, digest);
}

/** True when `s` parses as a reference. */
export function isReference(s: string): boolean {
  try {
    parseReference(s);
    return true;
  } catch {
    return false;
  }
}

/** A repository name only (no tag, no digest), normalised: `bb` -> `docker.io/library/bb`. */
export function parseRepository(s: string): Reference {
  const ref = parseReference(s, { defaultTag: false });
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw invalid(`expected a repository name without tag or digest, got "${s}"`, s);
  }
  return ref;
}

/** Validate a tag alone (`docker tag` target tag part). */
export function isValidTag(tag: string): boolean {
  return ANCHORED_TAG_RE.test(tag);
}

/** Build a reference from parts (validated by re-parsing). */
export function makeReference(name: string, tag?: string, digest?: Digest): Reference {
  return parseReference(name + suffix(tag, digest), { defaultTag: false });
}

/** Familiar form of a fully qualified string (`docker.io/library/bb:latest` -> `bb:latest`). */
export function familiarString(s: string): string {
  return parseReference(s, { defaultTag: false }).familiar();
}
