import type { ProgressEvent, ProgressRenderer, RendererOptions } from './types.js';

/**
 * `--progress=rawjson`: one JSON object per event and line, for tools. Output chunks are
 * base64 in `data` (as BuildKit's rawjson carries bytes), with the UTF-8 reading in `text`
 * when the chunk is valid UTF-8.
 */
export class RawJsonRenderer implements ProgressRenderer {
  private readonly out: RendererOptions['out'];
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(opts: RendererOptions) {
    this.out = opts.out;
  }

  onEvent(e: ProgressEvent): void {
    let obj: Record<string, unknown>;
    if (e.type === 'vertex.log') {
      const buf = Buffer.from(e.data);
      let text: string | undefined;
      try {
        text = this.decoder.decode(buf);
      } catch {
        text = undefined;
      }
      obj = { type: e.type, digest: e.digest, time: new Date(e.time).toISOString(), stream: e.stream, data: buf.toString('base64'), ...(text === undefined ? {} : { text }) };
    } else {
      obj = { ...e, time: new Date(e.time).toISOString() };
    }
    this.out.write(`${JSON.stringify(obj)}\n`);
  }

  async close(): Promise<void> {}
}

/** `--progress=quiet`: nothing. */
export class QuietRenderer implements ProgressRenderer {
  onEvent(): void {}
  async close(): Promise<void> {}
}
