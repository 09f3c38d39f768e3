/**
 * The build graph: kiln's LLB. Plain, printable data produced by `convert` and consumed by the
 * solver. A vertex is identified by the sha256 of the canonical JSON of `{op, inputs}`
 * (see marshal.ts); everything else on a vertex (name, ranges, meta) is presentation or hints
 * and never enters the digest. Image metadata (ENV, CMD, LABEL ...) travels beside the graph in
 * `ConvertResult.config`.
 *
 * Inputs are referenced by position: an op field `input: 0` means `vertex.inputs[0]`, i.e. the
 * result (root filesystem) of that vertex. `null` means an empty filesystem (scratch).
 */
import type { Diagnostic, SourceRange } from '../diagnostics/types.js';
import type { ImageConfig, Platform } from '../image/types.js';
import type { CacheSharing, NetworkMode, SecurityMode } from '../instructions/types.js';

/** `sha256:<hex>` of the vertex's canonical encoding. */
export type VertexDigest = string;

/** Index into `Vertex.inputs`, or null for an empty filesystem. */
export type InputIndex = number | null;

/** `os/arch[/variant]`, e.g. `linux/amd64`. */
export type PlatformString = string;

// ---------------------------------------------------------------------------------- source

export interface ImageSource {
  kind: 'image';
  /** Fully normalised reference: `docker.io/library/busybox:latest` (digest kept when given). */
  ref: string;
  platform: PlatformString;
}

/**
 * A directory sent by the client: the main build context (`name: "context"`) or a named
 * `--build-context NAME=DIR` (`name` = that NAME). The directory path itself is not part of the
 * digest (see BuildGraph.contexts): the same Dockerfile gives the same digests on every machine.
 */
export interface LocalSource {
  kind: 'local';
  name: string;
  /** `.dockerignore` patterns (as given to convert). */
  excludePatterns: string[];
}

/** `ADD https://...`: the file is named `filename` at the root of the source's result. */
export interface HttpSource {
  kind: 'http';
  url: string;
  filename: string;
  /** `ADD --checksum=sha256:...`; the solver must verify it. */
  checksum?: string;
}

/** `ADD https://host/repo.git#ref:subdir` (kept for completeness; the solver may refuse it). */
export interface GitSource {
  kind: 'git';
  remote: string;
  ref: string;
  subdir?: string;
  keepGitDir: boolean;
}

export interface SourceOp {
  kind: 'source';
  source: ImageSource | LocalSource | HttpSource | GitSource;
}

// ---------------------------------------------------------------------------------- exec

interface MountBase {
  /** Absolute path in the container. */
  target: string;
}

/** Read-only unless `readonly: false`; writes to a rw bind mount are discarded (no output). */
export interface BindMount extends MountBase {
  type: 'bind';
  /** The filesystem mounted: build context, a stage or an image. */
  input: InputIndex;
  /** Absolute path inside `input` (default `/`). */
  source: string;
  readonly: boolean;
}

/**
 * A persistent cache directory, shared between builds by `id` (already namespaced as BuildKit
 * does: `<cacheIdNamespace>/<id>`, default id = the cleaned target). Its contents never enter a
 * cache key or a layer.
 */
export interface CacheMount extends MountBase {
  type: 'cache';
  id: string;
  sharing: CacheSharing;
  readonly: boolean;
  /** Initial contents (`from=`): the filesystem of `input` at `source`; null = empty dir. */
  input: InputIndex;
  source: string;
  /** Ownership and mode of the cache directory when created (`uid`/`gid`/`mode` options). */
  uid: number;
  gid: number;
  mode: number;
}

export interface TmpfsMount extends MountBase {
  type: 'tmpfs';
  /** bytes; undefined = the runtime's default */
  size?: number;
}

/** A secret by id. The value never appears in the graph. */
export interface SecretMount {
  type: 'secret';
  id: string;
  /** File path; undefined when the secret is only exposed as `env`. */
  target?: string;
  /** `env=NAME`: also (or only) expose the secret as this variable. */
  env?: string;
  required: boolean;
  uid: number;
  gid: number;
  mode: number;
}

