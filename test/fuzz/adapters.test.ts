// Fuzzes every adapter's parse (src/adapters/index.ts lists them) on exchanges built from the wire
// fixtures, mutated: byte flips, cuts, splices of two captures, dropped and repeated lines, huge,
// negative and NaN-ish counts, deep nesting, invalid UTF-8, and shapes meant for another adapter.
// Each exchange then goes on through the meter (src/daemon/meter.ts) the way the daemon sends it, up
// to the row handed to the writer.
//
// Properties: parse never needs its guard (an exception caught by defineAdapter is a parser bug);
// token counts are non-negative safe integers or null, and the usage is the sum of the records;
// tokens are complete only with usage and no reason; an event stream cut into different chunks
// gives the same result; an event stream handed over as text (`pricing explain`) parses as the
// split events do; the meter turns every result into exactly one row without throwing.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { ADAPTERS, adapterById, type AdapterId } from '../../src/adapters/index.js';
import { SseSplitter } from '../../src/adapters/sse.js';
import type { Exchange, Outcome, SseEvent } from '../../src/core/exchange.js';
import type { LogFields, Logger, LogLevel } from '../../src/core/log.js';
import type { ParsedUsage } from '../../src/core/parsed.js';
import type { RequestRow } from '../../src/core/request-row.js';
import type { Usage } from '../../src/core/usage.js';
import { meterExchange } from '../../src/daemon/meter.js';
import { assertSameJson, fuzzConfig, isCount, mutate, randomCuts, runTarget, splitAt, wireSeeds, type FuzzTarget, type Rng, type WireSeed } from '../helpers/fuzz.js';
import { fixtureAdapter } from '../helpers/fixtures.js';

interface AdapterOptions {
  adapter: AdapterId;
  host: string;
  method: string;
  path: string;
  requestJson: unknown;
  status: number;
  headers: Record<string, string>;
  /** How the observer handed the body over: split SSE events, or text. */
  delivery: 'events' | 'text';
  /** The splitter's cap for `events` (null = unlimited). */
  cap: number | null;
  cuts: number[];
  /** A second chunking of the same bytes: the result must not change. */
  otherCuts: number[];
  outcome: Outcome;
  truncated: boolean;
}


/** Where each adapter is called, for inputs that come from another adapter's captures. */
const ENDPOINTS: Record<AdapterId, ReadonlyArray<readonly [string, string, string]>> = {
  anthropic: [
    ['api.anthropic.com', 'POST', '/v1/messages'],
    ['api.anthropic.com', 'POST', '/v1/messages?beta=true'],
    ['api.anthropic.com', 'POST', '/v1/messages/count_tokens'],
  ],
  'openai-chat': [['api.openai.com', 'POST', '/v1/chat/completions']],
  'openai-responses': [['api.openai.com', 'POST', '/v1/responses']],
  'openai-embeddings': [['api.openai.com', 'POST', '/v1/embeddings']],
  'openai-completions': [['api.openai.com', 'POST', '/v1/completions']],
  'anthropic-batch-results': [['api.anthropic.com', 'GET', '/v1/messages/batches/msgbatch_01fuzz/results']],
  codex: [['chatgpt.com', 'POST', '/backend-api/codex/responses']],
  gemini: [
    ['generativelanguage.googleapis.com', 'POST', '/v1beta/models/gemini-2.5-flash:generateContent'],
    ['generativelanguage.googleapis.com', 'POST', '/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse'],
    ['generativelanguage.googleapis.com', 'POST', '/v1beta/models/gemini-2.5-pro%3AstreamGenerateContent'],
    ['generativelanguage.googleapis.com', 'POST', '/v1beta/models/text-embedding-004:embedContent'],
    ['generativelanguage.googleapis.com', 'POST', '/v1beta/models/gemini-embedding-001:batchEmbedContents'],
    ['generativelanguage.googleapis.com', 'POST', '/v1beta/models/gemini-2.5-flash:countTokens'],
  ],
  'gemini-code-assist': [
    ['cloudcode-pa.googleapis.com', 'POST', '/v1internal:streamGenerateContent?alt=sse'],
    ['cloudcode-pa.googleapis.com', 'POST', '/v1internal:generateContent'],
  ],
  'xai-chat': [['api.x.ai', 'POST', '/v1/chat/completions']],
  'xai-responses': [['api.x.ai', 'POST', '/v1/responses']],
  'xai-messages': [['api.x.ai', 'POST', '/v1/messages']],
};

const STATUSES = [0, 100, 199, 201, 204, 206, 299, 300, 400, 401, 404, 413, 429, 500, 503, 529, 999];
const REQUESTS: unknown[] = [null, {}, [], 'x', 5, { model: 5 }, { model: '' }, { stream: true, stream_options: { include_usage: true } }, { model: 'models/' }];
const CONTENT_TYPES = ['text/event-stream', 'text/event-stream; charset=utf-8', 'application/json', 'application/x-ndjson', ''];

