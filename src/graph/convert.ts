/**
 * Instructions + build options -> build graph + image config (BuildKit's dockerfile2llb).
 *
 * The order of work follows BuildKit's toDispatchState:
 *  1. global ARGs: the automatic platform ARGs, then the meta ARGs before the first FROM;
 *  2. one dispatch state per stage (FROM expanded with the global ARGs; stage or image base);
 *  3. the states each command reads (`COPY --from`, `RUN --mount=from=`) and a cycle check;
 *  4. the stages the target reaches; their base image configs (imageResolver, concurrently);
 *     ONBUILD triggers of the bases are added, which may reach further stages, so repeat;
 *  5. dispatch the reached stages in file order, one convertXxx per instruction.
 * Only reached stages produce vertices, so an unused broken stage never fails a build.
 */
import { DockerfileError, InvalidArgumentError, KilnError, withRange } from '../diagnostics/errors.js';
import type { Ast } from '../dockerfile/types.js';
import type { ImageConfig, Platform } from '../image/types.js';
import { parseReference } from '../image/reference.js';
import { parseDockerfile } from '../instructions/parse.js';
import { suggest } from '../instructions/suggest.js';
import type { Command, Dockerfile, Stage } from '../instructions/types.js';
import { processWord } from '../shell/index.js';
import { GraphBuilder } from './builder.js';
import { dispatchCommand } from './dispatch.js';
import {
  type ConvertContext, type DispatchCommand, type DispatchState, GraphCode, graphError, prefixCommand, setOwn,
} from './internal.js';
import { triggerCommands } from './onbuild.js';
import { formatPlatform, hostPlatform, parsePlatform } from './platform.js';
import { addEnv, emptyState } from './state.js';
import type { ConvertOptions, ConvertResult, NamedContext, StageInfo, VertexDigest } from './types.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PROXY_ARGS = ['http_proxy', 'https_proxy', 'ftp_proxy', 'no_proxy', 'all_proxy'];

/** Parse, validate and convert in one go. */
export async function convertAst(ast: Ast, options: ConvertOptions = {}): Promise<ConvertResult> {
  return convert(parseDockerfile(ast), options);
}

