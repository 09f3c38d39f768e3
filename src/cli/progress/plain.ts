import { StringDecoder } from 'node:string_decoder';
import type { ProgressEvent, ProgressRenderer, RendererOptions } from './types.js';
import { logTimestamp, seconds } from './format.js';

interface PlainVertex {
  index: number;
  name: string;
  started?: number;
  done: boolean;
  /** an unterminated output line is on screen */
  partial: boolean;
  /** that line as printed (prefix included), reprinted whole when output comes back to it */
  partialLine: string;
  reprint: boolean;
  decoders: Record<'stdout' | 'stderr', StringDecoder>;
}

/**
 * BuildKit's `--progress=plain`: every vertex gets a number on first sight; its header
 * `#N name` is printed again whenever output switches to it, output lines are prefixed
 * `#N <seconds since start>`, and each vertex ends with `#N DONE 1.2s`, `#N CACHED`,
 * `#N ERROR: ...` or `#N CANCELED`. kiln adds `#N cache miss: <reason>` for steps that run.
 * All output is printed; nothing is clipped.
 */
export class PlainRenderer implements ProgressRenderer {
  private readonly out: RendererOptions['out'];
  private readonly vertices = new Map<string, PlainVertex>();
  private current = '';
  private notFirst = false;
  private nextIndex = 1;

  constructor(opts: RendererOptions) {
    this.out = opts.out;
  }

  private write(s: string): void {
    this.out.write(s);
  }

  private vertex(digest: string, name?: string): PlainVertex {
    let v = this.vertices.get(digest);
    if (!v) {
      v = {
        index: this.nextIndex++,
        name: name ?? digest,
        done: false,
        partial: false,
        partialLine: '',
        reprint: false,
        decoders: { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') },
      };
      this.vertices.set(digest, v);
    } else if (name !== undefined) {
      v.name = name;
    }
    return v;
  }

  /** Make `digest` the vertex being printed, with BuildKit's `#N ...` hand-over. */
  private focus(digest: string, v: PlainVertex): void {
    if (this.current === digest) return;
    if (this.current) {
      const old = this.vertices.get(this.current);
      if (old && !old.done) {
        if (old.partial) {
          this.write('\n');
          old.partial = false;
          old.reprint = true;
        }
        this.write(`#${old.index} ...\n`);
      }
    }
    if (this.notFirst) this.write('\n');
    this.notFirst = true;
    this.write(`#${v.index} ${v.name}\n`);
    this.current = digest;
  }

  private endLine(v: PlainVertex): void {
    if (v.partial) {
      this.write('\n');
      v.partial = false;
    }
    v.reprint = false;
    v.partialLine = '';
  }

  private finish(v: PlainVertex): void {
    v.done = true;
    this.current = '';
  }

  onEvent(e: ProgressEvent): void {
    switch (e.type) {
      case 'vertex.cached': {
        const v = this.vertex(e.digest, e.name);
        if (v.done) return;
        this.focus(e.digest, v);
        this.write(`#${v.index} CACHED\n`);
        this.finish(v);
        return;
      }
      case 'vertex.cacheMiss': {
        const v = this.vertex(e.digest, e.name);
        v.done = false;
        this.focus(e.digest, v);
        this.write(`#${v.index} cache miss: ${e.reason.message}\n`);
        return;
      }
      case 'vertex.started': {
        const v = this.vertex(e.digest, e.name);
        v.started = e.time;
        v.done = false;
        this.focus(e.digest, v);
        return;
      }
      case 'vertex.log': {
        const v = this.vertex(e.digest);
        this.focus(e.digest, v);
        const text = v.decoders[e.stream].write(Buffer.from(e.data));
        this.writeLog(v, text, e.time);
        return;
      }
      case 'vertex.completed': {
        const v = this.vertex(e.digest);
        this.focus(e.digest, v);
        this.flushDecoders(v, e.time);
        this.endLine(v);
        this.write(`#${v.index} DONE ${seconds(e.duration)}\n`);
        this.finish(v);
        return;
      }
      case 'vertex.error': {
        const v = this.vertex(e.digest);
        this.focus(e.digest, v);
        this.flushDecoders(v, e.time);
        this.endLine(v);
        this.write(e.canceled ? `#${v.index} CANCELED\n` : `#${v.index} ERROR: ${e.error}\n`);
        this.finish(v);
        return;
      }
    }
  }

  private flushDecoders(v: PlainVertex, time: number): void {
    for (const d of Object.values(v.decoders)) {
      const rest = d.end();
      if (rest) this.writeLog(v, rest, time);
    }
  }

  private writeLog(v: PlainVertex, text: string, time: number): void {
    if (!text) return;
    const ts = logTimestamp(time - (v.started ?? time));
    if (v.reprint) {
      // BuildKit prints an interrupted line again, whole, when its vertex gets the output back
      this.write(v.partialLine);
      v.partial = true;
      v.reprint = false;
    }
    let i = 0;
    while (i < text.length) {
      const nl = text.indexOf('\n', i);
      const piece = nl === -1 ? text.slice(i) : text.slice(i, nl);
      if (!v.partial) {
        const prefix = `#${v.index} ${ts} `;
        this.write(prefix);
        v.partialLine = prefix;
      }
      this.write(piece);
      if (nl === -1) {
        v.partialLine += piece;
        v.partial = true;
        break;
      }
      this.write('\n');
      v.partial = false;
      v.partialLine = '';
      i = nl + 1;
    }
  }

  async close(): Promise<void> {
    if (this.current) {
      const v = this.vertices.get(this.current);
      if (v) this.endLine(v);
    }
  }
}