export interface SshMount extends MountBase {
  type: 'ssh';
  id: string;
  required: boolean;
  uid: number;
  gid: number;
  mode: number;
}

export type ExecMount = BindMount | CacheMount | TmpfsMount | SecretMount | SshMount;

/**
 * Run a process over `rootfs` (BuildKit's ExecOp). The result of the vertex is the modified root
 * filesystem; every other mount's writes are discarded.
 */
export interface ExecOp {
  kind: 'exec';
  /** argv, shell already applied (`["/bin/sh", "-c", "make"]`). */
  args: string[];
  /** `KEY=value`: the image's ENV plus the ARGs in scope, in definition order. */
  env: string[];
  /** Working directory (absolute). */
  cwd: string;
  /** `user[:group]` from USER (names resolved in the rootfs); '' = root. */
  user: string;
  rootfs: InputIndex;
  mounts: ExecMount[];
  network: NetworkMode;
  security: SecurityMode;
  /** Only when set by the build (BUILDKIT_SANDBOX_HOSTNAME); default is the runtime's. */
  hostname?: string;
  /** `RUN --device=name[,required]` (CDI devices); absent when none. The solver may refuse them. */
  devices?: { name: string; required: boolean }[];
  platform: PlatformString;
}

// ---------------------------------------------------------------------------------- file

/**
 * `--chown=user[:group]`: names or numeric ids, resolved in the destination filesystem's
 * /etc/passwd and /etc/group. An empty `user` (`--chown=:staff`) means root (0); without a
 * group, the group is the user's number (as BuildKit does).
 */
export interface Owner {
  user: string;
  group?: string;
}

/** `--chmod`: octal mode, or a symbolic mode string (`u+x`, `go=rX`). */
export type FileMode = number | string;

export interface CopyAction {
  action: 'copy';
  /** The filesystem copied from. */
  input: InputIndex;
  /** Absolute path (may hold wildcards when allowWildcard) inside `input`. */
  src: string;
  /** Absolute destination; a trailing `/` means "into this directory". */
  dest: string;
  owner?: Owner;
  mode?: FileMode;
  followSymlinks: boolean;
  /** A directory source copies its contents, not itself (COPY/ADD semantics). */
  dirContentsOnly: boolean;
  /** ADD: unpack local tar archives (detected by content). */
  attemptUnpack: boolean;
  createDestPath: boolean;
  allowWildcard: boolean;
  allowEmptyWildcard: boolean;
  /** `--parents`: patterns (relative to `src`) whose parent directories are kept. */
  includePatterns?: string[];
  /** `--exclude` patterns. */
  excludePatterns?: string[];
}

export interface MkdirAction {
  action: 'mkdir';
  path: string;
  mode: number;
  makeParents: boolean;
  owner?: Owner;
}

export interface MkfileAction {
  action: 'mkfile';
  path: string;
  mode: number;
  /** UTF-8 file contents (heredoc bodies). */
  data: string;
  owner?: Owner;
}

export type FileAction = CopyAction | MkdirAction | MkfileAction;

/** Apply `actions` in order to a copy of `base` (BuildKit's FileOp). */
export interface FileOp {
  kind: 'file';
  base: InputIndex;
  actions: FileAction[];
  platform: PlatformString;
}

/** `COPY --link`: the layers of `inputs` stacked in order (BuildKit's MergeOp). */
export interface MergeOp {
  kind: 'merge';
  /** Indexes into Vertex.inputs, bottom first. */
  layers: number[];
}

export type Op = SourceOp | ExecOp | FileOp | MergeOp;

// ---------------------------------------------------------------------------------- vertex