export async function convert(df: Dockerfile, options: ConvertOptions = {}): Promise<ConvertResult> {
  if (df.stages.length === 0) throw graphError('GRAPH_NO_STAGES', 'dockerfile contains no stages to build', undefined, 'add a FROM instruction');
  const buildArgs = { ...(options.buildArgs ?? {}) };
  // BuildKit's built-in build args that configure the frontend itself
  if (options.hostname === undefined && buildArgs.BUILDKIT_SANDBOX_HOSTNAME) options = { ...options, hostname: buildArgs.BUILDKIT_SANDBOX_HOSTNAME };
  if (options.cacheIdNamespace === undefined && buildArgs.BUILDKIT_CACHE_MOUNT_NS) options = { ...options, cacheIdNamespace: buildArgs.BUILDKIT_CACHE_MOUNT_NS };
  const buildPlatform = optionPlatform(options.buildPlatform, '--build-platform') ?? hostPlatform();
  const targetPlatform = optionPlatform(options.platform, '--platform') ?? buildPlatform;
  const builder = new GraphBuilder();
  const ctx: ConvertContext = {
    builder,
    file: df.file,
    escape: df.escape,
    options,
    buildArgs,
    globalArgs: new Map(),
    targetPlatform,
    states: [],
    byName: new Map(),
    ctxPaths: new Set(),
    warnings: [...df.warnings],
    reportedUndefined: new Set(),
    contextVertex: () => ctx.localVertex('context'),
    localVertex: (name) =>
      builder.add(
        { kind: 'source', source: { kind: 'local', name, excludePatterns: name === 'context' ? [...(options.excludePatterns ?? [])] : [] } },
        [],
        name === 'context' ? '[internal] load build context' : `[context ${name}] load from client`,
        [],
      ),
  };
  const proxy: Record<string, string> = {};
  for (const [k, v] of Object.entries(buildArgs)) if (PROXY_ARGS.includes(k.toLowerCase())) proxy[k] = v;
  if (Object.keys(proxy).length) ctx.proxyEnv = proxy;

  // 1. global ARGs
  const lastName = df.stages[df.stages.length - 1]!.name ?? '';
  ctx.globalArgs = defaultArgs(buildPlatform, targetPlatform, buildArgs, options.target ?? lastName);
  for (const cmd of df.metaArgs) {
    for (const def of cmd.args) {
      let value: string | undefined;
      if (Object.hasOwn(buildArgs, def.key)) value = buildArgs[def.key];
      else if (def.value !== undefined) value = expandGlobal(ctx, def.value, def.range);
      if (value !== undefined) ctx.globalArgs.set(def.key, value);
    }
  }

  // 2. states
  for (const stage of df.stages) addStageState(ctx, stage);

  // target
  let target: DispatchState;
  if (options.target) {
    const t = ctx.byName.get(options.target.toLowerCase());
    if (!t) {
      const names = [...ctx.byName.keys()];
      const close = suggest(options.target, names);
      throw new InvalidArgumentError(`target stage "${options.target}" could not be found`, {
        code: GraphCode.TargetNotFound,
        hint: close ? `did you mean "${close}"?` : names.length ? `stages: ${names.join(', ')}` : 'the Dockerfile has no named stages (FROM ... AS name)',
      });
    }
    target = t;
  } else {
    target = ctx.states[ctx.states.length - 1]!;
  }

  // 3. dependencies
  for (const d of [...ctx.states]) {
    if (!d.stage || d.replaced) continue;
    d.commands = d.stage.commands.map((inst) => toCommand(ctx, d, inst, false));
  }
  checkCycles(ctx.states);
  if (ctx.states.length === 1) ctx.states[0]!.stageName = '';

  // 4. reachability, base image configs, ONBUILD triggers
  let reachable: Set<DispatchState>;
  for (;;) {
    reachable = reachableStates(target);
    await resolveBases(ctx, reachable);
    for (const d of ctx.states) {
      // implicit states (`--from=<image>`) need no further dispatch
      if (d.unregistered && reachable.has(d) && !d.dispatched) {
        initState(ctx, d);
        d.dispatched = true;
      }
    }
    let newDeps = false;
    for (const d of ctx.states) {
      if (!reachable.has(d) || d.onBuildInit || d.unregistered) continue;
      d.onBuildInit = true;
      const triggers = triggerCommands(ctx, d);
      if (triggers.length === 0) continue;
      const cmds = triggers.map((inst) => toCommand(ctx, d, inst, true));
      if (cmds.some((c) => c.sources.some((s) => s))) newDeps = true;
      d.commands = [...cmds, ...d.commands];
      d.cmdTotal += cmds.length;
    }
    if (!newDeps) break;
    checkCycles(ctx.states);
  }

  // 5. dispatch
  for (const d of ctx.states) {
    if (!reachable.has(d) || d.dispatched) continue;
    initState(ctx, d);
    d.dispatched = true;
    for (const cmd of d.commands) {
      d.cmdIsOnBuild = cmd.onbuild;
      ctx.currentArgs = d.buildArgs;
      ctx.currentArgCount = d.buildArgs.length;
      ctx.currentConfigKnown = d.configKnown === true;
      try {
        dispatchCommand(ctx, d, cmd);
      } catch (err) {
        throw err instanceof KilnError ? withRange(err, cmd.inst.range) : err;
      }
    }
  }

  // a --build-arg no reached ARG declares is probably a typo (docker prints the same warning)
  const declared = new Set<string>();
  for (const cmd of df.metaArgs) for (const a of cmd.args) declared.add(a.key);
  for (const d of reachable) for (const c of d.commands) if (c.inst.kind === 'arg') for (const a of c.inst.args) declared.add(a.key);
  const unused = Object.keys(buildArgs).filter(
    (k) => !declared.has(k) && !PROXY_ARGS.includes(k.toLowerCase()) && !ctx.globalArgs.has(k) && !k.startsWith('BUILDKIT_') && k !== 'SOURCE_DATE_EPOCH',
  );
  if (unused.length) {
    ctx.warnings.push({
      severity: 'warning',
      code: 'GRAPH_UNUSED_BUILD_ARG',
      message: `one or more build-args [${unused.sort().join(' ')}] were not consumed`,
      hint: 'declare them with ARG in the stages that use them',
    });
  }

  // results
  const ctxVertex = [...builder.vertices.values()].find((v) => v.op.kind === 'source' && v.op.source.kind === 'local' && v.op.source.name === 'context');
  if (ctxVertex) {
    const paths = [...ctx.ctxPaths];
    if (!paths.includes('/')) (ctxVertex.meta ??= {}).followPaths = paths.map((p) => p.replace(/^\/+/, '') || '.').sort();
  }
  const contexts: Record<string, { path?: string }> = {};
  for (const v of builder.vertices.values()) {
    if (v.op.kind === 'source' && v.op.source.kind === 'local') {
      const name = v.op.source.name;
      const named = options.contexts?.[name];
      setOwn(contexts, name, name === 'context' ? (options.contextPath ? { path: options.contextPath } : {}) : named?.type === 'local' ? { path: named.path } : {});
    }
  }
  const config = finalConfig(ctx, target, options);
  const stages: StageInfo[] = ctx.states
    .filter((d) => d.stage)
    .map((d) => {
      const info: StageInfo = {
        index: d.stage!.index,
        name: d.name ?? `stage-${d.stage!.index}`,
        base: d.baseName,
        baseKind: d.baseKind,
        platform: formatPlatform(d.platform),
        reachable: reachable.has(d),
        range: d.range,
      };
      if (reachable.has(d)) info.state = d.state.root;
      return info;
    });
  return {
    graph: { vertices: builder.reachable([target.state.root]), target: target.state.root, contexts },
    config,
    stages,
    targetStage: target.name ?? `stage-${target.stage?.index ?? 0}`,
    warnings: ctx.warnings,
  };
}

