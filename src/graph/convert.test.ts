import { describe, expect, it } from 'vitest';
import { KilnError } from '../diagnostics/errors.js';
import { parse } from '../dockerfile/index.js';
import type { ImageConfig } from '../image/types.js';
import { convertAst } from './convert.js';
import type { ConvertOptions, ConvertResult, ExecOp, FileOp, Vertex } from './types.js';

const plan = (text: string, options: ConvertOptions = {}): Promise<ConvertResult> =>
  convertAst(parse(text, { file: 'Dockerfile' }), { buildPlatform: 'linux/amd64', ...options });

async function planError(text: string, options: ConvertOptions = {}): Promise<KilnError> {
  try {
    await plan(text, options);
  } catch (err) {
    expect(err).toBeInstanceOf(KilnError);
    return err as KilnError;
  }
  throw new Error('expected the plan to fail');
}

const execs = (r: ConvertResult): (Vertex & { op: ExecOp })[] => r.graph.vertices.filter((v): v is Vertex & { op: ExecOp } => v.op.kind === 'exec');
const byName = (r: ConvertResult, part: string): Vertex => {
  const v = r.graph.vertices.find((x) => x.name.includes(part));
  if (!v) throw new Error(`no vertex named like ${part}: ${r.graph.vertices.map((x) => x.name).join(' | ')}`);
  return v;
};
const envOf = (v: Vertex): string[] => (v.op as ExecOp).env;

