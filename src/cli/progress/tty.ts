import { StringDecoder } from 'node:string_decoder';
import type { Writable } from 'node:stream';
import type { MissReason } from '../../solver/types.js';
import { fit, seconds, splitLines, stripAnsi } from './format.js';
import type { ProgressEvent, ProgressRenderer, RendererOptions } from './types.js';

type Status = 'waiting' | 'running' | 'done' | 'cached' | 'error' | 'canceled';

interface TtyVertex {
  digest: string;
  name: string;
  status: Status;
  start?: number;
  end?: number;
  reason?: MissReason;
  error?: string;
  /** the last few complete output lines, and the line being written */
  tail: string[];
  partial: string;
  decoder: StringDecoder;
}

export interface TtyRendererOptions extends RendererOptions {
  /** Columns and rows of the terminal; default from the stream, else 80x24. */
  columns?: number;
  rows?: number;
  /** Minimum ms between redraws (BuildKit: 100). 0 redraws on every event. */
  interval?: number;
  /** Output lines shown under a running step (BuildKit shows 6). */
  logLines?: number;
  color?: boolean;
}

const ESC = '\x1b[';
const CLEAR_LINE = `${ESC}2K`;
const up = (n: number): string => (n > 0 ? `${ESC}${n}A` : '');

/**
 * BuildKit's tty display: a header with the elapsed time and steps done, one line per step with
 * its timer (CACHED / ERROR / CANCELED marks), the last output lines of running steps and why a
 * step was not cached. Redrawn in place with ANSI escapes, at most once per `interval`.
 */
