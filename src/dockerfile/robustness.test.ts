import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KilnError } from '../diagnostics/errors.js';
import { astToJson, dump, parse, type Ast } from './index.js';
import { execFormParseCount } from './line-parsers.js';
import { parseHead } from './split-command.js';

/** Every outcome must be an Ast or a located KilnError: never RangeError, TypeError, a hang. */
function outcome(input: string | Buffer): Ast | KilnError {
  try {
    const ast = parse(input);
    dump(ast);
    JSON.stringify(astToJson(ast).warnings);
    // plain loop, one assertion: vitest's expect is too slow to call per instruction
    const bad = ast.instructions.find(
      (n) => !(n.range.start.line >= 1 && n.range.start.column >= 1 && n.range.end.line >= n.range.start.line),
    );
    expect(bad).toBeUndefined();
    return ast;
  } catch (e) {
    if (!(e instanceof KilnError)) throw e;
    expect(e.code).toMatch(/^PARSE_/);
    expect(e.range?.start.line).toBeGreaterThanOrEqual(1);
    return e;
  }
}

const pieces = [
  'FROM ', 'RUN ', 'run ', 'COPY ', 'ADD ', 'ENV ', 'LABEL ', 'ARG ', 'CMD ', 'ONBUILD ', 'HEALTHCHECK ', 'SHELL ',
  'USER ', 'EXPOSE ', 'FOO ', '\n', '\r\n', '\\', '`', ' ', '\t', '#', '# escape=`\n', '# syntax=x\n', '"', "'", '[', ']',
  ',', '=', '--', '--mount=type=cache', '<<', '<<-', 'EOF', '3<<', '${', '}', '$a', ':-', 'x', 'é', '\u00a0', '\u0085',
  '\x00', '\ufeff', '😀', '["a", "b"]', '[1]', '{', '\\\n', '\n\n',
];
const dockerfileish = fc.array(fc.constantFrom(...pieces), { maxLength: 60 }).map((a) => a.join(''));

describe('random and hostile input ends in a result or a located error', () => {
  it('random Dockerfile-like text', () => {
    fc.assert(fc.property(dockerfileish, (s) => void outcome(s)), { numRuns: 1500 });
  });
  it('random unicode text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => void outcome(s)), { numRuns: 300 });
  });
  it('random bytes, including invalid UTF-8 and NUL', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => void outcome(Buffer.from(b))), { numRuns: 500 });
  });
  it('the dump has one line per instruction', () => {
    fc.assert(
      fc.property(dockerfileish, (s) => {
        const r = outcome(s);
        if (!(r instanceof KilnError)) expect(dump(r).split('\n').length - 1).toBe(r.instructions.length);
      }),
      { numRuns: 500 },
    );
  });
});

describe('hostile inputs', () => {
  it('deeply nested ${...} in a heredoc line', () => {
    const deep = '${a:-'.repeat(10000) + '}'.repeat(10000);
    const r = outcome(`FROM a\nRUN <<EOF ${deep}\nx\nEOF\n`);
    expect(r).not.toBeInstanceOf(KilnError);
  });
  it('a 10 MiB line is the line-too-long error', () => {
    const r = outcome('FROM a\nRUN ' + 'a'.repeat(10 * 1024 * 1024) + '\n');
    expect(r).toBeInstanceOf(KilnError);
    expect((r as KilnError).code).toBe('PARSE_LINE_TOO_LONG');
  });
  it('10 MiB in one instruction through continuation lines', () => {
    const r = outcome('FROM a\nRUN ' + ('a'.repeat(1000) + ' \\\n').repeat(10 * 1024) + 'end\n') as Ast;
    expect(r.instructions[1]!.args[0]!.value.length).toBeGreaterThan(10_000_000);
  });
  it('NUL bytes and invalid UTF-8', () => {
    expect(dump(outcome('FROM a\x00b\nRUN ["\\u0000"]\nRUN ["\x00"]\n') as Ast)).toBe(
      // a raw NUL inside a JSON string is not JSON: shell form, as with Go's encoding/json
      '(from "a\\x00b")\n(run "\\x00")\n(run "[\\"\\x00\\"]")\n',
    );
    const bad = outcome(Buffer.from([0x46, 0x52, 0x4f, 0x4d, 0x20, 0xff, 0xc3, 0x0a, 0x52, 0x55, 0x4e, 0x20, 0x80])) as Ast;
    expect(bad.instructions).toHaveLength(2);
  });
  it('100,000 stages', () => {
    const r = outcome('FROM busybox AS s\nRUN echo hi\n'.repeat(100_000)) as Ast;
    expect(r.instructions).toHaveLength(200_000);
  });
  it('unterminated heredocs', () => {
    const r = outcome('FROM a\nCOPY ' + '<<A '.repeat(5000) + '/x\nA\n');
    expect((r as KilnError).code).toBe('PARSE_UNTERMINATED_HEREDOC');
  });
  it('100,000 nested ONBUILDs and 100,000 nested JSON arrays', () => {
    const chain = outcome('ONBUILD \\\n'.repeat(100_000) + 'RUN x') as Ast;
    expect(dump(chain).length).toBeGreaterThan(1_000_000);
    const json = outcome('CMD ' + '[\\\n'.repeat(100_000) + ']\\\n'.repeat(100_000));
    expect((json as KilnError).code).toBe('PARSE_JSON_NOT_STRINGS');
    const open = outcome('CMD ' + '[ \\\n'.repeat(100_000)) as Ast;
    expect(open.instructions[0]!.json).toBe(false);
  });
  it('many flags and a flag with an unterminated quote', () => {
    expect((outcome('RUN ' + '--a=b \\\n'.repeat(20_000) + 'x') as Ast).instructions[0]!.flags).toHaveLength(20_000);
    expect((outcome('RUN --a="' + 'x '.repeat(30_000)) as Ast).instructions[0]!.args).toHaveLength(0);
  });
  it('a directive line full of spaces', () => {
    expect((outcome('# escape=' + ' '.repeat(60_000) + 'x\nFROM a') as KilnError).code).toBe('PARSE_INVALID_ESCAPE');
  });
});

describe('grammar unambiguity on random input', () => {
  const flagText = fc.array(fc.constantFrom('--', '-', 'a', '=', ' ', '\t', '"', "'", '\\', '`', 'é', '\n', '\r', '\u2028'), { maxLength: 30 }).map((a) => a.join(''));
  it('the flag grammar never has more than one parse (exactly one for every lexable input)', () => {
    fc.assert(
      fc.property(flagText, (s) => {
        const binary = Buffer.from(s, 'utf8').toString('latin1');
        expect(parseHead(binary)).toHaveLength(1);
        expect(parseHead(binary, '`')).toHaveLength(1);
      }),
      { numRuns: 2000 },
    );
  });
  const jsonText = fc.array(fc.constantFrom('[', ']', '{', '}', '"a"', '1', 'true', ',', ':', ' ', '"'), { maxLength: 20 }).map((a) => a.join(''));
  it('the exec-form grammar has at most one parse, and one exactly when JSON.parse accepts an array', () => {
    fc.assert(
      fc.property(jsonText, (text) => {
        const s = text.replace(/^ +/, ''); // the caller removes leading whitespace first
        const count = execFormParseCount(s);
        let valid: boolean;
        try {
          valid = Array.isArray(JSON.parse(s));
        } catch {
          valid = false;
        }
        expect(count).toBe(valid ? 1 : 0);
      }),
      { numRuns: 3000 },
    );
  });
});