const seeds = wireSeeds();
const bodies = seeds.map((s) => s.compact);
const byAdapter = new Map<AdapterId, WireSeed[]>();
for (const s of seeds) {
  const id = fixtureAdapter(s.meta);
  if (id !== null) byAdapter.set(id, [...(byAdapter.get(id) ?? []), s]);
}

function pickSeed(rng: Rng, adapter: AdapterId): { seed: WireSeed; natural: boolean } {
  const own = byAdapter.get(adapter) ?? [];
  if (own.length > 0 && rng.chance(0.7)) return { seed: rng.pick(own), natural: true };
  const seed = rng.pick(seeds);
  return { seed, natural: fixtureAdapter(seed.meta) === adapter };
}

function splitEvents(input: Buffer, cap: number | null, cuts: readonly number[]): { events: SseEvent[]; truncated: boolean } {
  const s = new SseSplitter(cap ?? Number.POSITIVE_INFINITY);
  for (const c of splitAt(input, cuts)) s.feed(c);
  s.end();
  return { events: s.events, truncated: s.truncated };
}

function exchangeOf(input: Buffer, o: AdapterOptions, cuts: readonly number[]): Exchange {
  let events: SseEvent[] | null = null;
  let bodyText: string | null = null;
  let truncated = o.truncated;
  if (o.delivery === 'events') {
    const split = splitEvents(input, o.cap, cuts);
    events = split.events;
    truncated ||= split.truncated;
  } else {
    bodyText = input.toString('utf8');
  }
  return {
    host: o.host,
    method: o.method,
    path: o.path,
    requestJson: o.requestJson,
    response: { status: o.status, headers: o.headers, bodyText, events, truncated, outcome: o.outcome },
  };
}

const USAGE_FIELDS: ReadonlyArray<keyof Usage> = [
  'inputTokens',
  'cacheReadTokens',
  'cacheWrite5mTokens',
  'cacheWrite1hTokens',
  'outputTokens',
  'thinkingTokens',
  'webSearchRequests',
];

function checkParsed(id: AdapterId, p: ParsedUsage): void {
  assert.ok(!(p.reason ?? '').startsWith(`adapter ${id} failed:`), `parse threw (caught by its guard): ${p.reason}`);
  if (p.usage === null) {
    assert.equal(p.records.length, 0, 'records without usage');
    assert.equal(p.usageSource, 'none');
    assert.equal(p.tokensComplete, false, 'tokens complete without usage');
    return;
  }
  assert.equal(p.usageSource, 'reported');
  for (const f of USAGE_FIELDS) {
    assert.ok(isCount(p.usage[f]), `usage.${f} = ${p.usage[f]} is not a non-negative safe integer`);
    let sum = 0;
    for (const r of p.records) {
      assert.ok(isCount(r.usage[f]), `record usage.${f} = ${r.usage[f]} is not a non-negative safe integer`);
      sum += r.usage[f];
    }
    assert.equal(p.usage[f], sum, `usage.${f} is not the sum of its records`);
  }
  if (p.tokensComplete) assert.equal(p.reason, null, 'tokens complete with a reason');
}

function quietLog(): Logger {
  const log = (_l: LogLevel, _e: string, _f?: LogFields): void => undefined;
  return { log, info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined, close: async () => undefined };
}

const LOG = quietLog();
const UNRESOLVED = Promise.resolve({ slug: 'fuzz', rule: 'unresolved' as const, clientPid: null, clientName: null });

/** The rest of the cold path: the meter must make one row of whatever the adapter returned. */
async function checkMeter(exchange: Exchange, o: AdapterOptions, parsed: ParsedUsage): Promise<void> {
  const rows: RequestRow[] = [];
  const row = await meterExchange(
    {
      exchange,
      metered: { host: o.host, provider: adapterById(o.adapter).provider, mode: 'api' },
      adapter: adapterById(o.adapter),
      // What the daemon would have matched; a mutated path that no longer matches still gets a row.
      kind: adapterById(o.adapter).matches(o.host, o.method, o.path) ?? 'chat',
      outcome: o.outcome,
      failure: o.outcome === 'completed' ? null : 'client_aborted',
      stream: o.delivery === 'events',
      requestedAt: new Date(0),
      latencyMs: 1,
      ttfbMs: 1,
      attribution: UNRESOLVED,
      undecodable: null,
    },
    {
      price: () => ({ costMinor: null, ratesSource: null, reason: 'not priced in the fuzz run' }),
      enqueue: (r) => void rows.push(r),
      log: LOG,
      attributionTimeoutMs: 50,
      defaultProject: 'fuzz',
    },
  );
  assert.equal(rows.length, 1, 'the meter queued one row');
  assert.equal(rows[0], row);
  const u = parsed.usage;
  const columns = [row.inputTokens, row.cacheReadTokens, row.cacheWrite5mTokens, row.cacheWrite1hTokens, row.outputTokens, row.thinkingTokens, row.webSearchRequests];
  for (const v of columns) assert.ok(u === null ? v === null : isCount(v), `token column ${v}`);
  assert.ok(row.usageJson === null || typeof row.usageJson === 'string');
}

