// HTTP/2 on metered hosts: a client that offers h2 in ALPN gets h2 from the daemon, and every stream
// is metered like an HTTP/1.1 request (one row each) while the upstream stays HTTP/1.1. Real edge
// and daemon processes, real TLS, the fake provider, and real clients: curl --http2 / --http1.1 and
// Node's http2 client over a CONNECT tunnel through the edge.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as h2Connect, constants as h2c, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { freePort, startMeter, waitUntil, type MeterProcs } from '../helpers/meter.js';
import { basePrices, expectedMinor } from '../helpers/expected-cost.js';

const run = promisify(execFile);

let pki: TestPki;
let fake: FakeProvider;
let meter: MeterProcs;

before(async () => {
  pki = makeTestPki();
  fake = await startFakeProvider(pki);
  meter = await startMeter({ pki, upstreamPort: fake.port });
});

after(async () => {
  await meter?.stop();
  await fake?.close();
});

const sonnet = (): Record<string, number> => basePrices('anthropic', 'claude-sonnet-4-5');

function anthropicBody(model: string, stream: boolean): string {
  return JSON.stringify({ model, max_tokens: 50, stream, messages: [{ role: 'user', content: 'h2' }] });
}

function anthropicCost(input: number, output: number): number {
  const p = sonnet();
  return expectedMinor([[input, p.input_mtok], [output, p.output_mtok]]);
}

/** curl through the edge; stdout is the body, stderr ends with the negotiated HTTP version. */
async function curlVia(proxyUser: string, args: string[]): Promise<{ body: string; version: string }> {
  const { stdout, stderr } = await run(
    'curl',
    ['-sS', '--fail-with-body', '-x', `http://${proxyUser}:x@127.0.0.1:${meter.edgePort}`, '--cacert', meter.clientBundlePath, '-w', '%{stderr}%{http_version}', ...args],
    { env: { ...process.env, HTTPS_PROXY: '', https_proxy: '' }, maxBuffer: 16 * 1024 * 1024 },
  );
  return { body: stdout, version: stderr.trim() };
}

/** The same request straight to the fake provider (HTTP/1.1, no meter): the bytes the meter must pass on. */
async function curlDirect(args: string[]): Promise<string> {
  const { stdout } = await run('curl', ['-sS', '--fail-with-body', '--connect-to', `api.anthropic.com:443:127.0.0.1:${fake.port}`, '--cacert', pki.caCertPath, ...args], {
    env: { ...process.env, HTTPS_PROXY: '', https_proxy: '' },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

function directCall(path: string, body: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: fake.port, servername: 'api.anthropic.com', ca: pki.caCert, method: 'POST', path, headers: { host: 'api.anthropic.com', ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.once('end', () => resolve(text));
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

/**
 * An h2 session to `host` the way an HTTPS_PROXY-aware Node client opens one: CONNECT through the
 * edge, TLS over the tunnel offering only h2, then http2.connect over that socket.
 */
async function h2Session(edgePort: number, bundle: string, host: string, proxyUser: string | null): Promise<ClientHttp2Session> {
  const headers: Record<string, string> = { host: `${host}:443` };
  if (proxyUser) headers['proxy-authorization'] = `Basic ${Buffer.from(`${proxyUser}:x`).toString('base64')}`;
  const tunnel = await new Promise<Socket>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: edgePort, method: 'CONNECT', path: `${host}:443`, headers });
    req.once('connect', (res, socket: Socket) => {
      if (res.statusCode === 200) resolve(socket);
      else reject(new Error(`CONNECT answered ${res.statusCode}`));
    });
    req.once('error', reject);
    req.end();
  });
  const tls = tlsConnect({ socket: tunnel, servername: host, ca: readFileSync(bundle, 'utf8'), ALPNProtocols: ['h2'] });
  await once(tls, 'secureConnect');
  assert.equal(tls.alpnProtocol, 'h2', 'the daemon negotiates h2 with a client that offers only h2');
  const session = h2Connect(`https://${host}`, { createConnection: () => tls });
  session.on('error', () => undefined);
  return session;
}

interface H2Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function h2Call(session: ClientHttp2Session, path: string, body: string, headers: Record<string, string> = {}): Promise<H2Answer> {
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json', ...headers });
  return collect(stream, body);
}

function collect(stream: ClientHttp2Stream, body: string | null): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    let head: IncomingHttpHeaders = {};
    let text = '';
    stream.setEncoding('utf8');
    stream.once('response', (h) => (head = h));
    stream.on('data', (c: string) => (text += c));
    stream.once('end', () => resolve({ status: Number(head[':status']), headers: head, body: text }));
    stream.once('error', reject);
    if (body === null) stream.end();
    else stream.end(body);
  });
}

