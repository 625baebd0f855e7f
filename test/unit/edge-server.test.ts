// src/edge/server.ts: the edge as a real listener on 127.0.0.1. Clients are raw sockets (so every
// byte of the CONNECT and of the answers is visible); the upstream is a TCP echo server reached
// through `[upstream] resolve`; the daemon is played by a fake /health server and a fake intercepting
// port that answers the chained CONNECT as each test needs (SPEC §1: chain when healthy, passthrough
// otherwise, and a client never sees an error because the daemon is down).
import assert from 'node:assert/strict';
import { createServer as createHttpServer, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import type { LogFields, Logger, LogLevel } from '../../src/core/log.js';
import { SELFTEST_HOST } from '../../src/core/providers.js';
import { createEdge, type Edge } from '../../src/edge/server.js';

// ---------------------------------------------------------------------------------------------
// Plumbing: everything opened here is closed after the file.

const closers: Array<() => Promise<void>> = [];
const openSockets = new Set<Socket>();
after(async () => {
  for (const s of openSockets) s.destroy();
  for (const c of closers.reverse()) await c();
});

function track(s: Socket): Socket {
  openSockets.add(s);
  s.once('close', () => openSockets.delete(s));
  s.on('error', () => s.destroy());
  return s;
}

async function listen(server: Server | HttpServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(
    () =>
      new Promise<void>((r) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return (server.address() as AddressInfo).port;
}

async function refusedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A socket reader that hands out text up to a marker and keeps the rest. */
class Conn {
  private buf = '';
  private closed = false;
  private wake: (() => void) | null = null;

  constructor(readonly sock: Socket) {
    track(sock);
    sock.on('data', (c: Buffer) => {
      this.buf += c.toString('latin1');
      this.wake?.();
    });
    sock.once('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static async open(port: number): Promise<Conn> {
    const sock = connect({ port, host: '127.0.0.1' });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    return new Conn(sock);
  }

  /** Everything up to and including `marker`. */
  async until(marker: string): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf(marker);
      if (i >= 0) {
        const out = this.buf.slice(0, i + marker.length);
        this.buf = this.buf.slice(i + marker.length);
        return out;
      }
      if (this.closed) throw new Error(`closed before ${JSON.stringify(marker)}; got ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** Everything until the peer closes. */
  async rest(): Promise<string> {
    while (!this.closed) await new Promise<void>((r) => (this.wake = r));
    const out = this.buf;
    this.buf = '';
    return out;
  }

  write(text: string): void {
    this.sock.write(text, 'latin1');
  }
}

/** Connects to the edge and sends a CONNECT; returns the connection and the edge's answer head. */
async function connectThrough(edgePort: number, target: string, extra: string[] = [], payload = ''): Promise<{ conn: Conn; head: string }> {
  const conn = await Conn.open(edgePort);
  conn.write([`CONNECT ${target} HTTP/1.1`, `Host: ${target}`, ...extra, '', ''].join('\r\n') + payload);
  const head = await conn.until('\r\n\r\n');
  return { conn, head };
}

// ---------------------------------------------------------------------------------------------
// Fakes.

interface Echo {
  port: number;
  received(): string;
  connections(): number;
}

async function echoServer(): Promise<Echo> {
  let received = '';
  let connections = 0;
  const port = await listen(
    createServer((s) => {
      track(s);
      connections++;
      s.on('data', (c: Buffer) => {
        received += c.toString('latin1');
        s.write(c);
      });
    }),
  );
  return { port, received: () => received, connections: () => connections };
}

interface FakeApi {
  port: number;
  hits(): number;
}

async function fakeApi(interceptHosts: string[] = ['api.anthropic.com', SELFTEST_HOST], status = 200): Promise<FakeApi> {
  let hits = 0;
  const answer = { status, body: { status: status === 200 ? 'ok' : 'unhealthy', version: '9.9.9', intercept_hosts: interceptHosts } };
  const port = await listen(
    createHttpServer((req, res) => {
      hits++;
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    }),
  );
  return { port, hits: () => hits };
}

interface FakeDaemon {
  port: number;
  heads: string[];
  received(): string;
  connections(): number;
}

/**
 * The daemon's intercepting port: reads the chained CONNECT, answers `status` (with `greeting` in
 * the same write on 200) and then answers every chunk with "daemon:" + chunk.
 */
async function fakeDaemon(status: 200 | 503, greeting = ''): Promise<FakeDaemon> {
  const heads: string[] = [];
  let received = '';
  let connections = 0;
  const port = await listen(
    createServer((s) => {
      track(s);
      connections++;
      let buf = '';
      let open = false;
      s.on('data', (c: Buffer) => {
        if (open) {
          received += c.toString('latin1');
          s.write(`daemon:${c.toString('latin1')}`);
          return;
        }
        buf += c.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        heads.push(buf.slice(0, end));
        if (status !== 200) {
          s.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n');
          return;
        }
        open = true;
        s.write(`HTTP/1.1 200 Connection established\r\n\r\n${greeting}`);
        const rest = buf.slice(end + 4);
        if (rest) {
          received += rest;
          s.write(`daemon:${rest}`);
        }
      });
    }),
  );
  return { port, heads, received: () => received, connections: () => connections };
}

interface Captured {
  level: LogLevel;
  event: string;
  fields: LogFields;
}

function captureLog(): { log: Logger; events: Captured[] } {
  const events: Captured[] = [];
  const log = (level: LogLevel, event: string, fields: LogFields = {}): void => void events.push({ level, event, fields });
  return {
    events,
    log: {
      log,
      info: (e, f) => log('info', e, f),
      warn: (e, f) => log('warn', e, f),
      error: (e, f) => log('error', e, f),
      debug: (e, f) => log('debug', e, f),
      close: async () => undefined,
    },
  };
}

async function startEdge(opts: { resolve: Record<string, string>; internal: number; api: number }): Promise<{ edge: Edge; port: number; events: Captured[] }> {
  const { log, events } = captureLog();
  const edge = createEdge({
    upstream: { resolve: opts.resolve, proxy: null },
    daemonPorts: () => ({ internal: opts.internal, api: opts.api }),
    log,
    version: '1.2.3-test',
  });
  const port = await listen(edge.server);
  return { edge, port, events };
}

const statusLine = (head: string): string => head.split('\r\n')[0];
const headerLines = (head: string): string[] => head.split('\r\n').slice(1);

interface ProxiedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An absolute-form request through the edge, as an HTTP client configured with a proxy sends it. */
function viaEdge(edgePort: number, method: string, url: string, headers: OutgoingHttpHeaders, body = ''): Promise<ProxiedResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: edgePort, method, path: url, headers, agent: false, setHost: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------

describe('edge: CONNECT', () => {
  test('a non-metered target is tunnelled raw to the upstream, without asking the daemon', async () => {
    const echo = await echoServer();
    const api = await fakeApi();
    const daemon = await fakeDaemon(200);
    const { edge, port, events } = await startEdge({ resolve: { 'echo.test:443': `127.0.0.1:${echo.port}` }, internal: daemon.port, api: api.port });

    // Bytes sent in the same write as the CONNECT (the parser's `head`) must not be lost.
    const { conn, head } = await connectThrough(port, 'echo.test:443', [], 'early|');
    assert.equal(head, 'HTTP/1.1 200 Connection established\r\n\r\n');
    assert.equal(await conn.until('early|'), 'early|');
    conn.write('ping');
    assert.equal(await conn.until('ping'), 'ping');
    conn.write('\x00\xff binary ok');
    assert.equal(await conn.until('binary ok'), '\x00\xff binary ok');

    // The upstream saw the tunnel's bytes only: no CONNECT line, no X-Halton-Client.
    assert.equal(echo.received(), 'early|ping\x00\xff binary ok');
    assert.equal(api.hits(), 0);
    assert.equal(daemon.connections(), 0);
    assert.equal(edge.stats.passthrough, 1);
    assert.ok(events.some((e) => e.event === 'edge.passthrough' && e.fields.host === 'echo.test' && e.fields.reason === 'not metered'));
    conn.sock.destroy();
  });

  test('closing the client closes the upstream side of the tunnel', async () => {
    const closed: Promise<void>[] = [];
    const up = await listen(
      createServer((s) => {
        track(s);
        closed.push(new Promise((r) => s.once('close', () => r())));
      }),
    );
    const api = await fakeApi();
    const { port } = await startEdge({ resolve: { 'echo.test:443': `127.0.0.1:${up}` }, internal: 1, api: api.port });
    const { conn } = await connectThrough(port, 'echo.test:443');
    assert.equal(closed.length, 1);
    conn.sock.destroy();
    await closed[0];
  });

  test('metered host, daemon healthy but its intercepting port refusing: passthrough, and health marked down', async () => {
    const echo = await echoServer();
    const api = await fakeApi();
    const internal = await refusedPort();
    const { edge, port, events } = await startEdge({ resolve: { 'api.anthropic.com:443': `127.0.0.1:${echo.port}` }, internal, api: api.port });

    const { conn, head } = await connectThrough(port, 'api.anthropic.com:443');
    assert.equal(statusLine(head), 'HTTP/1.1 200 Connection established');
    conn.write('client hello');
    assert.equal(await conn.until('client hello'), 'client hello');
    assert.equal(echo.received(), 'client hello');

    assert.equal(edge.health.cached(), null, 'refused chain drops the cache at once');
    assert.equal(edge.health.last().healthy, false);
    assert.match(edge.health.last().reason ?? '', /ECONNREFUSED/);
    assert.equal(edge.stats.fallbacks, 1);
    assert.equal(edge.stats.chained, 0);
    assert.ok(events.some((e) => e.event === 'edge.fallback' && e.fields.host === 'api.anthropic.com'));
    conn.sock.destroy();

    // The next connection asks the daemon again instead of trusting the old verdict.
    const second = await connectThrough(port, 'api.anthropic.com:443');
    assert.equal(statusLine(second.head), 'HTTP/1.1 200 Connection established');
    assert.equal(api.hits(), 2);
    second.conn.sock.destroy();
  });

  test('metered host, daemon healthy: chained with X-Halton-Client and Proxy-Authorization; bytes flow both ways', async () => {
    const echo = await echoServer();
    const api = await fakeApi();
    const daemon = await fakeDaemon(200, 'server-first|');
    const { edge, port, events } = await startEdge({ resolve: { 'api.anthropic.com:443': `127.0.0.1:${echo.port}` }, internal: daemon.port, api: api.port });
    const auth = `Basic ${Buffer.from('billing:').toString('base64')}`;

    const { conn, head } = await connectThrough(port, 'api.anthropic.com:443', [`Proxy-Authorization: ${auth}`, 'X-Halton-Client: 6.6.6.6:6666', 'User-Agent: curl/8']);
    assert.equal(head, 'HTTP/1.1 200 Connection established\r\n\r\n');
    // What the daemon sent along with its 200 reaches the client.
    assert.equal(await conn.until('server-first|'), 'server-first|');
    conn.write('tls-bytes');
    assert.equal(await conn.until('daemon:tls-bytes'), 'daemon:tls-bytes');

    assert.equal(daemon.heads.length, 1);
    const lines = daemon.heads[0].split('\r\n');
    assert.equal(lines[0], 'CONNECT api.anthropic.com:443 HTTP/1.1');
    const clientHeaders = lines.filter((l) => /^x-halton-client:/i.test(l));
    // The edge's own view of the client, never a value the client sent.
    assert.deepEqual(clientHeaders, [`X-Halton-Client: 127.0.0.1:${conn.sock.localPort}`]);
    assert.ok(lines.includes(`Proxy-Authorization: ${auth}`), daemon.heads[0]);
    assert.equal(daemon.received(), 'tls-bytes');
    assert.equal(echo.connections(), 0, 'the upstream is the daemon, not a passthrough');
    assert.equal(edge.stats.chained, 1);
    assert.ok(events.some((e) => e.event === 'edge.chain'));
    conn.sock.destroy();
  });

  test('bytes sent with the CONNECT are handed to the daemon when chained', async () => {
    const api = await fakeApi();
    const daemon = await fakeDaemon(200);
    const { port } = await startEdge({ resolve: {}, internal: daemon.port, api: api.port });
    const { conn } = await connectThrough(port, 'api.anthropic.com:443', [], 'early');
    assert.equal(await conn.until('daemon:early'), 'daemon:early');
    conn.sock.destroy();
  });

  test('metered host, daemon answering the chained CONNECT with 503: passthrough, health kept', async () => {
    const echo = await echoServer();
    const api = await fakeApi();
    const daemon = await fakeDaemon(503);
    const { edge, port } = await startEdge({ resolve: { 'api.anthropic.com:443': `127.0.0.1:${echo.port}` }, internal: daemon.port, api: api.port });

    const { conn, head } = await connectThrough(port, 'api.anthropic.com:443');
    assert.equal(statusLine(head), 'HTTP/1.1 200 Connection established');
    conn.write('hello');
    assert.equal(await conn.until('hello'), 'hello');
    assert.equal(echo.received(), 'hello');
    assert.equal(daemon.heads.length, 1);
    assert.equal(edge.stats.fallbacks, 1);
    // Not a refused connection: the cached verdict stands.
    assert.equal(edge.health.cached()?.healthy, true);
    conn.sock.destroy();
  });

  test('metered host, daemon unhealthy on /health: passthrough without touching its intercepting port', async () => {
    const echo = await echoServer();
    const api = await fakeApi(['api.anthropic.com'], 503);
    const daemon = await fakeDaemon(200);
    const { edge, port, events } = await startEdge({ resolve: { 'api.anthropic.com:443': `127.0.0.1:${echo.port}` }, internal: daemon.port, api: api.port });
    const { conn, head } = await connectThrough(port, 'api.anthropic.com:443');
    assert.equal(statusLine(head), 'HTTP/1.1 200 Connection established');
    conn.write('x');
    await conn.until('x');
    assert.equal(daemon.connections(), 0);
    assert.equal(edge.stats.passthrough, 1);
    assert.ok(events.some((e) => e.event === 'edge.passthrough' && e.fields.reason === 'daemon down'));
    conn.sock.destroy();
  });

  test("the daemon's intercept_hosts list decides what is chained", async () => {
    const echo = await echoServer();
    const api = await fakeApi(['new-provider.test']);
    const daemon = await fakeDaemon(200);
    const resolve = { 'new-provider.test:443': `127.0.0.1:${echo.port}`, 'api.anthropic.com:443': `127.0.0.1:${echo.port}` };
    const { edge, port } = await startEdge({ resolve, internal: daemon.port, api: api.port });

    // Before the daemon has answered, the built-in table decides: an unknown host is tunnelled.
    const a = await connectThrough(port, 'new-provider.test:443');
    assert.equal(statusLine(a.head), 'HTTP/1.1 200 Connection established');
    a.conn.sock.destroy();
    assert.equal(api.hits(), 0);

    // A built-in metered host makes the edge ask; the daemon no longer lists it, so it is tunnelled.
    const b = await connectThrough(port, 'api.anthropic.com:443');
    b.conn.write('b');
    assert.equal(await b.conn.until('b'), 'b');
    b.conn.sock.destroy();
    assert.equal(api.hits(), 1);
    assert.equal(daemon.connections(), 0);

    // Now the new host is known to be intercepted: chained.
    const c = await connectThrough(port, 'new-provider.test:443');
    c.conn.write('c');
    assert.equal(await c.conn.until('daemon:c'), 'daemon:c');
    c.conn.sock.destroy();
    assert.equal(edge.stats.chained, 1);
    assert.equal(daemon.heads[0].split('\r\n')[0], 'CONNECT new-provider.test:443 HTTP/1.1');
  });

  test('a malformed CONNECT target gets 400 and a closed connection', async () => {
    const api = await fakeApi();
    const { port } = await startEdge({ resolve: {}, internal: 1, api: api.port });
    for (const target of ['example.test:99999', 'example.test:0', 'exa$mple.test:443', '[::1:443']) {
      const conn = await Conn.open(port);
      conn.write(`CONNECT ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const all = await conn.rest();
      assert.match(all, /^HTTP\/1\.1 400 /, target);
    }
    const conn = await Conn.open(port);
    conn.write('CONNECT example.test:99999 HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(await conn.rest(), /CONNECT needs host:port/);
    assert.equal(api.hits(), 0);
  });

  test('an unreachable upstream gets 502 with a one-line reason', async () => {
    const api = await fakeApi();
    const down = await refusedPort();
    const { edge, port } = await startEdge({ resolve: { 'down.test:443': `127.0.0.1:${down}` }, internal: 1, api: api.port });
    const conn = await Conn.open(port);
    conn.write('CONNECT down.test:443 HTTP/1.1\r\nHost: down.test:443\r\n\r\n');
    const all = await conn.rest();
    const [head, body] = all.split('\r\n\r\n');
    assert.equal(statusLine(head), 'HTTP/1.1 502 Bad Gateway');
    assert.equal(body, 'halton-meter edge: cannot reach down.test:443 (ECONNREFUSED)\n');
    assert.equal(body.trim().split('\n').length, 1);
    assert.equal(edge.stats.errors, 1);
  });
});

describe('edge: plain HTTP', () => {
  test('origin-form GET /health answers JSON with component edge', async () => {
    const api = await fakeApi();
    const { port } = await startEdge({ resolve: {}, internal: 1, api: api.port });
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.status, 'ok');
    assert.equal(body.component, 'edge');
    assert.equal(body.version, '1.2.3-test');
    assert.equal(body.pid, process.pid);
    assert.equal(typeof body.started_at, 'string');
    assert.deepEqual(Object.keys(body.daemon as object).sort(), ['healthy', 'reason', 'version']);
    assert.deepEqual(Object.keys(body.stats as object).sort(), ['chained', 'errors', 'fallbacks', 'httpForwarded', 'passthrough']);
  });

  test('any other origin-form request is told the edge is a proxy', async () => {
    const api = await fakeApi();
    const { port } = await startEdge({ resolve: {}, internal: 1, api: api.port });
    const res = await fetch(`http://127.0.0.1:${port}/v1/messages`);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /HTTPS_PROXY=http:\/\/127\.0\.0\.1/);
  });

  test('absolute-form http:// is forwarded with hop-by-hop headers removed, both ways', async () => {
    const seen: Array<{ method?: string; url?: string; headers: IncomingHttpHeaders; body: string }> = [];
    const upstream = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(201, { 'X-Up': 'yes', 'Proxy-Authenticate': 'Basic realm="x"', 'Content-Type': 'text/plain' }).end(`got ${body}`);
      });
    });
    const upPort = await listen(upstream);
    const api = await fakeApi();
    const { edge, port } = await startEdge({ resolve: { 'plain.test:80': `127.0.0.1:${upPort}` }, internal: 1, api: api.port });

    const res = await viaEdge(
      port,
      'POST',
      'http://plain.test/path/x?q=1&r=two',
      {
        Host: 'plain.test',
        Connection: 'close',
        'Keep-Alive': 'timeout=5',
        'Proxy-Connection': 'keep-alive',
        'Proxy-Authorization': `Basic ${Buffer.from('billing:').toString('base64')}`,
        TE: 'trailers',
        'X-Halton-Client': '6.6.6.6:1',
        'X-Keep': 'kept',
        'Content-Type': 'application/x-www-form-urlencoded',
        'Content-Length': '3',
      },
      'a=1',
    );
    assert.equal(res.status, 201);
    assert.equal(res.body, 'got a=1');
    assert.equal(res.headers['x-up'], 'yes');
    assert.equal(res.headers['proxy-authenticate'], undefined);

    assert.equal(seen.length, 1);
    const up = seen[0];
    assert.equal(up.method, 'POST');
    assert.equal(up.url, '/path/x?q=1&r=two');
    assert.equal(up.body, 'a=1');
    assert.equal(up.headers.host, 'plain.test');
    assert.equal(up.headers['x-keep'], 'kept');
    for (const h of ['keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'x-halton-client']) {
      assert.equal(up.headers[h], undefined, `${h} reached the upstream`);
    }
    assert.equal(edge.stats.httpForwarded, 1);
  });

  test(
    'absolute-form http:// drops headers named in Connection (RFC 9110 §7.6.1)',
    async () => {
      const seen: IncomingHttpHeaders[] = [];
      const upPort = await listen(
        createHttpServer((req, res) => {
          seen.push(req.headers);
          res.writeHead(200, { Connection: 'X-Up-Hop', 'X-Up-Hop': 'secret' }).end('ok');
        }),
      );
      const api = await fakeApi();
      const { port } = await startEdge({ resolve: { 'plain.test:80': `127.0.0.1:${upPort}` }, internal: 1, api: api.port });
      const res = await viaEdge(port, 'GET', 'http://plain.test/', { Host: 'plain.test', Connection: 'close, X-Client-Hop', 'X-Client-Hop': '1' });
      assert.equal(seen[0]['x-client-hop'], undefined);
      assert.equal(res.headers['x-up-hop'], undefined);
    },
  );

  test('absolute-form to an unreachable upstream gets 502 with a one-line reason', async () => {
    const api = await fakeApi();
    const down = await refusedPort();
    const { port } = await startEdge({ resolve: { 'down.test:80': `127.0.0.1:${down}` }, internal: 1, api: api.port });
    const res = await viaEdge(port, 'GET', 'http://down.test/x', { Host: 'down.test' });
    assert.equal(res.status, 502);
    assert.match(res.body, /^halton-meter edge: cannot reach \S+ \(ECONNREFUSED\)\n$/);
  });

  test('non-http absolute URLs are refused with 400', async () => {
    const api = await fakeApi();
    const { port } = await startEdge({ resolve: {}, internal: 1, api: api.port });
    const conn = await Conn.open(port);
    conn.write('GET ftp://files.test/x HTTP/1.1\r\nHost: files.test\r\nConnection: close\r\n\r\n');
    assert.match(await conn.rest(), /^HTTP\/1\.1 400 [^]*only http:\/\/ URLs/);
  });

  test('the self-test host over plain HTTP goes to the daemon when healthy, with the client address', async () => {
    const seen: Array<{ url?: string; headers: IncomingHttpHeaders; remotePort?: number }> = [];
    const internal = await listen(
      createHttpServer((req, res) => {
        seen.push({ url: req.url, headers: req.headers });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }),
    );
    const api = await fakeApi();
    const { port } = await startEdge({ resolve: {}, internal, api: api.port });
    const auth = `Basic ${Buffer.from('team-a:').toString('base64')}`;
    let clientPort = 0;
    const res = await new Promise<ProxiedResponse>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, method: 'POST', path: `http://${SELFTEST_HOST}/v1/messages`, agent: false, headers: { Host: SELFTEST_HOST, 'Proxy-Authorization': auth, 'X-Halton-Client': '6.6.6.6:1', 'Content-Length': '2' } },
        (r) => {
          let text = '';
          r.on('data', (c: Buffer) => (text += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body: text }));
        },
      );
      req.on('socket', (s) => s.once('connect', () => (clientPort = s.localPort ?? 0)));
      req.on('error', reject);
      req.end('{}');
    });
    assert.equal(res.status, 200);
    assert.equal(res.body, '{"ok":true}');
    assert.equal(seen[0].url, `http://${SELFTEST_HOST}/v1/messages`);
    assert.equal(seen[0].headers['x-halton-client'], `127.0.0.1:${clientPort}`);
    assert.equal(seen[0].headers['proxy-authorization'], auth);
  });

  test('the self-test host with the daemon down gets a 503 saying so', async () => {
    const api = await fakeApi([SELFTEST_HOST], 503);
    const { port } = await startEdge({ resolve: {}, internal: 1, api: api.port });
    const res = await viaEdge(port, 'POST', `http://${SELFTEST_HOST}/v1/messages`, { Host: SELFTEST_HOST, 'Content-Length': '0' });
    assert.equal(res.status, 503);
    assert.equal((JSON.parse(res.body) as { error: { type: string } }).error.type, 'daemon_down');
  });
});
