import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { ADAPTER_IDS, ADAPTERS, adapterById, findAdapter } from '../../src/adapters/index.js';
import { parseSseText } from '../../src/adapters/sse.js';
import type { Exchange, Outcome } from '../../src/core/exchange.js';
import type { ParsedUsage } from '../../src/core/parsed.js';
import { SELFTEST_HOST } from '../../src/core/providers.js';
import { addUsage, emptyUsage, type Usage } from '../../src/core/usage.js';
import { fixtureExchange, loadFixture } from '../helpers/fixtures.js';

interface ExOpts {
  host?: string;
  path?: string;
  status?: number;
  headers?: Record<string, string>;
  body?: string | null;
  sse?: string;
  outcome?: Outcome;
  truncated?: boolean;
  requestJson?: unknown;
}

function ex(o: ExOpts): Exchange {
  return {
    host: o.host ?? 'api.anthropic.com',
    method: 'POST',
    path: o.path ?? '/v1/messages',
    requestJson: o.requestJson ?? null,
    response: {
      status: o.status ?? 200,
      headers: o.headers ?? {},
      bodyText: o.sse === undefined ? (o.body ?? null) : null,
      events: o.sse === undefined ? null : parseSseText(o.sse),
      truncated: o.truncated ?? false,
      outcome: o.outcome ?? 'completed',
    },
  };
}

