// Fuzzes the edge (src/edge/server.ts) as apps reach it: a real edge from createEdge on a loopback
// port, raw sockets sending random and mutated request heads (CONNECT, absolute-form http://,
// origin-form, pipelined, chunked, oversized, broken), then half-closing. Everything behind the edge
// is loopback: a fake daemon (health API and intercepting port), an upstream HTTP proxy that every
// unresolved target goes through (so no case ever resolves a name or leaves the machine), an echo
// server and a web server reached through [upstream] resolve. The fake daemon answers a chained
// CONNECT with whatever the case asks for (src/edge/chain.ts reads that answer): a 200, an error,
// garbage, a huge head, nothing at all, with or without closing.
//
// Properties: nothing throws in the edge (an uncaught exception fails the run); every connection is
// answered and closed within a bounded time, and what comes back is HTTP (or nothing); a valid
// CONNECT is always established, whatever the daemon answered (fallback to passthrough); every
// 250th case is a valid CONNECT that must still tunnel; afterwards the edge holds no connection,
// answers /health and tunnels a CONNECT.
import { strict as assert } from 'node:assert';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import type { Logger } from '../../src/core/log.js';
import { SELFTEST_HOST } from '../../src/core/providers.js';
import { createEdge, type Edge } from '../../src/edge/server.js';
import { fuzzConfig, mutate, runTarget, type FuzzTarget, type Rng } from '../helpers/fuzz.js';

/** A connection the edge has not closed this long after it opened is a hang (chain timeout: 3 s). */
const CASE_DEADLINE_MS = 8000;
/**
 * The client half-closes once the edge has been quiet this long. Not at once: Node aborts a request
 * whose client half-closed, so an immediate FIN would never let a forwarded request complete.
 */
const QUIET_BEFORE_ANSWER_MS = 60;
const QUIET_AFTER_ANSWER_MS = 15;
const PROBE_EVERY = 250;

interface SocketOptions {
  /** Where the head is cut into separate writes. */
  writes: number[];
  /** A valid CONNECT that must tunnel (the edge still works after what came before). */
  probe: boolean;
}

/**
 * A lone, well-formed CONNECT to a target the edge can reach (headers: Host and Proxy-Authorization
 * only, nothing Node's parser refuses): it must be established, whatever the daemon answers. Read
 * from the bytes, not the generator, so a shrunk input is judged by what it is.
 */
const VALID_CONNECT = new RegExp(
  `^CONNECT (?:echo\\.test|api\\.anthropic\\.com|${SELFTEST_HOST.replace(/\./g, '\\.')}|unknown\\.test|\\[::1\\]):443 HTTP/1\\.1\r\nHost: [\x21-\x7e]*\r\n(?:Proxy-Authorization: [\x21-\x7e ]*\r\n)?\r\n`,
);

const sockets = new Set<Socket>();
const closers: Array<() => Promise<void>> = [];

function track(s: Socket): void {
  sockets.add(s);
  s.on('error', () => s.destroy());
  s.once('close', () => sockets.delete(s));
}

async function listen(server: Server | HttpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** Answers CONNECT with 200 and echoes; answers any request with 200 and `name`. */
function tunnelAndWeb(name: string): HttpServer {
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(name));
    req.on('error', () => res.destroy());
  });
  server.on('connect', (_req, sock: Socket, head: Buffer) => {
    track(sock);
    sock.write('HTTP/1.1 200 Connection established\r\n\r\n');
    if (head.length) sock.write(head);
    sock.on('data', (d: Buffer) => sock.write(d));
    sock.on('end', () => sock.end());
  });
  server.on('clientError', (_err, sock: Socket) => sock.destroy());
  return server;
}

const quiet: Logger = {
  log: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
  close: async () => undefined,
};

let edge: Edge;
let edgePort = 0;
const uncaught: unknown[] = [];
const onUncaught = (e: unknown): void => void uncaught.push(e);
const outcomes = { answered: 0, silent: 0, probes: 0, established: 0, forwarded: 0 };

