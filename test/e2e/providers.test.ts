// Every provider family of issue 3 end to end: real edge and daemon processes, the fake provider over
// TLS, real clients where a package exists (@google/genai for Gemini, `openai` and
// `@anthropic-ai/sdk` pointed at api.x.ai), curl otherwise. Each call must give exactly one row with
// the right provider, mode, model, tokens and a cost computed here from genai-prices' data.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fetch as undiciFetch, getGlobalDispatcher, ProxyAgent, setGlobalDispatcher } from 'undici';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { BATCH_RESULT_LINES, fixturesDir, startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
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

type Row = Record<string, unknown>;

function proxyAgent(project: string): ProxyAgent {
  return new ProxyAgent({ uri: `http://${project}:x@127.0.0.1:${meter.edgePort}`, requestTls: { ca: readFileSync(meter.clientBundlePath, 'utf8') } });
}

/**
 * A fetch through the edge for @google/genai. The SDK calls `httpOptions.fetch` when given one, and
 * otherwise the global fetch with its own no-timeout dispatcher that forwards to the global undici
 * dispatcher; a per-client fetch keeps the proxy out of this process's global state.
 */
function proxiedFetch(project: string): typeof fetch {
  const dispatcher = proxyAgent(project);
  type Init = NonNullable<Parameters<typeof undiciFetch>[1]>;
  return ((input: Parameters<typeof undiciFetch>[0], init?: Init) => undiciFetch(input, { ...init, dispatcher })) as unknown as typeof fetch;
}

