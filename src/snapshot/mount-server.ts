/**
 * A client of `kiln-runtime mount-server` (runtime/kiln-runtime.c): one helper process per kiln
 * process does every snapshot mount and unmount, so a build step does not pay a fork+exec of the
 * Node process (~3 ms) for each of them (a COPY --from step mounts and unmounts four times).
 * Requests are answered in order. The helper never keeps kiln alive (it ends when its stdin
 * closes); when it cannot be started or dies, `run` in mount.ts goes back to one process a call.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** What one call gives back: the exit status and what the command printed on stderr. */
export interface MountResult {
  status: number;
  stderr: string;
}

interface Pending {
  resolve(r: MountResult): void;
  reject(e: Error): void;
}

type Refable = { ref?: () => void; unref?: () => void };

export class MountServer {
  private child: ChildProcess | undefined;
  private readonly pending: Pending[] = [];
  private buf: Buffer = Buffer.alloc(0);
  /** Set once the helper failed: every later call is refused (the caller falls back). */
  failure: Error | undefined;

  constructor(private readonly helper: string) {}

  private start(): ChildProcess {
    const child = spawn(this.helper, ['mount-server'], { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } });
    child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
    child.on('error', (err) => this.fail(err));
    child.on('exit', (code, signal) => this.fail(new Error(`kiln-runtime mount-server exited (${signal ?? code})`)));
    child.stdin!.on('error', (err) => this.fail(err));
    child.unref();
    (child.stdin as unknown as Refable).unref?.();
    (child.stdout as unknown as Refable).unref?.();
    return child;
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32LE(4);
      if (this.buf.length < 8 + len) break;
      const r = { status: this.buf.readInt32LE(0), stderr: this.buf.toString('utf8', 8, 8 + len) };
      this.buf = this.buf.subarray(8 + len);
      this.pending.shift()?.resolve(r);
    }
    // idle again: the pipe must not keep the process alive
    if (this.pending.length === 0) (this.child?.stdout as unknown as Refable | undefined)?.unref?.();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.splice(0)) p.reject(this.failure);
  }

  /** Run `kiln-runtime CMD ARGS...` (mount or umount) in `cwd`. Rejects only when the helper fails. */
  call(cmd: 'mount' | 'umount', args: readonly string[], cwd = ''): Promise<MountResult> {
    if (this.failure) return Promise.reject(this.failure);
    const fields = [cwd, cmd, ...args];
    if (fields.some((f) => f.includes('\0'))) return Promise.reject(new Error('a NUL in a mount argument'));
    this.child ??= this.start();
    const body = Buffer.from(fields.map((f) => `${f}\0`).join(''));
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length);
    // an answer is awaited: keep the process alive until it comes
    if (this.pending.length === 0) (this.child.stdout as unknown as Refable).ref?.();
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child!.stdin!.write(Buffer.concat([head, body]));
    });
  }
}
