// src/daemon/meter.ts: exchange -> adapter -> price -> attribution -> row, with the real adapters and
// the real bundled price table (priced the way the daemon wires it). Expected costs are computed here
// from ../shared/pricing/genai-prices/data.v2.json with the test's own integer arithmetic, so the
// pricing code cannot agree with itself.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Exchange, ObservedResponse, Outcome, SseEvent } from '../../src/core/exchange.js';
import type { LogFields, Logger, LogLevel } from '../../src/core/log.js';
import { meteredHost, SELFTEST_HOST, SELFTEST_PROJECT } from '../../src/core/providers.js';
import type { RequestRow } from '../../src/core/request-row.js';
import { findAdapter } from '../../src/adapters/index.js';
import { loadBundledTable } from '../../src/pricing/index.js';
import { quoteExchange } from '../../src/pricing/quote-exchange.js';
import type { Attribution } from '../../src/daemon/attribution/index.js';
import { meterExchange, requestedModel, requestStreams, type FinishedExchange, type MeterDeps, type Pricer } from '../../src/daemon/meter.js';
import { sharedDir } from '../helpers/fixtures.js';

// ---------------------------------------------------------------------------------------------
// Expected prices, straight from the source data.

const DATA = JSON.parse(readFileSync(join(sharedDir(), 'pricing', 'genai-prices', 'data.v2.json'), 'utf8')) as Array<{
  id: string;
  models: Array<{ id: string; prices: Record<string, unknown> | unknown[] }>;
}>;

/** USD per Mtok by genai-prices field name, as exact decimal strings (base tier). */
function sourcePrices(provider: string, modelId: string): Record<string, string> {
  const m = DATA.find((p) => p.id === provider)?.models.find((x) => x.id === modelId);
  if (!m || Array.isArray(m.prices)) throw new Error(`${provider}/${modelId}: not a single-period model in the data`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.prices)) {
    if (typeof v === 'number') out[k] = String(v);
    else if (v && typeof v === 'object' && typeof (v as { base?: unknown }).base === 'number') out[k] = String((v as { base: number }).base);
  }
  return out;
}

/** "0.1" -> 100000n: micro-USD per Mtok (the data has at most 6 decimals). */
function micro(usd: string): bigint {
  assert.match(usd, /^\d+(\.\d{1,6})?$/, `rate ${usd}`);
  const [whole, frac = ''] = usd.split('.');
  return BigInt(whole + frac.padEnd(6, '0'));
}

/** Sum of tokens x rate in 1e-12 USD, rounded half up once to minor units (1e-5 USD). */
function expectedMinor(parts: Array<[tokens: number, usdPerMtok: string]>): number {
  const pico = parts.reduce((sum, [t, r]) => sum + BigInt(t) * micro(r), 0n);
  const per = 10_000_000n;
  return Number((pico * 2n + per) / (2n * per));
}

// ---------------------------------------------------------------------------------------------
// The meter, wired like the daemon wires it.

const table = loadBundledTable();
const price: Pricer = (x) => quoteExchange(table, [], x);
const REQUESTED_AT = new Date('2026-08-15T12:00:00Z');

interface Captured {
  level: LogLevel;
  event: string;
  fields: LogFields;
}

function harness(overrides: Partial<MeterDeps> = {}): { deps: MeterDeps; rows: RequestRow[]; logs: Captured[] } {
  const rows: RequestRow[] = [];
  const logs: Captured[] = [];
  const log = (level: LogLevel, event: string, fields: LogFields = {}): void => void logs.push({ level, event, fields });
  const logger: Logger = {
    log,
    info: (e, f) => log('info', e, f),
    warn: (e, f) => log('warn', e, f),
    error: (e, f) => log('error', e, f),
    debug: (e, f) => log('debug', e, f),
    close: async () => undefined,
  };
  return {
    rows,
    logs,
    deps: { price, enqueue: (r) => rows.push(r), log: logger, attributionTimeoutMs: 2000, defaultProject: 'misc', ...overrides },
  };
}

