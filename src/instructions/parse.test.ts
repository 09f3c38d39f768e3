import { describe, expect, it } from 'vitest';
import type { Ast, FlagNode, InstructionNode } from '../dockerfile/types.js';
import { DiagnosticsError, DockerfileError, KilnError } from '../diagnostics/errors.js';
import { parseDockerfile, parseInstruction } from './parse.js';
import type { CopyInstruction, RunInstruction } from './types.js';

// Hand-built AST nodes (one instruction per line, words laid out left to right), so these
// tests do not depend on the parser.
let line = 0;
const r = (l: number, c: number, len: number) => ({ file: 'Dockerfile', start: { line: l, column: c }, end: { line: l, column: c + len } });
function node(keyword: string, words: string[], opts: { flags?: string[]; json?: boolean; child?: InstructionNode; heredocs?: InstructionNode['heredocs'] } = {}): InstructionNode {
  const l = ++line;
  let col = keyword.length + 2;
  const flags: FlagNode[] = (opts.flags ?? []).map((text) => {
    const body = text.slice(2);
    const eq = body.indexOf('=');
    const f: FlagNode = { text, name: eq === -1 ? body : body.slice(0, eq), range: r(l, col, text.length) };
    if (eq !== -1) f.value = body.slice(eq + 1);
    col += text.length + 1;
    return f;
  });
  const args = words.map((value) => {
    const a = { value, range: r(l, col, value.length) };
    col += value.length + 1;
    return a;
  });
  const n: InstructionNode = {
    keyword, flags, args, json: opts.json ?? false, heredocs: opts.heredocs ?? [],
    original: [...(opts.flags ?? []), ...words].join(' '), range: r(l, 1, col),
  };
  if (opts.child) n.child = opts.child;
  return n;
}
const ast = (...instructions: InstructionNode[]): Ast => ({ file: 'Dockerfile', directives: {}, directiveRanges: {}, instructions, warnings: [] });

function errorOf(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KilnError);
    return err as KilnError;
  }
  throw new Error('expected an error');
}

describe('parseDockerfile', () => {
  it('groups stages and meta ARGs', () => {
    const df = parseDockerfile(ast(
      node('ARG', ['BASE=busybox']),
      node('FROM', ['$BASE', 'AS', 'Builder']),
      node('RUN', ['make']),
      node('from', ['scratch']),
      node('COPY', ['/out', '/'], { flags: ['--from=builder'] }),
    ));
    expect(df.metaArgs).toHaveLength(1);
    expect(df.metaArgs[0]!.args[0]).toMatchObject({ key: 'BASE', value: 'busybox' });
    expect(df.stages.map((s) => [s.index, s.name, s.commands.map((c) => c.kind)])).toEqual([
      [0, 'builder', ['run']],
      [1, undefined, ['copy']],
    ]);
    expect((df.stages[1]!.commands[0] as CopyInstruction).from?.value).toBe('builder');
  });

  it('reports several problems together, each with its range', () => {
    const err = errorOf(() => parseDockerfile(ast(
      node('FROM', ['busybox']),
      node('RUNN', ['x']),
      node('COPY', ['a', 'b'], { flags: ['--form=x'] }),
      node('EXPOSE', ['80/tcpx']),
    )));
    expect(err).toBeInstanceOf(DiagnosticsError);
    const diags = (err as DiagnosticsError).diagnostics;
    expect(diags.map((d) => d.code)).toEqual(['INSTR_UNKNOWN_INSTRUCTION', 'INSTR_UNKNOWN_FLAG', 'INSTR_INVALID_PORT']);
    expect(diags[0]!.message).toBe('unknown instruction "RUNN" (did you mean "RUN"?)');
    expect(diags[1]!.hint).toContain('did you mean --from?');
    expect(diags[1]!.hint).toContain('--chmod, --chown, --exclude, --from, --link, --parents');
    expect(diags[1]!.range!.start.column).toBe(6);
    expect(diags[2]!.range!.start).toEqual({ line: line, column: 8 });
  });

  it('rejects instructions before FROM other than ARG', () => {
    const err = errorOf(() => parseDockerfile(ast(node('RUN', ['x']), node('FROM', ['a']))));
    expect(err.code).toBe('INSTR_NO_STAGE');
  });
});

