// What must hold when things go wrong: streams are not buffered, the edge fails open when the daemon
// is gone, starting or stopping; other hosts are never decrypted; compressed bodies reach the client
// byte-identical; truncated, failed and aborted exchanges still give exactly one row each.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { promisify } from 'node:util';
import { brotliDecompressSync } from 'node:zlib';
import { fetch as undiciFetch, ProxyAgent } from 'undici';
import { fixturesDir, startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startMeter, waitUntil, type MeterProcs } from '../helpers/meter.js';

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

function agent(): ProxyAgent {
  return new ProxyAgent({ uri: `http://127.0.0.1:${meter.edgePort}`, requestTls: { ca: readFileSync(meter.clientBundlePath, 'utf8') } });
}

async function anthropicCall(opts: { stream?: boolean; scenario?: string; marker: string; headers?: Record<string, string> }): Promise<Response> {
  return (await undiciFetch('https://api.anthropic.com/v1/messages', {
    method: 'POST',
    dispatcher: agent(),
    headers: { 'content-type': 'application/json', 'x-fake-scenario': opts.scenario ?? 'ok', ...(opts.headers ?? {}) },
    body: JSON.stringify({ model: opts.marker, max_tokens: 10, stream: opts.stream ?? false, messages: [{ role: 'user', content: 'x' }] }),
  })) as unknown as Response;
}

/** Peer certificate issuer CN seen by a client connecting through the edge to host. */
function issuerThroughEdge(host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: '127.0.0.1', port: meter.edgePort }, () => sock.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`));
    sock.once('data', (d: Buffer) => {
      if (!d.toString('latin1').startsWith('HTTP/1.1 200')) return reject(new Error(d.toString('latin1')));
      const t = tlsConnect({ socket: sock, servername: host, ca: readFileSync(meter.clientBundlePath, 'utf8') }, () => {
        const cert: PeerCertificate = t.getPeerCertificate();
        t.destroy();
        resolve(String(cert.issuer.CN));
      });
      t.once('error', reject);
    });
    sock.once('error', reject);
  });
}

describe('streaming', () => {
  test('the client gets the first SSE event while the provider still holds back the rest', async () => {
    const res = await anthropicCall({ stream: true, scenario: 'hold', marker: 'claude-sonnet-4-5-hold' });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await fake.firstEventSent();
    const first = await Promise.race([
      reader.read(),
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error('first event did not arrive while the provider held the stream')), 5000)),
    ]);
    assert.match(new TextDecoder().decode(first.value), /message_start/);
    // Nothing is metered yet: the stream is still open.
    assert.equal(meter.rows("r.model_requested = 'claude-sonnet-4-5-hold'").length, 0);
    fake.release();
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    assert.match(rest, /message_stop/);
    const rows = await meter.waitForRows(1, "r.model_requested = 'claude-sonnet-4-5-hold'");
    assert.equal(rows[0].output_tokens, 345);
  });
});

describe('hosts that are not metered', () => {
  test('are tunnelled raw: the client sees the upstream certificate, not the meter CA', async () => {
    assert.equal(await issuerThroughEdge('plain.example.test'), 'Fake Upstream Test CA');
    assert.equal(await issuerThroughEdge('api.anthropic.com'), 'mitmproxy');
  });
});

describe('compression', () => {
  test('gzip JSON and gzip SSE fixtures reach the client byte-identical and are metered', async () => {
    for (const [name, model] of [
      ['anthropic/json-gzip-cache-write-claude35', 'claude-3-5-sonnet-20240620'],
      ['anthropic/stream-gzip-thinking-haiku45', 'claude-haiku-4-5-20251001'],
    ] as const) {
      const out = join(meter.home, `${name.replace('/', '_')}.bin`);
      await run('curl', ['-sS', '-x', `http://127.0.0.1:${meter.edgePort}`, '--cacert', meter.clientBundlePath, '-H', 'accept-encoding: gzip',
        '-H', `x-fake-fixture: ${name}`, '-H', 'content-type: application/json', '-o', out,
        '-d', JSON.stringify({ model: `fixture-${name}`, max_tokens: 5, messages: [] }), 'https://api.anthropic.com/v1/messages']);
      assert.deepEqual(readFileSync(out), readFileSync(join(fixturesDir(), name, 'response.body.gz')));
      const meta = JSON.parse(readFileSync(join(fixturesDir(), name, 'meta.json'), 'utf8')) as { usage: Record<string, Record<string, number> | number> };
      const rows = await meter.waitForRows(1, `r.model_requested = 'fixture-${name}'`);
      assert.equal(rows[0].model, model);
      const u = meta.usage;
      const expectedOut = typeof u.output_tokens === 'number' ? u.output_tokens : (u.message_delta as Record<string, number>).output_tokens;
      assert.equal(rows[0].output_tokens, expectedOut);
      assert.notEqual(rows[0].cost_usd_minor_units, null);
    }
  });

  test('brotli JSON reaches the client byte-identical (decodes to the same usage) and is metered', async () => {
    const out = join(meter.home, 'br.bin');
    await run('curl', ['-sS', '-x', `http://127.0.0.1:${meter.edgePort}`, '--cacert', meter.clientBundlePath, '-H', 'accept-encoding: br',
      '-H', 'x-fake-scenario: br', '-H', 'content-type: application/json', '-o', out,
      '-d', JSON.stringify({ model: 'claude-sonnet-4-5-br', max_tokens: 5, messages: [] }), 'https://api.anthropic.com/v1/messages']);
    const body = JSON.parse(brotliDecompressSync(readFileSync(out)).toString('utf8')) as { usage: { input_tokens: number } };
    assert.equal(body.usage.input_tokens, 1200);
    const rows = await meter.waitForRows(1, "r.model_requested = 'claude-sonnet-4-5-br'");
    assert.equal(rows[0].input_tokens, 1200);
  });
});

