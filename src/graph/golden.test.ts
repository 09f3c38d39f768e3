/**
 * Golden tests: every testdata/graph/<case>/Dockerfile (plus optional options.json) converts to
 * exactly testdata/graph/<case>/expected.json, digests included. Regenerate with UPDATE_GOLDEN=1
 * and review the diff. (The demo Dockerfile, which changes with the demo, is covered by plan.test.ts.)
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from '../dockerfile/index.js';
import { convertAst } from './convert.js';
import type { ConvertOptions } from './types.js';

const root = path.resolve(import.meta.dirname, '../../testdata/graph');
const update = process.env.UPDATE_GOLDEN === '1';
const cases = readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();

describe('graph goldens', () => {
  it('has cases', () => {
    expect(cases.length).toBeGreaterThan(5);
  });
  for (const name of cases) {
    it(name, async () => {
      const dir = path.join(root, name);
      const dockerfile = path.join(dir, 'Dockerfile');
      const optsFile = path.join(dir, 'options.json');
      const options: ConvertOptions = existsSync(optsFile) ? (JSON.parse(readFileSync(optsFile, 'utf8')) as ConvertOptions) : {};
      // the golden files pin the platform, whatever machine runs the test
      options.buildPlatform ??= 'linux/amd64';
      const ast = parse(readFileSync(dockerfile, 'utf8'), { file: 'Dockerfile' });
      const result = await convertAst(ast, options);
      const actual = JSON.stringify(
        { graph: result.graph, config: result.config, stages: result.stages, targetStage: result.targetStage, warnings: result.warnings },
        null,
        2,
      ) + '\n';
      const expectedFile = path.join(dir, 'expected.json');
      if (update || !existsSync(expectedFile)) writeFileSync(expectedFile, actual);
      expect(actual).toBe(readFileSync(expectedFile, 'utf8'));
    });
  }
});
