import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { build, type BuildOptions, type OutputSpec } from '../../build.js';
import { CacheSpecError, parseCacheFrom, parseCacheTo } from '../../cache/export-select.js';
import { KilnError, NotFoundError, UsageError } from '../../diagnostics/errors.js';
import { applyTar } from '../../diff/apply.js';
import { VertexError } from '../../solver/errors.js';
import { LogCollector, createProgressRenderer, parseProgressMode } from '../progress/index.js';
import type { CliContext } from '../context.js';
import { parseBuildArgs } from './plan.js';
import { collect, parseBuildContexts, parseLabels, parseOutput, parseSecret, parseTags } from './build-flags.js';

export interface BuildCliOptions {
  tag: string[];
  file?: string;
  target?: string;
  buildArg: string[];
  label: string[];
  cache: boolean;
  /** commander names `--no-cache-filter` cacheFilter */
  cacheFilter: string[];
  pull?: boolean;
  progress?: string;
  quiet?: boolean;
  push?: boolean;
  output: string[];
  iidfile?: string;
  metadataFile?: string;
  cacheFrom: string[];
  cacheTo?: string;
  secret: string[];
  buildContext: string[];
  network?: string;
  jobs?: string;
  platform?: string;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const isTar = (b: Buffer): boolean => (b.length > 262 && b.subarray(257, 262).toString() === 'ustar') || (b[0] === 0x1f && b[1] === 0x8b);

export async function buildAction(ctx: CliContext, contextArg: string, o: BuildCliOptions, stdin?: Readable): Promise<void> {
  const cleanup: Array<() => Promise<void>> = [];
  try {
    // process.stdin is a getter that builds a stream (~5 ms): touch it only when reading from "-".
    await run(ctx, contextArg, o, () => stdin ?? process.stdin, cleanup);
  } finally {
    for (const c of cleanup) await c().catch(() => undefined);
  }
}

async function run(ctx: CliContext, contextArg: string, o: BuildCliOptions, stdin: () => Readable, cleanup: Array<() => Promise<void>>): Promise<void> {
  if (!contextArg) throw new UsageError('"kiln build" requires exactly 1 argument', 'usage: kiln build [OPTIONS] PATH | -');
  const progressMode = parseProgressMode(o.quiet ? 'quiet' : o.progress ?? process.env.BUILDKIT_PROGRESS ?? 'auto');
  let contextDir: string | null = null;
  let dockerfileText: Buffer | undefined;
  let dockerfilePath: string | undefined;
  if (contextArg === '-') {
    if (o.file === '-') throw new UsageError('the context and the Dockerfile cannot both come from stdin');
    const data = await readAll(stdin());
    if (isTar(data)) {
      contextDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-context-'));
      cleanup.push(() => fs.rm(contextDir!, { recursive: true, force: true }));
      await applyTar(Readable.from([data]), contextDir);
    } else {
      dockerfileText = data; // a Dockerfile on stdin with an empty context
    }
  } else {
    if (/^(https?|git):\/\//.test(contextArg) || contextArg.startsWith('git@')) {
      throw new UsageError(`remote build contexts (${contextArg}) are not supported yet`, 'clone or download it and pass the directory');
    }
    const st = await fs.stat(contextArg).catch(() => undefined);
    if (!st) throw new NotFoundError(`unable to prepare context: path "${contextArg}" not found`, { code: 'CLI_CONTEXT_NOT_FOUND' });
    if (!st.isDirectory()) throw new UsageError(`unable to prepare context: "${contextArg}" is not a directory`);
    contextDir = contextArg;
  }
  let dockerfileName = 'Dockerfile';
  if (dockerfileText === undefined) {
    if (o.file === '-') {
      dockerfileText = await readAll(stdin());
    } else {
      dockerfilePath = o.file ?? path.join(contextDir!, 'Dockerfile');
      try {
        dockerfileText = await fs.readFile(dockerfilePath);
      } catch {
        throw new NotFoundError(`failed to read Dockerfile: open ${dockerfilePath}: no such file or directory`, {
          code: 'CLI_DOCKERFILE_NOT_FOUND',
          hint: 'use -f PATH to name the Dockerfile, or -f - to read it from stdin',
        });
      }
      dockerfileName = path.relative(process.cwd(), dockerfilePath) || dockerfilePath;
    }
  }
  const text = dockerfileText.toString('utf8');
  ctx.sources.set(dockerfileName, text);

  let cacheTo;
  let cacheFrom;
  try {
    cacheTo = o.cacheTo ? parseCacheTo(o.cacheTo) : undefined;
    cacheFrom = o.cacheFrom.map(parseCacheFrom);
  } catch (err) {
    if (err instanceof CacheSpecError) throw new UsageError(err.message);
    throw err;
  }
  const outputs: OutputSpec[] = o.output.map(parseOutput);
  const tags = parseTags(o.tag);
  // --push / -o type=registry: every name the image gets is pushed after the build, as buildx does
  const pushNames = [...new Set([...(o.push ? tags : []), ...outputs.flatMap((out) => (out.type === 'image' && out.push ? (out.names.length ? out.names : tags) : []))])];
  if ((o.push || outputs.some((out) => out.type === 'image' && out.push)) && pushNames.length === 0) {
    throw new UsageError('nothing to push: give the image a name with -t NAME or -o type=registry,name=NAME');
  }
  if (o.network && !['default', 'none', 'host'].includes(o.network)) throw new UsageError(`invalid --network "${o.network}" (default, none, host)`);
  let jobs: number | undefined;
  if (o.jobs !== undefined) {
    jobs = Number(o.jobs);
    if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`invalid --jobs "${o.jobs}": a positive whole number`);
  }
  const secrets = await Promise.all(o.secret.map((s) => parseSecret(s)));