describe('failures still give one row each', () => {
  test('upstream 4xx and 5xx', async () => {
    const r4 = await anthropicCall({ scenario: 'error-4xx', marker: 'm-err4' });
    assert.equal(r4.status, 400);
    await r4.text();
    const r5 = await anthropicCall({ scenario: 'error-5xx', marker: 'm-err5' });
    assert.equal(r5.status, 529);
    await r5.text();
    const rows4 = await meter.waitForRows(1, "r.model_requested = 'm-err4'");
    assert.equal(rows4[0].status_code, 400);
    assert.equal(rows4[0].error_class, 'invalid_request_error');
    assert.equal(rows4[0].cost_usd_minor_units, null);
    assert.equal(rows4[0].tokens_complete, 0);
    const rows5 = await meter.waitForRows(1, "r.model_requested = 'm-err5'");
    assert.equal(rows5[0].status_code, 529);
    assert.equal(rows5[0].error_class, 'overloaded_error');
  });

  test('mid-stream error event', async () => {
    const res = await anthropicCall({ stream: true, scenario: 'midstream-error', marker: 'm-midstream' });
    assert.match(await res.text(), /overloaded_error/);
    const rows = await meter.waitForRows(1, "r.model_requested = 'm-midstream'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].error_class, 'overloaded_error');
    assert.equal(rows[0].tokens_complete, 0);
    assert.equal(rows[0].input_tokens, 1200);
  });

  test('truncated stream (upstream drops the connection)', async () => {
    const res = await anthropicCall({ stream: true, scenario: 'truncate', marker: 'm-trunc' });
    await assert.rejects(res.text());
    const rows = await meter.waitForRows(1, "r.model_requested = 'm-trunc'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].outcome, 'aborted');
    assert.equal(rows[0].tokens_complete, 0);
  });

  test('client abort mid-stream', async () => {
    const ca = readFileSync(meter.clientBundlePath, 'utf8');
    await new Promise<void>((resolve, reject) => {
      const sock = netConnect({ host: '127.0.0.1', port: meter.edgePort }, () => sock.write('CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\n\r\n'));
      sock.once('data', () => {
        const t = tlsConnect({ socket: sock, servername: 'api.anthropic.com', ca });
        const req = httpsRequest(
          { host: 'api.anthropic.com', path: '/v1/messages', method: 'POST', createConnection: () => t, headers: { 'content-type': 'application/json', 'x-fake-scenario': 'hold' } },
          (res) => {
            res.once('data', () => {
              res.destroy();
              t.destroy();
              resolve();
            });
          },
        );
        req.on('error', () => undefined);
        req.end(JSON.stringify({ model: 'm-abort', stream: true, max_tokens: 5, messages: [] }));
      });
      sock.once('error', reject);
    });
    const rows = await meter.waitForRows(1, "r.model_requested = 'm-abort'");
    fake.release();
    assert.equal(rows.length, 1);
    assert.equal(rows[0].outcome, 'aborted');
    assert.equal(rows[0].error_class, 'client_aborted');
    assert.equal(rows[0].tokens_complete, 0);
  });

  test('the daemon keeps serving after all of that', async () => {
    const res = await anthropicCall({ marker: 'm-after' });
    assert.equal(res.status, 200);
    await res.text();
    await meter.waitForRows(1, "r.model_requested = 'm-after'");
  });
});

describe('fail-open', () => {
  test('daemon SIGKILLed: calls still succeed through the edge (no row); rows resume after restart', async () => {
    await meter.stopDaemon('SIGKILL');
    for (let i = 0; i < 5; i++) {
      const res = await anthropicCall({ marker: 'm-killed' });
      assert.equal(res.status, 200);
      await res.text();
    }
    assert.equal(meter.rows("r.model_requested = 'm-killed'").length, 0);
    await meter.startDaemon();
    const res = await anthropicCall({ marker: 'm-restarted' });
    assert.equal(res.status, 200);
    await res.text();
    await meter.waitForRows(1, "r.model_requested = 'm-restarted'");
  });

  test('a daemon that is stopping or starting never causes a client error', async () => {
    let failures = 0;
    let ok = 0;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          const res = await anthropicCall({ marker: 'm-cycle' });
          await res.text();
          if (res.status === 200) ok++;
          else failures++;
        } catch {
          failures++;
        }
      }
    })();
    for (let cycle = 0; cycle < 3; cycle++) {
      await new Promise((r) => setTimeout(r, 300));
      const code = await meter.stopDaemon('SIGTERM');
      assert.equal(code, 0);
      await new Promise((r) => setTimeout(r, 300));
      await meter.startDaemon();
    }
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await loop;
    assert.equal(failures, 0, `client failures during daemon restarts (ok=${ok})`);
    assert.ok(ok > 10);
    const log = meter.daemonLog();
    assert.match(log, /"event":"daemon.exit"/);
    assert.match(log, /"event":"daemon.startup.ready"/);
  });
});

describe('graceful SIGTERM', () => {
  test('a stream in flight finishes and gets its row before the daemon exits', async () => {
    const res = await anthropicCall({ stream: true, scenario: 'hold', marker: 'm-sigterm' });
    const reader = res.body!.getReader();
    await fake.firstEventSent();
    await reader.read();
    const exited = meter.stopDaemon('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    fake.release();
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    assert.match(rest, /message_stop/);
    assert.equal(await exited, 0);
    const rows = meter.rows("r.model_requested = 'm-sigterm'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].tokens_complete, 1);
    await meter.startDaemon();
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${meter.apiPort}/health`)).status === 200);
  });
});
