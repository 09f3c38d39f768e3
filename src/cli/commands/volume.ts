import type { Command } from 'commander';
import { UsageError } from '../../diagnostics/errors.js';
import { ContainerStore } from '../../container/store.js';
import { VolumeStore } from '../../container/volumes.js';
import type { CliContext } from '../context.js';
import { formatTable, humanSize, parseKeyValue } from '../table.js';

/** Names of containers that reference each volume. */
async function volumeUsers(root: string): Promise<Map<string, string[]>> {
  const users = new Map<string, string[]>();
  for (const c of await new ContainerStore(root).list()) {
    for (const m of c.record.mounts) {
      if (m.type !== 'volume') continue;
      users.set(m.name, [...(users.get(m.name) ?? []), c.record.name]);
    }
  }
  return users;
}

function collect(value: string, prev: string[] = []): string[] {
  return [...prev, value];
}

export function register(program: Command, ctx: CliContext): void {
  const volume = program.command('volume').description('Manage volumes');

  volume
    .command('create [name]')
    .description('Create a volume (a random name when none is given)')
    .option('-l, --label <key=value>', 'set metadata on the volume (repeatable)', collect, [])
    .action(async (name: string | undefined, opts: { label: string[] }) => {
      const labels: Record<string, string> = {};
      for (const l of opts.label) {
        try {
          const [k, v] = parseKeyValue('--label', l, true);
          labels[k] = v ?? '';
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
      }
      const store = new VolumeStore(ctx.root());
      const info = await store.create(name, labels);
      ctx.stdout.write(`${info.Name}\n`);
    });

  volume
    .command('ls')
    .alias('list')
    .description('List volumes')
    .option('-q, --quiet', 'only display volume names')
    .option('--format <format>', 'table or json', 'table')
    .action(async (opts: { quiet?: boolean; format: string }) => {
      const vols = await new VolumeStore(ctx.root()).list();
      if (opts.quiet) {
        ctx.stdout.write(vols.map((v) => `${v.Name}\n`).join(''));
      } else if (opts.format === 'json') {
        ctx.stdout.write(vols.map((v) => `${JSON.stringify(v)}\n`).join(''));
      } else if (opts.format === 'table') {
        ctx.stdout.write(formatTable(['DRIVER', 'VOLUME NAME'], vols.map((v) => [v.Driver, v.Name])));
      } else {
        throw new UsageError(`invalid value "${opts.format}" for "--format": expected table or json`);
      }
    });

  volume
    .command('inspect <name...>')
    .description('Display detailed information on one or more volumes')
    .action(async (names: string[]) => {
      const store = new VolumeStore(ctx.root());
      const out = [];
      for (const n of names) out.push(await store.get(n));
      ctx.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
    });

  volume
    .command('rm <name...>')
    .alias('remove')
    .description('Remove one or more volumes (not while a container uses them)')
    .option('-f, --force', 'remove even when in use')
    .action(async (names: string[], opts: { force?: boolean }) => {
      const store = new VolumeStore(ctx.root());
      const users = await volumeUsers(ctx.root());
      for (const n of names) {
        await store.remove(n, users.get(n) ?? [], Boolean(opts.force));
        ctx.stdout.write(`${n}\n`);
      }
    });

  volume
    .command('prune')
    .description('Remove unused anonymous volumes (all unused volumes with --all)')
    .option('-a, --all', 'remove all unused volumes, not just anonymous ones')
    .option('-f, --force', 'do not prompt for confirmation (kiln never prompts)')
    .action(async (opts: { all?: boolean }) => {
      const store = new VolumeStore(ctx.root());
      const users = await volumeUsers(ctx.root());
      let reclaimed = 0;
      ctx.stdout.write('Deleted Volumes:\n');
      for (const v of await store.list()) {
        if (users.has(v.Name) || (!opts.all && !v.Anonymous)) continue;
        reclaimed += await store.size(v.Name);
        await store.remove(v.Name);
        ctx.stdout.write(`${v.Name}\n`);
      }
      ctx.stdout.write(`\nTotal reclaimed space: ${humanSize(reclaimed)}\n`);
    });
}
