import { promises as fs } from 'node:fs';
import path from 'node:path';
import { resolveUser } from '../../container/passwd.js';
import type { ContextSource } from '../../context/source.js';
import { KilnError, isNotFound } from '../../diagnostics/errors.js';
import { containsWildcards } from '../../context/source.js';
import type { CopyAction, FileAction, FileOp, InputIndex, Owner as GraphOwner, Vertex } from '../../graph/types.js';
import { withSnapshotDir } from '../../snapshot/mount.js';
import type { Mount } from '../../snapshot/types.js';
import type { StepResult } from '../../cache/types.js';
import { digestOf } from '../cache-key.js';
import type { CacheMap, OpContext, OpHandler } from '../types.js';
import { applyChmod } from './chmod.js';
import { copySpec, selectedFiles, type Owner } from './copy.js';
import { selectedFilesDigest } from '../cache-key.js';
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync } from 'node:fs';
import { unpackIfArchive } from './unpack-archive.js';
import type { WorkerDeps } from './deps.js';
import { resolveInRoot } from './root-path.js';
import { EMPTY_RESULT, commitStep, stepSnapshotName, withActive, withResultDir } from './snapshots.js';
import { copyUpParents, overlayStack } from './upper-copy.js';

type FileVertex = Vertex & { op: FileOp };

async function hashFileContent(abs: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(abs)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** Context files listed one by one in a key's components (for "which file changed"); beyond, one digest. */
const MAX_FILE_COMPONENTS = 2000;

function localName(deps: WorkerDeps, v: Vertex, input: InputIndex): string | undefined {
  if (input === null) return undefined;
  const iv = deps.vertices.get(v.inputs[input]!);
  return iv?.op.kind === 'source' && iv.op.source.kind === 'local' ? iv.op.source.name : undefined;
}

/**
 * The folder of `result`'s top layer when `spec.src` can be copied from there instead of from the
 * mounted snapshot (two mounts less): one path without wildcards or escapes, naming a regular file
 * that the top layer itself holds under real directories. overlayfs shows such a file exactly as the
 * top layer holds it, whatever the layers below have there (a lookup stops at the first layer with
 * the name), so the copy is the same. Anything else (a directory, a link on the way, a file of a
 * lower layer, patterns, the native snapshotter): undefined.
 */
async function topLayerHolding(deps: WorkerDeps, result: StepResult, spec: { src: string; includePatterns?: string[]; excludePatterns?: string[] }): Promise<string | undefined> {
  if (!result.snapshot || spec.includePatterns?.length || spec.excludePatterns?.length) return undefined;
  if (containsWildcards(spec.src) || spec.src.includes('\\')) return undefined;
  const upper = await deps.snapshotter.upperDir(result.snapshot).catch(() => null);
  if (upper === null) return undefined;
  const parts = path.posix.normalize(`/${spec.src}`).split('/').filter(Boolean);
  if (parts.length === 0) return undefined;
  let p = upper;
  for (const [i, c] of parts.entries()) {
    p = path.join(p, c);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return undefined;
    }
    if (i < parts.length - 1 ? !st.isDirectory() : !st.isFile()) return undefined;
  }
  return upper;
}

/** A numeric user or group id (no /etc/passwd lookup needed). */
const isId = (s: string) => /^\d+$/.test(s);

/** Read a file of a root filesystem, resolved inside it (for /etc/passwd lookups). */
function rootReader(root: string) {
  return async (p: string): Promise<string | undefined> => {
    try {
      return await fs.readFile(await resolveInRoot(root, p, true), 'utf8');
    } catch {
      return undefined;
    }
  };
}

/**
 * `--chown=user[:group]` as BuildKit's file backend reads it (readUser): a numeric user without a
 * group gets gid = uid; a user name takes uid and primary gid from the target's /etc/passwd; a
 * group (name or number) then overrides the gid.
 */
async function resolveOwner(root: string, owner: GraphOwner | undefined): Promise<Owner | undefined> {
  if (!owner) return undefined;
  let uid: number;
  let gid: number;
  if (isId(owner.user)) {
    uid = gid = Number(owner.user);
  } else {
    const u = await resolveUser(owner.user, rootReader(root));
    uid = u.uid;
    gid = u.gid;
  }
  if (owner.group !== undefined && owner.group !== '') {
    if (isId(owner.group)) gid = Number(owner.group);
    else gid = (await resolveUser(`${uid}:${owner.group}`, rootReader(root))).gid;
  }
  return { uid, gid };
}