function optionPlatform(value: string | undefined, flag: string): Platform | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    return parsePlatform(value);
  } catch (err) {
    throw new InvalidArgumentError(`${flag}: ${(err as Error).message}`, { code: GraphCode.InvalidPlatform, hint: 'e.g. linux/amd64, linux/arm64, linux/arm/v7' });
  }
}

/** BuildKit's defaultArgs: the automatic platform ARGs (a --build-arg of the same name wins). */
function defaultArgs(build: Platform, target: Platform, overrides: Record<string, string>, targetStage: string): Map<string, string> {
  const pairs: [string, string][] = [
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDOSVERSION', build['os.version'] ?? ''],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
    ['TARGETPLATFORM', formatPlatform(target)],
    ['TARGETOS', target.os],
    ['TARGETOSVERSION', target['os.version'] ?? ''],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
    ['TARGETSTAGE', targetStage],
  ];
  const m = new Map<string, string>();
  for (const [k, v] of pairs) m.set(k, Object.hasOwn(overrides, k) ? overrides[k]! : v);
  return m;
}

function expandGlobal(ctx: ConvertContext, word: string, range: Stage['range'], checkUndefined = false): string {
  try {
    const r = processWord(word, ctx.globalArgs, { escapeToken: ctx.escape, range });
    if (checkUndefined) {
      for (const name of r.unmatched) {
        // BuildKit's UndefinedArgInFrom check
        const close = suggest(name, [...ctx.globalArgs.keys()]);
        ctx.warnings.push({
          severity: 'warning',
          code: 'GRAPH_UNDEFINED_ARG_IN_FROM',
          message: `FROM argument '${name}' is not declared`,
          range,
          hint: close ? `did you mean ${close}?` : 'declare it with ARG before the first FROM',
        });
      }
    }
    return r.result;
  } catch (err) {
    if (err instanceof KilnError) throw withRange(err, range);
    throw graphError(GraphCode.Expansion, (err as Error).message, range);
  }
}

function newState(ctx: ConvertContext, init: Partial<DispatchState> & Pick<DispatchState, 'baseName' | 'range'>): DispatchState {
  return {
    stageName: '',
    baseKind: 'image',
    platform: ctx.targetPlatform,
    explicitPlatform: false,
    deps: new Map(),
    commands: [],
    state: emptyState(formatPlatform(ctx.targetPlatform)),
    image: emptyImage(ctx.targetPlatform),
    buildArgs: [],
    unregistered: false,
    resolved: false,
    dispatched: false,
    onBuildInit: false,
    cmdTotal: 0,
    cmdIndex: 0,
    cmdIsOnBuild: false,
    cmdSet: false,
    ...init,
  };
}