const ATTRIBUTED: Attribution = { slug: 'web-app', rule: 'env', clientPid: 4242, clientName: 'python3' };

interface ExchangeSpec {
  host?: string;
  path?: string;
  requestJson?: unknown;
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  events?: SseEvent[] | null;
  truncated?: boolean;
  outcome?: Outcome;
  failure?: string | null;
  attribution?: Promise<Attribution>;
  undecodable?: string | null;
}

function finished(spec: ExchangeSpec): FinishedExchange {
  const host = spec.host ?? 'api.anthropic.com';
  const path = spec.path ?? '/v1/messages';
  const metered = meteredHost(host);
  const match = findAdapter(host, 'POST', path);
  assert.ok(metered && match, `${host}${path} is metered`);
  const outcome = spec.outcome ?? 'completed';
  const response: ObservedResponse = {
    status: spec.status ?? 200,
    headers: { 'content-type': spec.events ? 'text/event-stream' : 'application/json', ...spec.headers },
    bodyText: spec.body === undefined ? null : typeof spec.body === 'string' ? spec.body : JSON.stringify(spec.body),
    events: spec.events ?? null,
    truncated: spec.truncated ?? false,
    outcome,
  };
  const exchange: Exchange = { host, method: 'POST', path, requestJson: spec.requestJson ?? { model: 'claude-haiku-4-5', max_tokens: 100 }, response };
  return {
    exchange,
    metered,
    adapter: match.adapter,
    kind: match.kind,
    outcome,
    failure: spec.failure ?? null,
    stream: spec.events != null || requestStreams(exchange.requestJson),
    requestedAt: REQUESTED_AT,
    latencyMs: 123,
    ttfbMs: 45,
    attribution: spec.attribution ?? Promise.resolve(ATTRIBUTED),
    undecodable: spec.undecodable ?? null,
  };
}

const SECRET_TEXT = 'the quick secret response text';

function anthropicMessage(model: string | null, usage: Record<string, unknown>): Record<string, unknown> {
  return {
    id: 'msg_01ABC',
    type: 'message',
    role: 'assistant',
    ...(model === null ? {} : { model }),
    content: [{ type: 'text', text: SECRET_TEXT }],
    stop_reason: 'end_turn',
    usage,
  };
}

const sse = (event: string, data: unknown): SseEvent => ({ event, data: JSON.stringify(data) });

// ---------------------------------------------------------------------------------------------

