// The Gemini API and Code Assist adapters on the edge cases the fixtures do not all show.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { adapterById } from '../../src/adapters/index.js';
import { parseSseText } from '../../src/adapters/sse.js';
import type { Exchange, Outcome } from '../../src/core/exchange.js';
import type { ParsedUsage } from '../../src/core/parsed.js';
import { addUsage, emptyUsage, type Usage } from '../../src/core/usage.js';

interface ExOpts {
  host?: string;
  path?: string;
  status?: number;
  body?: string | null;
  sse?: unknown[];
  outcome?: Outcome;
  truncated?: boolean;
  requestJson?: unknown;
}

function ex(o: ExOpts): Exchange {
  const sse = o.sse === undefined ? null : o.sse.map((d) => `data: ${typeof d === 'string' ? d : JSON.stringify(d)}\r\n\r\n`).join('');
  return {
    host: o.host ?? 'generativelanguage.googleapis.com',
    method: 'POST',
    path: o.path ?? '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
    requestJson: o.requestJson ?? null,
    response: {
      status: o.status ?? 200,
      headers: {},
      bodyText: sse === null ? (o.body ?? null) : null,
      events: sse === null ? null : parseSseText(sse),
      truncated: o.truncated ?? false,
      outcome: o.outcome ?? 'completed',
    },
  };
}

const gemini = adapterById('gemini');
const codeAssist = adapterById('gemini-code-assist');
const u = (p: Partial<Usage>): Usage => ({ ...emptyUsage(), ...p });
const part = (text: string, finishReason?: string) => [{ content: { role: 'model', parts: [{ text }] }, ...(finishReason ? { finishReason } : {}) }];

describe('gemini adapter: streams', () => {
  test('usageMetadata is cumulative: the last one wins, a chunk without it resets nothing', () => {
    const p = gemini.parse(ex({
      sse: [
        { candidates: part('a'), usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 1 }, modelVersion: 'gemini-2.5-flash' },
        { candidates: part('b'), usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, thoughtsTokenCount: 7 } },
        { candidates: part('c', 'STOP') },
      ],
    }));
    assert.deepEqual(p.usage, u({ inputTokens: 10, outputTokens: 12, thinkingTokens: 7 }));
    assert.equal(p.tokensComplete, true);
    assert.equal(p.reason, null);
  });

  test('a stream that ends without a finishReason is not complete', () => {
    const p = gemini.parse(ex({ sse: [{ candidates: part('a'), usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1 } }] }));
    assert.deepEqual(p.usage, u({ inputTokens: 3, outputTokens: 1 }));
    assert.equal(p.tokensComplete, false);
    assert.equal(p.reason, 'stream ended before a finishReason');
  });

  test('an aborted stream keeps the usage so far and says why', () => {
    const p = gemini.parse(ex({ outcome: 'aborted', sse: [{ candidates: part('a', 'STOP'), usageMetadata: { promptTokenCount: 3 } }] }));
    assert.equal(p.tokensComplete, false);
    assert.match(p.reason ?? '', /aborted/);
  });

  test('tool-use prompt tokens are input; cached tokens come out of the prompt', () => {
    const p = gemini.parse(ex({
      sse: [{ candidates: part('x', 'STOP'), usageMetadata: { promptTokenCount: 100, cachedContentTokenCount: 60, toolUsePromptTokenCount: 25, candidatesTokenCount: 9 } }],
    }));
    assert.deepEqual(p.usage, u({ inputTokens: 65, cacheReadTokens: 60, outputTokens: 9 }));
  });

  test('a malformed event is skipped, not fatal', () => {
    const p = gemini.parse(ex({ sse: ['{"candidates": [', { candidates: part('x', 'STOP'), usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 1 } }] }));
    assert.deepEqual(p.usage, u({ inputTokens: 2, outputTokens: 1 }));
  });

  test('a JSON-array body the observer truncated is not complete', () => {
    const body = JSON.stringify([{ candidates: part('x', 'STOP'), usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 1 } }]);
    const p = gemini.parse(ex({ path: '/v1beta/models/gemini-2.5-flash:streamGenerateContent', body, truncated: true }));
    assert.equal(p.tokensComplete, false);
    assert.match(p.reason ?? '', /cap/);
  });
});