describe('ARG scoping', () => {
  it('global ARGs feed FROM but must be re-declared to be seen in a stage', async () => {
    const r = await plan('ARG TAG=3.19\nARG HIDDEN=x\nFROM alpine:${TAG}\nARG TAG\nRUN echo $TAG $HIDDEN\n');
    expect(r.graph.vertices[0]!.op).toMatchObject({ kind: 'source', source: { ref: 'docker.io/library/alpine:3.19' } });
    const env = envOf(execs(r)[0]!);
    expect(env).toContain('TAG=3.19');
    expect(env.some((e) => e.startsWith('HIDDEN='))).toBe(false);
  });

  it('--build-arg overrides defaults, global and local', async () => {
    const r = await plan('ARG TAG=1\nFROM alpine:$TAG\nARG TAG\nARG LOCAL=default\nRUN echo\n', { buildArgs: { TAG: '2', LOCAL: 'cli' } });
    expect(r.stages[0]!.base).toBe('docker.io/library/alpine:2');
    expect(envOf(execs(r)[0]!)).toEqual(expect.arrayContaining(['TAG=2', 'LOCAL=cli']));
  });

  it('warns about undeclared ARGs in FROM', async () => {
    const r = await plan('ARG VERSION=1\nFROM alpine:${VERSIN:-3}\n');
    expect(r.warnings).toEqual([expect.objectContaining({ code: 'GRAPH_UNDEFINED_ARG_IN_FROM', hint: 'did you mean VERSION?' })]);
    expect(r.warnings[0]!.range!.start).toEqual({ line: 2, column: 6 });
  });

  it('warns about undefined variables, not about declared ARGs without a value', async () => {
    const text = 'FROM alpine\nARG EMPTY\nENV APP=/app\nWORKDIR $APPP/$EMPTY\nCOPY x ${APP}/\n';
    const base: ImageConfig = { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } };
    const r = await plan(text, { imageResolver: async () => base });
    expect(r.warnings.map((w) => [w.code, w.message, w.range!.start.line])).toEqual([
      ['GRAPH_UNDEFINED_VAR', "usage of undefined variable '$APPP' (did you mean $APP?)", 4],
    ]);
    // without the base image's config its ENV is unknown, so nothing is reported
    expect((await plan(text)).warnings).toEqual([]);
  });

  it('warns about build args nothing declares', async () => {
    const r = await plan('ARG USED\nFROM alpine\nARG LOCAL\n', { buildArgs: { USED: '1', LOCAL: '2', TYPO: '3', HTTP_PROXY: 'x', TARGETARCH: 'arm64' } });
    expect(r.warnings).toEqual([expect.objectContaining({ code: 'GRAPH_UNUSED_BUILD_ARG', message: 'one or more build-args [TYPO] were not consumed' })]);
  });

  it('uses the build --network as the RUN default', async () => {
    const r = await plan('FROM alpine\nRUN a\nRUN --network=default b\n', { network: 'host' });
    expect(execs(r).map((v) => v.op.network)).toEqual(['host', 'default']);
  });

  it('takes the RUN hostname and cache namespace from BuildKit build args', async () => {
    const r = await plan('FROM alpine\nRUN --mount=type=cache,target=/c x\n', { buildArgs: { BUILDKIT_SANDBOX_HOSTNAME: 'box', BUILDKIT_CACHE_MOUNT_NS: 'ns' } });
    expect(execs(r)[0]!.op).toMatchObject({ hostname: 'box', mounts: [{ id: 'ns//c' }] });
  });

  it('provides the automatic platform ARGs', async () => {
    const r = await plan('FROM --platform=$BUILDPLATFORM alpine AS b\nARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDPLATFORM\nRUN x\n', { platform: 'linux/arm/v7' });
    expect(envOf(execs(r)[0]!)).toEqual(expect.arrayContaining([
      'TARGETPLATFORM=linux/arm/v7', 'TARGETOS=linux', 'TARGETARCH=arm', 'TARGETVARIANT=v7', 'BUILDPLATFORM=linux/amd64',
    ]));
    // the stage itself runs on the build platform
    expect(r.graph.vertices[0]!.op).toMatchObject({ source: { platform: 'linux/amd64' } });
    expect(r.config).toMatchObject({ architecture: 'arm', variant: 'v7', os: 'linux' });
  });

  it('keeps proxy build args out of env and digests but hands them to RUN', async () => {
    const a = await plan('FROM alpine\nRUN apk add curl\n');
    const b = await plan('FROM alpine\nRUN apk add curl\n', { buildArgs: { HTTP_PROXY: 'http://p:3128', no_proxy: 'localhost' } });
    expect(b.graph.target).toBe(a.graph.target);
    expect(execs(b)[0]!.meta?.proxyEnv).toEqual({ HTTP_PROXY: 'http://p:3128', no_proxy: 'localhost' });
    expect(b.config.history!.map((h) => h.created_by).join('\n')).not.toContain('proxy');
  });

  it('a later ENV wins over an ARG of the same name, and the reverse', async () => {
    const r = await plan('FROM alpine\nARG V=arg\nENV V=env\nRUN one\nARG V\nRUN two\n');
    expect(envOf(byName(r, 'RUN one'))).toContain('V=env');
    expect(r.config.config!.Env).toContain('V=env');
  });

  it("names the env entries a build ARG set (for cache-miss reasons), not those an ENV set after it", async () => {
    const r = await plan('FROM alpine\nARG A=1 B=2\nENV B=3\nRUN x\n', { buildArgs: { A: 'cli' } });
    expect(byName(r, 'RUN x').meta?.args).toEqual(['A']);
  });

  it('a changed ARG changes only vertices after its declaration', async () => {
    const text = 'FROM alpine\nRUN before\nARG X=1\nCOPY a /a\nRUN after\n';
    const a = await plan(text);
    const b = await plan(text, { buildArgs: { X: '2' } });
    expect(byName(b, 'RUN before').digest).toBe(byName(a, 'RUN before').digest);
    expect(byName(b, 'COPY a').digest).toBe(byName(a, 'COPY a').digest);
    expect(byName(b, 'RUN after').digest).not.toBe(byName(a, 'RUN after').digest);
  });
});