/** An image config kiln knows nothing about (a base image planned without imageResolver). */
export function unknownImage(p: Platform): ImageConfig {
  const img: ImageConfig = { architecture: p.architecture, os: p.os, config: {}, rootfs: { type: 'layers', diff_ids: [] } };
  if (p.variant) img.variant = p.variant;
  return img;
}

/** BuildKit's emptyImage, for `FROM scratch`: WorkingDir `/` and the default PATH. */
export function emptyImage(p: Platform): ImageConfig {
  const img = unknownImage(p);
  img.config = { Env: [`PATH=${DEFAULT_PATH}`], WorkingDir: '/' };
  return img;
}

/** Go marshals maps with sorted keys; so do we, so configs compare byte for byte. */
function sortKeys<T>(m: Record<string, T> | undefined): Record<string, T> | undefined {
  if (!m) return m;
  const out: Record<string, T> = {};
  for (const k of Object.keys(m).sort()) setOwn(out, k, m[k]!);
  return out;
}

/** A `--build-context` for this name: as written, or under its normalised image name. */
function findNamedContext(ctx: ConvertContext, name: string): { name: string; context: NamedContext } | undefined {
  const contexts = ctx.options.contexts;
  if (!contexts) return undefined;
  const candidates = [name];
  try {
    const ref = parseReference(name);
    candidates.push(ref.toString(), ref.familiar(), ref.familiarName());
  } catch {
    // not an image name: only the exact key can match
  }
  for (const c of candidates) if (Object.hasOwn(contexts, c)) return { name: c, context: contexts[c]! };
  return undefined;
}

function addStageState(ctx: ConvertContext, stage: Stage): void {
  const from = stage.from;
  const baseName = expandGlobal(ctx, from.image.value, from.image.range, true);
  if (baseName === '') {
    throw graphError(GraphCode.EmptyBaseName, `base name (${from.image.value}) should not be blank`, from.image.range, 'set the ARG it uses, e.g. --build-arg');
  }
  const d = newState(ctx, { stage, baseName, range: stage.range, stageName: stage.name ?? `stage-${stage.index}` });
  if (stage.name) d.name = stage.name;
  if (from.platform) {
    const v = expandGlobal(ctx, from.platform.value, from.platform.range, true);
    if (v === '') throw graphError(GraphCode.InvalidPlatform, `empty platform value from expression ${from.platform.value}`, from.platform.range);
    try {
      d.platform = parsePlatform(v);
    } catch (err) {
      throw graphError(GraphCode.InvalidPlatform, `failed to parse platform ${from.platform.value}: ${(err as Error).message}`, from.platform.range);
    }
    d.explicitPlatform = true;
  }
  // the stage itself replaced by --build-context NAME=...
  const own = stage.name && ctx.options.contexts && Object.hasOwn(ctx.options.contexts, stage.name) ? ctx.options.contexts[stage.name] : undefined;
  if (stage.name && own) {
    d.namedContext = { name: stage.name, context: own };
    d.baseKind = 'context';
    d.replaced = true;
    registerState(ctx, d);
    return;
  }
  registerState(ctx, d);
  let total = d.baseKind === 'image' || d.baseKind === 'context' ? 1 : 0;
  for (const c of stage.commands) if (c.kind === 'add' || c.kind === 'copy' || c.kind === 'run' || c.kind === 'workdir') total++;
  d.cmdTotal = total;
  d.buildArgs = [];
}

/** BuildKit's addState: a base that names an earlier stage links to it. */
function registerState(ctx: ConvertContext, d: DispatchState): void {
  ctx.states.push(d);
  if (!d.namedContext) {
    const base = ctx.byName.get(d.baseName);
    if (base) {
      d.base = base;
      d.baseKind = 'stage';
    } else if (d.baseName === 'scratch') {
      d.baseKind = 'scratch';
    } else {
      const named = findNamedContext(ctx, d.baseName);
      if (named) {
        d.namedContext = named;
        d.baseKind = 'context';
      }
    }
  }
  if (d.name) ctx.byName.set(d.name, d);
}