/** Adapters that read an event stream at all (the other two read only the body text). */
const READS_EVENTS: ReadonlySet<AdapterId> = new Set(ADAPTERS.map((a) => a.id).filter((id) => id !== 'anthropic-batch-results' && id !== 'openai-embeddings'));

const reached = { usage: 0, complete: 0, none: 0, rechunked: 0, asText: 0 };

const target: FuzzTarget<AdapterOptions> = {
  name: 'adapters',
  stats: () =>
    `${reached.usage} with usage (${reached.complete} complete), ${reached.none} without, ${reached.rechunked} re-chunked, ${reached.asText} streams re-read as text; every result metered into one row`,
  generate(rng, index) {
    const adapter = ADAPTERS[index % ADAPTERS.length].id;
    const { seed, natural } = pickSeed(rng, adapter);
    const ops = [adapter, seed.id];
    let input: Buffer;
    if (rng.chance(0.05)) {
      // A rare whole capture keeps real sizes (long streams, big bodies) in the run.
      input = rng.chance(0.1) ? seed.body : seed.compact;
      ops.push('unmutated');
    } else {
      const m = mutate(rng, seed.compact, { corpus: bodies });
      input = m.bytes;
      ops.push(...m.ops);
    }
    const endpoint = rng.pick(ENDPOINTS[adapter]);
    let [host, method, path] = natural && rng.chance(0.8) ? [seed.exchange.host, seed.exchange.method, seed.exchange.path] : endpoint;
    if (rng.chance(0.03)) path = path.slice(0, rng.int(path.length + 1)) + rng.pick(['/', '%3a', ':', '?', '#', 'x', '%']);
    if (rng.chance(0.02)) method = rng.pick(['GET', 'post', 'PUT']);
    const headers: Record<string, string> = { ...seed.exchange.response.headers };
    if (rng.chance(0.15)) headers['content-type'] = rng.pick(CONTENT_TYPES);
    if (rng.chance(0.05)) headers[rng.pick(['request-id', 'x-request-id'])] = rng.pick(['', 'req_1', '\u0000']);
    const sse = seed.sse || headers['content-type']?.includes('event-stream') === true;
    const delivery = (sse ? rng.chance(0.8) : rng.chance(0.1)) ? 'events' : 'text';
    return {
      input,
      ops,
      options: {
        adapter,
        host,
        method,
        path,
        requestJson: rng.chance(0.9) ? seed.exchange.requestJson : rng.pick(REQUESTS),
        status: rng.chance(0.85) ? seed.exchange.response.status : rng.pick(STATUSES),
        headers,
        delivery,
        cap: rng.chance(0.85) ? null : rng.skewed(4096),
        cuts: delivery === 'events' || sse ? randomCuts(rng, input.length, input) : [],
        otherCuts: delivery === 'events' ? randomCuts(rng, input.length, input) : [],
        outcome: rng.chance(0.85) ? 'completed' : rng.pick(['aborted', 'failed'] as const),
        truncated: rng.chance(0.05),
      },
    };
  },
  async check({ input, options }) {
    const adapter = adapterById(options.adapter);
    const exchange = exchangeOf(input, options, options.cuts);
    const parsed = adapter.parse(exchange);
    checkParsed(options.adapter, parsed);
    if (parsed.usage === null) reached.none++;
    else reached.usage++;
    if (parsed.tokensComplete) reached.complete++;
    if (options.delivery === 'events') {
      assertSameJson(adapter.parse(exchangeOf(input, options, options.otherCuts)), parsed, 'results of two chunkings');
      reached.rechunked++;
    } else if (options.cap === null && options.status >= 200 && options.status < 300 && READS_EVENTS.has(options.adapter) && (options.headers['content-type'] ?? '').includes('text/event-stream')) {
      // The same stream as text (`pricing explain`, a missed content type) must read as the events
      // do. Not for error statuses: their body is read from the text alone.
      assertSameJson(parsed, adapter.parse(exchangeOf(input, { ...options, delivery: 'events' }, options.cuts)), 'text and split-event results');
      reached.asText++;
    }
    await checkMeter(exchange, options, parsed);
  },
};

test('fuzz: every adapter parse, then the meter', async (t) => {
  await runTarget(t, target, fuzzConfig('adapters', 120_000));
});
