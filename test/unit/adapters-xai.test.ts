// xAI's reasoning-token convention, checked against what xAI itself bills (cost_in_usd_ticks).
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { adapterById } from '../../src/adapters/index.js';
import { reasoningOutside } from '../../src/adapters/xai.js';
import { parseSseText } from '../../src/adapters/sse.js';
import type { Exchange } from '../../src/core/exchange.js';
import { emptyUsage, type Usage } from '../../src/core/usage.js';
import { basePrices } from '../helpers/expected-cost.js';
import { fixtureExchange, loadFixture } from '../helpers/fixtures.js';

const u = (p: Partial<Usage>): Usage => ({ ...emptyUsage(), ...p });

function json(path: string, body: unknown): Exchange {
  return {
    host: 'api.x.ai',
    method: 'POST',
    path,
    requestJson: null,
    response: { status: 200, headers: {}, bodyText: JSON.stringify(body), events: null, truncated: false, outcome: 'completed' },
  };
}

describe('reasoningOutside', () => {
  test('total_tokens decides when it adds up one way only; else the fallback', () => {
    assert.equal(reasoningOutside(303, 12, 1, 290, false), true, 'total = in + out + reasoning');
    assert.equal(reasoningOutside(1139, 216, 923, 323, true), false, 'total = in + out');
    assert.equal(reasoningOutside(null, 12, 1, 290, true), true);
    assert.equal(reasoningOutside(null, 12, 1, 290, false), false);
    assert.equal(reasoningOutside(999, 12, 1, 290, true), true, 'a total that fits neither: the convention');
    assert.equal(reasoningOutside(20, 10, 10, 0, true), false, 'no reasoning, nothing to add');
  });
});

describe('xai chat', () => {
  const chat = adapterById('xai-chat');

  test('the corpus captures: our output prices to exactly what xAI billed (cost_in_usd_ticks, 1e-10 USD)', () => {
    const p = basePrices('x-ai', 'grok-3-mini');
    for (const id of ['xai/json-grok3-mini-reasoning', 'xai/stream-grok3-mini-reasoning']) {
      const parsed = chat.parse(fixtureExchange(loadFixture(id)));
      const usage = parsed.usage;
      assert.ok(usage, id);
      // USD/Mtok x tokens = micro-USD; 1 micro-USD = 1e4 ticks. Integers throughout via x1000.
      const milliMicro = usage.inputTokens * p.input_mtok * 1000 + usage.cacheReadTokens * p.cache_read_mtok * 1000 + usage.outputTokens * p.output_mtok * 1000;
      const ticks = (parsed.usageJson as { cost_in_usd_ticks: number }).cost_in_usd_ticks;
      assert.equal(Math.round(milliMicro * 10), ticks, id);
    }
  });

  test('reasoning reported inside completion_tokens (total says so) is not added twice', () => {
    const p = chat.parse(json('/v1/chat/completions', {
      model: 'grok-4',
      usage: { prompt_tokens: 10, completion_tokens: 50, total_tokens: 60, completion_tokens_details: { reasoning_tokens: 40 } },
    }));
    assert.deepEqual(p.usage, u({ inputTokens: 10, outputTokens: 50, thinkingTokens: 40 }));
  });

  test('without total_tokens, the xAI convention: reasoning on top of completion', () => {
    const p = chat.parse(json('/v1/chat/completions', {
      model: 'grok-4',
      usage: { prompt_tokens: 10, completion_tokens: 5, completion_tokens_details: { reasoning_tokens: 40 } },
    }));
    assert.deepEqual(p.usage, u({ inputTokens: 10, outputTokens: 45, thinkingTokens: 40 }));
  });

  test('a stream without include_usage has no usage and says so', () => {
    const ex: Exchange = {
      ...json('/v1/chat/completions', null),
      response: { status: 200, headers: {}, bodyText: null, events: parseSseText('data: {"model":"grok-4","choices":[]}\n\ndata: [DONE]\n\n'), truncated: false, outcome: 'completed' },
    };
    const p = chat.parse(ex);
    assert.equal(p.usage, null);
    assert.match(p.reason ?? '', /include_usage/);
  });
});

describe('xai responses and messages', () => {
  test('responses: reasoning inside output_tokens, unless total says it is outside', () => {
    const responses = adapterById('xai-responses');
    const inside = responses.parse(json('/v1/responses', {
      model: 'grok-code-fast-1', status: 'completed',
      usage: { input_tokens: 216, input_tokens_details: { cached_tokens: 192 }, output_tokens: 923, output_tokens_details: { reasoning_tokens: 323 }, total_tokens: 1139 },
    }));
    assert.deepEqual(inside.usage, u({ inputTokens: 24, cacheReadTokens: 192, outputTokens: 923, thinkingTokens: 323 }));
    const outside = responses.parse(json('/v1/responses', {
      model: 'grok-4', status: 'completed',
      usage: { input_tokens: 10, output_tokens: 5, output_tokens_details: { reasoning_tokens: 40 }, total_tokens: 55 },
    }));
    assert.deepEqual(outside.usage, u({ inputTokens: 10, outputTokens: 45, thinkingTokens: 40 }));
  });

  test('messages: Anthropic semantics, errors in the Anthropic envelope', () => {
    const messages = adapterById('xai-messages');
    const ok = messages.parse(json('/v1/messages', { type: 'message', model: 'grok-4', usage: { input_tokens: 7, cache_read_input_tokens: 3, output_tokens: 2 } }));
    assert.deepEqual(ok.usage, u({ inputTokens: 7, cacheReadTokens: 3, outputTokens: 2 }));
    assert.equal(ok.model, 'grok-4');
    const err = messages.parse({ ...json('/v1/messages', null), response: { status: 400, headers: {}, bodyText: '{"code":"Client specified an invalid argument","error":"bad"}', events: null, truncated: false, outcome: 'completed' } });
    assert.equal(err.errorClass, 'http_400');
    assert.equal(err.usage, null);
  });
});
