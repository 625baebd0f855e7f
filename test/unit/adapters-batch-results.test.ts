// Anthropic batch results, the Codex adapter, and the Responses background-mode reason.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { adapterById } from '../../src/adapters/index.js';
import { BACKGROUND_PENDING_REASON } from '../../src/adapters/openai-responses.js';
import type { Exchange, Outcome } from '../../src/core/exchange.js';
import { emptyUsage, type Usage } from '../../src/core/usage.js';

const u = (p: Partial<Usage>): Usage => ({ ...emptyUsage(), ...p });

function download(body: string | null, o: { status?: number; truncated?: boolean; outcome?: Outcome } = {}): Exchange {
  return {
    host: 'api.anthropic.com',
    method: 'GET',
    path: '/v1/messages/batches/msgbatch_01abc/results',
    requestJson: null,
    response: {
      status: o.status ?? 200,
      headers: { 'request-id': 'req_dl_1' },
      bodyText: body,
      events: null,
      truncated: o.truncated ?? false,
      outcome: o.outcome ?? 'completed',
    },
  };
}

const line = (id: string, type: string, message?: object): string => JSON.stringify({ custom_id: id, result: { type, ...(message ? { message } : {}) } });
const ok = (id: string, model: string, usage: object): string => line(id, 'succeeded', { id: `msg_${id}`, type: 'message', model, content: [], usage });

describe('anthropic batch results', () => {
  const batch = adapterById('anthropic-batch-results');

  test('one record per succeeded line, each its own model; errored/canceled/expired not billed', () => {
    const body = [
      ok('a', 'claude-sonnet-4-5', { input_tokens: 10, output_tokens: 5, service_tier: 'batch' }),
      line('b', 'errored'),
      ok('c', 'claude-haiku-4-5', { input_tokens: 3, cache_read_input_tokens: 7, output_tokens: 1 }),
      line('d', 'expired'),
      line('e', 'canceled'),
      '',
    ].join('\n');
    const p = batch.parse(download(body));
    assert.deepEqual(p.records.map((r) => r.model), ['claude-sonnet-4-5', 'claude-haiku-4-5']);
    assert.deepEqual(p.usage, u({ inputTokens: 13, cacheReadTokens: 7, outputTokens: 6 }));
    assert.equal(p.model, 'claude-sonnet-4-5');
    assert.equal(p.providerRequestId, 'batch:msgbatch_01abc');
    assert.equal(p.serviceTier, 'batch');
    assert.equal(p.tokensComplete, true);
    assert.deepEqual((p.usageJson as { counts: object }).counts, { succeeded: 2, errored: 1, canceled: 1, expired: 1 });
  });

  test('iterations without a model of their own are billed as the line model', () => {
    const p = batch.parse(download(ok('a', 'claude-sonnet-4-6', {
      input_tokens: 5, output_tokens: 5,
      iterations: [
        { type: 'compaction', input_tokens: 100, output_tokens: 20 },
        { type: 'message', input_tokens: 5, output_tokens: 5 },
        { type: 'advisor_message', model: 'claude-opus-4-8', input_tokens: 50, output_tokens: 9 },
      ],
    })));
    assert.deepEqual(p.records.map((r) => r.model), ['claude-sonnet-4-6', 'claude-sonnet-4-6', 'claude-opus-4-8']);
  });

  test('a download cut mid-line keeps the complete lines and is not complete', () => {
    const body = `${ok('a', 'claude-haiku-4-5', { input_tokens: 3, output_tokens: 1 })}\n${ok('b', 'claude-haiku-4-5', { input_tokens: 3, output_tokens: 1 }).slice(0, 40)}`;
    const cut = batch.parse(download(body, { outcome: 'aborted' }));
    assert.deepEqual(cut.usage, u({ inputTokens: 3, outputTokens: 1 }));
    assert.equal(cut.tokensComplete, false);
    assert.match(cut.reason ?? '', /aborted/);
    const unreadable = batch.parse(download(body));
    assert.equal(unreadable.reason, '1 result lines without readable usage');
  });

  test('nothing succeeded: no usage, and the reason', () => {
    const p = batch.parse(download(`${line('a', 'errored')}\n${line('b', 'expired')}\n`));
    assert.equal(p.usage, null);
    assert.match(p.reason ?? '', /no succeeded results/);
    assert.deepEqual((p.usageJson as { counts: object }).counts, { succeeded: 0, errored: 1, canceled: 0, expired: 1 });
  });

  test('a failed download is an upstream error that does not claim the batch id', () => {
    const p = batch.parse(download('{"type":"error","error":{"type":"not_found_error","message":"x"}}', { status: 404 }));
    assert.equal(p.errorClass, 'not_found_error');
    assert.equal(p.providerRequestId, 'req_dl_1');
  });
});

describe('codex and responses background mode', () => {
  const codex = adapterById('codex');
  const responses = adapterById('openai-responses');
  const json = (host: string, path: string, body: unknown): Exchange => ({
    host,
    method: 'POST',
    path,
    requestJson: null,
    response: { status: 200, headers: {}, bodyText: JSON.stringify(body), events: null, truncated: false, outcome: 'completed' },
  });

  test('codex reads the Responses shape', () => {
    const p = codex.parse(json('chatgpt.com', '/backend-api/codex/responses', {
      model: 'gpt-5-codex', status: 'completed',
      usage: { input_tokens: 100, input_tokens_details: { cached_tokens: 60 }, output_tokens: 30, output_tokens_details: { reasoning_tokens: 20 } },
    }));
    assert.deepEqual(p.usage, u({ inputTokens: 40, cacheReadTokens: 60, outputTokens: 30, thinkingTokens: 20 }));
    assert.equal(p.model, 'gpt-5-codex');
  });

  test('a queued background create says its usage comes only in the unmetered polls', () => {
    const p = responses.parse(json('api.openai.com', '/v1/responses', { id: 'resp_1', model: 'gpt-5', status: 'queued', background: true, usage: null }));
    assert.equal(p.usage, null);
    assert.equal(p.reason, BACKGROUND_PENDING_REASON);
    const plain = responses.parse(json('api.openai.com', '/v1/responses', { id: 'resp_2', model: 'gpt-5', status: 'in_progress', usage: null }));
    assert.equal(plain.reason, 'response without usage');
  });
});