/** The states a command reads, creating implicit image/context states as BuildKit does. */
function toCommand(ctx: ConvertContext, d: DispatchState, inst: Command, onbuild: boolean): DispatchCommand {
  const cmd: DispatchCommand = { inst, sources: [], onbuild };
  const lookup = (name: string, allowIndex: boolean, range: Stage['range']): DispatchState => {
    if (allowIndex && /^[+-]?\d+$/.test(name)) {
      const i = Number(name);
      const s = ctx.states[i];
      if (i < 0 || !s) throw graphError(GraphCode.InvalidStageIndex, `invalid stage index ${i}`, range, `there are ${ctx.states.length} stages, numbered from 0`);
      return s;
    }
    const byName = ctx.byName.get(name.toLowerCase());
    if (byName) return byName;
    const implicit = newState(ctx, { baseName: name, range, unregistered: true });
    registerState(ctx, implicit);
    if (implicit.baseKind === 'stage') implicit.baseKind = 'image'; // an image named like no stage
    return implicit;
  };
  if ((inst.kind === 'copy' || inst.kind === 'add') && inst.from) {
    cmd.sources = [lookup(inst.from.value, true, inst.from.range)];
  } else if (inst.kind === 'run') {
    cmd.sources = inst.mounts.map((m, i) => {
      if (!m.from || m.type === 'tmpfs' || m.type === 'secret' || m.type === 'ssh') return undefined;
      if (m.from === 'scratch') return undefined;
      return lookup(m.from, false, inst.mountFlags[i]?.range ?? inst.range);
    });
  }
  for (const s of cmd.sources) if (s) d.deps.set(s, inst);
  return cmd;
}

/** Iterative DFS (a file may chain 100,000 stages): the first dependency edge that closes a cycle. */
function checkCycles(states: readonly DispatchState[]): void {
  const done = new Set<DispatchState>();
  const onPath = new Set<DispatchState>();
  for (const root of states) {
    if (done.has(root)) continue;
    const stack: { s: DispatchState; it: Iterator<[DispatchState, Command | undefined]> }[] = [{ s: root, it: root.deps.entries() }];
    onPath.add(root);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const next = top.it.next();
      if (next.done) {
        onPath.delete(top.s);
        done.add(top.s);
        stack.pop();
        continue;
      }
      const [dep, cmd] = next.value;
      if (onPath.has(dep)) {
        throw graphError(
          GraphCode.CircularDependency,
          `circular dependency detected on stage: ${root.stageName || root.name || root.baseName}`,
          cmd?.range ?? root.range,
          'a stage cannot copy from itself or from a stage that copies from it',
        );
      }
      if (done.has(dep)) continue;
      onPath.add(dep);
      stack.push({ s: dep, it: dep.deps.entries() });
    }
  }
}

function reachableStates(target: DispatchState): Set<DispatchState> {
  const out = new Set<DispatchState>();
  const todo = [target];
  while (todo.length) {
    const s = todo.pop()!;
    if (out.has(s)) continue;
    out.add(s);
    if (s.base) todo.push(s.base);
    for (const d of s.deps.keys()) todo.push(d);
  }
  return out;
}

