/**
 * COPY and ADD -> one file vertex with a copy action per source (BuildKit's dispatchCopy).
 * `--link` copies onto an empty filesystem and merges the result over the stage (MergeOp).
 */
import { checkChecksum, checkChmod, checkChown, checkDestForSources } from '../instructions/parse-copy.js';
import type { CopyInstruction, Located } from '../instructions/types.js';
import { parseChmod } from '../instructions/values.js';
import { Inputs } from './builder.js';
import {
  commandText, commitToHistory, meta, type ConvertContext, type DispatchState, displayExpand, expandRaw, expandWord, GraphCode, graphError,
  ownerOf, prefixCommand, stateEnv, uppercaseCmd,
} from './internal.js';
import { join, normalizePath } from './paths.js';
import type { CopyAction, FileMode, Owner, VertexDigest } from './types.js';

function isHttpSource(src: string): boolean {
  return /^https?:\/\//.test(src) && !isGitSource(src);
}

/** Git URLs BuildKit recognises for ADD (a subset of gitutil.ParseGitRef). */
function isGitSource(src: string): boolean {
  return /^git@[^:]+:/.test(src) || /^(git|ssh):\/\//.test(src) || /^https?:\/\/[^#?]+\.git(?:[#?].*)?$/.test(src);
}

/** `https://host/repo.git#ref:subdir` */
function parseGitUrl(src: string): { remote: string; ref: string; subdir?: string } {
  const hash = src.indexOf('#');
  const remote = hash === -1 ? src : src.slice(0, hash);
  const frag = hash === -1 ? '' : src.slice(hash + 1);
  const [ref, subdir] = frag.split(':', 2) as [string, string | undefined];
  const out: { remote: string; ref: string; subdir?: string } = { remote, ref: ref || 'HEAD' };
  if (subdir) out.subdir = subdir;
  return out;
}

