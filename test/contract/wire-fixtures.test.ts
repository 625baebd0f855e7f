// The shared contract (STYLE §5): every adapter over every captured exchange of its wire shape.
// Expected normalised usage is computed here, independently of the adapters, from meta.json's raw
// usage with the formulas of docs/wire-formats.md.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { adapterById, type AdapterId } from '../../src/adapters/index.js';
import type { ParsedUsage } from '../../src/core/parsed.js';
import type { Usage } from '../../src/core/usage.js';
import { fixtureExchange, listFixtures, loadFixture, type WireFixture } from '../helpers/fixtures.js';

const ADAPTER_FOR_API: Record<string, AdapterId> = {
  'anthropic-messages': 'anthropic',
  'anthropic-count-tokens': 'anthropic',
  'openai-chat': 'openai-chat',
  'openai-completions': 'openai-completions',
  'openai-responses': 'openai-responses',
  'openai-embeddings': 'openai-embeddings',
};
const OWN_PROVIDERS = new Set(['anthropic', 'anthropic-compatible', 'openai', 'azure-openai']);
const LATER = 'adapter arrives with issue 3 (gemini/xai)';

/** Which adapter runs a fixture, or why it is skipped. */
function plan(fx: WireFixture): { adapter: AdapterId } | { skip: string } {
  const { provider, api } = fx.meta;
  const adapter = ADAPTER_FOR_API[api];
  if (OWN_PROVIDERS.has(provider) && adapter !== undefined) return { adapter };
  // Compatible servers speak the chat shape; xAI does not (reasoning outside completion_tokens).
  if (api === 'openai-chat' && provider !== 'xai') return { adapter: 'openai-chat' };
  return { skip: LATER };
}

// ---- independent normaliser ------------------------------------------------------------------

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
const zero = (): Usage => ({
  inputTokens: 0,
  cacheReadTokens: 0,
  cacheWrite5mTokens: 0,
  cacheWrite1hTokens: 0,
  outputTokens: 0,
  thinkingTokens: 0,
  webSearchRequests: 0,
});

function anthropicOne(u: Obj): Usage {
  const split = obj(u.cache_creation);
  const total = u.cache_creation_input_tokens;
  const oneH = typeof total === 'number' ? Math.min(n(split.ephemeral_1h_input_tokens), total) : n(split.ephemeral_1h_input_tokens);
  const fiveM = typeof total === 'number' ? total - oneH : n(split.ephemeral_5m_input_tokens);
  return {
    inputTokens: n(u.input_tokens),
    cacheReadTokens: n(u.cache_read_input_tokens),
    cacheWrite5mTokens: fiveM,
    cacheWrite1hTokens: oneH,
    outputTokens: n(u.output_tokens),
    thinkingTokens: n(obj(u.output_tokens_details).thinking_tokens),
    webSearchRequests: n(obj(u.server_tool_use).web_search_requests),
  };
}

function expectedAnthropic(raw: unknown, stream: boolean): Usage {
  let u = obj(raw);
  if (stream) {
    u = { ...obj(u.message_start) };
    for (const [k, v] of Object.entries(obj(obj(raw).message_delta))) if (v !== null) u[k] = v;
  }
  const top = anthropicOne(u);
  if (!Array.isArray(u.iterations) || u.iterations.length === 0) return top;
  // Iterations are what is billed; counts only the top level reports still count once.
  const sum = u.iterations.map((it) => anthropicOne(obj(it))).reduce(add, zero());
  sum.thinkingTokens = Math.max(sum.thinkingTokens, top.thinkingTokens);
  sum.webSearchRequests = Math.max(sum.webSearchRequests, top.webSearchRequests);
  return sum;
}

function expectedOpenAi(raw: unknown, inKey: string, outKey: string, inDetails: string, outDetails: string): Usage {
  const u = obj(raw);
  const cached = n(obj(u[inDetails]).cached_tokens);
  const written = n(obj(u[inDetails]).cache_write_tokens);
  return {
    ...zero(),
    inputTokens: n(u[inKey]) - cached - written,
    cacheReadTokens: cached,
    cacheWrite5mTokens: written,
    outputTokens: n(u[outKey]),
    thinkingTokens: n(obj(u[outDetails]).reasoning_tokens),
  };
}