  const renderer = createProgressRenderer(progressMode, ctx.stderr);
  const logs = new LogCollector();
  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    if (++interrupts > 1) process.exit(130);
    ac.abort(new KilnError('SOLVE_CANCELED', 'build canceled (interrupted)'));
  };
  process.on('SIGINT', onSigint);
  cleanup.push(async () => {
    process.off('SIGINT', onSigint);
  });
  const opts: BuildOptions = {
    root: ctx.root(),
    contextDir,
    dockerfile: { text, name: dockerfileName, ...(dockerfilePath ? { path: dockerfilePath } : {}) },
    buildArgs: parseBuildArgs(o.buildArg),
    labels: parseLabels(o.label),
    noCache: o.cache === false,
    noCacheFilter: o.cacheFilter.flatMap((s) => s.split(',')).filter(Boolean),
    pull: !!o.pull,
    tags,
    outputs,
    cacheFrom,
    secrets,
    buildContexts: parseBuildContexts(o.buildContext),
    onEvent: (e) => {
      logs.onEvent(e);
      renderer.onEvent(e);
    },
    signal: ac.signal,
    ...(o.target ? { target: o.target } : {}),
    ...(o.platform ? { platform: o.platform } : {}),
    ...(cacheTo ? { cacheTo } : {}),
    ...(o.network ? { network: o.network as 'default' | 'none' | 'host' } : {}),
    ...(jobs ? { jobs } : {}),
  };
  let result;
  try {
    result = await build(opts);
  } catch (err) {
    await renderer.close();
    throw explainFailure(ctx, err, logs);
  }
  await renderer.close();
  if (pushNames.length > 0) {
    const { pushImage } = await import('../../registry/push.js');
    for (const name of pushNames) {
      if (progressMode !== 'quiet' && !o.quiet) ctx.stderr.write(`pushing ${name}\n`);
      const pushed = await pushImage(name, { root: ctx.root() });
      if (progressMode !== 'quiet' && !o.quiet) ctx.stderr.write(`pushed ${name}@${pushed.digest}\n`);
    }
  }
  if (o.quiet && result.imageId) ctx.stdout.write(`${result.imageId}\n`);
  if (o.iidfile && result.imageId) await fs.writeFile(o.iidfile, result.imageId);
  if (o.metadataFile) {
    const meta: Record<string, unknown> = {};
    if (result.manifest) {
      meta['containerimage.digest'] = result.manifest.digest;
      meta['containerimage.descriptor'] = result.manifest;
    }
    if (result.imageId) meta['containerimage.config.digest'] = result.imageId;
    if (tags.length) meta['image.name'] = tags.join(',');
    meta['kiln.build.steps'] = { executed: result.executed, cached: result.cached };
    await fs.writeFile(o.metadataFile, `${JSON.stringify(meta, null, 2)}\n`);
  }
}