async function curl(project: string, args: string[]): Promise<string> {
  const { stdout } = await run('curl', ['-sS', '--fail-with-body', '-x', `http://${project}:x@127.0.0.1:${meter.edgePort}`, '--cacert', meter.clientBundlePath, ...args], {
    env: { ...process.env, HTTPS_PROXY: '', https_proxy: '' },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/** Waits for `n` rows of a project, then gives stragglers time to show: exactly `n`, no more. */
async function projectRows(project: string, n: number, extra = '1=1'): Promise<Row[]> {
  const where = `p.slug = '${project}' AND ${extra}`;
  await meter.waitForRows(n, where);
  await new Promise((r) => setTimeout(r, 300));
  const rows = meter.rows(where);
  assert.equal(rows.length, n, `exactly ${n} rows for ${project}: ${JSON.stringify(rows.map((r) => [r.path, r.request_kind]))}`);
  return rows;
}

function one(rows: Row[], pred: (r: Row) => boolean, what: string): Row {
  const found = rows.filter(pred);
  assert.equal(found.length, 1, `one row for ${what}`);
  return found[0];
}

function assertTokens(r: Row, t: { input: number; cacheRead?: number; cacheWrite5m?: number; output: number; thinking?: number }): void {
  assert.equal(r.input_tokens, t.input, 'input_tokens');
  assert.equal(r.cache_read_tokens, t.cacheRead ?? 0, 'cache_read_tokens');
  assert.equal(r.cache_write_5m_tokens, t.cacheWrite5m ?? 0, 'cache_write_5m_tokens');
  assert.equal(r.cache_write_1h_tokens, 0, 'cache_write_1h_tokens');
  assert.equal(r.output_tokens, t.output, 'output_tokens');
  assert.equal(r.thinking_tokens, t.thinking ?? 0, 'thinking_tokens');
}

// ---- rates read straight from genai-prices (tiers included), not through the code under test ----

interface RawPrice {
  base?: number;
  tiers?: Array<{ start: number; price: number }>;
}

function rawModelPrices(provider: string, model: string): Record<string, number | RawPrice> {
  const file = join(fixturesDir(), '..', '..', 'pricing', 'genai-prices', 'data.v2.json');
  const data = JSON.parse(readFileSync(file, 'utf8')) as Array<{ id: string; models: Array<{ id: string; prices: unknown }> }>;
  const m = data.find((p) => p.id === provider)?.models.find((x) => x.id === model);
  if (!m || Array.isArray(m.prices)) throw new Error(`no single price set for ${provider}/${model}`);
  return m.prices as Record<string, number | RawPrice>;
}

/** The long-context tier of a model: its threshold and the tier rate of every class. */
function tierPrices(provider: string, model: string): { above: number; rates: Record<string, number> } {
  let above: number | null = null;
  const rates: Record<string, number> = {};
  for (const [k, v] of Object.entries(rawModelPrices(provider, model))) {
    if (typeof v === 'number') rates[k] = v;
    else if (v.tiers && v.tiers.length > 0) {
      const t = v.tiers[v.tiers.length - 1];
      above = t.start;
      rates[k] = t.price;
    }
  }
  if (above === null) throw new Error(`${model} has no tier`);
  return { above, rates };
}

// ---- Gemini API ---------------------------------------------------------------------------------

describe('Gemini API through @google/genai', () => {
  const flash = (): Record<string, number> => basePrices('google', 'gemini-2.5-flash');

  test('generateContent and generateContentStream (alt=sse): cached and thinking tokens', async () => {
    const usage = { promptTokenCount: 5000, cachedContentTokenCount: 4000, candidatesTokenCount: 250, thoughtsTokenCount: 600 };
    const ai = new GoogleGenAI({ apiKey: 'AIza-test-secret', httpOptions: { fetch: proxiedFetch('gemini-sdk'), headers: { 'x-fake-usage': JSON.stringify(usage), 'x-fake-delay-ms': '20' } } });
    const res = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hello' });
    assert.equal(res.text, 'Hello from the fake Gemini.');
    assert.equal(res.usageMetadata?.promptTokenCount, 5000);
    let text = '';
    for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'hello' })) text += chunk.text ?? '';
    assert.equal(text, 'Hello from the fake Gemini.');

    const rows = await projectRows('gemini-sdk', 2);
    const p = flash();
    for (const r of rows) {
      assert.equal(r.provider, 'gemini');
      assert.equal(r.mode, 'api');
      assert.equal(r.request_kind, 'generate');
      assert.equal(r.model, 'gemini-2.5-flash');
      assert.equal(r.status_code, 200);
      assert.equal(r.tokens_complete, 1);
      assertTokens(r, { input: 1000, cacheRead: 4000, output: 850, thinking: 600 });
      assert.equal(r.cost_usd_minor_units, expectedMinor([[1000, p.input_mtok], [4000, p.cache_read_mtok], [850, p.output_mtok]]));
      assert.deepEqual(JSON.parse(String(r.usage_json)).cachedContentTokenCount, 4000);
    }
    assert.match(String(one(rows, (r) => r.stream === 1, 'the stream').path), /:streamGenerateContent\?alt=sse$/);
    one(rows, (r) => r.stream === 0, 'the unary call');
  });

  test('the SDK default transport (no custom fetch) goes through a global undici ProxyAgent too', async () => {
    // In Node the SDK gives global fetch a dispatcher of its own that forwards to the global undici
    // dispatcher, so setGlobalDispatcher is how an unmodified program reaches the edge.
    const previous = getGlobalDispatcher();
    setGlobalDispatcher(proxyAgent('gemini-sdk-global'));
    try {
      const ai = new GoogleGenAI({ apiKey: 'AIza-test-secret' });
      const res = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hello' });
      assert.equal(res.text, 'Hello from the fake Gemini.');
    } finally {
      setGlobalDispatcher(previous);
    }
    const [r] = await projectRows('gemini-sdk-global', 1);
    assert.equal(r.model, 'gemini-2.5-flash');
    const p = basePrices('google', 'gemini-2.5-flash');
    // The fake's default usage: 1200 prompt, 300 candidates + 150 thoughts.
    assertTokens(r, { input: 1200, output: 450, thinking: 150 });
    assert.equal(r.cost_usd_minor_units, expectedMinor([[1200, p.input_mtok], [450, p.output_mtok]]));
  });

  test('embedContent (the SDK sends batchEmbedContents) is priced; countTokens is a $0 row', async () => {
    const ai = new GoogleGenAI({ apiKey: 'AIza-test-secret', httpOptions: { fetch: proxiedFetch('gemini-sdk-embed'), headers: { 'x-fake-usage': JSON.stringify({ promptTokenCount: 7, totalTokens: 31 }) } } });
    const emb = await ai.models.embedContent({ model: 'gemini-embedding-001', contents: 'Some text goes here' });
    assert.equal(emb.embeddings?.length, 1);
    const count = await ai.models.countTokens({ model: 'gemini-2.5-flash', contents: 'Some text goes here' });
    assert.equal(count.totalTokens, 31);

    const rows = await projectRows('gemini-sdk-embed', 2);
    const e = one(rows, (r) => r.request_kind === 'embed', 'batchEmbedContents');
    assert.match(String(e.path), /gemini-embedding-001:batchEmbedContents$/);
    assert.equal(e.model, 'gemini-embedding-001');
    assertTokens(e, { input: 7, output: 0 });
    assert.equal(e.cost_usd_minor_units, expectedMinor([[7, basePrices('google', 'gemini-embedding-001').input_mtok]]));
    const c = one(rows, (r) => r.request_kind === 'count_tokens', 'countTokens');
    assert.equal(c.model, 'gemini-2.5-flash');
    assert.equal(c.cost_usd_minor_units, 0);
    assert.equal(c.rates_source, 'free');
    assert.equal(JSON.parse(String(c.usage_json)).totalTokens, 31);
  });

  test('gemini-2.5-pro above its 200k long-context threshold: every class at the tier rate', async () => {
    const tier = tierPrices('google', 'gemini-2.5-pro');
    assert.equal(tier.above, 200_000);
    const base = basePrices('google', 'gemini-2.5-pro');
    // 260k prompt (60k of it cached) is above the threshold; exactly 200k is not (strictly above).
    const over = { promptTokenCount: 260_000, cachedContentTokenCount: 60_000, candidatesTokenCount: 3000, thoughtsTokenCount: 2000 };
    const at = { promptTokenCount: 200_000, cachedContentTokenCount: 60_000, candidatesTokenCount: 3000, thoughtsTokenCount: 2000 };
    for (const [label, usage] of [['over', over], ['at', at]] as const) {
      const ai = new GoogleGenAI({ apiKey: 'AIza-test-secret', httpOptions: { fetch: proxiedFetch(`gemini-long-${label}`), headers: { 'x-fake-usage': JSON.stringify(usage) } } });
      for await (const _chunk of await ai.models.generateContentStream({ model: 'gemini-2.5-pro', contents: 'a very long prompt' })) {
        // drain
      }
    }
    const [o] = await projectRows('gemini-long-over', 1);
    assert.equal(o.model, 'gemini-2.5-pro');
    assertTokens(o, { input: 200_000, cacheRead: 60_000, output: 5000, thinking: 2000 });
    const tierCost = expectedMinor([[200_000, tier.rates.input_mtok], [60_000, tier.rates.cache_read_mtok], [5000, tier.rates.output_mtok]]);
    assert.equal(o.cost_usd_minor_units, tierCost);
    // Each class really differs between base and tier, so the assertion above pins all three.
    for (const k of ['input_mtok', 'cache_read_mtok', 'output_mtok']) assert.notEqual(tier.rates[k], base[k], k);

    const [a] = await projectRows('gemini-long-at', 1);
    assertTokens(a, { input: 140_000, cacheRead: 60_000, output: 5000, thinking: 2000 });
    assert.equal(a.cost_usd_minor_units, expectedMinor([[140_000, base.input_mtok], [60_000, base.cache_read_mtok], [5000, base.output_mtok]]));
  });
});

