// Pricing: the bundled table, lookup, costOf and priceUsage. Expected costs are computed here from
// rates copied by hand out of ../shared/pricing/genai-prices/data.v2.json (commit 47df840, 2026-08-21),
// with arithmetic of the test's own, so a generator or module bug cannot agree with itself.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Usage, UsageRecord } from '../../src/core/usage.js';
import {
  costOf,
  findModel,
  listOverrideRates,
  listRates,
  loadBundledTable,
  priceUsage,
  ratesAt,
  usdToNano,
} from '../../src/pricing/index.js';
import type { OverrideRule, PriceTable } from '../../src/pricing/index.js';

const table: PriceTable = loadBundledTable();
const AUG_2026 = new Date('2026-08-15T12:00:00Z');

function usage(u: Partial<Usage>): Usage {
  return {
    inputTokens: 0,
    cacheReadTokens: 0,
    cacheWrite5mTokens: 0,
    cacheWrite1hTokens: 0,
    outputTokens: 0,
    thinkingTokens: 0,
    webSearchRequests: 0,
    ...u,
  };
}

function one(u: Partial<Usage>): UsageRecord[] {
  return [{ model: null, usage: usage(u) }];
}

/** "0.01875" -> 18750n: USD per Mtok in micro-USD (every rate in the source has <= 6 decimals). */
function micro(usdPerMtok: string): bigint {
  const [whole, frac = ''] = usdPerMtok.split('.');
  return BigInt(whole + frac.padEnd(6, '0'));
}

/**
 * Expected minor units for [tokens, USD/Mtok] pairs plus web searches at USD per 1000: sum exactly
 * in 1e-12 USD (tokens x micro-USD/Mtok), apply the discount, round half up once to 1e-5 USD.
 */
function expectMinor(parts: Array<[number, string]>, opts: { searches?: [number, string]; halfPrice?: boolean } = {}): number {
  let picoUsd = parts.reduce((sum, [tokens, rate]) => sum + BigInt(tokens) * micro(rate), 0n);
  if (opts.searches) picoUsd += BigInt(opts.searches[0]) * micro(opts.searches[1]) * 1000n;
  let num = picoUsd;
  let den = 10_000_000n; // 1e-12 USD -> 1e-5 USD
  if (opts.halfPrice) den *= 2n;
  num = num * 2n + den;
  return Number(num / (2n * den));
}

function quote(provider: string, model: string, records: UsageRecord[], at = AUG_2026, overrides: OverrideRule[] = []) {
  return priceUsage(table, overrides, provider, model, records, at);
}

describe('bundled table', () => {
  it('is pinned and dated', () => {
    assert.equal(table.version, 'bundled-2026-08-21');
    assert.match(table.source, /genai-prices commit 47df840a5ab10bbcffb8e5ac01b9899032245d1b/);
    for (const p of ['anthropic', 'openai', 'gemini', 'xai']) {
      assert.ok(table.models.some((m) => m.provider === p), p);
    }
  });

  it('stores rates as exact integers (nano-USD per Mtok)', () => {
    const flash15 = findModel(table, 'gemini', 'gemini-1.5-flash');
    assert.ok(flash15);
    assert.equal(flash15.periods[0].rates.cache_read, 18_750_000); // 0.01875
    assert.equal(usdToNano(0.075), 75_000_000);
    assert.equal(usdToNano(0.1 + 0.2), 300_000_000); // float noise past 1e-9 rounds away
    assert.equal(usdToNano(-1), null);
  });
});

