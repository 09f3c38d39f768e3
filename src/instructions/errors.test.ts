/**
 * Every INSTR_ error code, produced from real Dockerfile text through the parser, with the
 * range of the offending keyword, flag or argument.
 */
import { describe, expect, it } from 'vitest';
import { DiagnosticsError, KilnError } from '../diagnostics/errors.js';
import { parse } from '../dockerfile/index.js';
import { InstrCode } from './errors.js';
import { parseDockerfile } from './parse.js';

// [code, Dockerfile, line, column of the marked text, the marked text]
const CASES: [string, string, number, number, string][] = [
  [InstrCode.UnknownInstruction, 'FROM a\nRUNN make\n', 2, 1, 'RUNN'],
  [InstrCode.UnknownFlag, 'FROM a\nCOPY --chwon=1 a /b\n', 2, 6, '--chwon=1'],
  [InstrCode.DuplicateFlag, 'FROM a\nRUN --network=none --network=host x\n', 2, 20, '--network=host'],
  [InstrCode.FlagValue, 'FROM a\nCOPY --link=perhaps a /b\n', 2, 6, '--link=perhaps'],
  [InstrCode.MissingArgument, 'FROM a\nCOPY onlyone\n', 2, 6, 'onlyone'],
  [InstrCode.TooManyArguments, 'FROM a b c d\n', 1, 8, 'b'],
  [InstrCode.NoStage, 'RUN x\nFROM a\n', 1, 1, 'RUN x'],
  [InstrCode.InvalidStageName, 'FROM a AS 9lives\n', 1, 11, '9lives'],
  [InstrCode.OnbuildChain, 'FROM a\nONBUILD ONBUILD RUN x\n', 2, 9, 'ONBUILD'],
  [InstrCode.OnbuildTrigger, 'FROM a\nONBUILD FROM b\n', 2, 9, 'FROM'],
  [InstrCode.CopyDestNotDir, 'FROM a\nCOPY a b /dest\n', 2, 10, '/dest'],
  [InstrCode.Heredoc, 'FROM a\nCOPY a <<EOF\nx\nEOF\n', 2, 8, '<<EOF'],
  [InstrCode.Mount, 'FROM a\nRUN --mount=type=cache,sharing=maybe,target=/c x\n', 2, 5, '--mount=type=cache,sharing=maybe,target=/c'],
  [InstrCode.Chmod, 'FROM a\nCOPY --chmod=0999 a /b\n', 2, 6, '--chmod=0999'],
  [InstrCode.Chown, 'FROM a\nCOPY --chown=a:b:c a /b\n', 2, 6, '--chown=a:b:c'],
  [InstrCode.Checksum, 'FROM a\nADD --checksum=md5:abc http://x/y /z\n', 2, 5, '--checksum=md5:abc'],
  [InstrCode.Duration, 'FROM a\nHEALTHCHECK --interval=5 CMD true\n', 2, 13, '--interval=5'],
  [InstrCode.Port, 'FROM a\nEXPOSE 80/tcp 99999\n', 2, 15, '99999'],
  [InstrCode.Signal, 'FROM a\nSTOPSIGNAL SIGNOPE\n', 2, 12, 'SIGNOPE'],
  [InstrCode.NotJson, 'FROM a\nSHELL /bin/bash -c\n', 2, 7, '/bin/bash -c'],
  [InstrCode.EmptyName, 'FROM a\nARG =x\n', 2, 5, '=x'],
  [InstrCode.EmptyValue, 'FROM a\nVOLUME [""]\n', 2, 9, '""'],
  [InstrCode.Healthcheck, 'FROM a\nHEALTHCHECK CHECK true\n', 2, 13, 'CHECK'],
  [InstrCode.Network, 'FROM a\nRUN --network=bridge x\n', 2, 5, '--network=bridge'],
  [InstrCode.Security, 'FROM a\nRUN --security=privileged x\n', 2, 5, '--security=privileged'],
  [InstrCode.Device, 'FROM a\nRUN --device=nvidia.com/gpu=all,optional x\n', 2, 5, '--device=nvidia.com/gpu=all,optional'],
];

function failure(text: string): KilnError {
  try {
    parseDockerfile(parse(text, { file: 'Dockerfile' }));
  } catch (err) {
    if (err instanceof KilnError) return err;
    throw err;
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

describe('instruction errors', () => {
  it('covers every INSTR_ code', () => {
    const used = new Set(CASES.map((c) => c[0]));
    expect(Object.values(InstrCode).filter((c) => !used.has(c))).toEqual([]);
  });

  it.each(CASES)('%s', (code, text, line, column, marked) => {
    const err = failure(text);
    expect(err.code).toBe(code);
    expect(err.range).toBeDefined();
    expect(err.range!.file).toBe('Dockerfile');
    expect(err.range!.start).toEqual({ line, column });
    const src = text.split('\n')[line - 1]!;
    if (err.range!.end.line === line) expect(src.slice(column - 1, err.range!.end.column - 1)).toBe(marked);
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])('treats %s as an unknown instruction', (kw) => {
    expect(failure(`FROM a\n${kw} x\n`).code).toBe('INSTR_UNKNOWN_INSTRUCTION');
  });

  it('reports every problem of a file at once', () => {
    const err = failure('FROM a\nRUNN x\nCOPY --form=b c d\nEXPOSE nope\nFROM b AS 1\n');
    expect(err).toBeInstanceOf(DiagnosticsError);
    expect((err as DiagnosticsError).diagnostics.map((d) => [d.code, d.range!.start.line])).toEqual([
      ['INSTR_UNKNOWN_INSTRUCTION', 2],
      ['INSTR_UNKNOWN_FLAG', 3],
      ['INSTR_INVALID_PORT', 4],
      ['INSTR_INVALID_STAGE_NAME', 5],
    ]);
  });

  it('accepts what BuildKit accepts', () => {
    const df = parseDockerfile(parse([
      'ARG BASE=alpine',
      'FROM --platform=$BUILDPLATFORM ${BASE} AS Build',
      'RUN --mount=type=bind,target=/src,rw --mount=type=ssh,required=true --network=host echo',
      'COPY --chown=app:app --chmod=755 --link=false --parents=true --exclude=*.tmp a b/ ./',
      'ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.12 /bk',
      'HEALTHCHECK NONE',
      'EXPOSE 80/TCP 53/udp',
      'STOPSIGNAL 9',
      'ONBUILD COPY --from=build /x /y',
      'ENV A=1 B="2 3"',
      'LABEL x=y',
      'VOLUME /a /b',
      'USER app:app',
      'WORKDIR $HOME',
      'ENTRYPOINT []',
      'CMD ["x"]',
      'MAINTAINER me',
      '',
    ].join('\n'), { file: 'Dockerfile' }));
    expect(df.stages).toHaveLength(1);
    expect(df.stages[0]!.name).toBe('build');
    expect(df.stages[0]!.commands.map((c) => c.kind)).toEqual([
      'run', 'copy', 'add', 'healthcheck', 'expose', 'stopsignal', 'onbuild', 'env', 'label', 'volume', 'user', 'workdir', 'entrypoint', 'cmd', 'maintainer',
    ]);
  });
});
