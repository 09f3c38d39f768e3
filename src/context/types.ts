/** The seam of the build-context stage: what the solver asks of a local context. */

export type ContextFileType = 'file' | 'dir' | 'symlink';

/** One selected entry of a build context, with its content digest. */
export interface ContextFile {
  /** '/'-separated path relative to the context root. */
  path: string;
  type: ContextFileType;
  /** Permission and special bits (st_mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** For symlinks: the target as stored in the link. */
  linkTarget?: string;
  /** `sha256:<hex>` of the content (file bytes, link target, or "" for a directory). */
  digest: string;
}

/** What one COPY/ADD source list selects from the context. */
export interface ContextSelection {
  /** Source patterns relative to the context (COPY sources, wildcards allowed). */
  src: string[];
  /** COPY --exclude patterns (dockerignore syntax), applied after .dockerignore. */
  excludes?: string[];
  /** Follow a symlink named directly by a source (resolved inside the context). */
  followLinks: boolean;
}

export interface ContextHashResult {
  files: ContextFile[];
  /** files.length (known without materialising the list when the result is remembered). */
  count: number;
  /** Digest over the sorted file list (paths, metadata, content digests). */
  digest: string;
}