describe('parseInstruction', () => {
  it('validates FROM forms and stage names', () => {
    expect(errorOf(() => parseInstruction(node('FROM', ['a', 'b']))).code).toBe('INSTR_TOO_MANY_ARGUMENTS');
    const bad = errorOf(() => parseInstruction(node('FROM', ['a', 'AS', '1x'])));
    expect(bad.code).toBe('INSTR_INVALID_STAGE_NAME');
    expect(bad.range!.start.column).toBe(11);
    expect(parseInstruction(node('FROM', ['a'], { flags: ['--platform=linux/arm64'] }))).toMatchObject({ platform: { value: 'linux/arm64' } });
  });

  it('parses RUN mounts, network and security', () => {
    const run = parseInstruction(node('RUN', ['go build'], {
      flags: ['--mount=type=cache,target=/root/.cache,sharing=locked,mode=0700,uid=1000', '--mount=type=secret,id=tok,required', '--network=none', '--security=insecure'],
    })) as RunInstruction;
    expect(run.mounts[0]).toEqual({ type: 'cache', target: '/root/.cache', sharing: 'locked', mode: 0o700, uid: 1000, readonly: false, required: false });
    expect(run.mounts[1]).toMatchObject({ type: 'secret', id: 'tok', required: true, readonly: true });
    expect(run.network).toBe('none');
    expect(run.security).toBe('insecure');
  });

  it.each([
    ['--mount=type=bnd,target=/x', 'unsupported mount type "bnd"'],
    ['--mount=type=bind,target=/x,mode=0755', 'mode not allowed for "bind" type mounts'],
    ['--mount=type=cache,target=/x,sharing=everyone', 'unsupported sharing value "everyone"'],
    ['--mount=type=secret,from=x,target=/s', 'secret mount should not have a from'],
    ['--mount=type=bind,from=$STAGE,target=/x', "'from' doesn't support variable expansion, define alias stage instead"],
    ['--mount=type=bind,required', "unexpected key 'required' for mount type 'bind'"],
    ['--mount=type=tmpfs,target=/t,size=lots', 'invalid value for size: lots'],
    ['--mount=type=bind,targte=/x', "unexpected key 'targte' in 'targte=/x'"],
    ['--mount=type=cache,target', "invalid field 'target' must be a key=value pair"],
  ])('rejects %s', (flag, message) => {
    const err = errorOf(() => parseInstruction(node('RUN', ['x'], { flags: [flag] })));
    expect(err.code).toBe('INSTR_INVALID_MOUNT');
    expect(err.message).toBe(message);
    expect(err.range!.start.column).toBe(5);
  });

  it('rejects bad --network and --security values', () => {
    expect(errorOf(() => parseInstruction(node('RUN', ['x'], { flags: ['--network=bridge'] }))).code).toBe('INSTR_INVALID_NETWORK');
    expect(errorOf(() => parseInstruction(node('RUN', ['x'], { flags: ['--security=root'] }))).code).toBe('INSTR_INVALID_SECURITY');
  });

  it('checks COPY/ADD arguments and flags', () => {
    expect(errorOf(() => parseInstruction(node('COPY', ['a']))).code).toBe('INSTR_MISSING_ARGUMENT');
    const multi = errorOf(() => parseInstruction(node('COPY', ['a', 'b', '/dest'])));
    expect(multi.code).toBe('INSTR_COPY_DEST_NOT_DIRECTORY');
    expect(multi.range!.start.column).toBe(10);
    expect(parseInstruction(node('COPY', ['a', 'b', '/dest/']))).toMatchObject({ kind: 'copy' });
    expect(errorOf(() => parseInstruction(node('COPY', ['a', '/d'], { flags: ['--chmod=999'] }))).code).toBe('INSTR_INVALID_CHMOD');
    expect(parseInstruction(node('COPY', ['a', '/d'], { flags: ['--chmod=u=rwX,go=rX'] }))).toMatchObject({ chmod: { value: 'u=rwX,go=rX' } });
    expect(errorOf(() => parseInstruction(node('COPY', ['a', '/d'], { flags: ['--link', '--chown=app'] }))).code).toBe('INSTR_INVALID_CHOWN');
    expect(errorOf(() => parseInstruction(node('COPY', ['a', '/d'], { flags: ['--link=maybe'] }))).code).toBe('INSTR_INVALID_FLAG_VALUE');
    expect(errorOf(() => parseInstruction(node('COPY', ['a', '/d'], { flags: ['--checksum=sha256:00'] }))).code).toBe('INSTR_UNKNOWN_FLAG');
    expect(errorOf(() => parseInstruction(node('ADD', ['https://x/y', '/d'], { flags: ['--checksum=sha256:00'] }))).code).toBe('INSTR_INVALID_CHECKSUM');
    expect(errorOf(() => parseInstruction(node('COPY', ['a', '/d'], { flags: ['--from=a', '--from=b'] }))).code).toBe('INSTR_DUPLICATE_FLAG');
    const add = parseInstruction(node('ADD', ['a', '/d'], { flags: ['--exclude=*.md', '--exclude=.git', '--keep-git-dir', '--unpack=false'] })) as CopyInstruction;
    expect(add.exclude.map((e) => e.value)).toEqual(['*.md', '.git']);
    expect(add.keepGitDir).toBe(true);
    expect(add.unpack).toBe(false);
  });

  it('turns COPY heredocs into inline files and rejects a heredoc destination', () => {
    const h = { name: 'EOF', body: 'hi\n', expand: true, chomp: false, fileDescriptor: 0, range: r(99, 1, 3) };
    const c = parseInstruction(node('COPY', ['<<EOF', '/x'], { heredocs: [h] })) as CopyInstruction;
    expect(c.sources).toEqual([]);
    expect(c.contents[0]).toMatchObject({ name: 'EOF', data: 'hi\n', expand: true });
    expect(errorOf(() => parseInstruction(node('COPY', ['a', '<<EOF'], { heredocs: [h] }))).code).toBe('INSTR_INVALID_HEREDOC');
  });

  it('applies the ONBUILD rules', () => {
    expect(errorOf(() => parseInstruction(node('ONBUILD', [], { child: node('ONBUILD', [], { child: node('RUN', ['x']) }) }))).code).toBe('INSTR_ONBUILD_CHAIN');
    expect(errorOf(() => parseInstruction(node('ONBUILD', [], { child: node('FROM', ['x']) }))).code).toBe('INSTR_ONBUILD_TRIGGER');
    expect(errorOf(() => parseInstruction(node('ONBUILD', [], { child: node('maintainer', ['me']) }))).message).toBe("MAINTAINER isn't allowed as an ONBUILD trigger");
    const ok = parseInstruction(node('ONBUILD', ['RUN', 'make'], { child: node('RUN', ['make']) }));
    expect(ok).toMatchObject({ kind: 'onbuild', trigger: { kind: 'run', cmd: ['make'] } });
  });

  it('parses HEALTHCHECK with durations', () => {
    const hc = parseInstruction(node('HEALTHCHECK', ['CMD', 'curl -f http://localhost/'], { flags: ['--interval=1m30s', '--timeout=500ms', '--retries=3'] }));
    expect(hc).toMatchObject({ health: { test: ['CMD-SHELL', 'curl -f http://localhost/'], interval: 90e9, timeout: 5e8, retries: 3 } });
    expect(errorOf(() => parseInstruction(node('HEALTHCHECK', ['CMD', 'x'], { flags: ['--interval=10'] }))).code).toBe('INSTR_INVALID_DURATION');
    expect(errorOf(() => parseInstruction(node('HEALTHCHECK', ['CMD', 'x'], { flags: ['--timeout=10us'] }))).message).toBe('Interval "timeout" cannot be less than 1ms');
    expect(errorOf(() => parseInstruction(node('HEALTHCHECK', ['CMD', 'x'], { flags: ['--retries=-1'] }))).code).toBe('INSTR_INVALID_FLAG_VALUE');
    expect(errorOf(() => parseInstruction(node('HEALTHCHECK', ['RUN', 'x']))).code).toBe('INSTR_INVALID_HEALTHCHECK');
    expect(errorOf(() => parseInstruction(node('HEALTHCHECK', ['NONE', 'x']))).code).toBe('INSTR_INVALID_HEALTHCHECK');
  });

  it('checks the small instructions', () => {
    expect(errorOf(() => parseInstruction(node('STOPSIGNAL', ['SIGFOO']))).code).toBe('INSTR_INVALID_SIGNAL');
    expect(parseInstruction(node('STOPSIGNAL', ['sigrtmin+3']))).toMatchObject({ kind: 'stopsignal' });
    expect(parseInstruction(node('EXPOSE', ['8080/udp', '80', '9000-9002']))).toMatchObject({ ports: [{ value: '80' }, { value: '8080/udp' }, { value: '9000-9002' }] });
    expect(errorOf(() => parseInstruction(node('EXPOSE', ['80/http']))).code).toBe('INSTR_INVALID_PORT');
    expect(errorOf(() => parseInstruction(node('SHELL', ['/bin/bash -c']))).code).toBe('INSTR_NOT_JSON');
    expect(errorOf(() => parseInstruction(node('WORKDIR', []))).code).toBe('INSTR_MISSING_ARGUMENT');
    expect(errorOf(() => parseInstruction(node('ARG', ['=x']))).code).toBe('INSTR_EMPTY_NAME');
    expect(errorOf(() => parseInstruction(node('ENV', ['', 'x', '=']))).code).toBe('INSTR_EMPTY_NAME');
    expect(parseInstruction(node('ENV', ['A', 'b', '=', 'C', 'd', '=']))).toMatchObject({ pairs: [{ key: 'A', value: 'b', legacy: false }, { key: 'C' }] });
  });

  it('returns plain located DockerfileErrors', () => {
    const err = errorOf(() => parseInstruction(node('VOLUME', [''])));
    expect(err).toBeInstanceOf(DockerfileError);
    expect(err.range).toBeDefined();
  });
});