describe('findModel', () => {
  const cases: Array<[string, string, string]> = [
    ['anthropic', 'claude-3-5-sonnet-20240620', 'claude-3-5-sonnet'],
    ['anthropic', 'claude-sonnet-4-5-20250929', 'claude-sonnet-4-5'],
    ['anthropic', 'claude-sonnet-4-20250514', 'claude-sonnet-4-0'],
    ['anthropic', 'Claude-Opus-4-1-20250805', 'claude-opus-4-1'],
    ['openai', 'gpt-4o-2024-08-06', 'gpt-4o'],
    ['openai', 'gpt-4o-mini', 'gpt-4o-mini'],
    ['openai', 'gpt-5-2025-08-07', 'gpt-5'],
    ['openai', 'gpt-5.6-luna-2026-08-01', 'gpt-5.6-luna'],
    ['gemini', 'gemini-2.5-flash', 'gemini-2.5-flash'],
    ['gemini', 'models/gemini-2.5-pro', 'gemini-2.5-pro'],
    ['gemini', 'gemini-2.5-flash-lite-preview-06-17', 'gemini-2.5-flash-lite'],
    ['gemini', 'gemini-3.5-flash-001', 'gemini-3.5-flash'],
    ['xai', 'grok-3-mini', 'grok-3-mini'],
    ['xai', 'grok-4.3-20260101', 'grok-4.3'],
  ];
  for (const [provider, id, expected] of cases) {
    it(`${provider} ${id} -> ${expected}`, () => {
      assert.equal(findModel(table, provider, id)?.id, expected);
    });
  }

  const nonsense: Array<[string, string]> = [
    ['anthropic', 'my-claude-sonnet-4-5'],
    ['anthropic', 'anthropic.claude-v2'],
    ['openai', 'xgpt-4o'],
    ['openai', 'gpt-4o-nonsense'],
    ['openai', 'gpt-5-turbo'],
    ['openai', 'gpt-5.6-luna-latest'],
    ['gemini', 'tuned-gemini-2.5-pro'],
    ['gemini', 'gemini-3.5-flash-x'],
    ['xai', 'grok-4.3-2026'],
    ['xai', 'grok-9'],
    ['openai', 'claude-sonnet-4-5'],
    ['anthropic', ''],
  ];
  for (const [provider, id] of nonsense) {
    it(`${provider} "${id}" is not found`, () => {
      assert.equal(findModel(table, provider, id), null);
    });
  }
});

describe('costOf', () => {
  it('prices claude-sonnet-4-5 plainly, line by line', () => {
    const m = findModel(table, 'anthropic', 'claude-sonnet-4-5');
    assert.ok(m);
    const b = costOf(usage({ inputTokens: 1234, outputTokens: 567 }), ratesAt(m, AUG_2026));
    assert.equal(b.minor, expectMinor([[1234, '3'], [567, '15']]));
    assert.deepEqual(
      b.lines.map((l) => [l.tokenClass, l.quantity, l.rateUsd, l.amountUsd]),
      [
        ['input', 1234, '3', '0.003702'],
        ['output', 567, '15', '0.008505'],
      ],
    );
    assert.equal(b.totalUsd, '0.012207');
    assert.equal(b.tierAbove, null);
  });

  it('uses the input rate for a cache class with no rate (genai-prices semantics)', () => {
    const m = findModel(table, 'openai', 'gpt-4o-search-preview');
    assert.ok(m);
    const b = costOf(usage({ inputTokens: 100, cacheReadTokens: 1000, outputTokens: 10 }), ratesAt(m, AUG_2026));
    assert.equal(b.minor, expectMinor([[1100, '2.5'], [10, '10']]));
    assert.match(b.lines[1].note ?? '', /billed at the input rate/);
  });

  it('derives missing Anthropic cache rates from the input rate', () => {
    const m = findModel(table, 'anthropic', 'claude-2.1');
    assert.ok(m);
    const r = ratesAt(m, AUG_2026);
    assert.deepEqual(r.derived, ['cache_read', 'cache_write_5m', 'cache_write_1h']);
    assert.equal(r.base.cache_read, 800_000_000); // 0.1 x 8
    assert.equal(r.base.cache_write_5m, 10_000_000_000); // 1.25 x 8
    assert.equal(r.base.cache_write_1h, 16_000_000_000); // 2 x 8
  });

  it('leaves the cost unknown when a billed class has no rate', () => {
    const m = findModel(table, 'openai', 'text-embedding-3-small');
    assert.ok(m);
    const r = ratesAt(m, AUG_2026);
    assert.equal(costOf(usage({ inputTokens: 1_000_000 }), r).minor, expectMinor([[1_000_000, '0.02']]));
    const b = costOf(usage({ inputTokens: 10, outputTokens: 5 }), r);
    assert.equal(b.minor, null);
    assert.deepEqual(b.unpriced, ['output']);
    const q = quote('openai', 'text-embedding-3-small', one({ inputTokens: 10, outputTokens: 5 }));
    assert.equal(q.costMinor, null);
    assert.equal(q.reason, 'cannot price text-embedding-3-small (bundled-2026-08-21): output: no output rate in the table');
  });
});

