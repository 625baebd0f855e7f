// The capture path end to end: real edge and daemon processes, a fake provider over TLS, and real
// clients (curl, python3 urllib, the openai and @anthropic-ai/sdk packages). Each call must give
// exactly one row with the right provider, model, tokens and cost.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fetch as undiciFetch, ProxyAgent } from 'undici';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startMeter, type MeterProcs } from '../helpers/meter.js';
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

function proxyAgent(project?: string): ProxyAgent {
  const ca = readFileSync(meter.clientBundlePath, 'utf8');
  const uri = project ? `http://${project}:x@127.0.0.1:${meter.edgePort}` : `http://127.0.0.1:${meter.edgePort}`;
  return new ProxyAgent({ uri, requestTls: { ca } });
}

async function curl(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run('curl', ['-sS', '--fail-with-body', '-x', `http://127.0.0.1:${meter.edgePort}`, '--cacert', meter.clientBundlePath, ...args], {
    env: { ...process.env, HTTPS_PROXY: '', https_proxy: '' },
    maxBuffer: 64 * 1024 * 1024,
  });
}

const sonnet = (): Record<string, number> => basePrices('anthropic', 'claude-sonnet-4-5');
const gpt4o = (): Record<string, number> => basePrices('openai', 'gpt-4o');

describe('curl', () => {
  test('non-streamed Anthropic call: one priced row', async () => {
    const usage = { input_tokens: 1000, output_tokens: 500 };
    const { stdout } = await curl([
      'https://api.anthropic.com/v1/messages',
      '-H', 'content-type: application/json',
      '-H', 'x-api-key: sk-ant-test-secret',
      '-H', `x-fake-usage: ${JSON.stringify(usage)}`,
      '-d', JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 50, messages: [{ role: 'user', content: 'curl json' }] }),
    ]);
    assert.equal(JSON.parse(stdout).usage.output_tokens, 500);
    const rows = await meter.waitForRows(1, "r.model_requested = 'claude-sonnet-4-5-20250929' AND r.stream = 0");
    assert.equal(rows.length, 1);
    const r = rows[0];
    assert.equal(r.provider, 'anthropic');
    assert.equal(r.model, 'claude-sonnet-4-5-20250929');
    assert.equal(r.input_tokens, 1000);
    assert.equal(r.output_tokens, 500);
    assert.equal(r.status_code, 200);
    assert.equal(r.tokens_complete, 1);
    const p = sonnet();
    assert.equal(r.cost_usd_minor_units, expectedMinor([[1000, p.input_mtok], [500, p.output_mtok]]));
    assert.match(String(r.rates_source), /^bundled-\d{4}-\d{2}-\d{2}$/);
  });

  test('streamed Anthropic call: one row with message_delta output', async () => {
    const usage = { input_tokens: 2048, output_tokens: 77, cache_read_input_tokens: 4000 };
    const { stdout } = await curl([
      '-N', 'https://api.anthropic.com/v1/messages?beta=true',
      '-H', 'content-type: application/json',
      '-H', `x-fake-usage: ${JSON.stringify(usage)}`,
      '-d', JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'curl stream' }] }),
    ]);
    assert.match(stdout, /event: message_stop/);
    const rows = await meter.waitForRows(1, "r.model_requested = 'claude-sonnet-4-5' AND r.stream = 1");
    assert.equal(rows.length, 1);
    const r = rows[0];
    assert.equal(r.input_tokens, 2048);
    assert.equal(r.cache_read_tokens, 4000);
    assert.equal(r.output_tokens, 77);
    assert.equal(r.path, '/v1/messages?beta=true');
    const p = sonnet();
    assert.equal(r.cost_usd_minor_units, expectedMinor([[2048, p.input_mtok], [4000, p.cache_read_mtok], [77, p.output_mtok]]));
  });
});

describe('python3 urllib (HTTPS_PROXY + SSL_CERT_FILE)', () => {
  const script = `
import json, os, sys, urllib.request
stream = sys.argv[1] == "stream"
body = json.dumps({"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": "py"}],
                   **({"stream_options": {"include_usage": True}} if stream else {})}).encode()
req = urllib.request.Request("https://api.openai.com/v1/chat/completions", data=body,
      headers={"content-type": "application/json", "authorization": "Bearer sk-test-secret",
               "x-fake-usage": json.dumps({"prompt_tokens": 3000, "completion_tokens": 250, "total_tokens": 3250,
                                           "prompt_tokens_details": {"cached_tokens": 1000}})})
with urllib.request.urlopen(req, timeout=20) as r:
    data = r.read().decode()
print("STREAM" if "[DONE]" in data else json.loads(data)["usage"]["prompt_tokens"])
`;
  for (const mode of ['json', 'stream'] as const) {
    test(`${mode} OpenAI chat call`, async () => {
      const { stdout } = await run('python3', ['-c', script, mode], {
        env: { ...process.env, HTTPS_PROXY: `http://127.0.0.1:${meter.edgePort}`, SSL_CERT_FILE: meter.clientBundlePath, NO_PROXY: '' },
      });
      assert.equal(stdout.trim(), mode === 'stream' ? 'STREAM' : '3000');
      const rows = await meter.waitForRows(1, `r.provider = 'openai' AND r.model_requested = 'gpt-4o' AND r.stream = ${mode === 'stream' ? 1 : 0} AND r.input_tokens = 2000`);
      assert.equal(rows.length, 1);
      const r = rows[0];
      assert.equal(r.model, 'gpt-4o-2024-08-06');
      assert.equal(r.cache_read_tokens, 1000);
      assert.equal(r.output_tokens, 250);
      const p = gpt4o();
      assert.equal(r.cost_usd_minor_units, expectedMinor([[2000, p.input_mtok], [1000, p.cache_read_mtok], [250, p.output_mtok]]));
    });
  }
});

