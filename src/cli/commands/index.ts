import type { Command } from 'commander';
import type { CliContext } from '../context.js';

/** A command module adds its subcommand(s) to the program. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

/**
 * Every command module, in the order `kiln --help` lists them.
 * Each module owns its own flags and help text; this list is the only shared file.
 */
export const commandModules: Array<() => Promise<{ register: RegisterCommand }>> = [
  () => import('./run.js'),
  () => import('./containers.js'),
  () => import('./volume.js'),
  () => import('./pull.js'),
  () => import('./push.js'),
  () => import('./login.js'),
  () => import('./logout.js'),
  () => import('./parse.js'),
  () => import('./plan.js'),
  () => import('./images.js'),
  () => import('./image.js'),
  () => import('./tag.js'),
  () => import('./rmi.js'),
  () => import('./history.js'),
  () => import('./import.js'),
];