before(async () => {
  process.on('uncaughtException', onUncaught);
  const echoPort = await listen(
    createServer((s) => {
      track(s);
      s.on('data', (d: Buffer) => s.write(d));
      s.on('end', () => s.end());
    }),
  );
  const webPort = await listen(tunnelAndWeb('web'));
  const proxyPort = await listen(tunnelAndWeb('proxied'));
  const internalPort = await listen(fakeDaemon());
  const apiPort = await listen(
    createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', version: 'fuzz', intercept_hosts: ['api.anthropic.com', SELFTEST_HOST] }));
    }),
  );
  edge = createEdge({
    upstream: {
      resolve: { 'echo.test:443': `127.0.0.1:${echoPort}`, 'echo.test:80': `127.0.0.1:${echoPort}`, 'web.test:80': `127.0.0.1:${webPort}` },
      proxy: `http://127.0.0.1:${proxyPort}`,
    },
    daemonPorts: () => ({ internal: internalPort, api: apiPort }),
    log: quiet,
    version: 'fuzz',
  });
  edgePort = await listen(edge.server);
});

after(async () => {
  process.removeListener('uncaughtException', onUncaught);
  for (const s of sockets) s.destroy();
  for (const c of closers.reverse()) await c();
});

/**
 * Sends `writes` of `input`, half-closes once the edge goes quiet, and returns what came back once
 * the edge closed the connection.
 */
function exchange(input: Buffer, writes: readonly number[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port: edgePort });
    track(sock);
    const got: Buffer[] = [];
    let quiet: NodeJS.Timeout | undefined;
    const arm = (ms: number): void => {
      clearTimeout(quiet);
      if (!sock.writableEnded) quiet = setTimeout(() => sock.end(), ms);
    };
    const deadline = setTimeout(() => {
      sock.destroy();
      reject(new Error(`the edge did not close the connection within ${CASE_DEADLINE_MS} ms; got ${JSON.stringify(Buffer.concat(got).toString('latin1').slice(0, 200))}`));
    }, CASE_DEADLINE_MS);
    sock.on('data', (d: Buffer) => {
      got.push(d);
      arm(QUIET_AFTER_ANSWER_MS);
    });
    sock.once('close', () => {
      clearTimeout(deadline);
      clearTimeout(quiet);
      resolve(Buffer.concat(got));
    });
    sock.once('connect', () => {
      let prev = 0;
      for (const at of [...writes, input.length]) {
        if (at <= prev || at > input.length) continue;
        sock.write(input.subarray(prev, at));
        prev = at;
      }
      arm(QUIET_BEFORE_ANSWER_MS);
    });
  });
}

const AUTHORITIES = ['echo.test:443', 'api.anthropic.com:443', `${SELFTEST_HOST}:443`, 'unknown.test:443', '[::1]:443', 'echo.test', 'web.test:80'];
const URLS = ['http://web.test/', 'http://web.test:80/v1/x?a=1', 'http://unknown.test/p', `http://${SELFTEST_HOST}/v1/messages`, 'http://echo.test:80/', 'https://web.test/', 'ftp://x/', 'http://[::1]:9/'];
const HEADERS = [
  'Proxy-Authorization: Basic cHJvamVjdDp4',
  'Connection: keep-alive',
  'Connection: close, x-drop',
  'X-Drop: 1',
  'Proxy-Connection: keep-alive',
  'Expect: 100-continue',
  'Upgrade: websocket',
  'Transfer-Encoding: chunked',
  'Content-Length: 5',
  'Content-Length: -1',
  'X-Halton-Client: 1.2.3.4:5',
  'Host: web.test',
];