describe('stage state', () => {
  it('inherits ENV, WORKDIR and USER from a base stage and adds the default PATH once', async () => {
    const r = await plan('FROM alpine AS base\nENV A=1\nWORKDIR /app\nUSER 1000\nFROM base\nRUN id\n');
    const run = execs(r)[0]!.op;
    expect(run.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1']);
    expect(run.cwd).toBe('/app');
    expect(run.user).toBe('1000');
    expect(r.config.config).toMatchObject({ WorkingDir: '/app', User: '1000' });
  });

  it('keeps the base image PATH and inherits its config through imageResolver', async () => {
    const base: ImageConfig = {
      architecture: 'amd64', os: 'linux', created: '2020-01-01T00:00:00Z',
      config: { Env: ['PATH=/opt/bin', 'LANG=C'], WorkingDir: '/srv', User: 'www', Cmd: ['serve'] },
      rootfs: { type: 'layers', diff_ids: [] }, history: [{ created_by: '/bin/sh -c #(nop) ADD file:x in /' }],
    };
    const seen: string[] = [];
    const r = await plan('FROM example/web\nRUN ls\n', { imageResolver: async (ref) => (seen.push(ref), base) });
    expect(seen).toEqual(['docker.io/example/web:latest']);
    const run = execs(r)[0]!.op;
    expect(run.env).toEqual(['PATH=/opt/bin', 'LANG=C']);
    expect([run.cwd, run.user]).toEqual(['/srv', 'www']);
    expect(r.config.created).toBeUndefined();
    expect(r.config.history![0]!.created_by).toBe('/bin/sh -c #(nop) ADD file:x in /');
    expect(r.config.config!.Cmd).toEqual(['serve']);
  });

  it('resolves a base image several stages name once, and gives each stage its own copy of the config', async () => {
    const base: ImageConfig = { architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: [] } };
    const seen: string[] = [];
    const r = await plan('FROM busybox AS a\nENV A=1\nRUN a\nFROM busybox AS b\nRUN b\nFROM busybox\nCOPY --from=a /x /a\nCOPY --from=b /x /b\n', {
      imageResolver: async (ref) => (seen.push(ref), base),
    });
    expect(seen).toEqual(['docker.io/library/busybox:latest']);
    const envs = execs(r).map((v) => v.op.env);
    expect(envs).toEqual([['PATH=/bin', 'A=1'], ['PATH=/bin']]);
    expect(base.config!.Env).toEqual(['PATH=/bin']);
  });

  it('resolves relative WORKDIRs against the previous one and creates them', async () => {
    const r = await plan('FROM alpine\nUSER app\nWORKDIR a\nWORKDIR b/../c\nWORKDIR /\n');
    expect(r.config.config!.WorkingDir).toBe('/');
    const mkdirs = r.graph.vertices.filter((v) => v.op.kind === 'file').map((v) => (v.op as FileOp).actions[0]);
    expect(mkdirs).toEqual([
      { action: 'mkdir', path: '/a', mode: 0o755, makeParents: true, owner: { user: 'app' } },
      { action: 'mkdir', path: '/a/c', mode: 0o755, makeParents: true, owner: { user: 'app' } },
    ]);
    expect(r.config.history!.map((h) => [h.created_by, h.empty_layer ?? false])).toEqual([
      ['USER app', true], ['WORKDIR /a', false], ['WORKDIR /a/c', false], ['WORKDIR /', true],
    ]);
  });

  it('runs shell form under SHELL and records BuildKit-style history', async () => {
    const r = await plan('FROM alpine\nARG A=1\nSHELL ["/bin/bash", "-c"]\nRUN echo hi\nRUN ["echo", "exec"]\n');
    expect(execs(r).map((v) => v.op.args)).toEqual([['/bin/bash', '-c', 'echo hi'], ['echo', 'exec']]);
    expect(r.config.history!.map((h) => h.created_by)).toEqual([
      'ARG A=1', 'SHELL [/bin/bash -c]', 'RUN |1 A=1 /bin/bash -c echo hi # buildkit', 'RUN |1 A=1 echo exec # buildkit',
    ]);
  });

  it('ENTRYPOINT resets an inherited CMD but keeps one set in the same stage', async () => {
    const a = await plan('FROM alpine AS base\nCMD ["base"]\nFROM base\nENTRYPOINT ["/e"]\n');
    expect(a.config.config!.Cmd).toBeUndefined();
    expect(a.config.config!.Entrypoint).toEqual(['/e']);
    const b = await plan('FROM alpine\nCMD ["mine"]\nENTRYPOINT ["/e"]\n');
    expect(b.config.config!.Cmd).toEqual(['mine']);
  });

  it('collects the image metadata', async () => {
    const r = await plan([
      'FROM alpine', 'MAINTAINER me', 'LABEL a=1 "b c"="d e"', 'EXPOSE 80 53/udp 7000-7001', 'VOLUME ["/data"] ', 'STOPSIGNAL SIGINT',
      'HEALTHCHECK --interval=5m --timeout=3s CMD curl -f http://localhost/', 'ONBUILD RUN echo child', 'USER nobody', '',
    ].join('\n'), { labels: { extra: 'yes' } });
    expect(r.config.author).toBe('me');
    expect(r.config.config).toMatchObject({
      Labels: { a: '1', 'b c': 'd e', extra: 'yes' },
      ExposedPorts: { '80/tcp': {}, '53/udp': {}, '7000/tcp': {}, '7001/tcp': {} },
      Volumes: { '/data': {} },
      StopSignal: 'SIGINT',
      Healthcheck: { Test: ['CMD-SHELL', 'curl -f http://localhost/'], Interval: 300e9, Timeout: 3e9 },
      OnBuild: ['RUN echo child'],
      User: 'nobody',
    });
    const hist = r.config.history!.map((h) => h.created_by);
    expect(hist).toContain('EXPOSE map[53/udp:{} 7000/tcp:{} 7001/tcp:{} 80/tcp:{}]');
    expect(hist).toContain('HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/"] "5m0s" "3s" "0s" \'\\x00\'}');
    expect(r.config.history!.every((h) => h.empty_layer)).toBe(true);
    // metadata never changes the filesystem graph
    const bare = await plan('FROM alpine\n');
    expect(r.graph.target).toBe(bare.graph.target);
  });
});

