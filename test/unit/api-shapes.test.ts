// The API's pure pieces: query parsing (periods, limits, cursors), cache hit rate, CSV cells.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cacheHitRate, decodeCursor, encodeCursor, monthBounds, pageLimit, projectJson, statsPeriod } from '../../src/core/api-shapes.js';
import { csvCell, csvLine } from '../../src/core/csv.js';
import { MeterError } from '../../src/core/errors.js';

const NOW = new Date('2026-11-27T12:00:00.000Z');

describe('statsPeriod', () => {
  test('days are UTC, until is inclusive; a duration counts back from now; none is all time', () => {
    assert.deepEqual(statsPeriod('2026-11-01', '2026-11-02', NOW), { from: '2026-11-01T00:00:00.000Z', to: '2026-11-03T00:00:00.000Z' });
    assert.deepEqual(statsPeriod('7d', null, NOW), { from: '2026-11-20T12:00:00.000Z', to: NOW.toISOString() });
    assert.deepEqual(statsPeriod(null, null, NOW), { from: '0000-01-01T00:00:00.000Z', to: NOW.toISOString() });
    assert.equal(statsPeriod(null, '2026-11-02', NOW).to, '2026-11-03T00:00:00.000Z');
  });
  test('bad input names the query parameter, not a CLI flag', () => {
    assert.throws(() => statsPeriod('2026-02-30', null, NOW), (e: unknown) => e instanceof MeterError && /^since "2026-02-30"/.test(e.message));
    assert.throws(() => statsPeriod('7d', '2026-11-02', NOW), /cannot be combined with until/);
    assert.throws(() => statsPeriod('2026-11-05', '2026-11-01', NOW), /until is not after since/);
  });
});

test('pageLimit: default 50, 1..500 only', () => {
  assert.equal(pageLimit(null), 50);
  assert.equal(pageLimit('500'), 500);
  for (const bad of ['0', '501', '1.5', 'x', '-1']) assert.throws(() => pageLimit(bad), MeterError, bad);
});

test('cursors round-trip; anything else is refused', () => {
  const c = { requestedAt: '2026-11-27T10:00:00.000Z', id: 'a,b"c' };
  assert.deepEqual(decodeCursor(encodeCursor(c)), c);
  assert.equal(decodeCursor(null), undefined);
  for (const bad of ['%%%', Buffer.from('[1,2]').toString('base64url'), Buffer.from('"x"').toString('base64url')]) {
    assert.throws(() => decodeCursor(bad), MeterError, bad);
  }
});

test('cache hit rate: cache reads over every prompt token; null with none', () => {
  assert.equal(cacheHitRate({ inputTokens: 100, cacheReadTokens: 300, cacheWriteTokens: 100 }), 0.6);
  assert.equal(cacheHitRate({ inputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 }), null);
});

test('month bounds across a year end', () => {
  assert.deepEqual(monthBounds(new Date('2026-01-15T00:00:00Z')), { monthStart: '2026-01-01T00:00:00.000Z', previousMonthStart: '2025-12-01T00:00:00.000Z' });
});

test('projectJson: primary by requests, top by cost, ties by name, null when nothing', () => {
  const base = { id: 1, slug: 's', name: 's', createdAt: 'c', archivedAt: null };
  const m = (model: string | null, requests: number, costMinor: number) => ({ provider: 'openai', model, requests, costMinor, monthRequests: 0, monthCostMinor: 0, previousMonthCostMinor: 0, lastRequestAt: null });
  const p = projectJson({ ...base, models: [m('b', 5, 10), m('a', 5, 100), m(null, 50, 0)] });
  assert.equal(p.stats.primary_model, 'a');
  assert.equal(p.stats.top_model, 'a');
  assert.equal(p.stats.all_time_requests, 60);
  const empty = projectJson({ ...base, models: [] });
  assert.equal(empty.stats.primary_model, null);
  assert.equal(empty.stats.top_provider, null);
});

test('CSV cells: quoting, empty for null, no formulas from model names', () => {
  assert.equal(csvLine(['a,b', 'say "hi"', null, 3, true]), '"a,b","say ""hi""",,3,true');
  assert.equal(csvCell('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
  assert.equal(csvCell('@sum'), "'@sum");
  assert.equal(csvCell(-5), '-5');
});