/**
 * A failed step, as buildx shows it: the step and its last output lines between rules, then the
 * error with the Dockerfile lines (printed by the CLI's error reporter), then how to debug it.
 */
function explainFailure(ctx: CliContext, err: unknown, logs: LogCollector): unknown {
  if (!(err instanceof VertexError)) return err;
  const lines = logs.lastLines(err.vertex.digest, 10);
  if (lines.length) ctx.stderr.write(`------\n > ${err.vertex.name}:\n${lines.map((l) => `${l}\n`).join('')}------\n`);
  if (!err.debugCommand) return err;
  const range = err.range;
  return new KilnError(err.code, err.message, {
    cause: err,
    ...(range ? { range } : {}),
    hint: `open a shell in the state before this step: ${err.debugCommand}`,
  });
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('build')
    .description('Build an image from a Dockerfile')
    .argument('<context>', 'build context directory, or "-" for a tar or a Dockerfile on stdin')
    .option('-t, --tag <name:tag>', 'name and optionally a tag (repeatable)', collect, [])
    .option('-f, --file <path>', 'name of the Dockerfile (default: CONTEXT/Dockerfile; "-" reads stdin)')
    .option('--target <stage>', 'set the target build stage to build')
    .option('--build-arg <key=value>', 'set a build-time variable (repeatable)', collect, [])
    .option('--label <key=value>', 'set metadata for the image (repeatable)', collect, [])
    .option('--no-cache', 'do not use cache when building the image')
    .option('--no-cache-filter <stage>', 'do not cache the given stages (repeatable)', collect, [])
    .option('--pull', 'always attempt to pull the base images')
    .option('--progress <mode>', 'progress output: auto, tty, plain, rawjson, quiet (env BUILDKIT_PROGRESS)')
    .option('-q, --quiet', 'suppress the build output and print the image ID on success')
    .option('--push', 'push the image to its registry after the build (same as -o type=registry)')
    .option('-o, --output <spec>', 'output destination: type=image|registry|local|tar|oci|docker[,dest=PATH][,name=N][,push=true] (repeatable)', collect, [])
    .option('--iidfile <file>', 'write the image ID to the file')
    .option('--metadata-file <file>', 'write build result metadata to the file')
    .option('--cache-from <spec>', 'external cache sources: type=local,src=DIR, type=registry,ref=REF, or an image NAME built with an inline cache (repeatable)', collect, [])
    .option('--cache-to <spec>', 'cache export destination: type=local,dest=DIR or type=registry,ref=REF [,mode=min|max], or type=inline (records in the image config)')
    .option('--secret <spec>', 'secret to expose to the build: id=ID[,src=FILE|env=VAR] (repeatable)', collect, [])
    .option('--build-context <name=value>', 'additional build contexts: NAME=DIR or NAME=docker-image://REF (repeatable)', collect, [])
    .option('--network <mode>', 'networking mode for RUN instructions: default, none, host')
    .option('--jobs <n>', 'steps run at once, RUN processes included (default: kiln\'s own work on as many steps as there are cores; RUN processes do not count)')
    .option('--platform <os/arch>', 'target platform (only this machine\'s for RUN)')
    .action(async (contextArg: string, opts: BuildCliOptions) => {
      await buildAction(ctx, contextArg, opts);
    });
}