describe('graph shape and digests', () => {
  const text = 'FROM alpine AS a\nRUN make\nFROM alpine AS b\nRUN make\nRUN test\nFROM alpine AS c\nCOPY --from=a /x /x\nCOPY --from=b /y /y\n';

  it('is deterministic', async () => {
    const a = await plan(text);
    const b = await plan(text);
    expect(JSON.stringify(b.graph)).toBe(JSON.stringify(a.graph));
    for (const v of a.graph.vertices) expect(v.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('merges identical vertices and keeps every range', async () => {
    const r = await plan(text);
    const makes = r.graph.vertices.filter((v) => v.name.includes('RUN make'));
    expect(makes).toHaveLength(1);
    expect(makes[0]!.ranges.map((x) => x.start.line)).toEqual([2, 4]);
    expect(r.graph.vertices.filter((v) => v.op.kind === 'source')).toHaveLength(1);
    // inputs precede their users and no digest repeats
    const pos = new Map(r.graph.vertices.map((v, i) => [v.digest, i]));
    expect(pos.size).toBe(r.graph.vertices.length);
    for (const v of r.graph.vertices) for (const i of v.inputs) expect(pos.get(i)!).toBeLessThan(pos.get(v.digest)!);
  });

  it('changes exactly the vertices downstream of an edit', async () => {
    const a = await plan(text);
    const b = await plan(text.replace('RUN test', 'RUN test -v'));
    const changed = b.graph.vertices.filter((v) => !a.graph.vertices.some((x) => x.digest === v.digest)).map((v) => v.name);
    expect(changed).toEqual(['[b 3/3] RUN test -v', '[c 3/3] COPY --from=b /y /y']);
    expect(b.graph.target).not.toBe(a.graph.target);
  });

  it('prunes stages the target does not reach, even broken ones', async () => {
    const t = 'FROM alpine AS one\nRUN one\nFROM NOT/Valid::ref AS broken\nRUN x\nFROM one AS two\nRUN two\nFROM alpine AS other\nRUN other\n';
    const r = await plan(t, { target: 'two' });
    expect(r.graph.vertices.map((v) => v.name)).toEqual(['[one 1/2] FROM docker.io/library/alpine:latest', '[one 2/2] RUN one', '[two 1/1] RUN two']);
    expect(r.stages.map((s) => [s.name, s.reachable])).toEqual([['one', true], ['broken', false], ['two', true], ['other', false]]);
    expect(r.targetStage).toBe('two');
    const err = await planError(t, { target: 'broken' });
    expect(err.code).toBe('GRAPH_INVALID_REFERENCE');
    expect(err.range!.start.line).toBe(3);
  });

  it('builds heredocs into inline files and scripts', async () => {
    const r = await plan('FROM alpine\nRUN <<EOF\n#!/bin/sh\necho hi\nEOF\nARG WHO=you\nCOPY <<EOF /hello\nhi $WHO\nEOF\n');
    const script = r.graph.vertices.find((v) => v.op.kind === 'file' && (v.op as FileOp).actions[0]!.action === 'mkfile' && (v.op as FileOp).actions[0]!.mode === 0o755)!;
    expect((script.op as FileOp).actions[0]).toMatchObject({ path: '/EOF', data: '#!/bin/sh\necho hi\n' });
    const run = execs(r)[0]!.op;
    expect(run.args).toEqual(['/bin/sh', '-c', '/dev/pipes/EOF']);
    expect(run.mounts).toEqual([{ type: 'bind', target: '/dev/pipes/', input: 1, source: '/', readonly: true }]);
    const doc = r.graph.vertices.find((v) => v.op.kind === 'file' && (v.op as FileOp).actions[0]!.action === 'mkfile' && (v.op as FileOp).actions[0]!.mode === 0o644)!;
    expect((doc.op as FileOp).actions[0]).toMatchObject({ path: '/EOF', data: 'hi you\n' });
  });

  it('uses a merge for COPY --link', async () => {
    const r = await plan('FROM alpine\nCOPY --link a /a\n');
    const merge = r.graph.vertices.find((v) => v.op.kind === 'merge')!;
    expect(merge.name).toBe('[2/2] LINK COPY --link a /a');
    expect(r.graph.target).toBe(merge.digest);
    const copy = byName(r, '] COPY --link');
    expect((copy.op as FileOp).base).toBeNull();
  });

  it('resolves COPY --from by name, index and image', async () => {
    const r = await plan('FROM alpine AS a\nRUN a\nFROM busybox\nCOPY --from=A /a /a\nCOPY --from=0 /b /b\nCOPY --from=nginx:1 /c /c\n');
    const [byNameV, byIndex, byImage] = r.graph.vertices.filter((v) => v.name.includes('COPY'));
    const runA = byName(r, 'RUN a').digest;
    expect(byNameV!.inputs).toContain(runA);
    expect(byIndex!.inputs).toContain(runA);
    expect(r.graph.vertices.find((v) => v.digest === byImage!.inputs[1])!.op).toMatchObject({ source: { kind: 'image', ref: 'docker.io/library/nginx:1' } });
  });

  it('never puts secret values in the graph', async () => {
    const r = await plan('FROM alpine\nRUN --mount=type=secret,id=tok,env=TOKEN cmd\n', { buildArgs: {} });
    const m = execs(r)[0]!.op.mounts[0]!;
    expect(m).toEqual({ type: 'secret', id: 'tok', env: 'TOKEN', required: false, uid: 0, gid: 0, mode: 0o400 });
  });

  it('uses named build contexts for stages, bases and --from', async () => {
    const r = await plan('FROM alpine AS deps\nRUN x\nFROM base\nCOPY --from=deps /a /a\n', {
      contexts: { deps: { type: 'local', path: '/tmp/deps' }, base: { type: 'image', ref: 'debian:12' } },
    });
    expect(r.graph.vertices.map((v) => v.op.kind === 'source' ? v.op.source : v.op.kind)).toEqual([
      { kind: 'local', name: 'deps', excludePatterns: [] },
      { kind: 'image', ref: 'docker.io/library/debian:12', platform: 'linux/amd64' },
      'file',
    ]);
    expect(r.graph.contexts).toEqual({ deps: { path: '/tmp/deps' } });
  });

  it('applies ONBUILD triggers of a base stage and of a base image', async () => {
    const r = await plan('FROM alpine AS base\nONBUILD RUN from-stage\nFROM base\nRUN mine\n');
    expect(execs(r).map((v) => v.name)).toEqual(['[stage-1 1/2] ONBUILD RUN from-stage', '[stage-1 2/2] RUN mine']);
    expect(r.config.config!.OnBuild).toBeUndefined();
    const img: ImageConfig = { architecture: 'amd64', os: 'linux', config: { OnBuild: ['COPY --from=helper /h /h', 'RUN setup'] }, rootfs: { type: 'layers', diff_ids: ['sha256:aa' as never] } };
    const r2 = await plan('FROM alpine AS helper\nRUN h\nFROM lib/onbuild\nRUN mine\n', { imageResolver: async (ref) => (ref.includes('onbuild') ? img : undefined) });
    expect(r2.graph.vertices.map((v) => v.name).filter((n) => n.includes('ONBUILD'))).toEqual(['[stage-1 2/4] ONBUILD COPY --from=helper /h /h', '[stage-1 3/4] ONBUILD RUN setup']);
  });
});

describe('hostile names', () => {
  it('keeps __proto__ and constructor as ordinary labels, volumes and stage names', async () => {
    const r = await plan('FROM alpine AS constructor\nLABEL __proto__=x constructor=y\nVOLUME __proto__\n', { contexts: {} });
    expect(Object.keys(r.config.config!.Labels!)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(r.config.config!.Labels)).toBe(Object.prototype);
    expect(Object.keys(r.config.config!.Volumes!)).toEqual(['__proto__']);
    expect(r.stages[0]!.baseKind).toBe('image');
  });
});

describe('errors', () => {
  it.each([
    ['FROM alpine AS a\nRUN x\n', { target: 'b' }, 'GRAPH_TARGET_NOT_FOUND', undefined],
    ['FROM alpine AS first\nCOPY --from=later /a /a\nFROM alpine AS later\n', { target: 'first' }, 'GRAPH_STAGE_ORDER', 2],
    ['FROM alpine AS a\nCOPY --from=a /x /x\n', {}, 'GRAPH_CIRCULAR_DEPENDENCY', 2],
    ['FROM alpine\nCOPY --from=7 /x /x\n', {}, 'GRAPH_INVALID_STAGE_INDEX', 2],
    ['ARG IMG\nFROM $IMG\n', {}, 'GRAPH_EMPTY_BASE_NAME', 2],
    ['FROM alpine\nARG T=x\nRUN --mount=type=$T,target=/x cmd\n', {}, 'INSTR_INVALID_MOUNT', 3],
    ['FROM alpine\nRUN --mount=type=cache cmd\n', {}, 'GRAPH_INVALID_MOUNT', 2],
    ['FROM alpine\nARG M=99999\nCOPY --chmod=$M a /a\n', {}, 'INSTR_INVALID_CHMOD', 3],
    ['FROM alpine\nCOPY https://example.com/x /x\n', {}, 'GRAPH_INVALID_SOURCE', 2],
    ['FROM alpine\nADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d a.txt /x\n', {}, 'GRAPH_INVALID_SOURCE', 2],
    ['FROM alpine\nARG P="a b"\nEXPOSE $P\n', {}, 'INSTR_INVALID_PORT', 3],
    ['FROM --platform=linux/xx/yy/zz alpine\n', {}, 'GRAPH_INVALID_PLATFORM', 1],
    ['FROM alpine\nRUN echo ${x:?must be set}\nENV A=${B:?required}\n', {}, 'SHELL_REQUIRED_VARIABLE', 3],
  ])('%j fails with %s', async (text, options, code, line) => {
    const err = await planError(text, options as ConvertOptions);
    expect(err.code).toBe(code);
    if (line === undefined) expect(err.range).toBeUndefined();
    else expect(err.range!.start.line).toBe(line);
  });
});
