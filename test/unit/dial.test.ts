// src/core/dial.ts: "host:port" parsing, [upstream] resolve, and opening upstream connections
// directly or through [upstream] proxy (an HTTP proxy spoken to with CONNECT). Real sockets on
// 127.0.0.1: a TCP echo server stands in for the upstream, and a minimal CONNECT proxy records what
// it was asked and answers as told.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { dialUpstream, parseHostPort, routeTarget, type UpstreamRoute } from '../../src/core/dial.js';

// ---------------------------------------------------------------------------------------------
// Local servers.

const servers: Server[] = [];
const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

function track(s: Socket): Socket {
  sockets.add(s);
  s.once('close', () => sockets.delete(s));
  s.on('error', () => s.destroy());
  return s;
}

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on (bound, then released). */
async function refusedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Echoes every byte back, prefixed once with a greeting so the client knows who answered. */
async function echoServer(): Promise<{ port: number; received: () => string; connections: () => number }> {
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

interface ProxySeen {
  head: string;
}

/**
 * A minimal HTTP CONNECT proxy. It answers `status`; on 200 it joins the client to `upstreamPort`
 * whatever the CONNECT named (the target names are not resolvable here), after sending `greeting`
 * in the same write as its answer.
 */
async function connectProxy(opts: { status: number; upstreamPort: number; greeting?: string }): Promise<{ port: number; seen: ProxySeen[] }> {
  const seen: ProxySeen[] = [];
  const port = await listen(
    createServer((client) => {
      track(client);
      let buf = Buffer.alloc(0);
      const onData = (c: Buffer): void => {
        buf = Buffer.concat([buf, c]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        client.removeListener('data', onData);
        client.pause();
        seen.push({ head: buf.subarray(0, end).toString('latin1') });
        if (opts.status !== 200) {
          client.end(`HTTP/1.1 ${opts.status} Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n\r\n`);
          return;
        }
        const up = track(
          connect({ port: opts.upstreamPort, host: '127.0.0.1' }, () => {
            client.write(`HTTP/1.1 200 Connection established\r\n\r\n${opts.greeting ?? ''}`);
            const rest = buf.subarray(end + 4);
            if (rest.length) up.write(rest);
            client.pipe(up);
            up.pipe(client);
            client.resume();
          }),
        );
        up.once('close', () => client.destroy());
        client.once('close', () => up.destroy());
      };
      client.on('data', onData);
    }),
  );
  return { port, seen };
}

/** Reads from a socket until `text` has arrived; resolves with everything read so far. */
function readUntil(sock: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (c: Buffer): void => {
      got += c.toString('latin1');
      if (got.includes(text)) {
        cleanup();
        resolve(got);
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`socket closed before ${JSON.stringify(text)} arrived; got ${JSON.stringify(got)}`));
    };
    const cleanup = (): void => {
      sock.removeListener('data', onData);
      sock.removeListener('close', onClose);
    };
    sock.on('data', onData);
    sock.once('close', onClose);
    // A socket handed over paused must flow now that someone reads it.
    sock.resume();
  });
}

const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const direct = (resolve: Record<string, string> = {}): UpstreamRoute => ({ resolve, proxy: null });

// ---------------------------------------------------------------------------------------------

describe('parseHostPort', () => {
  test('host:port, lowercased', () => {
    assert.deepEqual(parseHostPort('api.anthropic.com:443'), { host: 'api.anthropic.com', port: 443 });
    assert.deepEqual(parseHostPort('API.OpenAI.com:8443'), { host: 'api.openai.com', port: 8443 });
    assert.deepEqual(parseHostPort('  example.test:1  '), { host: 'example.test', port: 1 });
    assert.deepEqual(parseHostPort('example.test:65535'), { host: 'example.test', port: 65535 });
  });

  test('IPv4 with a port', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:8090'), { host: '127.0.0.1', port: 8090 });
  });

  test('IPv6 in brackets, with and without a port', () => {
    assert.deepEqual(parseHostPort('[::1]:8443'), { host: '::1', port: 8443 });
    assert.deepEqual(parseHostPort('[2001:DB8::1]:443'), { host: '2001:db8::1', port: 443 });
    assert.deepEqual(parseHostPort('[::1]', 443), { host: '::1', port: 443 });
    assert.equal(parseHostPort('[::1]'), null);
  });

  test('the default port applies only when none is given', () => {
    assert.deepEqual(parseHostPort('api.x.ai', 443), { host: 'api.x.ai', port: 443 });
    assert.deepEqual(parseHostPort('api.x.ai:80', 443), { host: 'api.x.ai', port: 80 });
    assert.equal(parseHostPort('api.x.ai'), null);
  });

  test('garbage is null', () => {
    const bad = [
      '',
      '   ',
      ':443',
      'host:',
      'host:abc',
      'host:0',
      'host:65536',
      'host:123456',
      'host:-1',
      'host:44 3',
      'ho st:443',
      'a/b:443',
      'user@host:443',
      'http://host:443',
      '::1:443', // IPv6 needs brackets when a port follows
      '[::1',
      '[::1]x',
      '[::1]:',
      '[]:443',
      'host:443:443',
    ];
    for (const v of bad) assert.equal(parseHostPort(v, 443), null, JSON.stringify(v));
  });
});

