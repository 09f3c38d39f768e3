/**
 * The instructions that change only the image config and the stage's environment
 * (no vertex): ARG, ENV, LABEL, USER, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, EXPOSE, VOLUME,
 * STOPSIGNAL, MAINTAINER, ONBUILD. Each records a history entry with `empty_layer`, as BuildKit.
 */
import type {
  ArgInstruction, CmdInstruction, EntrypointInstruction, EnvInstruction, ExposeInstruction, HealthcheckInstruction, LabelInstruction,
  MaintainerInstruction, OnbuildInstruction, ShellInstruction, StopSignalInstruction, UserInstruction, VolumeInstruction,
} from '../instructions/types.js';
import { checkPort, checkSignal } from '../instructions/parse-simple.js';
import type { HealthConfig, ImageConfig } from '../image/types.js';
import { goHealthcheck, goQuoteSlice, goSlice } from './gofmt.js';
import {
  commitToHistory, type ConvertContext, type DispatchState, expandWord, expandWords, graphError, setOwn, stateEnv,
} from './internal.js';
import { addEnv } from './state.js';

/** Build args that are never put into the RUN environment (BuildKit's nonEnvArgs). */
const NON_ENV_ARGS = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

function cfg(img: ImageConfig): NonNullable<ImageConfig['config']> {
  return (img.config ??= {});
}

export function convertArg(ctx: ConvertContext, d: DispatchState, c: ArgInstruction): void {
  const commit: string[] = [];
  for (const arg of c.args) {
    const hasValue = Object.hasOwn(ctx.buildArgs, arg.key);
    // the default is expanded in the environment so far (BuildKit expands ARG before dispatching it)
    const expandedDefault = arg.value === undefined ? undefined : expandWord(ctx, stateEnv(d), { value: arg.value, range: arg.range });
    let value: string | undefined;
    if (hasValue) {
      value = ctx.buildArgs[arg.key];
    } else if (expandedDefault !== undefined) {
      value = expandedDefault;
    } else if (ctx.globalArgs.has(arg.key)) {
      value = ctx.globalArgs.get(arg.key);
    }
    if (value !== undefined && !NON_ENV_ARGS.has(arg.key)) d.state = addEnv(d.state, arg.key, value);
    d.buildArgs.push(value === undefined ? { key: arg.key } : { key: arg.key, value });
    // history shows the ARG with its (expanded) default, never a --build-arg value (BuildKit as
    // bundled with docker 20.10, which test/conformance records); RUN entries show the values in effect
    commit.push(expandedDefault === undefined ? arg.key : `${arg.key}=${expandedDefault}`);
  }
  commitToHistory(d, `ARG ${commit.join(' ')}`, false);
}

/** The image's Env list: replace a variable in place or append it (BuildKit's addEnv). */
function setImageEnv(img: ImageConfig, key: string, value: string): void {
  const c = cfg(img);
  const env = c.Env ? [...c.Env] : [];
  const i = env.findIndex((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e) === key);
  if (i === -1) env.push(`${key}=${value}`);
  else env[i] = `${key}=${value}`;
  c.Env = env;
}

export function convertEnv(ctx: ConvertContext, d: DispatchState, c: EnvInstruction): void {
  const env = stateEnv(d); // one value per variable within an instruction
  const parts: string[] = [];
  for (const p of c.pairs) {
    const key = expandWord(ctx, env, { value: p.key, range: p.range });
    const value = expandWord(ctx, env, { value: p.value, range: p.range });
    if (key === '') throw graphError('INSTR_EMPTY_NAME', 'ENV names can not be blank', p.range);
    d.state = addEnv(d.state, key, value);
    setImageEnv(d.image, key, value);
    parts.push(`${key}=${value}`);
  }
  commitToHistory(d, `ENV ${parts.join(' ')}`, false);
}

export function convertLabel(ctx: ConvertContext, d: DispatchState, c: LabelInstruction): void {
  const env = stateEnv(d);
  const parts: string[] = [];
  const labels = (cfg(d.image).Labels ??= {});
  for (const p of c.pairs) {
    const key = expandWord(ctx, env, { value: p.key, range: p.range });
    const value = expandWord(ctx, env, { value: p.value, range: p.range });
    setOwn(labels, key, value);
    parts.push(`${key}=${value}`);
  }
  commitToHistory(d, `LABEL ${parts.join(' ')}`, false);
}