/**
 * COPY, ADD, WORKDIR's mkdir and heredoc files (BuildKit's FileOp): the actions run in order on a
 * writable snapshot of `base`, which is then diffed into one layer and committed.
 * Key: the op definition plus, for every copy from a local context, the digests and modes of
 * exactly the files it selects (after .dockerignore and --exclude); mtimes never count.
 */
export class FileHandler implements OpHandler<Vertex> {
  private readonly sources = new Map<string, Promise<ContextSource>>();

  constructor(private readonly deps: WorkerDeps) {}

  private context(name: string): Promise<ContextSource> {
    let p = this.sources.get(name);
    if (!p) {
      const open = this.deps.contexts[name];
      if (!open) throw new KilnError('SOLVE_CONTEXT_MISSING', `no build context named "${name}"`);
      p = open();
      this.sources.set(name, p);
    }
    return p;
  }

  async cacheMap(ctx: OpContext<Vertex>): Promise<CacheMap> {
    const v = ctx.vertex as FileVertex;
    const content: Record<string, string> = {};
    const components: Record<string, string> = {};
    let listed = 0;
    for (const [i, a] of v.op.actions.entries()) {
      components[`op:${a.action} ${i + 1}`] = digestOf(a);
      if (a.action !== 'copy') continue;
      const name = localName(this.deps, v, a.input);
      if (name === undefined) continue;
      const src = await this.context(name);
      if (a.includePatterns?.length) {
        // --parents: the selection is the include patterns under src (hashed here, uncached)
        const files = await selectedFiles(src.dir, { src: a.src, allowWildcard: a.allowWildcard, allowEmptyWildcard: true, includePatterns: a.includePatterns, ...(a.excludePatterns ? { excludePatterns: a.excludePatterns } : {}) }, hashFileContent, src.ignore);
        content[String(i)] = selectedFilesDigest(files);
        for (const f of files) if (f.type === 'file' && listed++ < MAX_FILE_COMPONENTS) components[`file:${f.path.replace(/^\//, '')}`] = `${f.digest}:${f.mode.toString(8)}`;
        continue;
      }
      let sel;
      try {
        sel = await src.hash([{ src: [a.src], excludes: a.excludePatterns ?? [], followLinks: a.followSymlinks }]);
      } catch (err) {
        // COPY allows a wildcard that matches nothing (BuildKit: AllowEmptyWildcard)
        if (!(a.allowWildcard && a.allowEmptyWildcard && containsWildcards(a.src) && isNotFound(err))) throw err;
        sel = { digest: 'sha256:empty-selection', files: [], count: 0 };
      }
      content[String(i)] = sel.digest;
      if (listed + sel.count <= MAX_FILE_COMPONENTS) {
        for (const f of sel.files) if (f.type !== 'dir') components[`file:${f.path}`] = `${f.digest}:${f.mode.toString(8)}`;
        listed += sel.count;
      } else {
        components[`file:${a.src} (${sel.count} files)`] = sel.digest;
      }
    }
    return { digest: digestOf({ kind: 'file', op: v.op, content }), components };
  }

  async exec(ctx: OpContext<Vertex>, inputs: readonly StepResult[]): Promise<StepResult> {
    const v = ctx.vertex as FileVertex;
    const base = v.op.base === null ? EMPTY_RESULT : inputs[v.op.base]!;
    return withActive(this.deps, 'file', base, async (key, mounts) => {
      const upper = await this.unmountedTarget(v, mounts, inputs);
      if (upper !== undefined) {
        await this.apply(ctx, v, v.op.actions[0]!, upper, inputs);
      } else {
        await withSnapshotDir(mounts, async (root) => {
          for (const a of v.op.actions) {
            if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error('aborted');
            await this.apply(ctx, v, a, root, inputs);
          }
        });
      }
      return commitStep(this.deps, key, stepSnapshotName(ctx.key), base);
    });
  }

