// The shared contract (STYLE §5): every adapter over every captured exchange of its wire shape, the
// recorded corpus (../shared/fixtures/wire) and our hand-made additions (test/fixtures/wire-extra).
// Expected normalised usage is computed here, independently of the adapters, from meta.json's raw
// usage with the formulas of docs/wire-formats.md.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { adapterById, findAdapter, type AdapterId } from '../../src/adapters/index.js';
import type { ParsedUsage } from '../../src/core/parsed.js';
import { meteredHost } from '../../src/core/providers.js';
import type { Usage } from '../../src/core/usage.js';
import { fixtureAdapter, fixtureExchange, listFixtures, loadFixture, repoRoot, wireFixturesRoot, type WireFixture } from '../helpers/fixtures.js';

const EXTRA_ROOT = join(repoRoot(), 'test', 'fixtures', 'wire-extra');


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

/** Gemini: prompt includes cached; candidates exclude thoughts; tool-use prompt is input. */
function expectedGemini(raw: unknown): Usage {
  const u = obj(raw);
  const cached = n(u.cachedContentTokenCount);
  return {
    ...zero(),
    inputTokens: n(u.promptTokenCount) - cached + n(u.toolUsePromptTokenCount),
    cacheReadTokens: cached,
    outputTokens: n(u.candidatesTokenCount) + n(u.thoughtsTokenCount),
    thinkingTokens: n(u.thoughtsTokenCount),
  };
}

/**
 * xAI chat: the captures' own total_tokens shows reasoning outside completion_tokens
 * (total = prompt + completion + reasoning), so output = completion + reasoning. Checked here, on
 * the fixture itself, before it is relied on.
 */
function expectedXaiChat(raw: unknown): Usage {
  const u = obj(raw);
  const reasoning = n(obj(u.completion_tokens_details).reasoning_tokens);
  assert.equal(n(u.total_tokens), n(u.prompt_tokens) + n(u.completion_tokens) + reasoning, 'xAI chat total = prompt + completion + reasoning');
  const base = expectedOpenAi(raw, 'prompt_tokens', 'completion_tokens', 'prompt_tokens_details', 'completion_tokens_details');
  return { ...base, outputTokens: base.outputTokens + reasoning };
}

/** xAI Responses: total = input + output, so reasoning is inside output_tokens as in OpenAI's. */
function expectedXaiResponses(raw: unknown): Usage {
  const u = obj(raw);
  assert.equal(n(u.total_tokens), n(u.input_tokens) + n(u.output_tokens), 'xAI responses total = input + output');
  return expectedOpenAi(raw, 'input_tokens', 'output_tokens', 'input_tokens_details', 'output_tokens_details');
}

function expectedBatch(raw: unknown): Usage {
  const results = obj(raw).results;
  return (Array.isArray(results) ? results : []).map((r) => anthropicOne(obj(obj(r).usage))).reduce(add, zero());
}

function expectedUsage(fx: WireFixture, adapter: AdapterId): Usage {
  const { usage, stream, api } = fx.meta;
  switch (adapter) {
    case 'anthropic':
    case 'xai-messages':
      return api === 'anthropic-count-tokens' ? zero() : expectedAnthropic(usage, stream);
    case 'anthropic-batch-results':
      return expectedBatch(usage);
    case 'openai-chat':
    case 'openai-completions':
      return expectedOpenAi(usage, 'prompt_tokens', 'completion_tokens', 'prompt_tokens_details', 'completion_tokens_details');
    case 'xai-chat':
      return expectedXaiChat(usage);
    case 'openai-responses':
    case 'codex':
      return expectedOpenAi(usage, 'input_tokens', 'output_tokens', 'input_tokens_details', 'output_tokens_details');
    case 'xai-responses':
      return expectedXaiResponses(usage);
    case 'openai-embeddings':
      return { ...zero(), inputTokens: n(obj(usage).prompt_tokens) };
    case 'gemini':
    case 'gemini-code-assist':
      if (api === 'gemini-count-tokens') return zero();
      if (api === 'gemini-embed') return { ...zero(), inputTokens: n(obj(usage).promptTokenCount) };
      return expectedGemini(usage);
  }
}