describe('Gemini API through curl and undici', () => {
  test('streamGenerateContent without alt=sse: a JSON array, streamed through as it arrives, metered once', async () => {
    const usage = { promptTokenCount: 900, candidatesTokenCount: 120, thoughtsTokenCount: 80 };
    const started = performance.now();
    const res = await undiciFetch('https://generativelanguage.googleapis.com/v1beta/models/gemini-flash-latest:streamGenerateContent', {
      method: 'POST',
      dispatcher: proxyAgent('gemini-jsonarray'),
      headers: { 'content-type': 'application/json', 'x-goog-api-key': 'AIza-test-secret', 'x-fake-usage': JSON.stringify(usage), 'x-fake-delay-ms': '150', 'x-fake-model-version': 'gemini-2.5-flash' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
    });
    let firstAt = 0;
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body ?? []) {
      if (firstAt === 0) firstAt = performance.now();
      text += decoder.decode(chunk as Uint8Array, { stream: true });
    }
    const endAt = performance.now();
    const elements = JSON.parse(text) as unknown[];
    assert.equal(elements.length, 3);
    // Three 150 ms gaps: the first element must reach the client long before the last is sent.
    assert.ok(endAt - firstAt > 250, `streamed, not buffered: first byte ${Math.round(firstAt - started)} ms, end ${Math.round(endAt - started)} ms`);

    const [r] = await projectRows('gemini-jsonarray', 1);
    assert.equal(r.model, 'gemini-2.5-flash', 'the modelVersion, not the alias in the URL');
    assert.equal(r.request_kind, 'generate');
    assert.equal(r.tokens_complete, 1);
    assertTokens(r, { input: 900, output: 200, thinking: 80 });
    const p = basePrices('google', 'gemini-2.5-flash');
    assert.equal(r.cost_usd_minor_units, expectedMinor([[900, p.input_mtok], [200, p.output_mtok]]));
  });

  test('a JSON-array stream cut mid-array: one row with the usage so far, not complete', async () => {
    const usage = { promptTokenCount: 640, candidatesTokenCount: 50 };
    await assert.rejects(async () => {
      const res = await undiciFetch('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent', {
        method: 'POST',
        dispatcher: proxyAgent('gemini-cut'),
        headers: { 'content-type': 'application/json', 'x-fake-usage': JSON.stringify(usage), 'x-fake-scenario': 'truncate', 'x-fake-delay-ms': '20' },
        body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
      });
      await res.text();
    });
    const [r] = await projectRows('gemini-cut', 1);
    assert.equal(r.tokens_complete, 0);
    assert.equal(r.outcome, 'aborted');
    // Only the first element carried usage before the cut: its running totals, nothing invented.
    assertTokens(r, { input: 640, output: 1 });
    assert.equal(r.model, 'gemini-2.5-flash');
  });

  test('embedContent without usage on the wire: a row with NULL cost and the reason; v1 and v1alpha paths', async () => {
    const out = await curl('gemini-curl', [
      'https://generativelanguage.googleapis.com/v1/models/gemini-embedding-001:embedContent',
      '-H', 'content-type: application/json', '-H', 'x-goog-api-key: AIza-test-secret',
      '-d', JSON.stringify({ content: { parts: [{ text: 'x' }] } }),
    ]);
    assert.ok(JSON.parse(out).embedding);
    const usage = { promptTokenCount: 300, candidatesTokenCount: 40, thoughtsTokenCount: 0 };
    await curl('gemini-curl', [
      'https://generativelanguage.googleapis.com/v1alpha/models/gemini-2.5-flash:generateContent',
      '-H', 'content-type: application/json', '-H', `x-fake-usage: ${JSON.stringify(usage)}`,
      '-d', JSON.stringify({ contents: [{ parts: [{ text: 'x' }] }] }),
    ]);
    const rows = await projectRows('gemini-curl', 2);
    const e = one(rows, (r) => r.request_kind === 'embed', 'embedContent');
    assert.equal(e.model, 'gemini-embedding-001');
    assert.equal(e.cost_usd_minor_units, null);
    assert.equal(e.input_tokens, null);
    assert.match(String(e.cost_reason), /without usageMetadata/);
    const g = one(rows, (r) => r.request_kind === 'generate', 'v1alpha generateContent');
    const p = basePrices('google', 'gemini-2.5-flash');
    assert.equal(g.cost_usd_minor_units, expectedMinor([[300, p.input_mtok], [40, p.output_mtok]]));
  });
});