describe('gemini adapter: model, tier, blocked prompts, errors', () => {
  test('the model is modelVersion (models/ stripped), else the one in the path', () => {
    const withVersion = gemini.parse(ex({ sse: [{ candidates: part('x', 'STOP'), modelVersion: 'models/gemini-2.5-pro', usageMetadata: { promptTokenCount: 1 } }] }));
    assert.equal(withVersion.model, 'gemini-2.5-pro');
    const without = gemini.parse(ex({ path: '/v1/models/gemini-2.0-flash:generateContent', body: JSON.stringify({ candidates: part('x', 'STOP'), usageMetadata: { promptTokenCount: 1 } }) }));
    assert.equal(without.model, 'gemini-2.0-flash');
  });

  test('service tier: Vertex traffic types and the Gemini API serviceTier', () => {
    const tier = (usageMetadata: object): string | null =>
      gemini.parse(ex({ sse: [{ candidates: part('x', 'STOP'), usageMetadata: { promptTokenCount: 1, ...usageMetadata } }] })).serviceTier;
    assert.equal(tier({ trafficType: 'ON_DEMAND_FLEX' }), 'flex');
    assert.equal(tier({ trafficType: 'ON_DEMAND_PRIORITY' }), 'priority');
    assert.equal(tier({ trafficType: 'PROVISIONED_THROUGHPUT' }), 'provisioned_throughput');
    assert.equal(tier({ trafficType: 'ON_DEMAND' }), null);
    assert.equal(tier({ trafficType: 'ON_DEMAND', serviceTier: 'standard' }), 'standard');
    assert.equal(tier({ serviceTier: 'FLEX' }), 'flex');
    assert.equal(tier({}), null);
  });

  test('a blocked prompt in a stream: blocked:<reason>, the prompt usage, complete', () => {
    const p = gemini.parse(ex({ sse: [{ promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, usageMetadata: { promptTokenCount: 12, totalTokenCount: 12 }, modelVersion: 'gemini-2.5-flash' }] }));
    assert.equal(p.errorClass, 'blocked:PROHIBITED_CONTENT');
    assert.deepEqual(p.usage, u({ inputTokens: 12 }));
    assert.equal(p.tokensComplete, true);
    assert.equal(p.reason, null);
  });

  test('a blocked prompt without usage: no usage invented', () => {
    const p = gemini.parse(ex({ path: '/v1beta/models/gemini-2.5-flash:generateContent', body: '{"promptFeedback":{"blockReason":"OTHER"}}' }));
    assert.equal(p.errorClass, 'blocked:OTHER');
    assert.equal(p.usage, null);
    assert.equal(p.tokensComplete, false);
    assert.equal(p.reason, 'response without usageMetadata');
  });

  test('errors: the Google envelope, also inside the array a streaming call answers with', () => {
    const plain = gemini.parse(ex({ status: 429, body: '{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}' }));
    assert.equal(plain.errorClass, 'RESOURCE_EXHAUSTED');
    assert.equal(plain.model, 'gemini-2.5-flash');
    assert.equal(plain.reason, 'upstream error 429');
    const array = gemini.parse(ex({ status: 400, path: '/v1beta/models/gemini-2.5-flash:streamGenerateContent', body: '[{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}\n]' }));
    assert.equal(array.errorClass, 'INVALID_ARGUMENT');
    const bare = gemini.parse(ex({ status: 502, body: '<html>bad gateway</html>' }));
    assert.equal(bare.errorClass, 'http_502');
  });

  test('usageMetadata with no counts, and a body that was not captured', () => {
    const empty = gemini.parse(ex({ sse: [{ candidates: part('x', 'STOP'), usageMetadata: { totalTokenCount: 5 } }] }));
    assert.equal(empty.usage, null);
    assert.equal(empty.reason, 'usageMetadata without token counts');
    const none = gemini.parse(ex({ path: '/v1beta/models/gemini-2.5-flash:generateContent', body: null }));
    assert.equal(none.reason, 'response body not captured');
  });

  test('countTokens without totalTokens is not a $0 row; embedContent reads usage when present', () => {
    const ct = gemini.parse(ex({ path: '/v1beta/models/gemini-2.5-flash:countTokens', body: '{"promptTokensDetails":[]}' }));
    assert.equal(ct.usage, null);
    assert.equal(ct.reason, 'countTokens response without totalTokens');
    const emb = gemini.parse(ex({ path: '/v1beta/models/text-embedding-004:embedContent', body: '{"embedding":{"values":[1]},"usageMetadata":{"promptTokenCount":6}}' }));
    assert.deepEqual(emb.usage, u({ inputTokens: 6 }));
    assert.equal(emb.model, 'text-embedding-004');
  });
});