export function convertCopy(ctx: ConvertContext, d: DispatchState, c: CopyInstruction, from: DispatchState | undefined): void {
  const isAdd = c.kind === 'add';
  const cmdName = isAdd ? 'ADD' : 'COPY';
  const env = stateEnv(d);
  const ex = (l: Located) => expandWord(ctx, env, l);
  const srcs = c.sources.map((s) => ({ value: ex(s), range: s.range }));
  const destRaw = ex(c.dest);
  checkDestForSources(cmdName, { value: destRaw, range: c.dest.range }, srcs.length + c.contents.length);
  const dest = normalizePath(d.state.dir, destRaw === '' || destRaw === '.' ? './' : destRaw, true);

  let owner: Owner | undefined;
  let chown: string | undefined;
  if (c.chown) {
    chown = ex(c.chown);
    checkChown({ value: chown, range: c.chown.range }, c.link);
    owner = ownerOf(chown);
  }
  let mode: FileMode | undefined;
  let chmod: string | undefined;
  if (c.chmod) {
    chmod = ex(c.chmod);
    checkChmod({ value: chmod, range: c.chmod.range });
    const m = parseChmod(chmod);
    mode = m.kind === 'octal' ? m.mode : m.mode;
  }
  const excludes = c.exclude.map(ex);
  let checksum: string | undefined;
  if (c.checksum) {
    checksum = ex(c.checksum);
    checkChecksum({ value: checksum, range: c.checksum.range });
    if (srcs.length !== 1) throw graphError(GraphCode.InvalidSource, "checksum can't be specified for multiple sources", c.checksum.range);
    if (!isHttpSource(srcs[0]!.value)) throw graphError(GraphCode.InvalidSource, "checksum can't be specified for non-HTTP(S) sources", c.checksum.range);
  }

  let fromRoot: VertexDigest | null = null;
  if (from) {
    if (!from.dispatched) {
      throw graphError(
        GraphCode.StageOrder,
        `cannot copy from stage "${c.from!.value}", it needs to be defined before current stage "${d.stageName || d.name || ''}"`,
        c.from!.range,
        'move the stage you copy from above this one',
      );
    }
    fromRoot = from.state.root;
  }

  const link = c.link && chmod === undefined;
  const inputs = new Inputs();
  const base = link ? null : inputs.ref(d.state.root);
  const name = uppercaseCmd(displayExpand(ctx, d, commandText(c), false));
  const pgName = prefixCommand(d, name);
  const actions: CopyAction[] = [];
  const common = (): Partial<CopyAction> => {
    const a: Partial<CopyAction> = {};
    if (owner) a.owner = owner;
    if (mode !== undefined) a.mode = mode;
    if (excludes.length) a.excludePatterns = excludes;
    return a;
  };
  // `COPY src... dest` as docker 20.10's BuildKit writes it (flags other than --parents left out)
  const history: string[] = [cmdName];
  if (c.parents) history.push('--parents');

  for (const s of srcs) {
    const src = s.value;
    history.push(src);
    if (isGitSource(src) && !from) {
      if (!isAdd) throw graphError(GraphCode.InvalidSource, "source can't be a git ref for COPY", s.range, 'use ADD for git sources');
      const g = parseGitUrl(src);
      const git = ctx.builder.add(
        { kind: 'source', source: { kind: 'git', remote: g.remote, ref: g.ref, ...(g.subdir ? { subdir: g.subdir } : {}), keepGitDir: c.keepGitDir } },
        [],
        pgName,
        [c.range],
      );
      actions.push({
        action: 'copy', input: inputs.ref(git), src: '/', dest, followSymlinks: false, dirContentsOnly: false, attemptUnpack: false,
        createDestPath: true, allowWildcard: false, allowEmptyWildcard: false, ...common(),
      });
      continue;
    }
    if (/^https?:\/\//.test(src) && !from) {
      if (!isAdd) throw graphError(GraphCode.InvalidSource, "source can't be a URL for COPY", s.range, 'use ADD to download a URL, or RUN curl/wget');
      let filename = '__unnamed__';
      try {
        const base = new URL(src).pathname.split('/').filter(Boolean).pop();
        if (base && base !== '.') filename = decodeURIComponent(base);
      } catch {
        // keep the default name, like BuildKit when url.Parse fails
      }
      const http = ctx.builder.add(
        { kind: 'source', source: { kind: 'http', url: src, filename, ...(checksum ? { checksum } : {}) } },
        [],
        pgName,
        [c.range],
      );
      actions.push({
        action: 'copy', input: inputs.ref(http), src: `/${filename}`, dest, followSymlinks: false, dirContentsOnly: false,
        attemptUnpack: c.unpack === true, createDestPath: true, allowWildcard: false, allowEmptyWildcard: false, ...common(),
      });
      continue;
    }
    let srcPath = src;
    let includePatterns: string[] | undefined;
    if (c.parents) {
      const pivot = srcPath.indexOf('/./');
      let pattern: string;
      if (pivot === -1) {
        pattern = srcPath;
        srcPath = '/';
      } else {
        pattern = srcPath.slice(pivot + 3);
        srcPath = srcPath.slice(0, pivot);
      }
      includePatterns = [normalizePath('/', pattern, false).replace(/^\//, '')];
    }
    srcPath = normalizePath('/', srcPath, false);
    const input = from ? fromRoot : ctx.contextVertex();
    if (!from) ctx.ctxPaths.add(join('/', src));
    const action: CopyAction = {
      action: 'copy', input: inputs.ref(input), src: srcPath, dest, followSymlinks: true, dirContentsOnly: true,
      attemptUnpack: isAdd && c.unpack !== false, createDestPath: true, allowWildcard: true, allowEmptyWildcard: true, ...common(),
    };
    if (includePatterns) action.includePatterns = includePatterns;
    actions.push(action);
  }

  for (const h of c.contents) {
    history.push(`<<${h.name}`);
    const data = h.expand ? expandRaw(env, { value: h.data, range: h.range }) : h.data;
    const file = `/${h.name.replace(/^\/+/, '')}`;
    const doc = ctx.builder.add(
      { kind: 'file', base: null, actions: [{ action: 'mkfile', path: file, mode: 0o644, data }], platform: d.state.platform },
      [],
      '[internal] preparing inline document',
      [c.range],
    );
    actions.push({
      action: 'copy', input: inputs.ref(doc), src: file, dest, followSymlinks: false, dirContentsOnly: false, attemptUnpack: false,
      createDestPath: true, allowWildcard: false, allowEmptyWildcard: false, ...common(),
    });
  }
  history.push(destRaw);

  const m = meta(ctx, d, c);
  const copied = ctx.builder.add({ kind: 'file', base, actions, platform: d.state.platform }, inputs.list, pgName, [c.range], m);
  let root: VertexDigest = copied;
  if (link && d.state.root !== null) {
    d.cmdIndex--; // LINK shares the step number of its copy, as in BuildKit's progress groups
    const linkName = prefixCommand(d, `LINK ${name}`);
    root = ctx.builder.add({ kind: 'merge', layers: [0, 1] }, [d.state.root, copied], linkName, [c.range], m);
  }
  d.state = { ...d.state, root };
  commitToHistory(d, history.join(' '), true, true);
}
