// OpenAI chat streams whose request did not ask for include_usage carry no usage. By default the
// wire is left untouched and the row gets tokenizer estimates (usage_source = estimated); with
// [metering] openai_stream_usage = "inject" the meter asks for usage and hides the extra chunk.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fetch as undiciFetch, ProxyAgent } from 'undici';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startMeter, type MeterProcs } from '../helpers/meter.js';
import { basePrices, expectedMinor } from '../helpers/expected-cost.js';

let pki: TestPki;
let fake: FakeProvider;

before(async () => {
  pki = makeTestPki();
  fake = await startFakeProvider(pki);
});

after(async () => {
  await fake?.close();
});

const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say hello to the meter, please.' },
];

async function streamWithoutUsage(meter: MeterProcs, model: string): Promise<string> {
  const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${meter.edgePort}`, requestTls: { ca: readFileSync(meter.clientBundlePath, 'utf8') } });
  const res = await undiciFetch('https://api.openai.com/v1/chat/completions', {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify({ model, stream: true, messages }),
  });
  assert.equal(res.status, 200);
  return res.text();
}

describe('estimate (default)', () => {
  let meter: MeterProcs;
  before(async () => {
    meter = await startMeter({ pki, upstreamPort: fake.port });
  });
  after(async () => {
    await meter?.stop();
  });

  test('the wire is untouched and the row carries tokenizer estimates', async () => {
    const body = await streamWithoutUsage(meter, 'gpt-4o-mini');
    assert.doesNotMatch(body, /"usage"/);
    const seen = fake.seen.find((s) => s.path === '/v1/chat/completions' && s.body.includes('Say hello to the meter'));
    assert.ok(seen);
    assert.equal((JSON.parse(seen.body) as { stream_options?: unknown }).stream_options, undefined);
    const [row] = await meter.waitForRows(1, "r.model_requested = 'gpt-4o-mini' AND r.stream = 1");
    assert.equal(row.usage_source, 'estimated');
    // OpenAI's published counting rule: 3 per message + role + content, +3 priming the reply.
    const prompt = 3 + messages.reduce((n, m) => n + 3 + countTokens(m.role) + countTokens(m.content), 0);
    const completion = countTokens('Hello from the fake stream.');
    assert.equal(row.input_tokens, prompt);
    assert.equal(row.output_tokens, completion);
    const p = basePrices('openai', 'gpt-4o-mini');
    assert.equal(row.cost_usd_minor_units, expectedMinor([[prompt, p.input_mtok], [completion, p.output_mtok]]));
    assert.equal(row.tokens_complete, 1);
  });
});

describe('inject', () => {
  let meter: MeterProcs;
  before(async () => {
    meter = await startMeter({ pki, upstreamPort: fake.port, extraToml: '\n[metering]\nopenai_stream_usage = "inject"\n' });
  });
  after(async () => {
    await meter?.stop();
  });

  test('include_usage is added upstream, the usage chunk never reaches the client, the row has reported usage', async () => {
    const body = await streamWithoutUsage(meter, 'gpt-4o');
    assert.match(body, /Hello/);
    assert.match(body, /data: \[DONE\]/);
    assert.doesNotMatch(body, /"choices":\[\]/, 'the injected usage chunk reached the client');
    const seen = [...fake.seen].reverse().find((s) => s.path === '/v1/chat/completions' && s.body.includes('"gpt-4o"'));
    assert.ok(seen);
    assert.deepEqual((JSON.parse(seen.body) as { stream_options?: unknown }).stream_options, { include_usage: true });
    const [row] = await meter.waitForRows(1, "r.model_requested = 'gpt-4o' AND r.stream = 1");
    assert.equal(row.usage_source, 'reported');
    assert.equal(row.input_tokens, 1500);
    assert.equal(row.output_tokens, 420);
  });

  test('a request that asked for usage itself is left alone and keeps its chunk', async () => {
    const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${meter.edgePort}`, requestTls: { ca: readFileSync(meter.clientBundlePath, 'utf8') } });
    const res = await undiciFetch('https://api.openai.com/v1/chat/completions', {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-own-usage', stream: true, stream_options: { include_usage: true }, messages }),
    });
    const body = await res.text();
    assert.match(body, /"choices":\[\]/);
    const [row] = await meter.waitForRows(1, "r.model_requested = 'gpt-4o-own-usage'");
    assert.equal(row.usage_source, 'reported');
  });
});