describe('gemini code assist adapter', () => {
  const CA = { host: 'cloudcode-pa.googleapis.com', path: '/v1internal:streamGenerateContent?alt=sse' };

  test('unwraps `response`; the request model (models/ stripped) when the response has no modelVersion', () => {
    const p = codeAssist.parse(ex({
      ...CA,
      requestJson: { model: 'models/gemini-2.5-pro', request: {} },
      sse: [{ response: { candidates: part('x', 'STOP'), usageMetadata: { promptTokenCount: 40, candidatesTokenCount: 2 } }, traceId: 't-1' }],
    }));
    assert.equal(p.model, 'gemini-2.5-pro');
    assert.deepEqual(p.usage, u({ inputTokens: 40, outputTokens: 2 }));
    assert.equal(p.providerRequestId, 't-1', 'traceId when there is no responseId');
    assert.equal(p.tokensComplete, true);
  });

  test('an error envelope mid-stream (outside any `response`) is the error class', () => {
    const p = codeAssist.parse(ex({
      ...CA,
      sse: [
        { response: { candidates: part('x'), usageMetadata: { promptTokenCount: 40, candidatesTokenCount: 2 } }, traceId: 't-2' },
        { error: { code: 429, message: 'quota', status: 'RESOURCE_EXHAUSTED' } },
      ],
    }));
    assert.equal(p.errorClass, 'RESOURCE_EXHAUSTED');
    assert.deepEqual(p.usage, u({ inputTokens: 40, outputTokens: 2 }));
    assert.equal(p.tokensComplete, false);
    assert.equal(p.reason, 'stream error: RESOURCE_EXHAUSTED');
  });

  test('a non-2xx keeps the request model', () => {
    const p = codeAssist.parse(ex({ ...CA, status: 403, requestJson: { model: 'gemini-2.5-pro' }, body: '{"error":{"code":403,"status":"PERMISSION_DENIED"}}' }));
    assert.equal(p.errorClass, 'PERMISSION_DENIED');
    assert.equal(p.model, 'gemini-2.5-pro');
  });
});

describe('gemini adapters never throw', () => {
  let seed = 0x1badb002;
  const rand = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const KEYS = [
    'usageMetadata', 'promptTokenCount', 'candidatesTokenCount', 'thoughtsTokenCount', 'cachedContentTokenCount',
    'toolUsePromptTokenCount', 'trafficType', 'serviceTier', 'candidates', 'finishReason', 'response', 'error', 'status',
    'promptFeedback', 'blockReason', 'modelVersion', 'responseId', 'traceId', 'totalTokens', 'embedding',
  ] as const;
  const junk = (depth: number): unknown => {
    const r = rand();
    if (depth > 3 || r < 0.3) return pick([null, -1, 1.5, 2 ** 60, 0, 7, '', 'x', 'ON_DEMAND_FLEX', true, [], {}]);
    if (r < 0.45) return Array.from({ length: Math.floor(rand() * 4) }, () => junk(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(rand() * 6); i > 0; i--) o[pick(KEYS)] = junk(depth + 1);
    return o;
  };

  function checkSane(p: ParsedUsage, label: string): void {
    assert.doesNotMatch(p.reason ?? '', /^adapter .* failed/, label);
    if (p.usage === null) {
      assert.deepEqual(p.records, [], label);
      assert.ok(p.reason, `${label}: a missing usage has a reason`);
    } else {
      for (const v of Object.values(p.usage)) assert.ok(Number.isInteger(v) && v >= 0, `${label}: ${v}`);
      assert.deepEqual(p.records.reduce((s, r) => addUsage(s, r.usage), emptyUsage()), p.usage, label);
    }
  }

  test('garbage bodies, events and arrays', () => {
    const paths = [
      '/v1beta/models/m:generateContent', '/v1beta/models/m:streamGenerateContent', '/v1/models/m:embedContent',
      '/v1/models/m:countTokens', '/v1internal:streamGenerateContent', '',
    ];
    for (let i = 0; i < 2000; i++) {
      const shape = rand();
      const payloads = Array.from({ length: Math.floor(rand() * 4) }, () => junk(0));
      let body: string | null = null;
      if (shape < 0.3) body = JSON.stringify(payloads).slice(0, Math.floor(rand() * 200));
      else if (shape < 0.6) body = JSON.stringify(junk(0));
      const exchange: Exchange = {
        host: pick(['generativelanguage.googleapis.com', 'cloudcode-pa.googleapis.com']),
        method: 'POST',
        path: pick(paths),
        requestJson: junk(0),
        response: {
          status: pick([200, 200, 400, 500]),
          headers: {},
          bodyText: body,
          events: shape >= 0.6 ? payloads.map((d) => ({ event: null, data: rand() < 0.1 ? '{broken' : JSON.stringify(d) })) : null,
          truncated: rand() < 0.2,
          outcome: pick(['completed', 'aborted', 'failed'] as const),
        },
      };
      checkSane(gemini.parse(exchange), `gemini #${i}`);
      checkSane(codeAssist.parse(exchange), `code-assist #${i}`);
    }
  });
});