function sseEvents(text: string): string[] {
  return [...text.matchAll(/^event: (\S+)/gm)].map((m) => m[1]);
}

describe('curl', () => {
  test('curl --http2, non-streamed: h2 to the client, the direct body, one priced row', async () => {
    const usage = { input_tokens: 2101, output_tokens: 311 };
    const args = [
      'https://api.anthropic.com/v1/messages',
      '-H', 'content-type: application/json',
      '-H', 'x-api-key: sk-ant-test-secret',
      '-H', `x-fake-usage: ${JSON.stringify(usage)}`,
      '-d', anthropicBody('claude-sonnet-4-5-20250929', false),
    ];
    const viaMeter = await curlVia('h2-curl', ['--http2', ...args]);
    assert.equal(viaMeter.version, '2');
    assert.equal(viaMeter.body, await curlDirect(args));
    const rows = await meter.waitForRows(1, "p.slug = 'h2-curl' AND r.stream = 0");
    assert.equal(rows.length, 1);
    const r = rows[0];
    assert.equal(r.provider, 'anthropic');
    assert.equal(r.model, 'claude-sonnet-4-5-20250929');
    assert.equal(r.status_code, 200);
    assert.equal(r.outcome, 'completed');
    assert.equal(r.input_tokens, 2101);
    assert.equal(r.output_tokens, 311);
    assert.equal(r.tokens_complete, 1);
    assert.equal(r.cost_usd_minor_units, anthropicCost(2101, 311));
    // The upstream got a plain HTTP/1.1 request (like the direct one): a Host header, no pseudo-headers.
    const seen = fake.seen.filter((s) => s.headers['x-fake-usage'] === JSON.stringify(usage));
    assert.equal(seen.length, 2);
    for (const s of seen) {
      assert.equal(s.headers.host, 'api.anthropic.com');
      assert.ok(!s.rawHeaders.some((h, i) => i % 2 === 0 && h.startsWith(':')));
    }
  });

  test('curl --http2, streamed: the events arrive as sent, one row', async () => {
    const usage = { input_tokens: 2202, output_tokens: 322 };
    const args = [
      '-N', 'https://api.anthropic.com/v1/messages?beta=true',
      '-H', 'content-type: application/json',
      '-H', `x-fake-usage: ${JSON.stringify(usage)}`,
      '-d', anthropicBody('claude-sonnet-4-5', true),
    ];
    const viaMeter = await curlVia('h2-curl', ['--http2', ...args]);
    assert.equal(viaMeter.version, '2');
    assert.equal(viaMeter.body, await curlDirect(args));
    assert.equal(sseEvents(viaMeter.body).at(-1), 'message_stop');
    const rows = await meter.waitForRows(1, "p.slug = 'h2-curl' AND r.stream = 1");
    assert.equal(rows.length, 1);
    const r = rows[0];
    assert.equal(r.path, '/v1/messages?beta=true');
    assert.equal(r.input_tokens, 2202);
    assert.equal(r.output_tokens, 322);
    assert.equal(r.tokens_complete, 1);
    assert.equal(r.cost_usd_minor_units, anthropicCost(2202, 322));
  });

  test('curl --http1.1 still negotiates HTTP/1.1 and is metered', async () => {
    const usage = { input_tokens: 2303, output_tokens: 333 };
    const { body, version } = await curlVia('h1-curl', [
      '--http1.1', 'https://api.anthropic.com/v1/messages',
      '-H', 'content-type: application/json',
      '-H', `x-fake-usage: ${JSON.stringify(usage)}`,
      '-d', anthropicBody('claude-sonnet-4-5', false),
    ]);
    assert.equal(version, '1.1');
    assert.equal(JSON.parse(body).usage.output_tokens, 333);
    const rows = await meter.waitForRows(1, "p.slug = 'h1-curl'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].input_tokens, 2303);
    assert.equal(rows[0].cost_usd_minor_units, anthropicCost(2303, 333));
  });
});

describe('Node http2 client over a CONNECT tunnel', () => {
  test('concurrent JSON and SSE streams on one session: one correct row per stream', async () => {
    const session = await h2Session(meter.edgePort, meter.clientBundlePath, 'api.anthropic.com', 'h2-node');
    const calls = [0, 1, 2, 3, 4, 5].map((i) => {
      const stream = i % 2 === 1;
      const usage = { input_tokens: 3000 + i, output_tokens: 400 + i };
      const headers = { 'x-api-key': 'sk-ant-test-secret', 'x-fake-usage': JSON.stringify(usage) };
      const body = anthropicBody('claude-sonnet-4-5', stream);
      return { i, stream, usage, headers, body, answer: h2Call(session, '/v1/messages', body, headers) };
    });
    const answers = await Promise.all(calls.map((c) => c.answer));
    for (const c of calls) {
      const a = answers[c.i];
      assert.equal(a.status, 200);
      assert.equal(a.body, await directCall('/v1/messages', c.body, { 'content-type': 'application/json', ...c.headers }), `stream ${c.i}`);
      if (c.stream) {
        assert.match(String(a.headers['content-type']), /text\/event-stream/);
        assert.equal(sseEvents(a.body).at(-1), 'message_stop');
      } else {
        assert.equal(JSON.parse(a.body).usage.input_tokens, c.usage.input_tokens);
      }
    }
    session.close();

    const rows = await meter.waitForRows(calls.length, "p.slug = 'h2-node'");
    assert.equal(rows.length, calls.length);
    for (const c of calls) {
      const mine = rows.filter((r) => r.input_tokens === c.usage.input_tokens);
      assert.equal(mine.length, 1, `one row for stream ${c.i}`);
      const r = mine[0];
      assert.equal(r.outcome, 'completed');
      assert.equal(r.stream, c.stream ? 1 : 0);
      assert.equal(r.output_tokens, c.usage.output_tokens);
      assert.equal(r.tokens_complete, 1);
      assert.equal(r.cost_usd_minor_units, anthropicCost(c.usage.input_tokens, c.usage.output_tokens));
    }
  });

  test('the client process is found for an h2 connection (no proxy user)', async () => {
    const session = await h2Session(meter.edgePort, meter.clientBundlePath, 'api.anthropic.com', null);
    const a = await h2Call(session, '/v1/messages', anthropicBody('h2-attribution', false));
    assert.equal(a.status, 200);
    session.close();
    const rows = await meter.waitForRows(1, "r.model_requested = 'h2-attribution'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].client_pid, process.pid);
    assert.notEqual(rows[0].attribution_rule, 'unresolved');
  });

  test('headers: split cookies are joined for HTTP/1.1, :authority becomes Host', async () => {
    const session = await h2Session(meter.edgePort, meter.clientBundlePath, 'chatgpt.com', 'h2-headers');
    // chatgpt.com outside the Codex path: decrypted, forwarded, not metered.
    const stream = session.request({ ':method': 'GET', ':path': '/backend-api/me', ':authority': 'chatgpt.com', cookie: ['a=1', 'b=2'], 'x-marker': 'h2-cookies' });
    const a = await collect(stream, null);
    session.close();
    assert.equal(a.status, 200);
    assert.deepEqual(JSON.parse(a.body), { ok: true, path: '/backend-api/me' });
    const seen = fake.seen.find((s) => s.headers['x-marker'] === 'h2-cookies');
    assert.ok(seen);
    assert.equal(seen.headers.cookie, 'a=1; b=2');
    assert.equal(seen.headers.host, 'chatgpt.com');
  });

  test('a large body crosses h2 flow control intact (the daemon waits for window updates)', async () => {
    const session = await h2Session(meter.edgePort, meter.clientBundlePath, 'api.anthropic.com', 'h2-download');
    const size = 8 * 1024 * 1024;
    const stream = session.request({ ':method': 'GET', ':path': `/download?bytes=${size}` });
    let got = 0;
    let wrong = 0;
    stream.on('data', (c: Buffer) => {
      got += c.length;
      for (const b of c) if (b !== 7) wrong++;
    });
    stream.end();
    await once(stream, 'end');
    session.close();
    assert.equal(got, size);
    assert.equal(wrong, 0);
  });

  test('a stream reset mid-SSE: one aborted row, and the session\'s other streams complete', async () => {
    const session = await h2Session(meter.edgePort, meter.clientBundlePath, 'api.anthropic.com', 'h2-reset');
    const held = session.request({ ':method': 'POST', ':path': '/v1/messages', 'content-type': 'application/json', 'x-fake-scenario': 'hold' });
    held.on('error', () => undefined);
    held.end(anthropicBody('h2-reset-held', true));
    // The first event arrives while the provider still holds back the rest: streamed, not buffered.
    const [first] = (await once(held, 'data')) as [Buffer];
    assert.match(first.toString('utf8'), /message_start/);

    const others = await Promise.all([
      h2Call(session, '/v1/messages', anthropicBody('h2-reset-json', false)),
      h2Call(session, '/v1/messages', anthropicBody('h2-reset-sse', true)),
    ]);
    held.close(h2c.NGHTTP2_CANCEL);
    const rows = await meter.waitForRows(1, "r.model_requested = 'h2-reset-held'");
    fake.release();
    assert.equal(rows.length, 1);
    assert.equal(rows[0].outcome, 'aborted');
    assert.equal(rows[0].error_class, 'client_aborted');
    assert.equal(rows[0].tokens_complete, 0);
    assert.equal(rows[0].input_tokens, 1200);

    for (const a of others) assert.equal(a.status, 200);
    assert.equal(sseEvents(others[1].body).at(-1), 'message_stop');
    // The session outlives the reset.
    const later = await h2Call(session, '/v1/messages', anthropicBody('h2-reset-after', false));
    assert.equal(later.status, 200);
    session.close();

    for (const model of ['h2-reset-json', 'h2-reset-sse', 'h2-reset-after']) {
      const r = await meter.waitForRows(1, `r.model_requested = '${model}'`);
      assert.equal(r.length, 1, model);
      assert.equal(r[0].outcome, 'completed', model);
      assert.equal(r[0].tokens_complete, 1, model);
    }
    // Still exactly one row for the reset stream.
    assert.equal(meter.rows("r.model_requested = 'h2-reset-held'").length, 1);
  });

  test('the upstream cutting a stream: the client sees the stream fail, one upstream_aborted row', async () => {
    const session = await h2Session(meter.edgePort, meter.clientBundlePath, 'api.anthropic.com', 'h2-truncate');
    await assert.rejects(h2Call(session, '/v1/messages', anthropicBody('h2-truncated', true), { 'x-fake-scenario': 'truncate' }));
    const ok = await h2Call(session, '/v1/messages', anthropicBody('h2-truncate-after', false));
    assert.equal(ok.status, 200);
    session.close();
    const rows = await meter.waitForRows(1, "r.model_requested = 'h2-truncated'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].outcome, 'aborted');
    assert.equal(rows[0].error_class, 'upstream_aborted');
    assert.equal(rows[0].tokens_complete, 0);
  });
});

describe('an unreachable upstream over h2', () => {
  let dead: MeterProcs;
  before(async () => {
    // Provider hosts resolve to a port nothing listens on.
    dead = await startMeter({ pki, upstreamPort: await freePort() });
  });
  after(async () => {
    await dead?.stop();
  });

  test('gets the same 502 JSON as HTTP/1.1 and one failed row', async () => {
    const session = await h2Session(dead.edgePort, dead.clientBundlePath, 'api.anthropic.com', 'h2-dead');
    const a = await h2Call(session, '/v1/messages', anthropicBody('h2-unreachable', false));
    session.close();
    assert.equal(a.status, 502);
    assert.equal(a.headers['x-halton-meter-error'], 'upstream_unreachable');
    assert.match(String(a.headers['content-type']), /application\/json/);
    assert.equal(JSON.parse(a.body).error.type, 'upstream_unreachable');
    const rows = await dead.waitForRows(1, "r.model_requested = 'h2-unreachable'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].outcome, 'failed');
    assert.equal(rows[0].error_class, 'upstream_unreachable');
  });
});

describe('a client that does not trust the meter CA and offers h2', () => {
  // Python's OpenSSL sends the unknown-CA alert the daemon recognises, and the process stays alive
  // while it retries, so the daemon can tie the rejection to it (curl and Node exit or just close).
  const script = `import socket, ssl, sys, time
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
ctx.set_alpn_protocols(["h2", "http/1.1"])
for attempt in range(1, 101):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"CONNECT api.openai.com:443 HTTP/1.1\\r\\nHost: api.openai.com:443\\r\\n\\r\\n")
    head = b""
    while b"\\r\\n\\r\\n" not in head:
        head += s.recv(1)
    try:
        t = ctx.wrap_socket(s, server_hostname="api.openai.com")
    except ssl.SSLCertVerificationError:
        s.close()
        time.sleep(0.1)
        continue
    print(attempt, t.selected_alpn_protocol())
    t.close()
    break
`;

  test('is remembered and its next connections are tunnelled raw', async () => {
    // Trusts the provider's CA only, like a runtime that ignores the meter's CA variables.
    const { stdout } = await run('python3', ['-c', script, String(meter.edgePort), pki.caCertPath]);
    const [attempts, alpn] = stdout.trim().split(' ');
    assert.ok(Number(attempts) >= 2, stdout);
    // The fake provider itself answered: it speaks HTTP/1.1 only.
    assert.equal(alpn, 'http/1.1');
    const log = meter.daemonLog();
    assert.match(log, /"event":"intercept.tls_failed".*"rejected_certificate":true/);
    assert.match(log, /"event":"intercept.untrusted_passthrough"/);
  });
});

describe('graceful SIGTERM with an h2 stream in flight', () => {
  test('the stream finishes with its row, the session gets GOAWAY, the daemon exits 0', async () => {
    const session = await h2Session(meter.edgePort, meter.clientBundlePath, 'api.anthropic.com', 'h2-sigterm');
    const goaway = once(session, 'goaway');
    const held = session.request({ ':method': 'POST', ':path': '/v1/messages', 'content-type': 'application/json', 'x-fake-scenario': 'hold' });
    const answer = collect(held, anthropicBody('h2-sigterm', true));
    await once(held, 'data');
    const exited = meter.stopDaemon('SIGTERM');
    await waitUntil(() => /"event":"daemon.stopping"/.test(meter.daemonLog()), 10_000, 'the daemon to start draining');
    fake.release();
    const a = await answer;
    assert.equal(sseEvents(a.body).at(-1), 'message_stop');
    await goaway;
    assert.equal(await exited, 0);
    const rows = meter.rows("r.model_requested = 'h2-sigterm'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].outcome, 'completed');
    assert.equal(rows[0].tokens_complete, 1);
    session.destroy();
  });
});
