import type { Command } from 'commander';
import type { CliContext } from '../context.js';

/** A command module adds its subcommand(s) to the program. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

type Loader = () => Promise<{ register: RegisterCommand }>;

/**
 * Every command module, in the order `kiln --help` lists them, with the top-level command names it
 * registers. Only the module of the command being run is loaded, so `kiln ps` does not pay for
 * importing the builder or the registry client. A bare loader (no names) is always loaded.
 */
export const commandModules: Array<Loader | { names: string[]; load: Loader }> = [
  { names: ['run', 'create', 'start'], load: () => import('./run.js') },
  { names: ['ps', 'logs', 'stop', 'kill', 'rm', 'wait', 'inspect', 'exec'], load: () => import('./containers.js') },
  { names: ['commit', 'export', 'diff', 'cp'], load: () => import('./container-changes.js') },
  { names: ['volume'], load: () => import('./volume.js') },
  { names: ['pull'], load: () => import('./pull.js') },
  { names: ['push'], load: () => import('./push.js') },
  { names: ['login'], load: () => import('./login.js') },
  { names: ['logout'], load: () => import('./logout.js') },
  { names: ['parse'], load: () => import('./parse.js') },
  { names: ['plan'], load: () => import('./plan.js') },
  { names: ['build'], load: () => import('./build.js') },
  { names: ['images'], load: () => import('./images.js') },
  { names: ['image'], load: () => import('./image.js') },
  { names: ['tag'], load: () => import('./tag.js') },
  { names: ['rmi'], load: () => import('./rmi.js') },
  { names: ['history'], load: () => import('./history.js') },
  { names: ['import'], load: () => import('./import.js') },
  { names: ['save'], load: () => import('./save.js') },
  { names: ['load'], load: () => import('./load.js') },
  { names: ['system', 'builder'], load: () => import('./system.js') },
];
