import type { Command } from 'commander';
import { pushImage, parseRegistryReference, type TransferEvent } from '../../registry/index.js';
import type { CliContext } from '../context.js';
import { TransferRenderer } from './pull.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('push')
    .description('Upload an image to its registry')
    .argument('<name>', 'NAME[:TAG]')
    .option('-q, --quiet', 'suppress verbose output')
    .action(async (name: string, opts: { quiet?: boolean }) => {
      const ref = parseRegistryReference(name);
      const render = opts.quiet ? undefined : new TransferRenderer(ctx.stdout, 'push');
      if (render) ctx.stdout.write(`The push refers to repository [${ref.registry}/${ref.repository}]\n`);
      const result = await pushImage(name, {
        root: ctx.root(),
        ...(render ? { onEvent: (e: TransferEvent) => render.event(e) } : {}),
      });
      if (render) {
        render.finish();
        ctx.stdout.write(`${ref.tag ?? ref.digest}: digest: ${result.digest} size: ${result.size}\n`);
      } else ctx.stdout.write(`${result.name}\n`);
    });
}
