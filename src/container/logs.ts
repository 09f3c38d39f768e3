import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';

/** One line of docker's json-file log driver format. */
export interface LogEntry {
  log: string;
  stream: 'stdout' | 'stderr';
  time: string;
}

/**
 * Appends a process's output to `json.log`, one JSON object per line as docker's json-file driver does.
 * Chunks are split at newlines so every entry is one line of output (a partial last line is flushed at close).
 */
export class JsonLogWriter {
  private partial: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  private decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  private constructor(private readonly fh: fs.FileHandle) {}

  static async open(file: string): Promise<JsonLogWriter> {
    return new JsonLogWriter(await fs.open(file, 'a', 0o640));
  }

  async write(stream: 'stdout' | 'stderr', chunk: Buffer): Promise<void> {
    const text = this.partial[stream] + this.decoders[stream].write(chunk);
    const lines = text.split('\n');
    this.partial[stream] = lines.pop()!;
    if (lines.length === 0) return;
    const now = new Date().toISOString();
    await this.fh.write(lines.map((l) => `${JSON.stringify({ log: `${l}\n`, stream, time: now } satisfies LogEntry)}\n`).join(''));
  }

  async close(): Promise<void> {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.partial[stream] + this.decoders[stream].end();
      if (rest) await this.fh.write(`${JSON.stringify({ log: rest, stream, time: new Date().toISOString() })}\n`);
    }
    await this.fh.close();
  }
}

function parseLines(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as LogEntry);
    } catch {
      /* a line being written right now; it is read on the next poll */
    }
  }
  return out;
}

export interface ReadLogsOptions {
  tail?: number;
  follow?: boolean;
  /** While following: is the container still running? Checked after each poll. */
  running?: () => Promise<boolean>;
  signal?: AbortSignal;
  pollMs?: number;
}

/** Yield the log entries of a container; with `follow`, keep yielding until it stops running. */
export async function* readLogs(file: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogEntry> {
  let offset = 0;
  let pending = '';
  const readNew = async (): Promise<LogEntry[]> => {
    let size: number;
    try {
      size = (await fs.stat(file)).size;
    } catch {
      return [];
    }
    if (size <= offset) return [];
    const chunks: Buffer[] = [];
    for await (const c of createReadStream(file, { start: offset, end: size - 1 })) chunks.push(c as Buffer);
    offset = size;
    const text = pending + Buffer.concat(chunks).toString('utf8');
    const cut = text.lastIndexOf('\n');
    pending = text.slice(cut + 1);
    return parseLines(text.slice(0, cut + 1));
  };
  let first = await readNew();
  if (opts.tail !== undefined && opts.tail >= 0) first = opts.tail === 0 ? [] : first.slice(-opts.tail);
  yield* first;
  if (!opts.follow) return;
  for (;;) {
    if (opts.signal?.aborted) return;
    const stillRunning = opts.running ? await opts.running() : false;
    yield* await readNew();
    if (!stillRunning) return;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
  }
}
