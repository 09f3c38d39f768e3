/**
 * Random Dockerfiles assembled from valid and invalid instruction lines: converting always ends
 * in a result or a KilnError (located when it is about the Dockerfile), never a crash, and the
 * result is the same on a second run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KilnError } from '../diagnostics/errors.js';
import { parse } from '../dockerfile/index.js';
import { convertAst } from './convert.js';

const LINES = [
  'FROM alpine AS a', 'FROM a', 'FROM scratch', 'FROM b AS b', 'FROM ${BASE}', 'FROM --platform=$BUILDPLATFORM busybox AS c', 'FROM 1nvalid AS d',
  'ARG BASE=alpine', 'ARG X', 'ARG Y="${X:-y}"', 'ENV P=$X Q=${Y}', 'ENV $X=1', 'LABEL k=v', 'WORKDIR app', 'WORKDIR /$Y', 'USER 1000',
  'RUN make', 'RUN ["echo", "x"]', 'RUN --mount=type=cache,target=/c x', 'RUN --mount=type=bind,from=a,target=/m x', 'RUN --mount=type=bind,from=c,target=/m x',
  'RUN --mount=type=secret,id=s x', 'RUN --mount=type=tmpfs,target=$X x', 'RUN --network=none x', 'COPY . /src', 'COPY --from=a / /', 'COPY --from=0 /x /x',
  'COPY --from=9 /x /x', 'COPY --from=b /x /x', 'COPY --link a /a', 'COPY --chmod=$X a /a', 'ADD https://example.com/f /f', 'ADD a.tar /',
  'COPY a b /c', 'EXPOSE 80 ${X}', 'VOLUME /v', 'STOPSIGNAL $X', 'CMD x', 'ENTRYPOINT ["e"]', 'SHELL ["/bin/bash", "-c"]', 'HEALTHCHECK CMD true',
  'ONBUILD RUN child', 'ONBUILD COPY --from=a /a /a', 'MAINTAINER me', 'RUNN x', 'EXPOSE 99999',
];

describe('convert on random Dockerfiles', () => {
  it('returns a result or a KilnError, deterministically', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...LINES), { minLength: 1, maxLength: 14 }),
        fc.option(fc.constantFrom('a', 'b', 'c', 'd', 'nope'), { nil: undefined }),
        fc.dictionary(fc.constantFrom('X', 'Y', 'BASE', 'Z'), fc.constantFrom('', '1', 'alpine', '$X', 'a b')),
        async (lines, target, buildArgs) => {
          const text = `${lines.join('\n')}\n`;
          const run = async (): Promise<string> => {
            try {
              const r = await convertAst(parse(text, { file: 'Dockerfile' }), { target, buildArgs, buildPlatform: 'linux/amd64' });
              const pos = new Map(r.graph.vertices.map((v, i) => [v.digest, i]));
              for (const v of r.graph.vertices) for (const i of v.inputs) expect(pos.get(i)).toBeLessThan(pos.get(v.digest)!);
              if (r.graph.target) expect(pos.has(r.graph.target)).toBe(true);
              return JSON.stringify(r.graph);
            } catch (err) {
              if (!(err instanceof KilnError)) throw err;
              if (err.code.startsWith('INSTR_') || err.code.startsWith('PARSE_')) expect(err.range).toBeDefined();
              return `error ${err.code}`;
            }
          };
          expect(await run()).toBe(await run());
        },
      ),
      { numRuns: 300 },
    );
  });
});