describe('meterExchange', () => {
  test('an Anthropic JSON exchange becomes one priced row', async () => {
    const { deps, rows, logs } = harness();
    const usage = {
      input_tokens: 1234,
      output_tokens: 567,
      cache_read_input_tokens: 2000,
      cache_creation_input_tokens: 300,
      cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 },
      service_tier: 'standard',
    };
    const row = await meterExchange(
      finished({ body: anthropicMessage('claude-haiku-4-5-20251001', usage), headers: { 'request-id': 'req_011' } }),
      deps,
    );
    const p = sourcePrices('anthropic', 'claude-haiku-4-5');
    const cost = expectedMinor([
      [1234, p.input_mtok],
      [2000, p.cache_read_mtok],
      [100, p.cache_write_mtok],
      [200, p.cache_write_1h_mtok],
      [567, p.output_mtok],
    ]);
    assert.deepEqual(rows, [row], 'enqueued exactly once');
    assert.equal(row.provider, 'anthropic');
    assert.equal(row.mode, 'api');
    assert.equal(row.requestKind, 'messages');
    assert.equal(row.host, 'api.anthropic.com');
    assert.equal(row.path, '/v1/messages');
    assert.equal(row.model, 'claude-haiku-4-5-20251001');
    assert.equal(row.modelRequested, 'claude-haiku-4-5');
    assert.equal(row.statusCode, 200);
    assert.equal(row.errorClass, null);
    assert.equal(row.stream, false);
    assert.deepEqual(
      [row.inputTokens, row.cacheReadTokens, row.cacheWrite5mTokens, row.cacheWrite1hTokens, row.outputTokens, row.thinkingTokens, row.webSearchRequests],
      [1234, 2000, 100, 200, 567, 0, 0],
    );
    assert.equal(row.costUsdMinorUnits, cost);
    assert.equal(row.costReason, null);
    assert.equal(row.ratesSource, table.version);
    assert.equal(row.tokensComplete, true);
    assert.equal(row.outcome, 'completed');
    assert.equal(row.usageSource, 'reported');
    assert.equal(row.providerRequestId, 'req_011');
    assert.deepEqual(JSON.parse(row.usageJson ?? 'null'), usage);
    assert.equal(row.projectSlug, 'web-app');
    assert.equal(row.attributionRule, 'env');
    assert.equal(row.clientPid, 4242);
    assert.equal(row.clientName, 'python3');
    assert.equal(row.latencyMs, 123);
    assert.equal(row.ttfbMs, 45);
    assert.equal(row.requestedAt, REQUESTED_AT.toISOString());
    assert.match(row.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    const resolved = logs.find((l) => l.event === 'attribution.resolved');
    assert.deepEqual(resolved?.fields, { request_id: row.id, project: 'web-app', rule: 'env', client_pid: 4242, client_name: 'python3' });
    const complete = logs.find((l) => l.event === 'intercept.complete');
    assert.equal(complete?.fields.cost_usd_minor_units, cost);
    assert.equal(complete?.fields.duration_ms, 123);
    // Token counts and event names only: never response content (SPEC §9).
    assert.doesNotMatch(JSON.stringify(logs), /quick secret/);
  });

  test('a streamed exchange sums message_start and message_delta and is priced the same way', async () => {
    const { deps } = harness();
    const events = [
      sse('message_start', { type: 'message_start', message: { id: 'msg_s', model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: 5000, cache_read_input_tokens: 1000, output_tokens: 1 } } }),
      sse('content_block_delta', { type: 'content_block_delta', delta: { type: 'text_delta', text: SECRET_TEXT } }),
      sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 789 } }),
      sse('message_stop', { type: 'message_stop' }),
    ];
    const row = await meterExchange(finished({ events, requestJson: { model: 'claude-sonnet-4-5', stream: true } }), deps);
    const p = sourcePrices('anthropic', 'claude-sonnet-4-5');
    assert.equal(row.stream, true);
    assert.equal(row.model, 'claude-sonnet-4-5-20250929');
    assert.deepEqual([row.inputTokens, row.cacheReadTokens, row.outputTokens], [5000, 1000, 789]);
    assert.equal(row.costUsdMinorUnits, expectedMinor([[5000, p.input_mtok], [1000, p.cache_read_mtok], [789, p.output_mtok]]));
    assert.equal(row.tokensComplete, true);
  });

  test("without a model in the response, the request's model is used and priced", async () => {
    const { deps } = harness();
    const row = await meterExchange(finished({ body: anthropicMessage(null, { input_tokens: 10_000, output_tokens: 10_000 }) }), deps);
    const p = sourcePrices('anthropic', 'claude-haiku-4-5');
    assert.equal(row.model, 'claude-haiku-4-5');
    assert.equal(row.costUsdMinorUnits, expectedMinor([[10_000, p.input_mtok], [10_000, p.output_mtok]]));
  });

  test('an unknown model: tokens kept, cost NULL with a reason, never 0', async () => {
    const { deps } = harness();
    const row = await meterExchange(
      finished({ body: anthropicMessage('claude-nonexistent-9', { input_tokens: 100, output_tokens: 50 }), requestJson: { model: 'claude-nonexistent-9' } }),
      deps,
    );
    assert.equal(row.costUsdMinorUnits, null);
    assert.match(row.costReason ?? '', /unknown model: claude-nonexistent-9/);
    assert.equal(row.ratesSource, null);
    assert.equal(row.inputTokens, 100);
    assert.equal(row.outputTokens, 50);
  });

  test('a 529 takes its error class from the body; no tokens, no cost', async () => {
    const { deps } = harness();
    const row = await meterExchange(
      finished({ status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: 'req_529' } }),
      deps,
    );
    assert.equal(row.statusCode, 529);
    assert.equal(row.errorClass, 'overloaded_error');
    assert.equal(row.outcome, 'completed');
    assert.equal(row.inputTokens, null);
    assert.equal(row.outputTokens, null);
    assert.equal(row.costUsdMinorUnits, null);
    assert.ok(row.costReason, 'a reason for the NULL cost');
    assert.equal(row.tokensComplete, false);
    assert.equal(row.providerRequestId, 'req_529');
  });

  test('an error status whose body names no class gets http_<status>', async () => {
    const { deps } = harness();
    const row = await meterExchange(finished({ status: 502, body: '<html>bad gateway</html>' }), deps);
    assert.equal(row.errorClass, 'http_502');
  });

  test('a stream the client aborted: tokens_complete false and the failure class, tokens only as seen', async () => {
    const { deps } = harness();
    const events = [sse('message_start', { type: 'message_start', message: { id: 'm', model: 'claude-haiku-4-5', usage: { input_tokens: 40, output_tokens: 1 } } })];
    const row = await meterExchange(finished({ events, outcome: 'aborted', failure: 'client_aborted' }), deps);
    assert.equal(row.outcome, 'aborted');
    assert.equal(row.errorClass, 'client_aborted');
    assert.equal(row.tokensComplete, false);
    assert.equal(row.inputTokens, 40);
    assert.equal(row.outputTokens, 1, 'never invents output that did not arrive');
  });

  test('an upstream that could not be reached: status NULL, no tokens, NULL cost with a reason', async () => {
    const { deps, rows } = harness();
    const row = await meterExchange(finished({ status: 0, outcome: 'failed', failure: 'upstream_unreachable' }), deps);
    assert.equal(rows.length, 1);
    assert.equal(row.statusCode, null);
    assert.equal(row.outcome, 'failed');
    assert.ok(row.errorClass, 'an error class');
    assert.equal(row.inputTokens, null);
    assert.equal(row.costUsdMinorUnits, null);
    assert.ok(row.costReason);
    assert.equal(row.tokensComplete, false);
  });

  test(
    'an exchange that never got a response is classed by its failure (upstream_unreachable, client_aborted)',
    async () => {
      const { deps } = harness();
      const unreachable = await meterExchange(finished({ status: 0, outcome: 'failed', failure: 'upstream_unreachable' }), deps);
      assert.equal(unreachable.errorClass, 'upstream_unreachable');
      const gone = await meterExchange(finished({ status: 0, outcome: 'aborted', failure: 'client_aborted' }), deps);
      assert.equal(gone.errorClass, 'client_aborted');
    },
  );

  test('a complete body the observer had to truncate is not tokens_complete', async () => {
    const { deps } = harness();
    const row = await meterExchange(finished({ body: anthropicMessage('claude-haiku-4-5', { input_tokens: 1, output_tokens: 2 }), truncated: true }), deps);
    assert.equal(row.tokensComplete, false);
  });

  test('an undecodable body: no tokens, NULL cost with the decoder reason', async () => {
    const { deps } = harness();
    const row = await meterExchange(finished({ undecodable: 'unsupported content-encoding zstd' }), deps);
    assert.equal(row.inputTokens, null);
    assert.equal(row.costUsdMinorUnits, null);
    assert.equal(row.costReason, 'unsupported content-encoding zstd');
    assert.equal(row.tokensComplete, false);
  });

  test('an attribution that never resolves falls back to unresolved after the timeout', async () => {
    const { deps, rows } = harness({ attributionTimeoutMs: 20, defaultProject: 'fallback-proj' });
    const row = await meterExchange(
      finished({ body: anthropicMessage('claude-haiku-4-5', { input_tokens: 1, output_tokens: 1 }), attribution: new Promise<Attribution>(() => undefined) }),
      deps,
    );
    assert.equal(row.projectSlug, 'fallback-proj');
    assert.equal(row.attributionRule, 'unresolved');
    assert.equal(row.clientPid, null);
    assert.equal(rows.length, 1);
  });

  test('an attribution that rejects falls back to unresolved too', async () => {
    const { deps } = harness();
    const row = await meterExchange(
      finished({ body: anthropicMessage('claude-haiku-4-5', { input_tokens: 1, output_tokens: 1 }), attribution: Promise.reject(new Error('proc gone')) }),
      deps,
    );
    assert.equal(row.attributionRule, 'unresolved');
    assert.equal(row.projectSlug, 'misc');
  });

  test(`the self-test host's rows go to ${SELFTEST_PROJECT}, at no cost, whoever sent them`, async () => {
    const { deps } = harness();
    const row = await meterExchange(
      finished({
        host: SELFTEST_HOST,
        body: anthropicMessage('halton-selftest', { input_tokens: 12, output_tokens: 6 }),
        attribution: Promise.resolve({ slug: 'billing', rule: 'proxy_user', clientPid: 77, clientName: 'curl' }),
      }),
      deps,
    );
    assert.equal(row.provider, 'selftest');
    assert.equal(row.projectSlug, SELFTEST_PROJECT);
    assert.equal(row.attributionRule, 'selftest');
    assert.equal(row.clientPid, 77);
    assert.equal(row.costUsdMinorUnits, 0);
    assert.equal(row.ratesSource, 'selftest');
    assert.equal(row.inputTokens, 12);
    assert.equal(row.outputTokens, 6);
  });

  test('count_tokens is a real $0 row', async () => {
    const { deps } = harness();
    const row = await meterExchange(finished({ path: '/v1/messages/count_tokens', body: { input_tokens: 4321 } }), deps);
    assert.equal(row.requestKind, 'count_tokens');
    assert.equal(row.costUsdMinorUnits, 0);
    assert.equal(row.ratesSource, 'free');
    assert.equal(row.costReason, null);
    assert.equal(row.inputTokens, 0, 'counted tokens are not billed input');
    assert.deepEqual(JSON.parse(row.usageJson ?? 'null'), { input_tokens: 4321 });
  });

  test('count_tokens without a count is NULL cost with a reason, not $0', async () => {
    const { deps } = harness();
    const row = await meterExchange(finished({ path: '/v1/messages/count_tokens', body: { something: 'else' } }), deps);
    assert.equal(row.costUsdMinorUnits, null);
    assert.ok(row.costReason);
  });

  test('query-string secrets are not in the stored path, nor in the log', async () => {
    const { deps, logs } = harness();
    const row = await meterExchange(
      finished({ path: '/v1/messages?beta=true&key=sk-SECRET-123', body: anthropicMessage('claude-haiku-4-5', { input_tokens: 1, output_tokens: 1 }) }),
      deps,
    );
    assert.equal(row.path, '/v1/messages?beta=true');
    assert.doesNotMatch(JSON.stringify(logs), /SECRET/);
  });

  test('a pricer that throws still gives a row, with NULL cost and the reason', async () => {
    const { deps } = harness({
      price: () => {
        throw new Error('table corrupt');
      },
    });
    const row = await meterExchange(finished({ body: anthropicMessage('claude-haiku-4-5', { input_tokens: 1, output_tokens: 1 }) }), deps);
    assert.equal(row.costUsdMinorUnits, null);
    assert.equal(row.costReason, 'pricing failed: table corrupt');
  });
});

describe('requestedModel and requestStreams', () => {
  test('read the request JSON defensively', () => {
    assert.equal(requestedModel({ model: 'gpt-5' }), 'gpt-5');
    assert.equal(requestedModel({ model: '' }), null);
    assert.equal(requestedModel({ model: 42 }), null);
    assert.equal(requestedModel(null), null);
    assert.equal(requestedModel('model'), null);
    assert.equal(requestStreams({ stream: true }), true);
    assert.equal(requestStreams({ stream: 'true' }), false);
    assert.equal(requestStreams(null), false);
  });
});
