import { describe, expect, it } from 'vitest';
import { DiagnosticsError, KilnError } from '../diagnostics/errors.js';
import { dump, goQuote, parse, type Ast } from './index.js';
import { execFormParseCount } from './line-parsers.js';
import { parseHead } from './split-command.js';

const one = (text: string): string => dump(parse(text)).trimEnd();
const fail = (text: string): KilnError => {
  try {
    parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(KilnError);
    return e as KilnError;
  }
  throw new Error('expected parse to fail: ' + JSON.stringify(text));
};

describe('goQuote (Go strconv.Quote)', () => {
  it.each([
    ['plain', '"plain"'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    ['\x07\b\f\n\r\t\v', '"\\a\\b\\f\\n\\r\\t\\v"'],
    ['\x00\x01\x1f\x7f', '"\\x00\\x01\\x1f\\x7f"'],
    ['é ♥ 😀', '"é ♥ 😀"'],
    ['\u00a0\u200b\u2028\u0085\u00ad', '"\\u00a0\\u200b\\u2028\\u0085\\u00ad"'],
    ['\u{e0001}', '"\\U000e0001"'],
  ])('%j', (input, expected) => {
    expect(goQuote(input)).toBe(expected);
  });
});

describe('dump of single instructions (behaviour of the upstream parser)', () => {
  it.each([
    ['FOO bar baz', '(foo "")'],
    ['foo --x=1 bar', '(foo ["--x=1"] "")'],
    ['onbuild copy --from=x a b', '(onbuild (copy ["--from=x"] "a" "b"))'],
    ['ONBUILD --x RUN y', '(onbuild ["--x"] (run "y"))'],
    ['ONBUILD', '(onbuild)'],
    ['ONBUILD ONBUILD RUN x', '(onbuild (onbuild (run "x")))'],
    ['MAINTAINER  Me <a@b>', '(maintainer "Me <a@b>")'],
    ['From Alpine AS Build', '(from "Alpine" "AS" "Build")'],
    ['RUN --mount=type=cache,target=/c go', '(run ["--mount=type=cache,target=/c"] "go")'],
    ['LABEL "a b"="c d" e=f', '(label "\\"a b\\"" "\\"c d\\"" "=" "e" "f" "=")'],
    ['ENV "a b" c', '(env "\\"a" "b\\" c" "")'],
    ['ARG abc="123 456" def', '(arg "abc=\\"123 456\\"" "def")'],
    ['COPY --doit=true -- foo /tmp/', '(copy ["--doit=true"] "foo" "/tmp/")'],
    ['COPY -- --d e', '(copy "--d" "e")'],
    ['COPY "--x" a', '(copy "\\"--x\\"" "a")'],
    ['COPY --from="x y" a b', '(copy ["--from=x y"] "a" "b")'],
    ['CMD --doit [ "a", "b" ]', '(cmd ["--doit"] "a" "b")'],
    ['CMD []', '(cmd)'],
    ['CMD ["a"] trailing', '(cmd "[\\"a\\"] trailing")'],
    // Go's json.Unmarshal fails on a number beyond float64 range: not JSON, so shell form
    ['CMD ["a", [1e999]]', '(cmd "[\\"a\\", [1e999]]")'],
    ['HEALTHCHECK --timeout=3s CMD ["foo"]', '(healthcheck ["--timeout=3s"] "CMD" "foo")'],
    ['HEALTHCHECK', '(healthcheck)'],
    ['EXPOSE 1\u00a02', '(expose "1\\u00a02")'],
    ['CMD ["\\u2028\\ud83d\\ude00 \\u00e9"]', '(cmd "\\u2028😀 é")'],
    ['FRÖM x', '(fröm "")'],
    ['__proto__ x', '(__proto__ "")'],
    // an escape token before U+2028 or \r escapes it (moo's `m` flag must not end the text there)
    ['ARG a\\\u2028b c', '(arg "a\\\\\\u2028b" "c")'],
    ['ENV a=\\\r b=c', '(env "a" "\\\\\\r" "=" "b" "c" "=")'],
    ['constructor', '(constructor "")'],
    ['RUN echo # not a comment', '(run "echo # not a comment")'],
  ])('%j', (input, expected) => {
    expect(one(input)).toBe(expected);
  });
});

describe('lines, comments, directives and continuation', () => {
  it('joins continuation lines directly, keeping the next line\'s indentation', () => {
    expect(one('RUN echo hello\\\n  world')).toBe('(run "echo hello  world")');
    expect(one('RUN echo good\\\nbye')).toBe('(run "echo goodbye")');
  });
  it('skips comments and blank lines inside a continuation, warning about the blank ones', () => {
    const ast = parse('FROM a\nRUN a \\\n# c\n\n  b\n');
    expect(dump(ast)).toBe('(from "a")\n(run "a   b")\n');
    expect(ast.warnings).toHaveLength(1);
    expect(ast.warnings[0]!.message).toBe('Empty continuation line found in: RUN a   b');
  });
  it('treats trailing whitespace after the escape token and CRLF line ends as a continuation', () => {
    expect(one('RUN a \\  \t\r\n b\r\n')).toBe('(run "a  b")');
  });
  it('an escaped escape token at the end does not continue', () => {
    expect(dump(parse('ENV C x\\\\\nRUN y'))).toBe('(env "C" "x\\\\\\\\" "")\n(run "y")\n');
  });
  it('continuation at end of file ends the instruction', () => {
    expect(one('FROM a\nRUN b \\')).toBe('(from "a")\n(run "b")');
  });
  it('reads directives at the top only, case-insensitively, and switches the escape token', () => {
    const ast = parse('\ufeff# Syntax = docker/dockerfile:1\n#ESCAPE=`\nFROM a\nRUN x `\n  y\n');
    expect(ast.directives).toEqual({ syntax: 'docker/dockerfile:1', escape: '`' });
    expect(ast.directiveRanges.escape!.start.line).toBe(2);
    expect(dump(ast)).toBe('(from "a")\n(run "x   y")\n');
  });
  it('a directive after an ordinary comment is just a comment', () => {
    expect(parse('# hello\n# escape=`\nFROM a').directives).toEqual({});
  });
  it('rejects a repeated directive and an invalid escape token, with the line', () => {
    const rep = fail('# syntax=a\n# syntax=b\nFROM x');
    expect(rep.code).toBe('PARSE_DIRECTIVE_REPEATED');
    expect(rep.message).toBe('only one syntax parser directive can be used');
    expect(rep.range?.start.line).toBe(2);
    const esc = fail('# escape=x\nFROM a');
    expect(esc.code).toBe('PARSE_INVALID_ESCAPE');
    expect(esc.message).toBe("invalid escape token 'x' does not match ` or \\");
  });
  it('removes exactly one byte-order mark, from text or bytes', () => {
    expect(dump(parse(Buffer.from('\ufeffFROM a\n')))).toBe('(from "a")\n');
    // the second BOM is part of the keyword: an unknown instruction, as upstream
    expect(dump(parse(Buffer.from('\ufeff\ufeffFROM a\n')))).toBe('(\ufefffrom "")\n');
  });
  it('counts the line limit in input bytes (invalid UTF-8 bytes count once)', () => {
    const bytes = Buffer.concat([Buffer.from('RUN '), Buffer.alloc(40_000, 0xff), Buffer.from('\n')]);
    expect(parse(bytes).instructions).toHaveLength(1);
    expect(() => parse(Buffer.concat([Buffer.from('FROM a\nRUN '), Buffer.alloc(65_532, 0x61)]))).toThrow('max allowed size of 65535');
    expect(parse(Buffer.concat([Buffer.from('FROM a\nRUN '), Buffer.alloc(65_531, 0x61)])).instructions).toHaveLength(2);
  });
  it('a file with only comments and blank lines has no instructions', () => {
    const e = fail('# a\n\n   \n# b\n');
    expect(e.code).toBe('PARSE_NO_INSTRUCTIONS');
    expect(e.message).toBe('file with no instructions');
  });
});

describe('heredocs', () => {
  it('reads bodies of RUN/COPY/ADD, keeps the opener in the arguments, and several per line', () => {
    const ast = parse('FROM a\nCOPY <<A 3<<"B" /d\none\nA\ntwo $x\nB\nRUN <<-EOT sh\n\techo\n\tEOT\n');
    expect(dump(ast)).toBe('(from "a")\n(copy "<<A" "3<<\\"B\\"" "/d")\n(run "<<-EOT sh")\n');
    const [copy, run] = [ast.instructions[1]!, ast.instructions[2]!];
    expect(copy.heredocs.map((h) => [h.name, h.body, h.expand, h.fileDescriptor])).toEqual([
      ['A', 'one\n', true, 0],
      ['B', 'two $x\n', false, 3],
    ]);
    expect(run.heredocs[0]).toMatchObject({ name: 'EOT', body: 'echo\n', chomp: true, content: '\techo\n' });
    expect(copy.range.start.line).toBe(2);
    expect(copy.range.end.line).toBe(6);
  });
  it('ONBUILD RUN <<EOF carries the heredoc; USER <<X does not', () => {
    const ast = parse('FROM a\nONBUILD RUN <<EOF\nx\nEOF\nUSER <<X\nRUN y\nX\n');
    expect(ast.instructions[1]!.child!.heredocs[0]!.body).toBe('x\n');
    expect(dump(ast)).toBe('(from "a")\n(onbuild (run "<<EOF"))\n(user "<<X")\n(run "y")\n(x "")\n');
  });
  it('an unterminated heredoc is an error located at its instruction', () => {
    const e = fail('FROM a\nRUN <<EOF\necho\n');
    expect(e.code).toBe('PARSE_UNTERMINATED_HEREDOC');
    expect(e.message).toBe('unterminated heredoc');
    expect(e.range?.start.line).toBe(2);
  });
});

describe('errors', () => {
  it('ENV without a value names the instruction and its position', () => {
    const e = fail('FROM a\n  ENV PATH\n');
    expect(e.message).toBe('ENV must have two arguments');
    expect(e.code).toBe('PARSE_MISSING_VALUE');
    expect(e.range).toMatchObject({ file: 'Dockerfile', start: { line: 2, column: 7 } });
  });
  it('JSON arrays with non-string elements are rejected at the element', () => {
    const e = fail('CMD ["a", 42]');
    expect(e.code).toBe('PARSE_JSON_NOT_STRINGS');
    expect(e.message).toBe('when using JSON array syntax, arrays must be comprised of strings only');
    expect(e.range?.start).toEqual({ line: 1, column: 11 });
  });
  it('name=value form requires = in every word', () => {
    const e = fail('LABEL a=b c');
    expect(e.message).toBe('Syntax error - can\'t find = in "c". Must be of the form: name=value');
    expect(e.range?.start.column).toBe(11);
  });
  it('collects several problems into one DiagnosticsError', () => {
    let err: unknown;
    try {
      parse('FROM a\nENV x\nLABEL y\nCMD [1]\n', { file: 'x/Dockerfile' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DiagnosticsError);
    const d = (err as DiagnosticsError).diagnostics;
    expect(d.map((x) => [x.code, x.range?.start.line, x.range?.file])).toEqual([
      ['PARSE_MISSING_VALUE', 2, 'x/Dockerfile'],
      ['PARSE_MISSING_VALUE', 3, 'x/Dockerfile'],
      ['PARSE_JSON_NOT_STRINGS', 4, 'x/Dockerfile'],
    ]);
  });
});

describe('source ranges', () => {
  const ast: Ast = parse('FROM a\n  COPY --from=b \\\n   --chown=1 x \\\n  /y\nENV k=v\n');
  it('instructions start at their keyword and end at the end of their last line', () => {
    const copy = ast.instructions[1]!;
    expect(copy.range.start).toEqual({ line: 2, column: 3 });
    expect(copy.range.end).toEqual({ line: 4, column: 5 });
    expect(copy.original).toBe('x   /y');
  });
  it('flags and arguments point at their text, across continuation lines', () => {
    const copy = ast.instructions[1]!;
    expect(copy.flags.map((f) => [f.name, f.value, f.range.start, f.range.end])).toEqual([
      ['from', 'b', { line: 2, column: 8 }, { line: 2, column: 16 }],
      ['chown', '1', { line: 3, column: 4 }, { line: 3, column: 13 }],
    ]);
    expect(copy.args.map((a) => [a.value, a.range.start])).toEqual([
      ['x', { line: 3, column: 14 }],
      ['/y', { line: 4, column: 3 }],
    ]);
  });
  it('ENV triples point at name, value and the = sign', () => {
    const env = ast.instructions[2]!;
    expect(env.args.map((a) => [a.value, a.range.start.column])).toEqual([
      ['k', 5],
      ['v', 7],
      ['=', 6],
    ]);
  });
});

describe('the grammars are unambiguous', () => {
  it.each([
    '', '--a', '--a ', '--a b', '--a --b c d', '-- x', '--', '-- --x', ' --a', '--a="x y" z', "--a='q\\' r",
    '--a=x\\', 'plain text', '--a --', '--a -- b',
  ])('flag region %j has exactly one parse', (s) => {
    expect(parseHead(s)).toHaveLength(1);
    expect(parseHead(s, '`')).toHaveLength(1);
  });
  it.each(['[]', '[ ]', '["a"]', '["a", "b"]', '[1, true, null, {"a": [1, {}]}, []]', ' [ "x" ] '])(
    'exec form %j has exactly one parse',
    (s) => {
      expect(execFormParseCount(s.trimStart())).toBe(1);
    },
  );
});