function head(rng: Rng): string {
  const extra = Array.from({ length: rng.skewed(4) }, () => rng.pick(HEADERS));
  switch (rng.int(6)) {
    case 0:
    case 1: {
      const a = rng.pick(AUTHORITIES);
      // Half of them plain (Host and the daemon hint only): those must always be established.
      const headers = rng.chance(0.5) ? extra : [];
      if (rng.chance(0.5)) headers.push(daemonHint(rng));
      return [`CONNECT ${a} HTTP/1.1`, `Host: ${a}`, ...headers, '', ''].join('\r\n') + (rng.chance(0.3) ? 'early bytes' : '');
    }
    case 2:
    case 3: {
      const method = rng.pick(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD']);
      const body = rng.chance(0.3) ? '5\r\nhello\r\n0\r\n\r\n' : '';
      const url = rng.pick(URLS);
      // Node's server refuses an HTTP/1.1 request without Host (requireHostHeader); clients send it.
      const host = /^[a-z]+:\/\/([^/]*)/.exec(url)?.[1] ?? 'x';
      return [`${method} ${url} HTTP/1.1`, `Host: ${host}`, ...extra, '', ''].join('\r\n') + body;
    }
    case 4:
      return [`${rng.pick(['GET', 'POST'])} ${rng.pick(['/health', '/edge/health', '/', '/x'])} HTTP/1.${rng.int(2)}`, 'Host: 127.0.0.1', ...extra, '', ''].join('\r\n');
    default: {
      // Pipelined: a request answered by the edge, then a CONNECT (or the other way round).
      const a = `GET /health HTTP/1.1\r\nHost: x\r\n\r\n`;
      const b = `CONNECT ${rng.pick(AUTHORITIES)} HTTP/1.1\r\n\r\n`;
      return rng.chance(0.5) ? a + b : b + a;
    }
  }
}

const PROBE = Buffer.from('CONNECT echo.test:443 HTTP/1.1\r\nHost: echo.test:443\r\n\r\nping');
const PROBE_ANSWER = 'HTTP/1.1 200 Connection established\r\n\r\nping';

/**
 * The daemon's intercepting port. A CONNECT carrying `Proxy-Authorization: fuzz <close|stay>
 * <base64>` (the edge passes that header on to the daemon) is answered with exactly those bytes;
 * any other CONNECT with a 200, then an echo. Plain requests (the self-test host) get a short 200.
 */
function fakeDaemon(): Server {
  return createServer((s) => {
    track(s);
    let buf = Buffer.alloc(0);
    let tunnel = false;
    s.on('data', (d: Buffer) => {
      if (tunnel) {
        s.write(d);
        return;
      }
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headText = buf.subarray(0, end).toString('latin1');
      if (!headText.startsWith('CONNECT ')) {
        s.end('HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\ndaemon');
        return;
      }
      const hint = /^proxy-authorization: fuzz (close|stay) ([A-Za-z0-9+/=]*)$/im.exec(headText);
      const answer = hint === null ? Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n') : Buffer.from(hint[2], 'base64');
      s.write(answer);
      if (hint !== null && hint[1] === 'close') s.end();
      else tunnel = true;
    });
    s.on('end', () => s.end());
  });
}

const DAEMON_ANSWERS = [
  'HTTP/1.1 200 Connection established\r\n\r\n',
  'HTTP/1.0 200 OK\r\n\r\nleftover bytes',
  'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 2000 No\r\n\r\n',
  'HTTP/1.1 200',
  'SSH-2.0-OpenSSH\r\n',
  '',
];

/** A header asking the fake daemon for a (mutated) answer to the chained CONNECT. */
function daemonHint(rng: Rng): string {
  const base = Buffer.from(rng.pick(DAEMON_ANSWERS), 'latin1');
  let answer = rng.chance(0.5) ? base : mutate(rng, base, { maxRounds: 2 }).bytes;
  // Sometimes past chain.ts's 8 KiB limit for an answer head.
  if (rng.chance(0.05)) answer = Buffer.concat([Buffer.from('HTTP/1.1 200 '), Buffer.alloc(10_000, 0x61)]);
  // Mostly closing after the answer: a daemon that stays silent costs the 3 s chain timeout.
  return `Proxy-Authorization: fuzz ${rng.chance(0.9) ? 'close' : 'stay'} ${answer.toString('base64')}`;
}

/** A plain, well-formed absolute-form request to the web server or (through the proxy) elsewhere. */
const VALID_FORWARD = /^(GET|POST|PUT|DELETE|OPTIONS) http:\/\/(web|unknown)\.test(?::80)?\/[\x21-\x7e]* HTTP\/1\.1\r\nHost: [\x21-\x7e]+\r\n\r\n$/;

const target: FuzzTarget<SocketOptions> = {
  name: 'edge-socket',
  concurrency: 32,
  caseBudgetMs: CASE_DEADLINE_MS + 1000,
  stats: () =>
    `${outcomes.answered} answered, ${outcomes.silent} closed without an answer, ${outcomes.established} valid CONNECTs established (daemon answers fuzzed), ${outcomes.forwarded} valid requests forwarded, ${outcomes.probes} probes tunnelled; edge stats ${JSON.stringify(edge.stats)}`,
  generate(rng, index) {
    if (index % PROBE_EVERY === PROBE_EVERY - 1) return { input: PROBE, ops: ['probe'], options: { writes: [], probe: true } };
    const base = Buffer.from(head(rng), 'latin1');
    const m = rng.chance(0.2) ? { bytes: base, ops: ['valid'] } : mutate(rng, base, { maxRounds: 4, maxLength: 40_000 });
    const writes: number[] = [];
    for (let n = rng.skewed(8); n > 0; n--) writes.push(rng.range(1, Math.max(1, m.bytes.length - 1)));
    return { input: m.bytes, ops: m.ops, options: { writes: writes.sort((a, b) => a - b), probe: false } };
  },
  async check({ input, options }) {
    const answer = await exchange(input, options.writes);
    if (options.probe) {
      assert.equal(answer.toString('latin1'), PROBE_ANSWER, 'a valid CONNECT after the fuzz cases');
      outcomes.probes++;
      return;
    }
    if (answer.length === 0) {
      outcomes.silent++;
      return;
    }
    outcomes.answered++;
    const forward = VALID_FORWARD.exec(input.toString('latin1'));
    if (forward !== null) {
      const text = answer.toString('latin1');
      assert.ok(text.startsWith('HTTP/1.1 200 OK\r\n') && text.endsWith(forward[2] === 'web' ? 'web' : 'proxied'), `a valid ${forward[1]} got ${JSON.stringify(text.slice(0, 200))}`);
      outcomes.forwarded++;
    }
    // Under Node's 16 KiB header limit (past it the answer is rightly 400/431).
    const headBytes = input.indexOf('\r\n\r\n');
    if (VALID_CONNECT.test(input.toString('latin1')) && !input.includes('GET /health') && headBytes < 15_000) {
      assert.ok(answer.toString('latin1').startsWith('HTTP/1.1 200 Connection established\r\n\r\n'), `a valid CONNECT got ${JSON.stringify(answer.subarray(0, 80).toString('latin1'))}`);
      outcomes.established++;
    }
    assert.match(answer.subarray(0, 9).toString('latin1'), /^HTTP\/1\.[01] /, `the edge answered ${JSON.stringify(answer.subarray(0, 80).toString('latin1'))}`);
  },
};

test('fuzz: edge over real sockets', async (t) => {
  await runTarget(t, target, fuzzConfig('edge-socket', 5000, 1 / 20));
  assert.deepEqual(uncaught, [], 'exceptions escaped the edge');
  // Nothing left open: every connection the fuzz made has been closed by the edge.
  for (let i = 0; i < 50; i++) {
    const open = await new Promise<number>((resolve, reject) => edge.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    if (open === 0) break;
    assert.ok(i < 49, `${open} connections still open on the edge after the run`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal((await exchange(PROBE, [])).toString('latin1'), PROBE_ANSWER);
  const health = (await exchange(Buffer.from('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), [])).toString('latin1');
  assert.match(health, /^HTTP\/1\.1 200 /);
  assert.match(health, /"component":"edge"/);
});