describe('routeTarget', () => {
  const resolve = { 'api.anthropic.com:443': '127.0.0.1:9443', 'v6.test:443': '[::1]:9444', 'broken.test:443': 'not a target' };

  test('a mapped host:port goes where the map says, marked resolved', () => {
    assert.deepEqual(routeTarget({ host: 'api.anthropic.com', port: 443 }, resolve), { host: '127.0.0.1', port: 9443, resolved: true });
    assert.deepEqual(routeTarget({ host: 'v6.test', port: 443 }, resolve), { host: '::1', port: 9444, resolved: true });
  });

  test('the map is keyed by host and port', () => {
    assert.deepEqual(routeTarget({ host: 'api.anthropic.com', port: 8443 }, resolve), { host: 'api.anthropic.com', port: 8443, resolved: false });
  });

  test('an unmapped target, or a mapping that does not parse, is left alone', () => {
    assert.deepEqual(routeTarget({ host: 'example.test', port: 443 }, resolve), { host: 'example.test', port: 443, resolved: false });
    assert.deepEqual(routeTarget({ host: 'broken.test', port: 443 }, resolve), { host: 'broken.test', port: 443, resolved: false });
    assert.deepEqual(routeTarget({ host: 'example.test', port: 443 }, {}), { host: 'example.test', port: 443, resolved: false });
  });
});

describe('dialUpstream, direct', () => {
  test('connects to the resolved address; bytes flow both ways', async () => {
    const echo = await echoServer();
    const sock = track(await dialUpstream({ host: 'echo.test', port: 443 }, direct({ 'echo.test:443': `127.0.0.1:${echo.port}` })));
    assert.equal(sock.remotePort, echo.port);
    const answer = readUntil(sock, 'ping');
    sock.write('ping');
    assert.equal(await answer, 'ping');
    sock.destroy();
  });

  test('connects to an IP target as given when nothing maps it', async () => {
    const echo = await echoServer();
    const sock = track(await dialUpstream({ host: '127.0.0.1', port: echo.port }, direct()));
    assert.equal(sock.remotePort, echo.port);
    sock.destroy();
  });

  test('a refused port rejects with ECONNREFUSED', async () => {
    const port = await refusedPort();
    await assert.rejects(dialUpstream({ host: 'down.test', port: 443 }, direct({ 'down.test:443': `127.0.0.1:${port}` })), { code: 'ECONNREFUSED' });
  });
});