export function convertUser(ctx: ConvertContext, d: DispatchState, c: UserInstruction): void {
  const user = expandWord(ctx, stateEnv(d), c.user);
  d.state = { ...d.state, user };
  cfg(d.image).User = user;
  commitToHistory(d, `USER ${user}`, false);
}

/** The shell a shell-form command runs under: SHELL, else /bin/sh -c (BuildKit's withShell). */
export function withShell(img: ImageConfig, args: readonly string[]): string[] {
  const shell = img.config?.Shell?.length ? [...img.config.Shell] : ['/bin/sh', '-c'];
  return [...shell, args.join(' ')];
}

export function convertCmd(_ctx: ConvertContext, d: DispatchState, c: CmdInstruction): void {
  const args = c.prependShell ? withShell(d.image, c.cmd) : [...c.cmd];
  const config = cfg(d.image);
  config.Cmd = args;
  d.cmdSet = true;
  commitToHistory(d, `CMD ${goQuoteSlice(args)}`, false);
}

export function convertEntrypoint(_ctx: ConvertContext, d: DispatchState, c: EntrypointInstruction): void {
  const args = c.prependShell ? withShell(d.image, c.cmd ?? []) : c.cmd;
  const config = cfg(d.image);
  config.Entrypoint = args;
  if (!d.cmdSet) delete config.Cmd; // ENTRYPOINT resets a CMD inherited from the base
  commitToHistory(d, `ENTRYPOINT ${goQuoteSlice(args)}`, false);
}

export function convertShell(_ctx: ConvertContext, d: DispatchState, c: ShellInstruction): void {
  cfg(d.image).Shell = [...c.shell];
  commitToHistory(d, `SHELL ${goSlice(c.shell)}`, false);
}

export function convertHealthcheck(_ctx: ConvertContext, d: DispatchState, c: HealthcheckInstruction): void {
  const h = c.health;
  const hc: HealthConfig = { Test: [...h.test] };
  if (h.interval) hc.Interval = h.interval;
  if (h.timeout) hc.Timeout = h.timeout;
  if (h.startPeriod) hc.StartPeriod = h.startPeriod;
  if (h.startInterval) hc.StartInterval = h.startInterval;
  if (h.retries) hc.Retries = h.retries;
  cfg(d.image).Healthcheck = hc;
  commitToHistory(d, `HEALTHCHECK ${goHealthcheck(h)}`, false);
}

export function convertExpose(ctx: ConvertContext, d: DispatchState, c: ExposeInstruction): void {
  const env = stateEnv(d);
  const keys = new Set<string>();
  for (const p of c.ports) {
    for (const w of expandWords(ctx, env, p)) for (const k of checkPort({ value: w, range: p.range })) keys.add(k);
  }
  const ports = (cfg(d.image).ExposedPorts ??= {});
  for (const k of keys) setOwn(ports, k, {});
  const sorted = [...keys].sort();
  commitToHistory(d, `EXPOSE map[${sorted.map((k) => `${k}:{}`).join(' ')}]`, false);
}

export function convertVolume(ctx: ConvertContext, d: DispatchState, c: VolumeInstruction): void {
  const env = stateEnv(d);
  const vols = (cfg(d.image).Volumes ??= {});
  const list: string[] = [];
  for (const v of c.volumes) {
    const path = expandWord(ctx, env, v);
    if (path === '') throw graphError('INSTR_EMPTY_VALUE', 'VOLUME specified can not be an empty string', v.range);
    setOwn(vols, path, {});
    list.push(path);
  }
  commitToHistory(d, `VOLUME ${goSlice(list)}`, false);
}

export function convertStopSignal(ctx: ConvertContext, d: DispatchState, c: StopSignalInstruction): void {
  const sig = expandWord(ctx, stateEnv(d), c.signal);
  checkSignal({ value: sig, range: c.signal.range });
  cfg(d.image).StopSignal = sig;
  commitToHistory(d, `STOPSIGNAL ${sig}`, false);
}

export function convertMaintainer(_ctx: ConvertContext, d: DispatchState, c: MaintainerInstruction): void {
  d.image.author = c.maintainer;
  commitToHistory(d, `MAINTAINER ${c.maintainer}`, false);
}

export function convertOnbuild(_ctx: ConvertContext, d: DispatchState, c: OnbuildInstruction): void {
  const config = cfg(d.image);
  config.OnBuild = [...(config.OnBuild ?? []), c.expression];
}
