/**
 * The converter's working state (BuildKit's dispatchState / dispatchOpt). Not exported from
 * the package: convert() turns it into plain ConvertResult data.
 */
import { DockerfileError, KilnError } from '../diagnostics/errors.js';
import type { Diagnostic, SourceRange } from '../diagnostics/types.js';
import type { ImageConfig, Platform } from '../image/types.js';
import type { Command, Located, Stage } from '../instructions/types.js';
import { processWord } from '../shell/index.js';
import { suggest } from '../instructions/suggest.js';
import type { GraphBuilder } from './builder.js';
import { envMap, type State } from './state.js';
import type { ConvertOptions, NamedContext, VertexDigest } from './types.js';

export const GraphCode = {
  TargetNotFound: 'GRAPH_TARGET_NOT_FOUND',
  EmptyBaseName: 'GRAPH_EMPTY_BASE_NAME',
  InvalidPlatform: 'GRAPH_INVALID_PLATFORM',
  InvalidReference: 'GRAPH_INVALID_REFERENCE',
  StageOrder: 'GRAPH_STAGE_ORDER',
  CircularDependency: 'GRAPH_CIRCULAR_DEPENDENCY',
  InvalidStageIndex: 'GRAPH_INVALID_STAGE_INDEX',
  Expansion: 'GRAPH_EXPANSION',
  InvalidMount: 'GRAPH_INVALID_MOUNT',
  InvalidRun: 'GRAPH_INVALID_RUN',
  InvalidSource: 'GRAPH_INVALID_SOURCE',
  Onbuild: 'GRAPH_ONBUILD',
  ImageResolve: 'GRAPH_IMAGE_RESOLVE',
} as const;

export function graphError(code: string, message: string, range: SourceRange | undefined, hint?: string): DockerfileError {
  const opts: { range?: SourceRange; hint?: string } = {};
  if (range) opts.range = range;
  if (hint !== undefined) opts.hint = hint;
  return new DockerfileError(code, message, opts);
}

export interface BuildArg {
  key: string;
  value?: string;
}

export interface DispatchCommand {
  inst: Command;
  /** States this command reads (`COPY --from`, `RUN --mount=from=`), by position. */
  sources: (DispatchState | undefined)[];
  onbuild: boolean;
}

export interface DispatchState {
  /** undefined for implicit states (an image or context named by `--from`). */
  stage?: Stage;
  /** Lower-cased `AS` name. */
  name?: string;
  /** Display name: `builder`, `stage-1`; '' when the build has a single state. */
  stageName: string;
  /** FROM (or --from) value after ARG expansion. */
  baseName: string;
  baseKind: 'image' | 'stage' | 'scratch' | 'context';
  base?: DispatchState;
  namedContext?: { name: string; context: NamedContext };
  /** The stage itself is replaced by `--build-context <its name>=...`: its instructions are skipped. */
  replaced?: boolean;
  platform: Platform;
  explicitPlatform: boolean;
  range: SourceRange;
  deps: Map<DispatchState, Command | undefined>;
  commands: DispatchCommand[];
  state: State;
  image: ImageConfig;
  /** Base image config from the resolver, kept to read OnBuild triggers. */
  resolvedConfig?: ImageConfig;
  buildArgs: BuildArg[];
  unregistered: boolean;
  resolved: boolean;
  dispatched: boolean;
  onBuildInit: boolean;
  cmdTotal: number;
  cmdIndex: number;
  cmdIsOnBuild: boolean;
  /** CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  /** The base image's config is known (resolved, scratch, or a stage whose base is known). */
  configKnown?: boolean;
}

export interface ConvertContext {
  builder: GraphBuilder;
  file: string;
  escape: '\\' | '`';
  options: ConvertOptions;
  buildArgs: Record<string, string>;
  globalArgs: Map<string, string>;
  proxyEnv?: Record<string, string>;
  targetPlatform: Platform;
  states: DispatchState[];
  byName: Map<string, DispatchState>;
  /** Main-context paths read by COPY/ADD/bind mounts (BuildKit's ctxPaths). */
  ctxPaths: Set<string>;
  /** The main build context's source vertex, created on first use. */
  contextVertex(): VertexDigest;
  localVertex(name: string): VertexDigest;
  warnings: Diagnostic[];
  /**
   * ARGs declared in the stage before the command being dispatched: the first
   * `currentArgCount` entries of `currentArgs` (set per command; read only when a variable
   * is undefined, so no per-command copy is made).
   */
  currentArgs?: readonly BuildArg[];
  currentArgCount?: number;
  currentConfigKnown?: boolean;
  reportedUndefined: Set<string>;
}

function wrapExpansionError(err: unknown, range: SourceRange): never {
  if (err instanceof KilnError) {
    if (!err.range) err.range = range;
    throw err;
  }
  throw graphError(GraphCode.Expansion, (err as Error).message, range);
}

/** ProcessWord with the stage's variables (quotes removed, variables expanded). */
export function expandWord(ctx: ConvertContext, env: Map<string, string>, loc: Located): string {
  try {
    const r = processWord(loc.value, env, { escapeToken: ctx.escape, range: loc.range });
    reportUndefined(ctx, env, r.unmatched, loc.range);
    return r.result;
  } catch (err) {
    wrapExpansionError(err, loc.range);
  }
}

