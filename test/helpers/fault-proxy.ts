/**
 * A fault-injecting HTTP proxy in front of a registry: each rule matches requests (method + path
 * regex) and, for its first `times` matches, answers with a fault instead of (or on top of) the
 * registry's response. Used to prove that the client retries or rejects, and stores nothing bad.
 */
import http from 'node:http';
import type net from 'node:net';

export type Fault =
  | { kind: 'status'; status: number }
  /** Upstream headers, half the body, then the connection drops. */
  | { kind: 'truncate' }
  /** Upstream headers, the body with its bytes changed (same length). */
  | { kind: 'wrong-bytes' }
  /** The body as is, with a Content-Length that differs by `delta`, then the connection closes. */
  | { kind: 'lying-length'; delta: number }
  /** 200 with a chunked body of zeros that never ends. */
  | { kind: 'endless' }
  /** Headers and a few bytes, then silence. */
  | { kind: 'stall' }
  /** Replace the Content-Type header. */
  | { kind: 'content-type'; value: string }
  /** Replace the body (Content-Length and Docker-Content-Digest dropped). */
  | { kind: 'body'; body: Buffer };

export interface FaultRule {
  method?: string;
  path: RegExp;
  fault: Fault;
  /** How many matching requests get the fault (default: all). */
  times?: number;
}

export interface FaultProxy {
  host: string;
  rules: FaultRule[];
  /** Every request seen: method, path, Range header. */
  log: Array<{ method: string; path: string; range?: string; faulted: boolean }>;
  stop(): Promise<void>;
}

function rawHead(status: number, headers: Record<string, string>): string {
  const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export async function startFaultProxy(upstreamHost: string, listenHost = '127.0.0.1'): Promise<FaultProxy> {
  const [uHost, uPort] = upstreamHost.split(':') as [string, string];
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const proxy: FaultProxy = { host: '', rules: [], log: [], stop: async () => {} };

  const server = http.createServer((req, res) => {
    const rule = proxy.rules.find((r) => (r.method ?? 'GET') === req.method && r.path.test(req.url ?? '') && (r.times === undefined || r.times > 0));
    if (rule && rule.times !== undefined) rule.times--;
    const entry: { method: string; path: string; range?: string; faulted: boolean } = { method: req.method ?? '', path: req.url ?? '', faulted: !!rule };
    if (typeof req.headers.range === 'string') entry.range = req.headers.range;
    proxy.log.push(entry);
    const fault = rule?.fault;
    if (fault?.kind === 'status') {
      req.resume();
      res.writeHead(fault.status, { 'Content-Type': 'application/json' });
      res.end('{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}');
      return;
    }
    if (fault?.kind === 'endless') {
      req.resume();
      const sock = req.socket;
      sock.write(rawHead(200, { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' }));
      const zeros = Buffer.alloc(64 * 1024);
      const pump = (): void => {
        while (!sock.destroyed && sock.write(`${zeros.length.toString(16)}\r\n`) && sock.write(zeros) && sock.write('\r\n')) {
          /* keep writing until the socket buffers */
        }
        if (!sock.destroyed) sock.once('drain', pump);
      };
      pump();
      return;
    }
    // Keep the client's Host header: the registry builds upload Locations from it, so they point back here.
    const headers = { ...req.headers };
    const up = http.request({ host: uHost, port: Number(uPort), method: req.method, path: req.url, headers }, (ures) => {
      if (!fault) {
        res.writeHead(ures.statusCode ?? 502, ures.headers);
        ures.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      ures.on('data', (c: Buffer) => chunks.push(c));
      ures.on('end', () => {
        let body = Buffer.concat(chunks);
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(ures.headers)) if (typeof v === 'string') h[k] = v;
        delete h['transfer-encoding'];
        h.connection = 'close';
        const sock = req.socket;
        switch (fault.kind) {
          case 'truncate':
            h['content-length'] = String(body.length);
            sock.write(rawHead(ures.statusCode ?? 200, h));
            sock.write(body.subarray(0, Math.floor(body.length / 2)));
            setImmediate(() => sock.destroy());
            return;
          case 'wrong-bytes':
            body = Buffer.from(body);
            for (let i = 0; i < body.length; i += 97) body[i] = body[i]! ^ 0xff;
            break;
          case 'lying-length':
            h['content-length'] = String(Math.max(0, body.length + fault.delta));
            sock.write(rawHead(ures.statusCode ?? 200, h));
            sock.end(body);
            return;
          case 'stall': {
            h['content-length'] = String(body.length);
            sock.write(rawHead(ures.statusCode ?? 200, h));
            sock.write(body.subarray(0, Math.min(10, body.length)));
            return; // and never more
          }
          case 'content-type':
            h['content-type'] = fault.value;
            break;
          case 'body':
            body = fault.body;
            delete h['docker-content-digest'];
            break;
        }
        h['content-length'] = String(body.length);
        res.writeHead(ures.statusCode ?? 200, h);
        res.end(body);
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, listenHost, r));
  proxy.host = `${listenHost === '0.0.0.0' ? '127.0.0.1' : listenHost}:${(server.address() as net.AddressInfo).port}`;
  proxy.stop = async () => {
    for (const t of timers) clearTimeout(t);
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  };
  return proxy;
}