export class TtyRenderer implements ProgressRenderer {
  private readonly out: Writable;
  private readonly now: () => number;
  private readonly vertices: TtyVertex[] = [];
  private readonly byDigest = new Map<string, TtyVertex>();
  private readonly startTime: number;
  private readonly interval: number;
  private readonly logLines: number;
  private readonly color: boolean;
  private readonly columns?: number;
  private readonly rows?: number;
  private height = 0;
  private lastDraw = 0;
  private timer: NodeJS.Timeout | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: TtyRendererOptions) {
    this.out = opts.out;
    this.now = opts.now ?? Date.now;
    this.startTime = this.now();
    this.interval = opts.interval ?? 100;
    this.logLines = opts.logLines ?? 6;
    this.color = opts.color ?? !process.env.NO_COLOR;
    if (opts.columns !== undefined) this.columns = opts.columns;
    if (opts.rows !== undefined) this.rows = opts.rows;
    if (this.interval > 0) {
      // keep the timers of running steps moving even when nothing is printed
      this.ticker = setInterval(() => this.draw(false), Math.max(this.interval, 100));
      this.ticker.unref();
    }
  }

  private size(): { columns: number; rows: number } {
    const s = this.out as Writable & { columns?: number; rows?: number };
    // a pty may report 0 columns/rows (script(1), some CI): fall back to 80x24
    const columns = this.columns ?? s.columns;
    const rows = this.rows ?? s.rows;
    return { columns: columns && columns > 20 ? columns : 80, rows: rows && rows > 2 ? rows : 24 };
  }

  private vertex(digest: string, name?: string): TtyVertex {
    let v = this.byDigest.get(digest);
    if (!v) {
      v = { digest, name: name ?? digest, status: 'waiting', tail: [], partial: '', decoder: new StringDecoder('utf8') };
      this.byDigest.set(digest, v);
      this.vertices.push(v);
    } else if (name !== undefined) {
      v.name = name;
    }
    return v;
  }

  onEvent(e: ProgressEvent): void {
    if (this.closed) return;
    switch (e.type) {
      case 'vertex.cached': {
        const v = this.vertex(e.digest, e.name);
        v.status = 'cached';
        v.start = v.end = e.time;
        break;
      }
      case 'vertex.cacheMiss':
        this.vertex(e.digest, e.name).reason = e.reason;
        break;
      case 'vertex.started': {
        const v = this.vertex(e.digest, e.name);
        v.status = 'running';
        v.start = e.time;
        delete v.end;
        break;
      }
      case 'vertex.log': {
        const v = this.vertex(e.digest);
        const { lines, rest } = splitLines(v.partial, v.decoder.write(Buffer.from(e.data)));
        v.partial = rest;
        if (lines.length) v.tail = [...v.tail, ...lines].slice(-this.logLines);
        break;
      }
      case 'vertex.completed': {
        const v = this.vertex(e.digest);
        v.status = 'done';
        v.end = e.time;
        v.tail = [];
        v.partial = '';
        break;
      }
      case 'vertex.error': {
        const v = this.vertex(e.digest);
        v.status = e.canceled ? 'canceled' : 'error';
        v.error = e.error;
        v.end = e.time;
        break;
      }
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.interval === 0) return this.draw(false);
    if (this.timer) return;
    const wait = Math.max(0, this.lastDraw + this.interval - this.now());
    if (wait === 0) return this.draw(false);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draw(false);
    }, wait);
    this.timer.unref();
  }

  private paint(s: string, code: string): string {
    return this.color ? `${ESC}${code}m${s}${ESC}0m` : s;
  }

  /** The lines of one frame (no escapes except colours). Exposed for tests. */
  frame(final: boolean): string[] {
    const { columns, rows } = this.size();
    const now = this.now();
    const total = this.vertices.length;
    const finished = this.vertices.filter((v) => v.status === 'done' || v.status === 'cached').length;
    const failed = this.vertices.some((v) => v.status === 'error');
    const elapsed = seconds(now - this.startTime);
    const head = `[+] Building ${elapsed} (${finished}/${total})${final ? (failed ? ' FINISHED WITH ERRORS' : ' FINISHED') : ''}`;
    const body: { line: string; keep: boolean }[] = [];
    for (const v of this.vertices) {
      const prefix =
        v.status === 'cached' ? 'CACHED ' : v.status === 'error' ? 'ERROR ' : v.status === 'canceled' ? 'CANCELED ' : '';
      const t = v.start === undefined ? '' : seconds((v.end ?? now) - v.start);
      const left = ` => ${prefix}${v.name}`;
      const room = columns - t.length - 1;
      let line = `${fit(stripAnsi(left), room).padEnd(room)} ${t}`;
      if (v.status === 'error') line = this.paint(line, '31');
      else if (v.status === 'canceled') line = this.paint(line, '33');
      else if (v.status === 'running') line = this.paint(line, '36');
      const active = v.status === 'running' || v.status === 'error';
      body.push({ line, keep: active });
      if (v.reason && v.status !== 'cached') {
        body.push({ line: this.paint(fit(` => => cache miss: ${v.reason.message}`, columns), '2'), keep: active });
      }
      if (active) {
        const shown = v.partial ? [...v.tail, v.partial].slice(-this.logLines) : v.tail;
        for (const l of shown) body.push({ line: this.paint(fit(` => => # ${stripAnsi(l).replace(/\t/g, '  ')}`, columns), '2'), keep: true });
      }
    }
    // Too tall for the terminal: drop finished steps from the top first, as BuildKit does.
    const max = final ? Infinity : Math.max(1, rows - 2);
    let lines = body;
    if (lines.length > max) {
      const excess = lines.length - max;
      let dropped = 0;
      lines = lines.filter((l) => (dropped < excess && !l.keep ? (dropped++, false) : true));
      if (lines.length > max) lines = lines.slice(lines.length - max);
    }
    return [head, ...lines.map((l) => l.line)];
  }

  private draw(final: boolean): void {
    if (this.closed && !final) return;
    const lines = this.frame(final);
    let s = up(this.height);
    for (const l of lines) s += `${CLEAR_LINE}${l}\n`;
    // clear what is left of a taller previous frame
    for (let i = lines.length; i < this.height; i++) s += `${CLEAR_LINE}\n`;
    if (this.height > lines.length) s += up(this.height - lines.length);
    this.out.write(s);
    this.height = lines.length;
    this.lastDraw = this.now();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    if (this.ticker) clearInterval(this.ticker);
    this.timer = this.ticker = undefined;
    this.draw(true);
    this.closed = true;
  }
}