/** Hints that do not change what a vertex computes, so they stay out of its digest. */
export interface VertexMeta {
  /** Stage the vertex was first created for (`builder`, `stage-1`). */
  stage?: string;
  /** Proxy variables from `--build-arg HTTP_PROXY=...` (kept out of keys and history, as BuildKit). */
  proxyEnv?: Record<string, string>;
  /** Local sources: the context paths the build reads (BuildKit's FollowPaths); undefined = all. */
  followPaths?: string[];
  /** `--no-cache-filter` matched this stage. */
  ignoreCache?: boolean;
  /** The Dockerfile instruction (`com.docker.dockerfile.v1.command`). */
  command?: string;
  /** exec: names in `env` that are build ARGs (the rest come from ENV/the base image), for cache-miss explanations. */
  args?: string[];
}

export interface Vertex {
  digest: VertexDigest;
  op: Op;
  /** Digests of the vertices this one reads; ops refer to them by index. */
  inputs: VertexDigest[];
  /** BuildKit-style progress name: `[builder 2/4] RUN make`. */
  name: string;
  /** Dockerfile ranges of every instruction that produced this vertex (merged on dedupe). */
  ranges: SourceRange[];
  meta?: VertexMeta;
}

export interface BuildGraph {
  /** Every vertex the target needs, inputs before their users, no duplicates. */
  vertices: Vertex[];
  /** The vertex whose result is the image's filesystem; null = empty (FROM scratch, nothing added). */
  target: VertexDigest | null;
  /** Local sources by name, with where they come from (not part of any digest). */
  contexts: Record<string, { path?: string }>;
}

// ---------------------------------------------------------------------------------- convert

/** What `imageResolver` returns for a base image: its config (Env, OnBuild, history ...). */
export type ImageResolver = (ref: string, platform: Platform) => Promise<ImageConfig | undefined>;

/** `--build-context NAME=...` */
export type NamedContext = { type: 'local'; path: string } | { type: 'image'; ref: string };

export interface ConvertOptions {
  /** `--build-arg K=V` */
  buildArgs?: Record<string, string>;
  /** `--target`: default the last stage. */
  target?: string;
  /** `--platform` for the target (default: the build machine's, e.g. `linux/amd64`). */
  platform?: string;
  /** The build machine's platform (default: this machine's). */
  buildPlatform?: string;
  /** `--build-context` entries by name. */
  contexts?: Record<string, NamedContext>;
  /** Path of the main context directory, recorded in BuildGraph.contexts. */
  contextPath?: string;
  /** `.dockerignore` patterns for the main context. */
  excludePatterns?: string[];
  /** Supplies base image configs; without it, external bases are planned with an empty config. */
  imageResolver?: ImageResolver;
  /** `--no-cache-filter`: stage names whose vertices are marked ignoreCache. */
  noCacheFilter?: string[];
  /** Cache mount id namespace (BUILDKIT_CACHE_MOUNT_NS). */
  cacheIdNamespace?: string;
  /** `--label K=V` added to the final image. */
  labels?: Record<string, string>;
  /** The RUN hostname (BUILDKIT_SANDBOX_HOSTNAME). */
  hostname?: string;
  /** `--network` of the build: the default network of every RUN (a RUN --network= wins). */
  network?: NetworkMode;
}

/** What kiln knows about one stage after conversion. */
export interface StageInfo {
  index: number;
  /** `builder`, or `stage-N` when unnamed (BuildKit's naming). */
  name: string;
  /** The `FROM` value after ARG expansion and normalisation. */
  base: string;
  baseKind: 'image' | 'stage' | 'scratch' | 'context';
  platform: PlatformString;
  /** Whether the target reaches it (only those are converted). */
  reachable: boolean;
  /** The stage's final vertex (null: empty filesystem); undefined when unreachable. */
  state?: VertexDigest | null;
  range: SourceRange;
}

export interface ConvertResult {
  graph: BuildGraph;
  /** The target stage's image config (history included, rootfs.diff_ids left empty). */
  config: ImageConfig;
  stages: StageInfo[];
  /** Name of the target stage. */
  targetStage: string;
  warnings: Diagnostic[];
}
