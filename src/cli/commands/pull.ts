import type { Command } from 'commander';
import type { Writable } from 'node:stream';
import { UsageError } from '../../diagnostics/errors.js';
import { familiarString } from '../../image/reference.js';
import { unpackNow } from '../../image/unpack.js';
import { openStores } from '../../store/index.js';
import { parsePlatform, parseRegistryReference, pullImage, type TransferEvent } from '../../registry/index.js';
import type { CliContext } from '../context.js';

const MB = 1e6;
const human = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}GB` : n >= MB ? `${(n / MB).toFixed(1)}MB` : `${(n / 1e3).toFixed(1)}kB`);

/**
 * Docker-like per-layer progress. On a TTY the lines are redrawn in place
 * (`abc123def456: Downloading [=====>   ]  12.3MB/40MB`); otherwise one line per state change.
 */
export class TransferRenderer {
  private readonly out: Writable;
  private readonly tty: boolean;
  private readonly order: string[] = [];
  private readonly lines = new Map<string, string>();
  private drawn = 0;
  private lastDraw = 0;
  private readonly mode: 'pull' | 'push';

  constructor(out: Writable, mode: 'pull' | 'push') {
    this.out = out;
    this.mode = mode;
    this.tty = Boolean((out as { isTTY?: boolean }).isTTY) && process.env.TERM !== 'dumb';
  }

  private label(e: Extract<TransferEvent, { type: 'blob' }>): string | undefined {
    const pull = this.mode === 'pull';
    switch (e.status) {
      case 'waiting':
        return pull ? 'Pulling fs layer' : 'Preparing';
      case 'exists':
        return pull ? 'Already exists' : 'Layer already exists';
      case 'downloading':
      case 'uploading': {
        const verb = e.status === 'downloading' ? 'Downloading' : 'Pushing';
        if (!this.tty) return undefined;
        const frac = e.total > 0 ? (e.current ?? 0) / e.total : 1;
        const width = 50;
        const filled = Math.min(width, Math.floor(frac * width));
        const bar = `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}]`;
        return `${verb} ${bar} ${human(e.current ?? 0)}/${human(e.total)}`;
      }
      case 'downloaded':
        return 'Pull complete';
      case 'pushed':
        return 'Pushed';
      case 'mounted':
        return `Mounted from another repository`;
      case 'failed':
        return 'Failed';
    }
  }

  event(e: TransferEvent): void {
    if (e.type !== 'blob' || e.kind !== 'layer') return;
    const id = e.digest.slice(7, 19);
    const text = this.label(e);
    if (text === undefined) return;
    if (!this.lines.has(id)) this.order.push(id);
    const prev = this.lines.get(id);
    this.lines.set(id, text);
    if (!this.tty) {
      if (prev !== text) this.out.write(`${id}: ${text}\n`);
      return;
    }
    const now = Date.now();
    if (e.status === 'downloading' || e.status === 'uploading') {
      if (now - this.lastDraw < 100) return;
    }
    this.redraw();
  }

  private redraw(): void {
    this.lastDraw = Date.now();
    let s = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const id of this.order) s += `\x1b[2K${id}: ${this.lines.get(id)}\n`;
    this.drawn = this.order.length;
    this.out.write(s);
  }

  finish(): void {
    if (this.tty && this.order.length > 0) this.redraw();
  }
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('pull')
    .description('Download an image from a registry')
    .argument('<name>', 'NAME[:TAG|@DIGEST]')
    .option('--platform <platform>', 'platform to select from a multi-platform image (os/arch[/variant]); default: this machine')
    .option('-q, --quiet', 'print only the image name')
    .action(async (name: string, opts: { platform?: string; quiet?: boolean }) => {
      let platform;
      try {
        platform = opts.platform ? parsePlatform(opts.platform) : undefined;
      } catch (err) {
        throw new UsageError(`--platform: ${(err as Error).message}`);
      }
      const ref = parseRegistryReference(name);
      const render = opts.quiet ? undefined : new TransferRenderer(ctx.stdout, 'pull');
      if (render) {
        if (!ref.digest && parseRegistryReference(name, { defaultTag: false }).tag === undefined) ctx.stdout.write('Using default tag: latest\n');
        ctx.stdout.write(`${ref.digest ?? ref.tag}: Pulling from ${familiarString(`${ref.registry}/${ref.repository}`)}\n`);
      }
      const result = await pullImage(name, {
        root: ctx.root(),
        ...(platform ? { platform, requirePlatform: true } : {}),
        ...(render ? { onEvent: (e: TransferEvent) => render.event(e) } : {}),
      });
      const stores = await openStores(ctx.root());
      await unpackNow(stores.root, stores.content, async () => [await stores.images.resolve(result.name, platform)]);
      if (render) {
        render.finish();
        ctx.stdout.write(`Digest: ${result.digest}\n`);
        ctx.stdout.write(
          result.downloaded
            ? `Status: Downloaded newer image for ${familiarString(result.name)}\n`
            : `Status: Image is up to date for ${familiarString(result.name)}\n`,
        );
      }
      ctx.stdout.write(`${result.name}\n`);
    });
}