export function expandWords(ctx: ConvertContext, env: Map<string, string>, loc: Located): string[] {
  try {
    const r = processWord(loc.value, env, { escapeToken: ctx.escape, range: loc.range });
    reportUndefined(ctx, env, r.unmatched, loc.range);
    return r.words;
  } catch (err) {
    wrapExpansionError(err, loc.range);
  }
}

/**
 * BuildKit's UndefinedVar check: a variable that is neither in the environment nor a declared
 * ARG of the stage expands to nothing, which is usually a typo. One warning per name and line.
 */
function reportUndefined(ctx: ConvertContext, env: Map<string, string>, unmatched: ReadonlySet<string>, range: SourceRange): void {
  // without the base image's config its ENV is unknown: any name might be defined there
  if (unmatched.size === 0 || !ctx.currentConfigKnown) return;
  for (const name of unmatched) {
    if (isDeclaredArg(ctx, name)) continue;
    const key = `${name}\0${range.start.line}`;
    if (ctx.reportedUndefined.has(key)) continue;
    ctx.reportedUndefined.add(key);
    const close = suggest(name, [...env.keys()]);
    ctx.warnings.push({
      severity: 'warning',
      code: 'GRAPH_UNDEFINED_VAR',
      message: `usage of undefined variable '$${name}'${close ? ` (did you mean $${close}?)` : ''}`,
      range,
    });
  }
}

function isDeclaredArg(ctx: ConvertContext, name: string): boolean {
  const args = ctx.currentArgs ?? [];
  const count = Math.min(ctx.currentArgCount ?? 0, args.length);
  for (let i = 0; i < count; i++) if (args[i]!.key === name) return true;
  return false;
}

/** Heredoc bodies: variables expanded, quotes left alone (BuildKit's ExpandRaw). */
export function expandRaw(env: Map<string, string>, loc: Located): string {
  try {
    return processWord(loc.value, env, { escapeToken: '\\', skipProcessQuotes: true, range: loc.range }).result;
  } catch (err) {
    wrapExpansionError(err, loc.range);
  }
}

export function stateEnv(d: DispatchState): Map<string, string> {
  return envMap(d.state);
}

/** BuildKit's processCmdEnv: expand for display only; on error keep the text as written. */
export function displayExpand(ctx: ConvertContext, d: DispatchState, text: string, raw: boolean): string {
  try {
    return processWord(text, stateEnv(d), raw ? { escapeToken: ctx.escape, rawQuotes: true, skipUnsetEnv: true } : { escapeToken: ctx.escape }).result;
  } catch {
    return text;
  }
}

export function uppercaseCmd(s: string): string {
  const i = s.indexOf(' ');
  return i === -1 ? s.toUpperCase() : s.slice(0, i).toUpperCase() + s.slice(i);
}

/** `[builder 2/4] RUN make` (BuildKit's prefixCommand); advances the step counter. */
export function prefixCommand(d: DispatchState, str: string): string {
  if (d.cmdTotal === 0) return str;
  let out = '[';
  if (d.stageName !== '') out += `${d.stageName} `;
  d.cmdIndex++;
  const width = Math.floor(1 + Math.log10(d.cmdTotal));
  out += `${String(d.cmdIndex).padStart(width)}/${d.cmdTotal}] `;
  if (d.cmdIsOnBuild) out += 'ONBUILD ';
  return out + str;
}

/** The instruction as written, keyword first: what BuildKit's Command.String() gives. */
export function commandText(inst: Command): string {
  return [inst.keyword, ...inst.node.flags.map((f) => f.text), inst.original].filter((s) => s !== '').join(' ');
}

export function commitToHistory(d: DispatchState, createdBy: string, withLayer: boolean, buildkit = false): void {
  (d.image.history ??= []).push({
    created_by: buildkit ? `${createdBy} # buildkit` : createdBy,
    comment: 'buildkit.dockerfile.v0',
    ...(withLayer ? {} : { empty_layer: true }),
  });
}

/** `obj[key] = value` that also works for keys like `__proto__` (Dockerfile text is untrusted). */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  // Only `__proto__` is an accessor on Object.prototype, so only it needs defineProperty; plain
  // assignment for the other keys keeps LABEL/EXPOSE objects fast (defineProperty for every key
  // cost ~3% of convert) and has the same result.
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** `user[:group]` as written in USER or --chown. */
export function ownerOf(spec: string): { user: string; group?: string } {
  const i = spec.indexOf(':');
  return i === -1 ? { user: spec } : { user: spec.slice(0, i), group: spec.slice(i + 1) };
}

export interface CommandMeta {
  stage?: string;
  command: string;
  ignoreCache?: boolean;
  proxyEnv?: Record<string, string>;
  args?: string[];
}

/** Vertex hints for an instruction's vertex (never part of the digest). */
export function meta(ctx: ConvertContext, d: DispatchState, c: { keyword: string; original: string; node: { flags: { text: string }[] } }): CommandMeta {
  const m: CommandMeta = { command: [c.keyword, ...c.node.flags.map((f) => f.text), c.original].filter((s) => s !== '').join(' ') };
  const stage = d.name ?? d.stageName;
  if (stage) m.stage = stage;
  if (d.name && ctx.options.noCacheFilter?.some((n) => n.toLowerCase() === d.name)) m.ignoreCache = true;
  return m;
}
