import { readFile } from 'node:fs/promises';
import { NotFoundError } from '../diagnostics/errors.js';

/** All of standard input (for `-f -`). */
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The bytes of the Dockerfile named by `-f` (`-` reads `stdin`), with a clear error when it is missing. */
export async function readDockerfileArg(file: string, stdin: () => Promise<Buffer> = readStdin): Promise<Buffer> {
  if (file === '-') return stdin();
  try {
    return await readFile(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new NotFoundError(`cannot read Dockerfile "${file}": ${e.code === 'ENOENT' ? 'no such file' : e.message}`, {
      code: 'CLI_DOCKERFILE_NOT_FOUND',
      hint: 'use -f PATH to name the Dockerfile, or -f - to read it from stdin',
      cause: err,
    });
  }
}