/** Vertex names flex as a traffic type; the Gemini API as a service tier. */
function expectedGeminiTier(raw: unknown): string | null {
  const u = obj(raw);
  if (u.trafficType === 'ON_DEMAND_FLEX') return 'flex';
  return typeof u.serviceTier === 'string' ? u.serviceTier : null;
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

/** Expectations only the hand-made fixtures state (test/fixtures/wire-extra/README.md). */
function stated(fx: WireFixture): { errorClass?: string; tokensComplete?: boolean } {
  const m = fx.meta as unknown as Obj;
  return {
    errorClass: typeof m.error_class === 'string' ? m.error_class : undefined,
    tokensComplete: typeof m.tokens_complete === 'boolean' ? m.tokens_complete : undefined,
  };
}

// ---- the contract ----------------------------------------------------------------------------

function checkRouting(fx: WireFixture, adapterId: AdapterId): void {
  const ex = fixtureExchange(fx);
  // Captures from hosts we do not decrypt (Groq, Azure, Vertex, ...) are only checked for shape.
  if (meteredHost(ex.host.replace(/:\d+$/, '')) === undefined) return;
  assert.equal(findAdapter(ex.host, ex.method, ex.path)?.adapter.id, adapterId, `${ex.method} ${ex.host}${ex.path} is routed to ${adapterId}`);
}

function checkFixture(fx: WireFixture, adapterId: AdapterId): void {
  const parsed: ParsedUsage = adapterById(adapterId).parse(fixtureExchange(fx));
  const { meta } = fx;
  const expect = stated(fx);

  assert.deepEqual(parsed.usageJson, meta.usage ?? null, 'usageJson is the wire usage, merged per wire-formats');
  if (meta.model_source === 'response') assert.equal(parsed.model, meta.model, 'model from the response');
  // Gemini names the model in the URL (Code Assist in the body): with none in the response, that one.
  if (meta.model_source === 'request' && (adapterId === 'gemini' || adapterId === 'gemini-code-assist')) {
    assert.equal(parsed.model, meta.model, 'model from the request URL / body');
  }
  if (meta.status !== 200) {
    assert.ok(parsed.errorClass, `errorClass set for HTTP ${meta.status}`);
    assert.equal(parsed.usage, null);
    assert.equal(parsed.reason, `upstream error ${meta.status}`);
  }
  if (expect.errorClass !== undefined) assert.equal(parsed.errorClass, expect.errorClass, 'errorClass');
  if (adapterId === 'gemini' || adapterId === 'gemini-code-assist') {
    if (meta.usage !== null && meta.status === 200) assert.equal(parsed.serviceTier, expectedGeminiTier(meta.usage), 'service tier');
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
    assert.equal(parsed.tokensComplete, expect.tokensComplete ?? parsed.errorClass === null, 'tokensComplete unless an error interrupted');
    if (parsed.tokensComplete) assert.equal(parsed.reason, null, 'complete usage has no reason');
    else assert.ok(parsed.reason, 'incomplete usage says why');
  }
  if (adapterId === 'anthropic-batch-results') {
    // One record per succeeded line, billed as that line's model.
    const results = obj(meta.usage).results;
    const models = (Array.isArray(results) ? results : []).map((r) => obj(r).model);
    assert.deepEqual(parsed.records.map((r) => r.model), models, 'each record is billed as its line model');
    assert.match(parsed.providerRequestId ?? '', /^batch:msgbatch_/);
  }

  if (fx.gzipPath !== null) {
    const decoded = gunzipSync(readFileSync(fx.gzipPath));
    assert.ok(decoded.equals(fx.responseBytes), 'response.body.gz decodes to response.txt');
  }
}

function runCorpus(label: string, root: string, minimum: number): void {
  describe(label, () => {
    const ids = listFixtures(root);
    test('corpus found', () => {
      assert.ok(ids.length >= minimum, `expected at least ${minimum} fixtures in ${root}, found ${ids.length}`);
    });
    test('every gzip body decodes to response.txt', () => {
      for (const id of ids) {
        const fx = loadFixture(id, root);
        if (fx.gzipPath !== null) assert.ok(gunzipSync(readFileSync(fx.gzipPath)).equals(fx.responseBytes), id);
      }
    });
    for (const id of ids) {
      const fx = loadFixture(id, root);
      const adapter = fixtureAdapter(fx.meta);
      if (adapter === null) {
        // Every api value of both corpora maps to an adapter; a new one must be taught here first.
        test(`${id} (${fx.meta.api})`, () => assert.fail(`no adapter for api ${fx.meta.api} (provider ${fx.meta.provider})`));
        continue;
      }
      test(`${id} via ${adapter}`, () => {
        checkRouting(fx, adapter);
        checkFixture(fx, adapter);
      });
    }
  });
}

runCorpus('wire fixtures contract (recorded corpus)', wireFixturesRoot(), 80);
runCorpus('wire fixtures contract (hand-made additions)', EXTRA_ROOT, 11);
