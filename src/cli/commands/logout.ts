import type { Command } from 'commander';
import { normaliseRegistryHost, removeCredentials } from '../../registry/index.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('logout')
    .description('Remove the saved credentials of a registry')
    .argument('[server]', 'registry host[:port] (default: docker.io)')
    .action(async (server: string | undefined) => {
      const registry = normaliseRegistryHost(server ?? 'docker.io');
      if (await removeCredentials(registry)) ctx.stdout.write(`Removing login credentials for ${registry}\n`);
      else ctx.stdout.write(`Not logged in to ${registry}\n`);
    });
}
