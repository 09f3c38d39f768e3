import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../../../test/helpers/cli.js';
import { parseAction } from './parse.js';
import type { CliContext } from '../context.js';

function sink(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  }) as Writable & { text: () => string };
  w.text = () => chunks.join('');
  return w;
}


const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-parse-'));
const write = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('kiln parse', () => {
  it('prints the upstream dump format', async () => {
    const f = write('ok', 'FROM alpine AS b\nRUN --mount=type=cache,target=/c <<EOF\nmake\nEOF\nENV A=1 B=2\nONBUILD COPY a b\n');
    const r = await run(['parse', '-f', f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('(from "alpine" "AS" "b")\n(run ["--mount=type=cache,target=/c"] "<<EOF")\n(env "A" "1" "=" "B" "2" "=")\n(onbuild (copy "a" "b"))\n');
  });

  it('--json follows the documented contract', async () => {
    const f = write('json', '# syntax=docker/dockerfile:1\nFROM a\nRUN a \\\n\n b\nONBUILD RUN <<-X\n\thi\nX\nCMD ["x"]\n');
    const r = await run(['parse', '-f', f, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual(['directives', 'instructions', 'warnings']);
    expect(doc.directives).toEqual({ syntax: 'docker/dockerfile:1' });
    expect(doc.instructions.map((i: { keyword: string }) => i.keyword)).toEqual(['FROM', 'RUN', 'ONBUILD', 'CMD']);
    const [, run1, onbuild, cmd] = doc.instructions;
    expect(run1).toEqual({
      keyword: 'RUN',
      flags: [],
      args: ['a  b'],
      json: false,
      heredocs: [],
      range: { file: f, start: { line: 3, column: 1 }, end: { line: 5, column: 3 } },
    });
    expect(onbuild.child.keyword).toBe('RUN');
    expect(onbuild.child.heredocs).toEqual([{ name: 'X', body: 'hi\n', expand: true, chomp: true }]);
    expect(cmd.json).toBe(true);
    expect(doc.warnings).toHaveLength(1);
    expect(doc.warnings[0].code).toBe('PARSE_EMPTY_CONTINUATION');
  });

  it('--json stays valid for a hostile 10,000-deep ONBUILD chain', async () => {
    const f = write('deep', 'ONBUILD \\\n'.repeat(10_000) + 'RUN x\n');
    const r = await run(['parse', '-f', f, '--json']);
    expect(r.code).toBe(0);
    let depth = 0;
    // walk without recursion
    for (let n = JSON.parse(r.stdout).instructions[0]; n; n = n.child) depth++;
    expect(depth).toBe(10_001);
  });

  it('reports a located error with a code frame and exits 1', async () => {
    const f = write('bad', 'FROM a\nENV PATH\nLABEL x\n');
    const r = await run(['parse', '-f', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${f}:2:5: error: ENV must have two arguments [PARSE_MISSING_VALUE]`);
    expect(r.stderr).toContain('> 2 | ENV PATH');
    expect(r.stderr).toContain(`${f}:3:7: error: LABEL must have two arguments`);
    expect(r.stdout).toBe('');
  });

  it('prints warnings with their location on stderr, the tree on stdout', async () => {
    const f = write('warn', 'FROM a\nRUN a \\\n\n  b\n');
    const r = await run(['parse', '-f', f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('(from "a")\n(run "a   b")\n');
    expect(r.stderr).toContain(`${f}:2:1: warning: Empty continuation line found in: RUN a   b [PARSE_EMPTY_CONTINUATION]`);
    expect(r.stderr).toContain('> 2 | RUN a \\');
  });

  it('a missing Dockerfile is a clear error', async () => {
    const r = await run(['parse', '-f', path.join(dir, 'nope')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot read Dockerfile');
  });

  it('-f - reads stdin', async () => {
    const stdout = sink();
    const ctx: CliContext = { stdout, stderr: sink(), sources: new Map(), root: () => dir, debug: () => false };
    await parseAction(ctx, { file: '-' }, async () => Buffer.from('from a\n'));
    expect(stdout.text()).toBe('(from "a")\n');
    expect(ctx.sources.get('<stdin>')).toBe('from a\n');
  });

  it('rejects unknown flags as a usage error', async () => {
    expect((await run(['parse', '--nope'])).code).toBe(2);
  });
});
