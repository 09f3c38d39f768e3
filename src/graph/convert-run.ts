/**
 * RUN -> exec vertex (BuildKit's dispatchRun + convert_runmount.go + convert_secrets.go).
 * Heredocs: `RUN <<EOF` runs the body with the shell, or, when it starts with `#!`, as a script
 * file mounted read-only at /dev/pipes/; other heredoc forms are handed to the shell whole.
 */
import { MountSyntaxError, parseMount } from '../instructions/mount.js';
import { heredocName } from '../instructions/heredoc.js';
import type { RunInstruction, RunMount } from '../instructions/types.js';
import { Inputs } from './builder.js';
import { withShell } from './convert-meta.js';
import {
  commandText, commitToHistory, meta, type ConvertContext, type DispatchState, displayExpand, expandWord, GraphCode, graphError, prefixCommand,
  stateEnv, uppercaseCmd,
} from './internal.js';
import { clean, join } from './paths.js';
import { envList } from './state.js';
import type { ExecMount, ExecOp, VertexDigest } from './types.js';

function summarizeHeredoc(doc: string): string {
  const lines = doc.trim().replace(/\r\n/g, '\n').split('\n');
  return lines[0]! + (lines.length > 1 ? '...' : '');
}

export function convertRun(ctx: ConvertContext, d: DispatchState, c: RunInstruction, sources: readonly (DispatchState | undefined)[]): void {
  const inputs = new Inputs();
  const rootfs = inputs.ref(d.state.root);
  const mounts: ExecMount[] = [];
  let customName = commandText(c);
  let args = [...c.cmd];

  if (c.heredocs.length > 0) {
    if (args.length !== 1 || !c.prependShell) throw graphError(GraphCode.InvalidRun, `parsing produced an invalid run command: ${JSON.stringify(args)}`, c.range);
    const first = c.heredocs[0]!;
    if (heredocName(args[0]!.trim())) {
      if (first.data.startsWith('#!')) {
        // a script with a shebang: write it to a file and run that
        const file = `/${first.name}`;
        const script = ctx.builder.add(
          { kind: 'file', base: null, actions: [{ action: 'mkfile', path: file, mode: 0o755, data: first.data }], platform: d.state.platform },
          [],
          '[internal] preparing inline document',
          [c.range],
        );
        mounts.push({ type: 'bind', target: '/dev/pipes/', input: inputs.ref(script), source: '/', readonly: true });
        args = [`/dev/pipes/${first.name}`];
      } else {
        args = [first.data];
      }
      customName += ` (${summarizeHeredoc(first.data)})`;
    } else {
      let full = args[0]!;
      for (const h of c.heredocs) full += `\n${h.data}${h.name}`;
      args = [full];
    }
  }
  if (c.prependShell) args = withShell(d.image, args);

  mounts.push(...runMounts(ctx, d, c, sources, inputs));

  const op: ExecOp = {
    kind: 'exec',
    args,
    env: envList(d.state),
    cwd: d.state.dir,
    user: d.state.user,
    rootfs,
    mounts,
    network: c.network ?? d.state.network,
    security: c.security ?? 'sandbox',
    platform: d.state.platform,
  };
  if (ctx.options.hostname) op.hostname = ctx.options.hostname;
  if (c.devices.length) op.devices = c.devices.map((dev) => ({ name: expandWord(ctx, stateEnv(d), { value: dev.name, range: c.range }), required: dev.required }));
  const name = prefixCommand(d, uppercaseCmd(displayExpand(ctx, d, customName, true)));
  const m = meta(ctx, d, c);
  if (ctx.proxyEnv) m.proxyEnv = { ...ctx.proxyEnv };
  // the names whose value in env is the ARG's (an ENV after it may have set another)
  const env = stateEnv(d);
  const argValues = new Map(d.buildArgs.filter((a) => a.value !== undefined).map((a) => [a.key, a.value]));
  const argNames = [...argValues].filter(([k, v]) => env.get(k) === v).map(([k]) => k);
  if (argNames.length) m.args = argNames;
  const root = ctx.builder.add(op, inputs.list, name, [c.range], m);
  d.state = { ...d.state, root };
  commitToHistory(d, `RUN ${runCommandString(d, args)}`, true, true);
}