describe('dialUpstream through [upstream] proxy', () => {
  test('sends CONNECT host:port with Host and the URL credentials as Basic Proxy-Authorization', async () => {
    const echo = await echoServer();
    const proxy = await connectProxy({ status: 200, upstreamPort: echo.port });
    const route: UpstreamRoute = { resolve: {}, proxy: `http://corp%40user:p%3Ass%20word@127.0.0.1:${proxy.port}` };
    const sock = track(await dialUpstream({ host: 'api.anthropic.com', port: 443 }, route));
    const answer = readUntil(sock, 'hello upstream');
    sock.write('hello upstream');
    assert.equal(await answer, 'hello upstream');
    sock.destroy();

    assert.equal(proxy.seen.length, 1);
    const lines = proxy.seen[0].head.split('\r\n');
    assert.equal(lines[0], 'CONNECT api.anthropic.com:443 HTTP/1.1');
    assert.ok(lines.includes('Host: api.anthropic.com:443'), proxy.seen[0].head);
    // URL-encoded user and password are decoded before they are encoded as Basic.
    assert.ok(lines.includes(`Proxy-Authorization: ${basic('corp@user', 'p:ss word')}`), proxy.seen[0].head);
    // The proxy saw only the tunnel's bytes after its answer, never the CONNECT again.
    assert.equal(echo.received(), 'hello upstream');
  });

  test('no credentials in the proxy URL: no Proxy-Authorization', async () => {
    const echo = await echoServer();
    const proxy = await connectProxy({ status: 200, upstreamPort: echo.port });
    const sock = track(await dialUpstream({ host: 'api.openai.com', port: 443 }, { resolve: {}, proxy: `http://127.0.0.1:${proxy.port}` }));
    sock.destroy();
    assert.doesNotMatch(proxy.seen[0].head, /proxy-authorization/i);
  });

  test(
    'bytes the proxy sends in the same packet as its 200 reach the caller first',
    async () => {
      const echo = await echoServer();
      const proxy = await connectProxy({ status: 200, upstreamPort: echo.port, greeting: 'EARLY-BYTES' });
      const sock = track(await dialUpstream({ host: 'api.x.ai', port: 443 }, { resolve: {}, proxy: `http://127.0.0.1:${proxy.port}` }));
      const got = readUntil(sock, 'ping');
      sock.write('ping');
      const text = await got;
      sock.destroy();
      assert.equal(text, 'EARLY-BYTES' + 'ping');
    },
  );

  test('an IPv6 target is bracketed in the CONNECT authority', async () => {
    const echo = await echoServer();
    const proxy = await connectProxy({ status: 200, upstreamPort: echo.port });
    const sock = track(await dialUpstream({ host: '2001:db8::1', port: 443 }, { resolve: {}, proxy: `http://127.0.0.1:${proxy.port}` }));
    sock.destroy();
    assert.deepEqual(proxy.seen[0].head.split('\r\n').slice(0, 2), ['CONNECT [2001:db8::1]:443 HTTP/1.1', 'Host: [2001:db8::1]:443']);
  });

  test('a target named in [upstream] resolve bypasses the proxy', async () => {
    const echo = await echoServer();
    const proxy = await connectProxy({ status: 200, upstreamPort: echo.port });
    const route: UpstreamRoute = { resolve: { 'api.anthropic.com:443': `127.0.0.1:${echo.port}` }, proxy: `http://127.0.0.1:${proxy.port}` };
    const sock = track(await dialUpstream({ host: 'api.anthropic.com', port: 443 }, route));
    assert.equal(sock.remotePort, echo.port);
    sock.destroy();
    assert.equal(proxy.seen.length, 0);
  });

  test('a proxy answering 407 rejects with an error naming the target and the status', async () => {
    const echo = await echoServer();
    const proxy = await connectProxy({ status: 407, upstreamPort: echo.port });
    await assert.rejects(dialUpstream({ host: 'api.anthropic.com', port: 443 }, { resolve: {}, proxy: `http://u:wrong@127.0.0.1:${proxy.port}` }), (err: Error) => {
      assert.match(err.message, /upstream proxy refused CONNECT api\.anthropic\.com:443: 407/);
      return true;
    });
    assert.equal(echo.connections(), 0);
  });

  test('an unreachable proxy rejects with ECONNREFUSED', async () => {
    const port = await refusedPort();
    await assert.rejects(dialUpstream({ host: 'api.anthropic.com', port: 443 }, { resolve: {}, proxy: `http://127.0.0.1:${port}` }), { code: 'ECONNREFUSED' });
  });

  test(
    'a proxy that closes without answering rejects instead of leaving the dial pending',
    async () => {
      const port = await listen(createServer((s) => track(s).end('HTTP/1.1 200 Conn')));
      const dial = dialUpstream({ host: 'api.anthropic.com', port: 443 }, { resolve: {}, proxy: `http://127.0.0.1:${port}` });
      dial.then((s) => s.destroy(), () => undefined);
      // The proxy has closed within a few ms; the timer is a hang detector, not a performance bound.
      const hang = new Promise<'pending'>((r) => setTimeout(() => r('pending'), 500).unref());
      const outcome = await Promise.race([dial.then(() => 'resolved', () => 'rejected'), hang]);
      assert.equal(outcome, 'rejected');
    },
  );
});
