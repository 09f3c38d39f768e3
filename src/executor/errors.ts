import { KilnError } from '../diagnostics/errors.js';

/**
 * The container's process could not be started (bad command, cwd, user ...). `exitStatus` is the
 * runtime's status for it: 127 command not found, 126 not executable, else 1 (as runc reports).
 */
export class StartError extends KilnError {
  constructor(message: string, readonly exitStatus: number, hint?: string) {
    super('RUNTIME_START_FAILED', message, hint === undefined ? {} : { hint });
  }
}