/** BuildKit's runCommandString: `|N K=V ... args` with the build args in scope. */
function runCommandString(d: DispatchState, args: readonly string[]): string {
  const env = stateEnv(d);
  const order: string[] = [];
  const values = new Map<string, string>();
  for (const a of d.buildArgs) {
    const v = env.get(a.key) ?? a.value ?? '';
    if (!values.has(a.key)) order.push(a.key);
    values.set(a.key, v);
  }
  const prefix = order.length ? [`|${order.length}`, ...order.map((k) => `${k}=${values.get(k)}`)] : [];
  return [...prefix, ...args].join(' ');
}

function runMounts(ctx: ConvertContext, d: DispatchState, c: RunInstruction, sources: readonly (DispatchState | undefined)[], inputs: Inputs): ExecMount[] {
  const out: ExecMount[] = [];
  const env = stateEnv(d);
  let sshIndex = 0;
  c.mountFlags.forEach((flag, i) => {
    let m: RunMount;
    try {
      m = parseMount(flag.value, (w) => expandWord(ctx, env, { value: w, range: flag.range }));
    } catch (err) {
      if (err instanceof MountSyntaxError) throw graphError('INSTR_INVALID_MOUNT', err.message, flag.range, err.hint);
      throw err;
    }
    if (m.type === 'secret') {
      let id = m.source || m.id || '';
      if (id === '') {
        if (!m.target) throw graphError(GraphCode.InvalidMount, 'one of source, target required', flag.range);
        id = m.target.split('/').filter(Boolean).pop() ?? m.target;
      }
      const secret: ExecMount = { type: 'secret', id, required: m.required, uid: m.uid ?? 0, gid: m.gid ?? 0, mode: m.mode ?? 0o400 };
      if (m.target) secret.target = absTarget(d, m.target, flag.range);
      else if (m.env === undefined) secret.target = `/run/secrets/${id.split('/').filter(Boolean).pop() ?? id}`;
      if (m.env !== undefined) secret.env = m.env === '' ? id : m.env;
      out.push(secret);
      return;
    }
    if (m.type === 'ssh') {
      const target = m.target ? absTarget(d, m.target, flag.range) : `/run/buildkit/ssh_agent.${sshIndex}`;
      sshIndex++;
      out.push({ type: 'ssh', id: m.id || 'default', target, required: m.required, uid: m.uid ?? 0, gid: m.gid ?? 0, mode: m.mode ?? 0o600 });
      return;
    }
    const target = absTarget(d, m.target ?? '', flag.range);
    if (m.type === 'tmpfs') {
      const t: ExecMount = { type: 'tmpfs', target };
      if (m.size !== undefined) t.size = m.size;
      out.push(t);
      return;
    }
    // bind and cache: the filesystem they show
    let src: VertexDigest | null;
    const from = sources[i];
    if (from) {
      if (!from.dispatched) {
        throw graphError(GraphCode.StageOrder, `cannot use stage "${from.name ?? from.baseName}" in --mount=from, it needs to be defined before current stage "${d.stageName || d.name}"`, flag.range);
      }
      src = from.state.root;
    } else if (m.type === 'cache' || m.from === 'scratch') {
      src = null;
    } else {
      src = ctx.contextVertex();
      ctx.ctxPaths.add(join('/', m.source ?? ''));
    }
    const source = join('/', m.source ?? '') || '/';
    if (m.type === 'bind') {
      out.push({ type: 'bind', target, input: inputs.ref(src), source, readonly: m.readonly });
      return;
    }
    const id = m.id || clean(m.target ?? '');
    out.push({
      type: 'cache',
      target,
      id: ctx.options.cacheIdNamespace ? `${ctx.options.cacheIdNamespace}/${id}` : id,
      sharing: m.sharing ?? 'shared',
      readonly: m.readonly,
      input: inputs.ref(src),
      source,
      uid: m.uid ?? 0,
      gid: m.gid ?? 0,
      mode: m.mode ?? 0o755,
    });
  });
  return out;
}

function absTarget(d: DispatchState, target: string, range: RunInstruction['range']): string {
  const t = target.startsWith('/') ? clean(target) : join('/', d.state.dir, target);
  if (t === '/' || t === '') throw graphError(GraphCode.InvalidMount, `invalid mount target "${t || target}"`, range, 'set target=<absolute path>, e.g. target=/root/.cache');
  return t;
}
