import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../../../test/helpers/cli.js';
import { parseBuildArgs } from './plan.js';


const root = path.resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-plan-'));
const write = (name: string, text: string): string => {
  const p = path.join(dir, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, text);
  return p;
};

describe('kiln plan', () => {
  it('plans the demo Dockerfile cleanly', async () => {
    const r = await run(['plan', path.join(root, 'testdata/demo')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{12} {2}source image +\[builder 1\/5\] FROM docker\.io\/library\/busybox:latest$/m);
    expect(r.stdout).toContain('[builder 4/5] RUN --mount=type=cache,target=/cache <<EOF (set -eu...)');
    expect(r.stdout).toContain('[stage-1 3/4] COPY --from=builder /out/ ./');
    expect(r.stdout).toContain('"Entrypoint": [\n      "/app/report.sh"\n    ]');
  });

  it('prints JSON with vertices, config and stages', async () => {
    const r = await run(['plan', '--format', 'json', '--target', 'builder', '--build-arg', 'GREETING=hey', path.join(root, 'testdata/demo')]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { graph: { vertices: { digest: string; name: string; op: { kind: string; env?: string[] } }[]; target: string }; targetStage: string; stages: { name: string; reachable: boolean }[] };
    expect(out.targetStage).toBe('builder');
    expect(out.stages.map((s) => [s.name, s.reachable])).toEqual([['builder', true], ['stage-1', false]]);
    expect(out.graph.vertices.at(-1)!.digest).toBe(out.graph.target);
    expect(out.graph.vertices.find((v) => v.op.kind === 'exec')!.op.env).toContain('GREETING=hey');
  });

  it('prints Graphviz dot', async () => {
    const r = await run(['plan', '--format', 'dot', '-f', write('dot/Dockerfile', 'FROM alpine\nRUN true\n'), dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^digraph kiln \{/);
    expect(r.stdout).toMatch(/"[0-9a-f]{12}" -> "[0-9a-f]{12}";/);
  });

  it('reads the Dockerfile from CONTEXT and honours .dockerignore', async () => {
    write('ctx/Dockerfile', 'FROM alpine\nCOPY . /src\n');
    write('ctx/.dockerignore', 'node_modules\n*.log\n');
    const r = await run(['plan', '--format', 'json', path.join(dir, 'ctx')]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { graph: { vertices: { op: { kind: string; source?: { kind: string; excludePatterns?: string[] } } }[]; contexts: Record<string, { path?: string }> } };
    const local = out.graph.vertices.find((v) => v.op.source?.kind === 'local')!;
    expect(local.op.source!.excludePatterns).toEqual(['node_modules', '*.log']);
    expect(out.graph.contexts.context!.path).toBe(path.join(dir, 'ctx'));
  });

  it('reports Dockerfile problems as FILE:LINE:COL with a code frame, exit 1', async () => {
    const f = write('bad/Dockerfile', 'FROM alpine\nRUNN make\nCOPY --chwon=1 a /b\n');
    const r = await run(['plan', '-f', f, dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(':2:1: error: unknown instruction "RUNN" (did you mean "RUN"?) [INSTR_UNKNOWN_INSTRUCTION]');
    expect(r.stderr).toContain('> 2 | RUNN make');
    expect(r.stderr).toContain(':3:6: error: unknown flag: --chwon [INSTR_UNKNOWN_FLAG]');
    expect(r.stderr).toContain('hint: did you mean --chown?');
    expect(r.stderr).toContain('2 errors');
    expect(r.stderr).not.toContain('    at ');
  });

  it('reports an unknown target with the stage names', async () => {
    const r = await run(['plan', '--target', 'buildr', path.join(root, 'testdata/demo')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('target stage "buildr" could not be found');
    expect(r.stderr).toContain('did you mean "builder"?');
  });

  it('rejects bad usage with exit 2', async () => {
    expect((await run(['plan', '--format', 'yaml', dir])).code).toBe(2);
    expect((await run(['plan', '--bogus'])).code).toBe(2);
    const missing = await run(['plan', path.join(dir, 'nowhere')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read Dockerfile');
  });

  it('takes --build-arg NAME from the environment', () => {
    expect(parseBuildArgs(['A=1', 'B', 'C', 'D='], { B: 'env' })).toEqual({ A: '1', B: 'env', D: '' });
  });
});
