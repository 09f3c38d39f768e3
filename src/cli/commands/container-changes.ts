import type { Command } from 'commander';
import { UsageError } from '../../diagnostics/errors.js';
import { commitContainer, copyIn, copyOut, diffContainer, exportContainer, exportContainerToFile } from '../../container/changes.js';
import { ContainerEngine } from '../../container/engine.js';
import type { CliContext } from '../context.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** `CONTAINER:PATH` → [container, path]; a host path has no colon before its first slash. */
function splitCpArg(arg: string): [string | undefined, string] {
  const colon = arg.indexOf(':');
  const slash = arg.indexOf('/');
  if (colon > 0 && (slash < 0 || colon < slash)) return [arg.slice(0, colon), arg.slice(colon + 1) || '/'];
  return [undefined, arg];
}

export function register(program: Command, ctx: CliContext): void {
  const open = () => ContainerEngine.open(ctx.root());

  program
    .command('commit')
    .description("Create a new image from a container's changes")
    .argument('<container>')
    .argument('[repository[:tag]]')
    .option('-c, --change <instruction>', 'apply a Dockerfile instruction to the image config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL (repeatable)', collect, [])
    .option('-m, --message <msg>', 'commit message')
    .option('-a, --author <author>', 'author (e.g. "Jane Doe <jane@example.com>")')
    .action(async (ref: string, name: string | undefined, o: { change: string[]; message?: string; author?: string }) => {
      const engine = await open();
      const c = await engine.containers.resolve(ref);
      const { id } = await commitContainer(engine, c, {
        changes: o.change,
        names: name ? [name] : [],
        ...(o.message !== undefined ? { message: o.message } : {}),
        ...(o.author !== undefined ? { author: o.author } : {}),
      });
      ctx.stdout.write(`${id}\n`);
    });

  program
    .command('export')
    .description("Export a container's filesystem as a tar archive")
    .argument('<container>')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(async (ref: string, o: { output?: string }) => {
      const engine = await open();
      const c = await engine.containers.resolve(ref);
      if (o.output) await exportContainerToFile(engine, c, o.output);
      else {
        if (process.stdout.isTTY && ctx.stdout === process.stdout) {
          throw new UsageError('cowardly refusing to save to a terminal', 'use -o FILE or redirect stdout');
        }
        await exportContainer(engine, c, ctx.stdout);
      }
    });

  program
    .command('diff')
    .description("Inspect changes to files or directories on a container's filesystem (A added, C changed, D deleted)")
    .argument('<container>')
    .action(async (ref: string) => {
      const engine = await open();
      const c = await engine.containers.resolve(ref);
      for (const ch of await diffContainer(engine, c)) ctx.stdout.write(`${ch.kind} ${ch.path}\n`);
    });

  program
    .command('cp')
    .description('Copy files between a container and the local filesystem: CONTAINER:SRC DEST or SRC CONTAINER:DEST')
    .argument('<src>')
    .argument('<dest>')
    .action(async (src: string, dest: string) => {
      const [sc, sp] = splitCpArg(src);
      const [dc, dp] = splitCpArg(dest);
      if ((sc === undefined) === (dc === undefined)) {
        throw new UsageError('copying between containers or between two local paths is not supported', 'one of SRC and DEST must be CONTAINER:PATH');
      }
      if (sp === '-' || dp === '-') throw new UsageError('copying a tar stream from/to stdin/stdout ("-") is not supported yet');
      const engine = await open();
      if (sc !== undefined) await copyOut(engine, await engine.containers.resolve(sc), sp, dp);
      else await copyIn(engine, await engine.containers.resolve(dc!), sp, dp);
    });
}
