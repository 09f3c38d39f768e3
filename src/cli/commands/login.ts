import type { Command } from 'commander';
import readline from 'node:readline';
import { UsageError } from '../../diagnostics/errors.js';
import { createRegistryClient, normaliseRegistryHost, saveCredentials } from '../../registry/index.js';
import type { CliContext } from '../context.js';

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

/** Ask a question on the terminal; `secret` hides what is typed. */
function prompt(question: string, secret: boolean, ctx: CliContext): Promise<string> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin, output: ctx.stderr, terminal: true });
    if (secret) {
      // Print the question, then swallow the echo of every key press.
      const out = rl as unknown as { _writeToOutput?: (s: string) => void };
      ctx.stderr.write(question);
      out._writeToOutput = () => {};
      rl.question('', (answer) => {
        ctx.stderr.write('\n');
        rl.close();
        resolve(answer);
      });
    } else {
      rl.question(question, (answer) => {
        rl.close();
        resolve(answer);
      });
    }
  });
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('login')
    .description('Log in to a registry (credentials are checked, then saved in the Docker config.json)')
    .argument('[server]', 'registry host[:port] (default: docker.io)')
    .option('-u, --username <user>', 'username')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'take the password from stdin')
    .action(async (server: string | undefined, opts: { username?: string; password?: string; passwordStdin?: boolean }) => {
      const registry = normaliseRegistryHost(server ?? 'docker.io');
      if (opts.password !== undefined && opts.passwordStdin) throw new UsageError('--password and --password-stdin are mutually exclusive');
      let username = opts.username;
      let password = opts.password;
      if (opts.password !== undefined) ctx.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      if (opts.passwordStdin) {
        if (!username) throw new UsageError('--password-stdin requires --username');
        password = (await readAllStdin()).replace(/\r?\n$/, '');
      }
      const interactive = Boolean(process.stdin.isTTY);
      if (!username) {
        if (!interactive) throw new UsageError('username required: use -u USER (stdin is not a terminal)');
        username = (await prompt('Username: ', false, ctx)).trim();
      }
      if (password === undefined) {
        if (!interactive) throw new UsageError('password required: use --password-stdin (stdin is not a terminal)');
        password = await prompt('Password: ', true, ctx);
      }
      if (!username || !password) throw new UsageError('username and password must not be empty');
      const client = await createRegistryClient(registry, { root: ctx.root(), credentials: { username, password } });
      try {
        await client.ping();
      } finally {
        client.close();
      }
      await saveCredentials(registry, { username, password });
      ctx.stdout.write('Login Succeeded\n');
    });
}