describe('priceUsage', () => {
  it('Anthropic 5m and 1h cache writes, cache reads and web searches', () => {
    const u = { inputTokens: 1000, cacheWrite5mTokens: 20_000, cacheWrite1hTokens: 30_000, cacheReadTokens: 100_000, outputTokens: 2000, webSearchRequests: 3 };
    const q = quote('anthropic', 'claude-sonnet-4-5-20250929', one(u));
    const expected = expectMinor(
      [
        [1000, '3'],
        [20_000, '3.75'],
        [30_000, '6'],
        [100_000, '0.3'],
        [2000, '15'],
      ],
      { searches: [3, '10'] },
    );
    assert.equal(q.costMinor, expected);
    assert.equal(q.costMinor, 34_800); // $0.318 of tokens + 3 x $0.01 of searches, worked by hand
    assert.equal(q.ratesSource, 'bundled-2026-08-21');
    assert.equal(q.priceModelId, 'claude-sonnet-4-5');
    assert.equal(q.reason, null);
    assert.equal(q.tier, null);
  });

  it('moves every class to the long-context rates only above 200k total input', () => {
    const over = { inputTokens: 50_000, cacheReadTokens: 140_000, cacheWrite5mTokens: 10_001, outputTokens: 4000 }; // 200,001
    const q = quote('anthropic', 'claude-sonnet-4-5', one(over));
    assert.equal(q.costMinor, expectMinor([[50_000, '6'], [140_000, '0.6'], [10_001, '7.5'], [4000, '22.5']]));
    assert.equal(q.tier, '>200000 input tokens');

    const at = { ...over, cacheWrite5mTokens: 10_000 }; // exactly 200,000: not above
    const base = quote('anthropic', 'claude-sonnet-4-5', one(at));
    assert.equal(base.costMinor, expectMinor([[50_000, '3'], [140_000, '0.3'], [10_000, '3.75'], [4000, '15']]));
    assert.equal(base.tier, null);

    const under = { ...over, cacheWrite5mTokens: 9_999 };
    assert.equal(quote('anthropic', 'claude-sonnet-4-5', one(under)).tier, null);
  });

  it('gemini-2.5-pro over its 200k threshold', () => {
    const u = { inputTokens: 190_000, cacheReadTokens: 20_000, outputTokens: 3000, thinkingTokens: 1200 };
    const q = quote('gemini', 'models/gemini-2.5-pro', one(u));
    assert.equal(q.costMinor, expectMinor([[190_000, '2.5'], [20_000, '0.25'], [3000, '15']]));
    assert.equal(q.priceModelId, 'gemini-2.5-pro');
    const small = quote('gemini', 'gemini-2.5-pro', one({ ...u, inputTokens: 1000 }));
    assert.equal(small.costMinor, expectMinor([[1000, '1.25'], [20_000, '0.125'], [3000, '10']]));
  });

  it('takes the price in force on the request date (claude-sonnet-5 changes on 2026-09-01)', () => {
    const u = { inputTokens: 10_000, cacheReadTokens: 5000, outputTokens: 1000 };
    const before = quote('anthropic', 'claude-sonnet-5', one(u), new Date('2026-08-31T23:59:59Z'));
    assert.equal(before.costMinor, expectMinor([[10_000, '2'], [5000, '0.2'], [1000, '10']]));
    const after = quote('anthropic', 'claude-sonnet-5', one(u), new Date('2026-09-01T00:00:00Z'));
    assert.equal(after.costMinor, expectMinor([[10_000, '3'], [5000, '0.3'], [1000, '15']]));
  });

  it('OpenAI gpt-4o and gpt-5 with cached and reasoning tokens', () => {
    // Normalised usage: inputTokens is already prompt minus cached; output includes reasoning.
    const q4o = quote('openai', 'gpt-4o-2024-08-06', one({ inputTokens: 800, cacheReadTokens: 1200, outputTokens: 500 }));
    assert.equal(q4o.costMinor, expectMinor([[800, '2.5'], [1200, '1.25'], [500, '10']]));

    const q5 = quote('openai', 'gpt-5', one({ inputTokens: 1000, cacheReadTokens: 4000, outputTokens: 3000, thinkingTokens: 2500 }));
    assert.equal(q5.costMinor, expectMinor([[1000, '1.25'], [4000, '0.125'], [3000, '10']]));
    const out = q5.lines.find((l) => l.tokenClass === 'output');
    assert.equal(out?.quantity, 3000);
    assert.match(out?.note ?? '', /2500 reasoning/);
  });

  it('halves batch traffic, and flex the same; priority is unknown, not standard', () => {
    const u = one({ inputTokens: 12_345, outputTokens: 6789 });
    const parts: Array<[number, string]> = [[12_345, '3'], [6789, '15']];
    const full = priceUsage(table, [], 'anthropic', 'claude-sonnet-4-5', u, AUG_2026);
    const batch = priceUsage(table, [], 'anthropic', 'claude-sonnet-4-5', u, AUG_2026, { batch: true });
    assert.equal(full.costMinor, expectMinor(parts));
    assert.equal(batch.costMinor, expectMinor(parts, { halfPrice: true }));
    assert.deepEqual(batch.discount, { reason: 'batch', percent: 50 });
    assert.equal(batch.subtotalUsd, full.exactUsd);
    const tierBatch = priceUsage(table, [], 'anthropic', 'claude-sonnet-4-5', u, AUG_2026, { serviceTier: 'batch', batch: true });
    assert.equal(tierBatch.costMinor, batch.costMinor); // never stacked

    const g = one({ inputTokens: 1000, outputTokens: 1000 });
    const flex = priceUsage(table, [], 'openai', 'gpt-5', g, AUG_2026, { serviceTier: 'flex' });
    assert.equal(flex.costMinor, expectMinor([[1000, '1.25'], [1000, '10']], { halfPrice: true }));
    const std = priceUsage(table, [], 'openai', 'gpt-5', g, AUG_2026, { serviceTier: 'default' });
    assert.equal(std.costMinor, expectMinor([[1000, '1.25'], [1000, '10']]));
    const prio = priceUsage(table, [], 'openai', 'gpt-5', g, AUG_2026, { serviceTier: 'priority' });
    assert.equal(prio.costMinor, null);
    assert.match(prio.reason ?? '', /priority/);
  });

  it('unknown model: null with a reason, never 0', () => {
    const q = quote('openai', 'gpt-9', one({ inputTokens: 10, outputTokens: 10 }));
    assert.equal(q.costMinor, null);
    assert.equal(q.reason, 'unknown model: gpt-9 (not in bundled-2026-08-21)');
    assert.equal(q.ratesSource, null);
    assert.equal(quote('selftest', 'x', one({ inputTokens: 1 })).costMinor, null);
    assert.equal(priceUsage(table, [], 'openai', null, one({ inputTokens: 1 }), AUG_2026).reason, 'no model reported');
    assert.equal(priceUsage(table, [], 'openai', 'gpt-4o', [], AUG_2026).costMinor, null);
  });

  it('prices an advisor record under its own model, rounding the sum once', () => {
    const records: UsageRecord[] = [
      { model: null, usage: usage({ inputTokens: 3000, outputTokens: 100 }) },
      { model: 'claude-opus-4-1-20250805', usage: usage({ inputTokens: 2000, outputTokens: 300 }) },
    ];
    const q = quote('anthropic', 'claude-sonnet-4-5', records);
    assert.equal(q.costMinor, expectMinor([[3000, '3'], [100, '15'], [2000, '15'], [300, '75']]));
    assert.equal(q.priceModelId, 'claude-sonnet-4-5');
    assert.deepEqual([...new Set(q.lines.map((l) => l.priceModelId))], ['claude-sonnet-4-5', 'claude-opus-4-1']);
  });

  it('rounds once per row, not per record', () => {
    // gpt-4o-mini input is $0.15/Mtok: one token is 0.015 minor units, 0 if each record were rounded.
    const records: UsageRecord[] = Array.from({ length: 1000 }, () => ({ model: null, usage: usage({ inputTokens: 1 }) }));
    const q = quote('openai', 'gpt-4o-mini', records);
    assert.equal(q.costMinor, 15);
    assert.equal(q.exactUsd, '0.00015');
    assert.equal(q.subtotalUsd, '0.00015');
  });
});

