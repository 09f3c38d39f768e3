import type { ProgressEvent } from './types.js';

/**
 * Keeps each step's complete output (no clipping) so a failed step can show its last lines,
 * whatever renderer is active. Output of steps that completed is dropped to bound memory.
 */
export class LogCollector {
  private readonly logs = new Map<string, Buffer[]>();

  onEvent(e: ProgressEvent): void {
    if (e.type === 'vertex.started') this.logs.set(e.digest, []);
    else if (e.type === 'vertex.log') {
      let l = this.logs.get(e.digest);
      if (!l) this.logs.set(e.digest, (l = []));
      l.push(Buffer.from(e.data));
    } else if (e.type === 'vertex.completed' || e.type === 'vertex.cached') this.logs.delete(e.digest);
  }

  /** All output of a step. */
  output(digest: string): string {
    return Buffer.concat(this.logs.get(digest) ?? []).toString('utf8');
  }

  /** The last `n` lines of a step's output. */
  lastLines(digest: string, n: number): string[] {
    const lines = this.output(digest).split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-n);
  }
}
