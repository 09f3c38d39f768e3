import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** Run the kiln CLI in this process (fast) with exactly `args`. */
export async function runCli(args: readonly string[]): Promise<CliResult> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main([...args], { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Run the kiln CLI in this process (fast), with `--root` set to `root`. */
export function kiln(root: string, ...args: string[]): Promise<CliResult> {
  return runCli(['--root', root, ...args]);
}

/** A fresh store root in a temp dir; call the returned cleanup in afterEach/afterAll. */
export function tempRoot(prefix = 'kiln-test-'): { root: string; cleanup: () => void } {
  const root = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