describe('official SDKs through undici ProxyAgent', () => {
  test('openai: chat (json + stream with include_usage), responses, embeddings', async () => {
    const client = new OpenAI({ apiKey: 'sk-test-secret', fetch: undiciFetch as unknown as typeof fetch, fetchOptions: { dispatcher: proxyAgent('sdk-openai') } as object, maxRetries: 0 });
    const json = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'sdk' }] });
    assert.equal(json.usage?.prompt_tokens, 1500);
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'sdk' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'Hello from the fake stream.');
    const resp = await client.responses.create({ model: 'gpt-5', input: 'hi' });
    assert.equal(resp.usage?.output_tokens, 300);
    const rs = await client.responses.create({ model: 'gpt-5', input: 'hi', stream: true });
    for await (const _ev of rs) {
      // drain
    }
    const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' });
    assert.equal(emb.usage.prompt_tokens, 8);

    const rows = await meter.waitForRows(5, "p.slug = 'sdk-openai'");
    assert.equal(rows.length, 5);
    for (const r of rows) assert.equal(r.attribution_rule, 'proxy_user');
    const mini = basePrices('openai', 'gpt-4o-mini');
    const chat = rows.filter((r) => r.request_kind === 'chat');
    assert.equal(chat.length, 2);
    for (const r of chat) {
      assert.equal(r.model, 'gpt-4o-mini-2024-07-18');
      assert.equal(r.input_tokens, 1500);
      assert.equal(r.output_tokens, 420);
      assert.equal(r.cost_usd_minor_units, expectedMinor([[1500, mini.input_mtok], [420, mini.output_mtok]]));
    }
    const responses = rows.filter((r) => r.request_kind === 'responses');
    assert.equal(responses.length, 2);
    const g5 = basePrices('openai', 'gpt-5');
    for (const r of responses) {
      assert.equal(r.model, 'gpt-5-2025-08-07');
      assert.equal(r.cost_usd_minor_units, expectedMinor([[900, g5.input_mtok], [300, g5.output_mtok]]));
    }
    const embRow = rows.find((r) => r.request_kind === 'embeddings');
    assert.equal(embRow?.input_tokens, 8);
    const e3 = basePrices('openai', 'text-embedding-3-small');
    assert.equal(embRow?.cost_usd_minor_units, expectedMinor([[8, e3.input_mtok]]));
  });

  test('anthropic: messages json + stream', async () => {
    const client = new Anthropic({ apiKey: 'sk-ant-test-secret', fetch: undiciFetch as unknown as typeof fetch, fetchOptions: { dispatcher: proxyAgent('sdk-anthropic') } as object, maxRetries: 0 });
    const msg = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(msg.usage.input_tokens, 1200);
    const stream = client.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
    const final = await stream.finalMessage();
    assert.equal(final.usage.output_tokens, 345);
    const rows = await meter.waitForRows(2, "p.slug = 'sdk-anthropic'");
    assert.equal(rows.length, 2);
    const haiku = basePrices('anthropic', 'claude-haiku-4-5');
    for (const r of rows) {
      assert.equal(r.provider, 'anthropic');
      assert.equal(r.input_tokens, 1200);
      assert.equal(r.output_tokens, 345);
      assert.equal(r.cost_usd_minor_units, expectedMinor([[1200, haiku.input_mtok], [345, haiku.output_mtok]]));
    }
    assert.deepEqual(rows.map((r) => r.stream).sort(), [0, 1]);
  });
});

describe('secrets and headers', () => {
  test('no API key, Authorization or X-Halton-Client reaches the database, and the upstream never sees our header', async () => {
    await meter.waitForRows(1);
    const bytes = readFileSync(meter.dbPath).toString('latin1') + (() => {
      try {
        return readFileSync(meter.dbPath + '-wal').toString('latin1');
      } catch {
        return '';
      }
    })();
    assert.ok(!bytes.includes('sk-ant-test-secret'));
    assert.ok(!bytes.includes('sk-test-secret'));
    for (const s of fake.seen) {
      assert.equal(s.headers['x-halton-client'], undefined);
      assert.equal(s.headers['proxy-authorization'], undefined);
      const ae = s.headers['accept-encoding'];
      if (typeof ae === 'string') assert.doesNotMatch(ae, /zstd/);
    }
    assert.ok(!meter.daemonLog().includes('sk-ant-test-secret'));
  });
});