  /**
   * The upper dir to copy into without mounting the step's overlay (upper-copy.ts), for the usual
   * final-stage step: COPY --from of one file that the source stage's top layer holds, without
   * names to look up in /etc/passwd, to a new path. Undefined: mount. KILN_COPY_VIA_MOUNT=1 always
   * mounts (to compare the two).
   */
  private async unmountedTarget(v: FileVertex, mounts: Mount[], inputs: readonly StepResult[]): Promise<string | undefined> {
    if (v.op.actions.length !== 1 || process.env.KILN_COPY_VIA_MOUNT === '1') return undefined;
    const a = v.op.actions[0]!;
    if (a.action !== 'copy' || a.attemptUnpack || a.includePatterns?.length || localName(this.deps, v, a.input) !== undefined) return undefined;
    if (a.owner && !(isId(a.owner.user) && (a.owner.group === undefined || a.owner.group === '' || isId(a.owner.group)))) return undefined;
    const stack = overlayStack(mounts);
    if (!stack) return undefined;
    const input = a.input === null ? EMPTY_RESULT : inputs[a.input]!;
    const spec = { src: a.src, ...(a.excludePatterns ? { excludePatterns: a.excludePatterns } : {}) };
    if ((await topLayerHolding(this.deps, input, spec)) === undefined) return undefined;
    return copyUpParents(stack, a.dest, path.posix.basename(path.posix.normalize(`/${a.src}`))) ? stack.upper : undefined;
  }

  private async apply(ctx: OpContext<Vertex>, v: FileVertex, a: FileAction, root: string, inputs: readonly StepResult[]): Promise<void> {
    const owner = await resolveOwner(root, a.owner);
    switch (a.action) {
      case 'mkdir': {
        const dir = await resolveInRoot(root, a.path, true);
        if (a.makeParents) {
          // mkdir -p inside the root: each missing component is created with the op's mode/owner
          const parts = path.posix.normalize(a.path).split('/').filter(Boolean);
          for (let i = 1; i <= parts.length; i++) {
            const p = await resolveInRoot(root, `/${parts.slice(0, i).join('/')}`, true);
            const st = await fs.lstat(p).catch(() => undefined);
            if (st) continue;
            await fs.mkdir(p);
            await fs.chmod(p, a.mode);
            if (owner) await fs.lchown(p, owner.uid, owner.gid);
          }
        } else {
          await fs.mkdir(dir);
          await fs.chmod(dir, a.mode);
          if (owner) await fs.lchown(dir, owner.uid, owner.gid);
        }
        return;
      }
      case 'mkfile': {
        const file = await resolveInRoot(root, a.path, true);
        await fs.mkdir(path.dirname(file), { recursive: true });
        await fs.rm(file, { force: true });
        await fs.writeFile(file, a.data, { mode: a.mode });
        await fs.chmod(file, a.mode);
        if (owner) await fs.lchown(file, owner.uid, owner.gid);
        return;
      }
      case 'copy':
        return this.copy(ctx, v, a, root, inputs, owner);
    }
  }

  private async copy(ctx: OpContext<Vertex>, v: FileVertex, a: CopyAction, root: string, inputs: readonly StepResult[], owner: Owner | undefined): Promise<void> {
    const spec = {
      src: a.src,
      dest: a.dest,
      allowWildcard: a.allowWildcard,
      allowEmptyWildcard: a.allowEmptyWildcard,
      dirContentsOnly: a.dirContentsOnly,
      createDestPath: a.createDestPath,
      ...(a.excludePatterns ? { excludePatterns: a.excludePatterns } : {}),
      ...(a.includePatterns?.length ? { includePatterns: a.includePatterns } : {}),
    };
    const common = {
      destRoot: root,
      spec,
      signal: ctx.signal,
      ...(owner ? { owner } : {}),
      ...(a.mode !== undefined ? { mode: typeof a.mode === 'number' ? a.mode : a.mode } : {}),
    };
    if (a.mode !== undefined && typeof a.mode === 'string') applyChmod(a.mode, 0, false); // validate early
    const name = localName(this.deps, v, a.input);
    if (name !== undefined) {
      const src = await this.context(name);
      await copySpec({
        ...common,
        srcRoot: src.dir,
        rootExclude: src.ignore,
        defaultOwner: { uid: 0, gid: 0 },
        ...(a.attemptUnpack ? { unpack: unpackIfArchive } : {}),
      });
      return;
    }
    const input = a.input === null ? EMPTY_RESULT : inputs[a.input]!;
    const top = await topLayerHolding(this.deps, input, spec);
    if (top !== undefined) {
      await copySpec({ ...common, srcRoot: top });
      return;
    }
    await withResultDir(this.deps, input, (srcRoot) => copySpec({ ...common, srcRoot }));
  }
}