const sse = (...events: [string | null, unknown][]): string =>
  events.map(([name, data]) => `${name ? `event: ${name}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`).join('');

const u = (p: Partial<Usage>): Usage => ({ ...emptyUsage(), ...p });
const anthropic = adapterById('anthropic');
const chat = adapterById('openai-chat');
const responses = adapterById('openai-responses');
const embeddings = adapterById('openai-embeddings');
const completions = adapterById('openai-completions');

describe('findAdapter', () => {
  const cases: [string, string, string, string | null, string | null][] = [
    ['api.anthropic.com', 'POST', '/v1/messages', 'anthropic', 'messages'],
    ['api.anthropic.com', 'POST', '/v1/messages?beta=true', 'anthropic', 'messages'],
    ['API.Anthropic.com:443', 'post', '/v1/messages/', 'anthropic', 'messages'],
    ['api.anthropic.com', 'POST', '/v1/messages/count_tokens?beta=true', 'anthropic', 'count_tokens'],
    [SELFTEST_HOST, 'POST', '/v1/messages', 'anthropic', 'messages'],
    ['api.anthropic.com', 'GET', '/v1/messages', null, null],
    ['api.anthropic.com', 'POST', '/v1/messages/batches', null, null],
    ['api.anthropic.com', 'GET', '/v1/models', null, null],
    ['api.anthropic.com', 'POST', '/v1/chat/completions', null, null],
    ['api.openai.com', 'POST', '/v1/chat/completions', 'openai-chat', 'chat'],
    ['api.openai.com', 'POST', '/v1/responses', 'openai-responses', 'responses'],
    ['api.openai.com', 'POST', '/v1/embeddings', 'openai-embeddings', 'embeddings'],
    ['api.openai.com', 'POST', '/v1/completions', 'openai-completions', 'completions'],
    ['api.openai.com', 'GET', '/v1/responses/resp_1', null, null],
    ['api.openai.com', 'GET', '/v1/chat/completions', null, null],
    ['api.openai.com', 'POST', '/v1/messages', null, null],
    ['chatgpt.com', 'POST', '/v1/chat/completions', null, null],
    ['api.x.ai', 'POST', '/v1/chat/completions', 'xai-chat', 'chat'],
    ['example.com', 'POST', '/v1/messages', null, null],
  ];
  for (const [host, method, path, id, kind] of cases) {
    test(`${method} ${host}${path} -> ${id ?? 'pass through'}`, () => {
      const m = findAdapter(host, method, path);
      assert.equal(m?.adapter.id ?? null, id);
      assert.equal(m?.kind ?? null, kind);
    });
  }

  test('ADAPTERS lists every id once', () => {
    assert.deepEqual(ADAPTERS.map((a) => a.id).sort(), [...ADAPTER_IDS].sort());
  });
});

describe('anthropic adapter', () => {
  const start = (usage: unknown): [string, unknown] => [
    'message_start',
    { type: 'message_start', message: { id: 'msg_1', model: 'claude-x', usage } },
  ];
  const delta = (usage: unknown): [string, unknown] => ['message_delta', { type: 'message_delta', delta: {}, usage }];
  const stop: [string, unknown] = ['message_stop', { type: 'message_stop' }];

  test('message_delta usage overwrites, never sums, and null fields keep the earlier value', () => {
    const p = anthropic.parse(
      ex({
        sse: sse(
          start({ input_tokens: 10, cache_read_input_tokens: 5, output_tokens: 1 }),
          delta({ output_tokens: 20, server_tool_use: { web_search_requests: 1 } }),
          delta({ output_tokens: 30, input_tokens: 12, cache_read_input_tokens: null, server_tool_use: { web_search_requests: 2 } }),
          stop,
        ),
      }),
    );
    assert.deepEqual(p.usage, u({ inputTokens: 12, cacheReadTokens: 5, outputTokens: 30, webSearchRequests: 2 }));
    assert.deepEqual(p.usageJson, {
      message_start: { input_tokens: 10, cache_read_input_tokens: 5, output_tokens: 1 },
      message_delta: { output_tokens: 30, input_tokens: 12, server_tool_use: { web_search_requests: 2 } },
    });
    assert.equal(p.tokensComplete, true);
    assert.equal(p.model, 'claude-x');
    assert.equal(p.providerRequestId, 'msg_1');
  });

  test('request-id header wins over the message id', () => {
    const p = anthropic.parse(ex({ headers: { 'request-id': 'req_9' }, sse: sse(start({ input_tokens: 1 }), stop) }));
    assert.equal(p.providerRequestId, 'req_9');
  });

  test('cache writes: no split -> all 5m; a split gives the 1h part', () => {
    const body = (usage: unknown): string => JSON.stringify({ type: 'message', model: 'm', usage });
    assert.deepEqual(
      anthropic.parse(ex({ body: body({ input_tokens: 1, cache_creation_input_tokens: 100, output_tokens: 2 }) })).usage,
      u({ inputTokens: 1, cacheWrite5mTokens: 100, outputTokens: 2 }),
    );
    const split = { ephemeral_5m_input_tokens: 30, ephemeral_1h_input_tokens: 70 };
    assert.deepEqual(
      anthropic.parse(ex({ body: body({ input_tokens: 1, cache_creation_input_tokens: 100, cache_creation: split, output_tokens: 2 }) })).usage,
      u({ inputTokens: 1, cacheWrite5mTokens: 30, cacheWrite1hTokens: 70, outputTokens: 2 }),
    );
  });

  test('an error event in a 200 stream: errorClass, usage kept, tokens incomplete', () => {
    const p = anthropic.parse(
      ex({
        sse: sse(start({ input_tokens: 7, output_tokens: 1 }), ['error', { type: 'error', error: { type: 'overloaded_error' } }]),
      }),
    );
    assert.equal(p.errorClass, 'overloaded_error');
    assert.equal(p.tokensComplete, false);
    assert.deepEqual(p.usage, u({ inputTokens: 7, outputTokens: 1 }));
    assert.match(p.reason ?? '', /overloaded_error/);
  });

  test('no message_stop, an aborted exchange, a truncated observer: usage kept, incomplete, with a reason', () => {
    const events = sse(start({ input_tokens: 3, output_tokens: 1 }), delta({ output_tokens: 4 }));
    const noStop = anthropic.parse(ex({ sse: events }));
    assert.equal(noStop.tokensComplete, false);
    assert.equal(noStop.reason, 'stream ended before message_stop');
    assert.deepEqual(noStop.usage, u({ inputTokens: 3, outputTokens: 4 }));
    const full = events + sse(stop);
    for (const o of [{ outcome: 'aborted' as const }, { outcome: 'failed' as const }, { truncated: true }]) {
      const p = anthropic.parse(ex({ sse: full, ...o }));
      assert.equal(p.tokensComplete, false, JSON.stringify(o));
      assert.ok(p.reason, JSON.stringify(o));
      assert.equal(p.usageSource, 'reported');
    }
  });

  test('events without `event:` lines are typed by their payload', () => {
    const p = anthropic.parse(ex({ sse: sse([null, start({ input_tokens: 2 })[1]], [null, { type: 'message_stop' }]) }));
    assert.deepEqual(p.usage, u({ inputTokens: 2 }));
    assert.equal(p.tokensComplete, true);
  });

  test('an SSE body handed over as text is still read as a stream', () => {
    const p = anthropic.parse(
      ex({ headers: { 'content-type': 'text/event-stream' }, body: sse(start({ input_tokens: 2, output_tokens: 5 }), stop) }),
    );
    assert.deepEqual(p.usage, u({ inputTokens: 2, outputTokens: 5 }));
  });

  test('advisor iterations: one record each, the advisor billed as its own model', () => {
    const p = anthropic.parse(fixtureExchange(loadFixture('anthropic/stream-advisor-iterations')));
    assert.deepEqual(
      p.records.map((r) => [r.model, r.usage.inputTokens, r.usage.outputTokens, r.usage.thinkingTokens]),
      [
        [null, 1128, 135, 47],
        ['claude-opus-4-8', 2543, 18, 0],
        [null, 1283, 10, 0],
      ],
    );
    assert.equal(p.usage?.inputTokens, 1128 + 2543 + 1283);
    assert.equal(p.usage?.outputTokens, 145 + 18);
  });

  test('compaction iterations: the compaction pass (only in iterations) is billed too', () => {
    const p = anthropic.parse(fixtureExchange(loadFixture('anthropic/stream-compaction-iterations-cache')));
    assert.deepEqual(p.usage, u({ inputTokens: 281, cacheReadTokens: 55096, outputTokens: 91 }));
    assert.deepEqual(p.records.map((r) => r.model), [null, null]);
  });

  test('count_tokens: reported count in usageJson, one zero record, complete', () => {
    const p = anthropic.parse(ex({ path: '/v1/messages/count_tokens?beta=true', body: '{"input_tokens": 1114}' }));
    assert.deepEqual(p.usageJson, { input_tokens: 1114 });
    assert.deepEqual(p.usage, emptyUsage());
    assert.equal(p.records.length, 1);
    assert.equal(p.tokensComplete, true);
    assert.equal(p.usageSource, 'reported');
  });

  test('error bodies: non-2xx and a 2xx carrying an error object', () => {
    const body = JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'x' }, request_id: 'req_1' });
    const p = anthropic.parse(ex({ status: 429, body }));
    assert.equal(p.errorClass, 'rate_limit_error');
    assert.equal(p.providerRequestId, 'req_1');
    assert.equal(p.reason, 'upstream error 429');
    assert.equal(p.usage, null);
    const ok = anthropic.parse(ex({ status: 200, body }));
    assert.equal(ok.errorClass, 'rate_limit_error');
    assert.equal(ok.usage, null);
    const html = anthropic.parse(ex({ status: 502, body: '<html>bad gateway</html>' }));
    assert.equal(html.errorClass, 'http_502');
  });
});

describe('openai chat / completions adapters', () => {
  const chunk = (o: Record<string, unknown>): [null, unknown] => [null, { object: 'chat.completion.chunk', ...o }];

  test('usage from the last chunk that carries it, even with choices; [DONE] ends it', () => {
    const p = chat.parse(
      ex({
        host: 'api.openai.com',
        sse: sse(
          chunk({ id: '', model: '', choices: [] }),
          chunk({ id: 'c1', model: 'gpt-x', service_tier: 'default', choices: [{}], usage: null }),
          chunk({ id: 'c1', model: 'gpt-x', choices: [{}], usage: { prompt_tokens: 1, completion_tokens: 1 } }),
          chunk({
            id: 'c1',
            model: 'gpt-x',
            choices: [{ finish_reason: 'stop' }],
            usage: {
              prompt_tokens: 100,
              completion_tokens: 50,
              prompt_tokens_details: { cached_tokens: 60 },
              completion_tokens_details: { reasoning_tokens: 20 },
            },
          }),
          [null, '[DONE]'],
        ),
      }),
    );
    assert.deepEqual(p.usage, u({ inputTokens: 40, cacheReadTokens: 60, outputTokens: 50, thinkingTokens: 20 }));
    assert.equal(p.model, 'gpt-x');
    assert.equal(p.providerRequestId, 'c1');
    assert.equal(p.serviceTier, 'default');
    assert.equal(p.tokensComplete, true);
  });

  test('no usage: the reason says whether the client asked for include_usage', () => {
    const events = sse(chunk({ id: 'c', model: 'm', choices: [{}] }), [null, '[DONE]']);
    const asked = { stream: true, stream_options: { include_usage: true } };
    const none = chat.parse(ex({ sse: events }));
    assert.equal(none.reason, 'stream without usage (client did not request include_usage)');
    assert.equal(none.usageSource, 'none');
    assert.equal(none.usage, null);
    assert.match(chat.parse(ex({ sse: events, requestJson: asked })).reason ?? '', /although/);
  });

  test('cache_write_tokens leave base input and count as 5m cache writes', () => {
    const body = JSON.stringify({
      id: 'c',
      model: 'gpt-5.6-sol',
      usage: { prompt_tokens: 1000, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 200, cache_write_tokens: 300 } },
    });
    assert.deepEqual(chat.parse(ex({ body })).usage, u({ inputTokens: 500, cacheReadTokens: 200, cacheWrite5mTokens: 300, outputTokens: 5 }));
  });

  test('x-request-id header, `auto` tier is not a billed tier', () => {
    const body = JSON.stringify({ id: 'c', model: 'm', service_tier: 'auto', usage: { prompt_tokens: 1, completion_tokens: 1 } });
    const p = chat.parse(ex({ headers: { 'x-request-id': 'req_x' }, body }));
    assert.equal(p.providerRequestId, 'req_x');
    assert.equal(p.serviceTier, null);
  });

  test('OpenAI error envelope: type first, then code', () => {
    const p = chat.parse(ex({ status: 404, body: '{"error":{"type":"invalid_request_error","code":"model_not_found"}}' }));
    assert.equal(p.errorClass, 'invalid_request_error');
    assert.equal(chat.parse(ex({ status: 429, body: '{"error":{"code":"rate_limit_exceeded"}}' })).errorClass, 'rate_limit_exceeded');
  });

  test('legacy completions share the chat shape', () => {
    const body = JSON.stringify({ id: 'cmpl', object: 'text_completion', model: 'davinci-002', usage: { prompt_tokens: 4, completion_tokens: 6 } });
    assert.deepEqual(completions.parse(ex({ body })).usage, u({ inputTokens: 4, outputTokens: 6 }));
  });
});

describe('openai responses adapter', () => {
  const resp = (o: Record<string, unknown>): Record<string, unknown> => ({ id: 'resp_1', model: 'gpt-5', service_tier: 'default', ...o });

  test('response.incomplete carries final usage; cache writes and reads come out of input', () => {
    const usage = {
      input_tokens: 1000,
      input_tokens_details: { cached_tokens: 100, cache_write_tokens: 400 },
      output_tokens: 30,
      output_tokens_details: { reasoning_tokens: 10 },
    };
    const p = responses.parse(
      ex({
        host: 'api.openai.com',
        path: '/v1/responses',
        sse: sse(
          ['response.created', { type: 'response.created', response: resp({ usage: null, service_tier: 'auto' }) }],
          ['response.output_text.delta', { type: 'response.output_text.delta', delta: 'hi' }],
          ['response.incomplete', { type: 'response.incomplete', response: resp({ status: 'incomplete', usage }) }],
        ),
      }),
    );
    assert.deepEqual(p.usage, u({ inputTokens: 500, cacheReadTokens: 100, cacheWrite5mTokens: 400, outputTokens: 30, thinkingTokens: 10 }));
    assert.equal(p.tokensComplete, true);
    assert.equal(p.serviceTier, 'default');
    assert.equal(p.providerRequestId, 'resp_1');
  });

  test('a stream cut before the terminal event: model from response.created, no usage, a reason', () => {
    const p = responses.parse(
      ex({ sse: sse(['response.created', { type: 'response.created', response: resp({ usage: null }) }]), outcome: 'aborted' }),
    );
    assert.equal(p.model, 'gpt-5');
    assert.equal(p.usage, null);
    assert.ok(p.reason);
  });

  test('response.failed without an error event gives the failure code', () => {
    const p = responses.parse(
      ex({ sse: sse(['response.failed', { type: 'response.failed', response: resp({ status: 'failed', error: { code: 'server_error' }, usage: null }) }]) }),
    );
    assert.equal(p.errorClass, 'server_error');
    assert.equal(p.tokensComplete, false);
  });

  test('JSON body', () => {
    const body = JSON.stringify(resp({ usage: { input_tokens: 10, output_tokens: 2, input_tokens_details: { cached_tokens: 4 } } }));
    const p = responses.parse(ex({ body }));
    assert.deepEqual(p.usage, u({ inputTokens: 6, cacheReadTokens: 4, outputTokens: 2 }));
    assert.equal(p.tokensComplete, true);
  });
});

describe('openai embeddings adapter', () => {
  test('prompt_tokens are input', () => {
    const p = embeddings.parse(ex({ body: '{"object":"list","model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2}}' }));
    assert.deepEqual(p.usage, u({ inputTokens: 2 }));
    assert.equal(p.model, 'text-embedding-3-small');
  });
});

describe('adapters never throw', () => {
  // A tiny deterministic PRNG: the same garbage every run, so a failure is reproducible.
  let seed = 0x2545f491;
  const rand = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const KEYS = [
    'usage', 'input_tokens', 'output_tokens', 'prompt_tokens', 'completion_tokens', 'cache_creation_input_tokens',
    'cache_read_input_tokens', 'cache_creation', 'ephemeral_1h_input_tokens', 'iterations', 'model', 'type', 'error',
    'message', 'response', 'prompt_tokens_details', 'cached_tokens', 'input_tokens_details', 'output_tokens_details',
    'server_tool_use', 'web_search_requests', 'id', 'service_tier', 'choices', 'code',
  ] as const;
  const junk = (depth: number): unknown => {
    const r = rand();
    if (depth > 3 || r < 0.3) return pick([null, -1, 1.5, 2 ** 60, 0, 7, '', 'x', true, Number.MAX_SAFE_INTEGER, [], {}]);
    if (r < 0.45) return Array.from({ length: Math.floor(rand() * 4) }, () => junk(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(rand() * 6); i > 0; i--) o[pick(KEYS)] = junk(depth + 1);
    return o;
  };
  const TYPES = ['message_start', 'message_delta', 'message_stop', 'error', 'response.completed', 'response.failed', null];

  function checkSane(p: ParsedUsage, label: string): void {
    assert.equal(typeof p.tokensComplete, 'boolean', label);
    // The guard in defineAdapter must not be what saved us: garbage is handled, not caught.
    assert.doesNotMatch(p.reason ?? '', /^adapter .* failed/, label);
    if (p.usage === null) {
      assert.deepEqual(p.records, [], label);
      assert.ok(p.reason, `${label}: a missing usage has a reason`);
    } else {
      for (const v of Object.values(p.usage)) assert.ok(Number.isInteger(v) && v >= 0, `${label}: ${v}`);
      assert.deepEqual(p.records.reduce((s, r) => addUsage(s, r.usage), emptyUsage()), p.usage, label);
    }
  }

  test('garbage bodies, garbage events, garbage statuses', () => {
    const bodies = [null, '', 'not json', '{', '[]', 'null', '42', '"str"', '\u0000\uFFFF', '{"usage":"lots"}'];
    for (let i = 0; i < 3000; i++) {
      const body = i % 3 === 0 ? pick(bodies) : JSON.stringify(junk(0));
      const events = Array.from({ length: Math.floor(rand() * 5) }, () => {
        const t = pick(TYPES);
        const d = junk(0);
        const data = rand() < 0.1 ? '{broken' : JSON.stringify(t !== null && rand() < 0.7 && typeof d === 'object' && d !== null ? { ...d, type: t } : d);
        return { event: rand() < 0.5 ? t : null, data };
      });
      const exchange: Exchange = {
        host: pick(['api.anthropic.com', 'api.openai.com', '']),
        method: 'POST',
        path: pick(['/v1/messages', '/v1/messages/count_tokens', '/v1/responses', '']),
        requestJson: junk(0),
        response: {
          status: pick([200, 200, 204, 400, 500, 0]),
          headers: {},
          bodyText: rand() < 0.5 ? body : null,
          events: rand() < 0.5 ? events : null,
          truncated: rand() < 0.2,
          outcome: pick(['completed', 'aborted', 'failed'] as const),
        },
      };
      for (const a of ADAPTERS) checkSane(a.parse(exchange), `${a.id} #${i}`);
    }
  });

  test('a parser bug becomes a reason, not an exception', () => {
    const hostile = ex({ body: '{}' });
    Object.defineProperty(hostile.response, 'bodyText', {
      get() {
        throw new Error('boom');
      },
    });
    for (const a of ADAPTERS) {
      const p = a.parse(hostile);
      assert.equal(p.usage, null);
      assert.match(p.reason ?? '', /boom/);
    }
    assert.equal(ADAPTERS[0].matches(null as unknown as string, 'POST', '/v1/messages'), null);
  });
});