describe('overrides', () => {
  const overrides: OverrideRule[] = [
    { provider: 'openai', model: 'gpt-9*', input: 1, output: 2, cacheRead: null, cacheWrite5m: null, cacheWrite1h: null },
    { provider: 'openai', model: 'gpt-9-mini', input: 0.1, output: 0.4, cacheRead: 0.01, cacheWrite5m: null, cacheWrite1h: null },
    { provider: 'OpenAI', model: 'gpt-4o', input: 2, output: 8, cacheRead: 1, cacheWrite5m: null, cacheWrite1h: null },
    { provider: 'anthropic', model: 'claude-house-*', input: 4, output: 20, cacheRead: null, cacheWrite5m: null, cacheWrite1h: null },
  ];

  it('prices a model the table does not know, as "override"', () => {
    const q = quote('openai', 'gpt-9-2027-01-01', one({ inputTokens: 1000, cacheReadTokens: 500, outputTokens: 100 }), AUG_2026, overrides);
    assert.equal(q.costMinor, expectMinor([[1500, '1'], [100, '2']])); // no cache rate: input rate
    assert.equal(q.ratesSource, 'override');
  });

  it('prefers an exact rule over a glob, and beats the bundled table', () => {
    const mini = quote('openai', 'GPT-9-mini', one({ inputTokens: 1000, cacheReadTokens: 500, outputTokens: 100 }), AUG_2026, overrides);
    assert.equal(mini.costMinor, expectMinor([[1000, '0.1'], [500, '0.01'], [100, '0.4']]));
    const q = quote('openai', 'gpt-4o', one({ inputTokens: 1000, outputTokens: 1000 }), AUG_2026, overrides);
    assert.equal(q.costMinor, expectMinor([[1000, '2'], [1000, '8']]));
    assert.equal(q.ratesSource, 'override');
    assert.equal(quote('openai', 'gpt-4o-2024-08-06', one({ inputTokens: 1 }), AUG_2026, overrides).ratesSource, 'bundled-2026-08-21');
  });

  it('applies the Anthropic cache multiples to an override without cache rates', () => {
    const q = quote('anthropic', 'claude-house-1', one({ cacheReadTokens: 1000, cacheWrite1hTokens: 1000 }), AUG_2026, overrides);
    assert.equal(q.costMinor, expectMinor([[1000, '0.4'], [1000, '8']]));
  });

  it('lists overrides for display', () => {
    const rows = listOverrideRates(overrides, 'openai');
    assert.equal(rows.length, 3);
    assert.deepEqual(rows[1], {
      provider: 'openai',
      model: 'gpt-9-mini',
      input: 0.1,
      output: 0.4,
      cache_read: 0.01,
      cache_write_5m: null,
      cache_write_1h: null,
      web_search_per_1k: null,
      tiers: [],
      source: 'override',
    });
  });
});

describe('listRates', () => {
  it('shows USD per Mtok with tiers and the table version', () => {
    const rows = listRates(table, AUG_2026, 'anthropic');
    assert.ok(rows.every((r) => r.provider === 'anthropic'));
    const sonnet = rows.find((r) => r.model === 'claude-sonnet-4-5');
    assert.deepEqual(sonnet, {
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
      input: 3,
      output: 15,
      cache_read: 0.3,
      cache_write_5m: 3.75,
      cache_write_1h: 6,
      web_search_per_1k: 10,
      tiers: [{ above: 200_000, input: 6, output: 22.5, cache_read: 0.6, cache_write_5m: 7.5, cache_write_1h: 12 }],
      source: 'bundled-2026-08-21',
    });
    const later = listRates(table, new Date('2026-09-02T00:00:00Z'), 'anthropic').find((r) => r.model === 'claude-sonnet-5');
    assert.equal(later?.input, 3);
    assert.ok(listRates(table, AUG_2026).length > rows.length);
  });
});