// ---- Gemini Code Assist ---------------------------------------------------------------------------

describe('Gemini Code Assist through curl', () => {
  test('streamGenerateContent (SSE) and generateContent: mode code-assist; setup calls pass through', async () => {
    const usage = { promptTokenCount: 8000, cachedContentTokenCount: 6000, candidatesTokenCount: 500, thoughtsTokenCount: 700 };
    const body = (model: string): string => JSON.stringify({ model, project: 'fake-project', user_prompt_id: 'u-1', request: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] } });
    const sse = await curl('code-assist', [
      '-N', 'https://cloudcode-pa.googleapis.com/v1internal:streamGenerateContent?alt=sse',
      '-H', 'content-type: application/json', '-H', 'authorization: Bearer ya29.test-secret',
      '-H', `x-fake-usage: ${JSON.stringify(usage)}`, '-H', 'x-fake-delay-ms: 30',
      '-d', body('gemini-2.5-pro'),
    ]);
    assert.match(sse, /"traceId"/);
    await curl('code-assist', [
      'https://cloudcode-pa.googleapis.com/v1internal:generateContent',
      '-H', 'content-type: application/json', '-H', 'x-fake-scenario: no-model-version',
      '-H', `x-fake-usage: ${JSON.stringify({ promptTokenCount: 1000, candidatesTokenCount: 100, thoughtsTokenCount: 0 })}`,
      '-d', body('gemini-2.5-flash'),
    ]);
    await curl('code-assist', ['https://cloudcode-pa.googleapis.com/v1internal:loadCodeAssist', '-H', 'content-type: application/json', '-d', '{}']);

    const rows = await projectRows('code-assist', 2);
    for (const r of rows) {
      assert.equal(r.provider, 'gemini');
      assert.equal(r.mode, 'code-assist');
      assert.equal(r.request_kind, 'generate');
    }
    const s = one(rows, (r) => r.stream === 1, 'the stream');
    assert.equal(s.model, 'gemini-2.5-pro');
    assertTokens(s, { input: 2000, cacheRead: 6000, output: 1200, thinking: 700 });
    const pro = basePrices('google', 'gemini-2.5-pro');
    assert.equal(s.cost_usd_minor_units, expectedMinor([[2000, pro.input_mtok], [6000, pro.cache_read_mtok], [1200, pro.output_mtok]]));
    const u = one(rows, (r) => r.stream === 0, 'the unary call');
    assert.equal(u.model, 'gemini-2.5-flash', 'no modelVersion in the response: the request body model');
    const flash = basePrices('google', 'gemini-2.5-flash');
    assert.equal(u.cost_usd_minor_units, expectedMinor([[1000, flash.input_mtok], [100, flash.output_mtok]]));
  });
});