/** Normalise reached external bases and fetch their configs (concurrently). */
async function resolveBases(ctx: ConvertContext, reachable: Set<DispatchState>): Promise<void> {
  const pending: Promise<void>[] = [];
  // a base several stages name (four `FROM busybox`) is resolved once
  const byRef = new Map<string, Promise<ImageConfig | undefined>>();
  for (const d of ctx.states) {
    if (!reachable.has(d) || d.resolved || d.base) continue;
    d.resolved = true;
    if (d.baseKind === 'scratch') continue;
    let refString: string;
    if (d.baseKind === 'context') {
      const nc = d.namedContext!.context;
      if (nc.type === 'local') continue;
      refString = nc.ref;
    } else {
      refString = d.baseName;
    }
    let ref: string;
    try {
      ref = parseReference(refString).toString();
    } catch (err) {
      const range = d.stage && d.baseKind !== 'context' ? d.stage.from.image.range : d.range;
      throw graphError(GraphCode.InvalidReference, `failed to parse stage name "${refString}": ${(err as Error).message}`, range, (err as KilnError).hint);
    }
    if (d.baseKind === 'image') d.baseName = ref;
    const resolver = ctx.options.imageResolver;
    if (!resolver) continue;
    const key = `${ref} ${formatPlatform(d.platform)}`;
    let resolving = byRef.get(key);
    if (!resolving) byRef.set(key, (resolving = resolver(ref, d.platform)));
    pending.push(
      resolving.then(
        (config) => {
          if (config) d.resolvedConfig = config;
        },
        (err: unknown) => {
          const e = err as Error;
          throw new DockerfileError(GraphCode.ImageResolve, `${refString}: ${e.message}`, { range: d.range, cause: err, ...(err instanceof KilnError && err.hint ? { hint: err.hint } : {}) });
        },
      ),
    );
  }
  await Promise.all(pending);
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/** Start a stage: inherit from its base (stage, image, context or scratch), then BuildKit's per-stage setup. */
function initState(ctx: ConvertContext, d: DispatchState): void {
  const platformString = (p: Platform) => formatPlatform(p);
  if (d.base) {
    const b = d.base;
    d.state = b.state;
    d.platform = b.platform;
    d.image = clone(b.image);
    // triggers of the base were consumed by this stage (dispatched as ONBUILD commands)
    if (d.image.config) delete d.image.config.OnBuild;
    d.buildArgs = [...b.buildArgs];
    d.configKnown = b.configKnown;
  } else {
    d.state = emptyState(platformString(d.platform));
    let root: VertexDigest | null = null;
    if (d.baseKind === 'context' && d.namedContext!.context.type === 'local') {
      root = ctx.localVertex(d.namedContext!.name);
      d.image = emptyImage(d.platform);
    } else if (d.baseKind === 'scratch') {
      d.image = emptyImage(d.platform);
      d.configKnown = true;
    } else {
      const ref = d.baseKind === 'context' ? parseReference((d.namedContext!.context as { ref: string }).ref).toString() : d.baseName;
      const cfg = d.resolvedConfig;
      d.configKnown = cfg !== undefined;
      d.image = cfg ? clone(cfg) : unknownImage(d.platform);
      delete d.image.created;
      d.image.config ??= {};
      if (d.image.config.OnBuild) delete d.image.config.OnBuild;
      const scratchLike = cfg !== undefined && cfg.rootfs.diff_ids.length === 0 && (cfg.history ?? []).every((h) => h.empty_layer);
      if (!scratchLike) {
        const name = d.stage ? prefixCommand(d, `FROM ${ref}`) : `FROM ${ref}`;
        root = ctx.builder.add({ kind: 'source', source: { kind: 'image', ref, platform: platformString(d.platform) } }, [], name, [d.range], d.stageName ? { stage: d.stageName } : undefined);
      }
    }
    d.state = { ...d.state, root };
  }
  const config = (d.image.config ??= {});
  const env = config.Env ?? [];
  if (!env.some((e) => e.split('=', 1)[0] === 'PATH')) config.Env = [...env, `PATH=${DEFAULT_PATH}`];
  for (const e of config.Env ?? []) {
    const i = e.indexOf('=');
    d.state = addEnv(d.state, i === -1 ? e : e.slice(0, i), i === -1 ? '' : e.slice(i + 1));
  }
  if (config.WorkingDir) d.state = { ...d.state, dir: config.WorkingDir };
  if (config.User) d.state = { ...d.state, user: config.User };
  if (ctx.options.network) d.state = { ...d.state, network: ctx.options.network };
}

function finalConfig(ctx: ConvertContext, target: DispatchState, options: ConvertOptions): ImageConfig {
  const img = clone(target.image);
  // an explicit --platform names the image's platform; otherwise it is the base image's (BuildKit)
  if (options.platform || !img.os || !img.architecture) {
    const p = options.platform ? ctx.targetPlatform : target.platform;
    img.os = p.os;
    img.architecture = p.architecture;
    if (p.variant) img.variant = p.variant;
    else delete img.variant;
  }
  if (options.labels && Object.keys(options.labels).length) {
    const config = (img.config ??= {});
    config.Labels = { ...(config.Labels ?? {}), ...options.labels };
  }
  if (img.config) {
    for (const k of ['Labels', 'Volumes', 'ExposedPorts'] as const) {
      const sorted = sortKeys(img.config[k] as Record<string, never> | undefined);
      if (sorted) (img.config as Record<string, unknown>)[k] = sorted;
    }
  }
  return img;
}