function expectedUsage(fx: WireFixture, adapter: AdapterId): Usage {
  const { usage, stream, api } = fx.meta;
  switch (adapter) {
    case 'anthropic':
      return api === 'anthropic-count-tokens' ? zero() : expectedAnthropic(usage, stream);
    case 'openai-chat':
    case 'openai-completions':
      return expectedOpenAi(usage, 'prompt_tokens', 'completion_tokens', 'prompt_tokens_details', 'completion_tokens_details');
    case 'openai-responses':
      return expectedOpenAi(usage, 'input_tokens', 'output_tokens', 'input_tokens_details', 'output_tokens_details');
    case 'openai-embeddings':
      return { ...zero(), inputTokens: n(obj(usage).prompt_tokens) };
  }
}

function add(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
    cacheWrite5mTokens: a.cacheWrite5mTokens + b.cacheWrite5mTokens,
    cacheWrite1hTokens: a.cacheWrite1hTokens + b.cacheWrite1hTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    thinkingTokens: a.thinkingTokens + b.thinkingTokens,
    webSearchRequests: a.webSearchRequests + b.webSearchRequests,
  };
}

// ---- the contract ----------------------------------------------------------------------------

function checkFixture(fx: WireFixture, adapterId: AdapterId): void {
  const parsed: ParsedUsage = adapterById(adapterId).parse(fixtureExchange(fx));
  const { meta } = fx;

  assert.deepEqual(parsed.usageJson, meta.usage ?? null, 'usageJson is the wire usage, merged per wire-formats');
  if (meta.model_source === 'response') assert.equal(parsed.model, meta.model, 'model from the response');
  if (meta.status !== 200) {
    assert.ok(parsed.errorClass, `errorClass set for HTTP ${meta.status}`);
    assert.equal(parsed.usage, null);
    assert.equal(parsed.reason, `upstream error ${meta.status}`);
  }

  if (meta.usage === null || meta.usage === undefined) {
    assert.equal(parsed.usage, null, 'no usage on the wire: none invented');
    assert.equal(parsed.usageSource, 'none');
    assert.equal(parsed.tokensComplete, false);
    assert.ok(parsed.reason, 'a missing usage carries a reason');
    assert.deepEqual(parsed.records, []);
  } else {
    assert.deepEqual(parsed.usage, expectedUsage(fx, adapterId), 'normalised usage');
    assert.equal(parsed.usageSource, 'reported');
    assert.deepEqual(parsed.records.map((r) => r.usage).reduce(add, zero()), parsed.usage, 'records sum to usage');
    // Usage read and no error seen: the row is final. A stream error keeps it partial.
    assert.equal(parsed.tokensComplete, parsed.errorClass === null, 'tokensComplete unless an error interrupted');
  }

  if (fx.gzipPath !== null) {
    const decoded = gunzipSync(readFileSync(fx.gzipPath));
    assert.ok(decoded.equals(fx.responseBytes), 'response.body.gz decodes to response.txt');
  }
}

describe('wire fixtures contract', () => {
  const ids = listFixtures();
  test('corpus found', () => {
    assert.ok(ids.length >= 80, `expected the 80-fixture corpus, found ${ids.length}`);
  });
  test('every gzip body (run or skipped fixtures) decodes to response.txt', () => {
    let n = 0;
    for (const id of ids) {
      const fx = loadFixture(id);
      if (fx.gzipPath === null) continue;
      assert.ok(gunzipSync(readFileSync(fx.gzipPath)).equals(fx.responseBytes), id);
      n++;
    }
    assert.ok(n > 0);
  });
  for (const id of ids) {
    const fx = loadFixture(id);
    const p = plan(fx);
    if ('skip' in p) {
      test(`${id} (${fx.meta.api})`, { skip: p.skip }, () => {});
      continue;
    }
    test(`${id} via ${p.adapter}`, () => checkFixture(fx, p.adapter));
  }
});