// ---- xAI --------------------------------------------------------------------------------------------

describe('xAI through the openai and @anthropic-ai/sdk packages', () => {
  test('chat completions, json and stream: reasoning outside completion_tokens is billed as output', async () => {
    const usage = { prompt_tokens: 2000, cached_tokens: 500, completion_tokens: 150, reasoning_tokens: 700 };
    const client = new OpenAI({
      apiKey: 'xai-test-secret', baseURL: 'https://api.x.ai/v1', maxRetries: 0,
      fetch: undiciFetch as unknown as typeof fetch, fetchOptions: { dispatcher: proxyAgent('xai-chat') } as object,
      defaultHeaders: { 'x-fake-usage': JSON.stringify(usage) },
    });
    const json = await client.chat.completions.create({ model: 'grok-3-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(json.usage?.total_tokens, 2850);
    const stream = await client.chat.completions.create({ model: 'grok-3-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'Hello');

    const rows = await projectRows('xai-chat', 2);
    const p = basePrices('x-ai', 'grok-3-mini');
    for (const r of rows) {
      assert.equal(r.provider, 'xai');
      assert.equal(r.mode, 'api');
      assert.equal(r.request_kind, 'chat');
      assert.equal(r.model, 'grok-3-mini');
      assertTokens(r, { input: 1500, cacheRead: 500, output: 850, thinking: 700 });
      assert.equal(r.cost_usd_minor_units, expectedMinor([[1500, p.input_mtok], [500, p.cache_read_mtok], [850, p.output_mtok]]));
      assert.equal(JSON.parse(String(r.usage_json)).cost_in_usd_ticks, 1234500, 'xAI extras kept raw');
    }
    assert.deepEqual(rows.map((r) => r.stream).sort(), [0, 1]);
  });

  test('responses, json and stream: reasoning inside output_tokens', async () => {
    const usage = { input_tokens: 3000, cached_tokens: 1000, output_tokens: 800, reasoning_tokens: 500 };
    const client = new OpenAI({
      apiKey: 'xai-test-secret', baseURL: 'https://api.x.ai/v1', maxRetries: 0,
      fetch: undiciFetch as unknown as typeof fetch, fetchOptions: { dispatcher: proxyAgent('xai-responses') } as object,
      defaultHeaders: { 'x-fake-usage': JSON.stringify(usage) },
    });
    const resp = await client.responses.create({ model: 'grok-code-fast-1', input: 'hi' });
    assert.equal(resp.usage?.output_tokens, 800);
    for await (const _ev of await client.responses.create({ model: 'grok-code-fast-1', input: 'hi', stream: true })) {
      // drain
    }
    const rows = await projectRows('xai-responses', 2);
    const p = basePrices('x-ai', 'grok-code-fast-1');
    for (const r of rows) {
      assert.equal(r.provider, 'xai');
      assert.equal(r.request_kind, 'responses');
      assert.equal(r.model, 'grok-code-fast-1');
      assertTokens(r, { input: 2000, cacheRead: 1000, output: 800, thinking: 500 });
      assert.equal(r.cost_usd_minor_units, expectedMinor([[2000, p.input_mtok], [1000, p.cache_read_mtok], [800, p.output_mtok]]));
    }
  });

  test('messages (Anthropic shape), json and stream', async () => {
    const usage = { input_tokens: 700, cache_read_input_tokens: 300, output_tokens: 90 };
    const client = new Anthropic({
      apiKey: 'xai-test-secret', baseURL: 'https://api.x.ai', maxRetries: 0,
      fetch: undiciFetch as unknown as typeof fetch, fetchOptions: { dispatcher: proxyAgent('xai-messages') } as object,
      defaultHeaders: { 'x-fake-usage': JSON.stringify(usage) },
    });
    const msg = await client.messages.create({ model: 'grok-code-fast-1', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(msg.usage.output_tokens, 90);
    const final = await client.messages.stream({ model: 'grok-code-fast-1', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
    assert.equal(final.usage.output_tokens, 90);
    const rows = await projectRows('xai-messages', 2);
    const p = basePrices('x-ai', 'grok-code-fast-1');
    for (const r of rows) {
      assert.equal(r.provider, 'xai');
      assert.equal(r.request_kind, 'messages');
      assert.equal(r.model, 'grok-code-fast-1');
      assertTokens(r, { input: 700, cacheRead: 300, output: 90 });
      assert.equal(r.cost_usd_minor_units, expectedMinor([[700, p.input_mtok], [300, p.cache_read_mtok], [90, p.output_mtok]]));
    }
    assert.deepEqual(rows.map((r) => r.stream).sort(), [0, 1]);
  });
});

// ---- ChatGPT Codex backend ---------------------------------------------------------------------------

describe('ChatGPT Codex backend through curl', () => {
  test('codex/responses, SSE and JSON: mode codex at API-equivalent cost; the rest of chatgpt.com is not metered', async () => {
    const usage = { input_tokens: 20_000, cached_tokens: 18_000, output_tokens: 900, reasoning_tokens: 600 };
    const req = (stream: boolean): string[] => [
      'https://chatgpt.com/backend-api/codex/responses',
      '-H', 'content-type: application/json', '-H', 'authorization: Bearer chatgpt-oauth-test-secret',
      '-H', 'originator: codex_cli_rs', '-H', `x-fake-usage: ${JSON.stringify(usage)}`, '-H', 'x-fake-delay-ms: 30',
      '-d', JSON.stringify({ model: 'gpt-5-codex', instructions: 'x', input: [], stream, store: false }),
    ];
    assert.match(await curl('codex', ['-N', ...req(true)]), /event: response\.completed/);
    assert.equal(JSON.parse(await curl('codex', req(false))).usage.output_tokens, 900);
    await curl('codex', ['https://chatgpt.com/backend-api/me']);

    const rows = await projectRows('codex', 2);
    const p = basePrices('openai', 'gpt-5');
    for (const r of rows) {
      assert.equal(r.provider, 'openai');
      assert.equal(r.mode, 'codex');
      assert.equal(r.request_kind, 'responses');
      assert.equal(r.model, 'gpt-5-codex');
      assertTokens(r, { input: 2000, cacheRead: 18_000, output: 900, thinking: 600 });
      assert.equal(r.cost_usd_minor_units, expectedMinor([[2000, p.input_mtok], [18_000, p.cache_read_mtok], [900, p.output_mtok]]));
    }
    assert.deepEqual(rows.map((r) => r.stream).sort(), [0, 1]);
  });
});

// ---- Anthropic message batch results ---------------------------------------------------------------

describe('Anthropic message batch results through curl', () => {
  test('one row for the download: a record per succeeded line at its own model, at the batch discount', async () => {
    const out = await curl('batch', ['https://api.anthropic.com/v1/messages/batches/msgbatch_01FakeBatch/results', '-H', 'x-api-key: sk-ant-test-secret', '-H', 'x-fake-delay-ms: 20']);
    assert.equal(out.trim().split('\n').length, BATCH_RESULT_LINES.length);
    const [r] = await projectRows('batch', 1);
    assert.equal(r.provider, 'anthropic');
    assert.equal(r.request_kind, 'batch_results');
    assert.equal(r.provider_request_id, 'batch:msgbatch_01FakeBatch');
    assert.equal(r.service_tier, 'batch');
    assert.equal(r.tokens_complete, 1);
    assertTokens(r, { input: 4000, cacheRead: 1000, cacheWrite5m: 2000, output: 600 });
    // Each succeeded line at its model's rates, the sum halved (Message Batches bill 50%), rounded once.
    const sonnet = basePrices('anthropic', 'claude-sonnet-4-5');
    const haiku = basePrices('anthropic', 'claude-haiku-4-5');
    const half = (x: number): number => x / 2;
    assert.equal(r.cost_usd_minor_units, expectedMinor([
      [1000, half(sonnet.input_mtok)], [2000, half(sonnet.cache_write_mtok)], [400, half(sonnet.output_mtok)],
      [3000, half(haiku.input_mtok)], [1000, half(haiku.cache_read_mtok)], [200, half(haiku.output_mtok)],
    ]));
  });
});

// ---- OpenAI background responses ---------------------------------------------------------------------

describe('OpenAI Responses background mode', () => {
  test('the queued create gets a NULL-cost row saying why; GET polls are never metered', async () => {
    const created = JSON.parse(await curl('openai-bg', [
      'https://api.openai.com/v1/responses', '-H', 'content-type: application/json',
      '-d', JSON.stringify({ model: 'gpt-5', input: 'x', background: true }),
    ]));
    assert.equal(created.status, 'queued');
    for (let i = 0; i < 3; i++) {
      const polled = JSON.parse(await curl('openai-bg', ['https://api.openai.com/v1/responses/resp_fake_bg']));
      assert.equal(polled.status, 'completed');
    }
    const [r] = await projectRows('openai-bg', 1);
    assert.equal(r.request_kind, 'responses');
    assert.equal(r.cost_usd_minor_units, null);
    assert.match(String(r.cost_reason), /background response still queued/);
    assert.ok(fake.seen.filter((s) => s.method === 'GET' && s.path === '/v1/responses/resp_fake_bg').length === 3);
  });
});
