/**
 * The real-world Dockerfiles of ../shared/conformance/real-world (those the parser accepts) all
 * convert, except the ones BuildKit rejects too: templates, files that need a --build-arg,
 * and invalid stage names or HEALTHCHECK lines. Nothing may crash.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KilnError } from '../diagnostics/errors.js';
import { parse } from '../dockerfile/index.js';
import { convertAst } from './convert.js';

const root = path.resolve(import.meta.dirname, '../../../shared/conformance/real-world');
const missing = existsSync(root) ? '' : `real-world Dockerfiles not found at ${root}`;
if (missing) console.warn(`skipping real-world conversion: ${missing}`);

/** Cases BuildKit fails on as well, with the code kiln reports. */
const EXPECTED_FAILURES: Record<string, string> = {
  'buildah--base-with-arg': 'INSTR_INVALID_STAGE_NAME', // `AS platform-arm/v7`
  'buildah--multiarch-reset-platform': 'GRAPH_INVALID_PLATFORM', // needs --build-arg FOREIGNARCH
  'containerd--integration-images-volume-copy-up': 'GRAPH_EMPTY_BASE_NAME', // needs --build-arg BASE
  'containerd--integration-images-volume-copy-up-windows': 'GRAPH_EMPTY_BASE_NAME',
  'tailscale--ssh-tailssh-testcontainers': 'GRAPH_EMPTY_BASE_NAME',
  'docker--windows-servercore.template': 'INSTR_TOO_MANY_ARGUMENTS', // a template
  'docker-cli--man-5.md': 'INSTR_UNKNOWN_INSTRUCTION', // not a Dockerfile
  'nginx--debian.template': 'INSTR_UNKNOWN_INSTRUCTION',
  'python--linux.template': 'INSTR_UNKNOWN_INSTRUCTION',
  'imagebuilder--badhealthcheck': 'INSTR_MISSING_ARGUMENT', // bare HEALTHCHECK
  'imagebuilder--testfiles-health': 'INSTR_MISSING_ARGUMENT',
};

describe.skipIf(!!missing)('real-world Dockerfiles', () => {
  it('convert, or fail exactly where BuildKit fails', async () => {
    const failures: Record<string, string> = {};
    let converted = 0;
    for (const name of readdirSync(root).sort()) {
      const dir = path.join(root, name);
      if (!existsSync(path.join(dir, 'Dockerfile')) || !existsSync(path.join(dir, 'result'))) continue;
      try {
        const r = await convertAst(parse(readFileSync(path.join(dir, 'Dockerfile')), { file: 'Dockerfile' }), { buildPlatform: 'linux/amd64' });
        expect(r.graph.vertices.length + (r.graph.target === null ? 1 : 0)).toBeGreaterThan(0);
        converted++;
      } catch (err) {
        if (!(err instanceof KilnError)) throw new Error(`${name}: ${String(err)}`, { cause: err });
        failures[name] = err.code;
      }
    }
    expect(failures).toEqual(EXPECTED_FAILURES);
    expect(converted).toBeGreaterThan(200);
  });
});
