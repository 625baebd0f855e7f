// store/stats.ts against a reference computed here in plain TypeScript from the rows themselves, on
// a real SQLite file: the covering-index path (migration 2, cell by cell) and the grouped-query path
// (a file without that index) must both give exactly the reference's numbers, for every grouping,
// with and without p95, filtered by project, over periods that cut days and over all time.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { RequestRow } from '../../src/core/request-row.js';
import {
  MIGRATIONS,
  SELFTEST_PROJECT,
  STATS_GROUPS,
  appliedMigrations,
  archiveProject,
  describeSchema,
  insertRequests,
  openDb,
  statsAggregate,
  statsCells,
  type Db,
  type StatsCell,
  type StatsFilter,
  type StatsGroup,
  type StatsGroupRow,
  type StatsSummary,
  type StatsTotals,
} from '../../src/store/index.js';

const dir = mkdtempSync(join(tmpdir(), 'hm-stats-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Deterministic pseudo-random numbers (a linear congruential generator), so a failure replays.
let seed = 12345;
const rand = (n: number): number => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  // The high bits: an LCG's low bits repeat quickly.
  return Math.floor((seed / 2147483648) * n);
};

const PROJECTS = ['alpha', 'beta', 'gamma', 'old', SELFTEST_PROJECT] as const;
const MODELS: ReadonlyArray<[RequestRow['provider'], string | null]> = [
  ['anthropic', 'claude-sonnet-4-5'],
  ['anthropic', 'claude-haiku-4-5'],
  ['anthropic', null],
  ['openai', 'gpt-5'],
  ['openai', ''],
  ['gemini', 'gemini-2.5-pro'],
  ['xai', 'grok-4'],
];
const START = Date.parse('2026-08-01T00:00:00.000Z');
const SPAN = 120 * 86_400_000;

let seq = 0;
function row(o: Partial<RequestRow> = {}): RequestRow {
  seq++;
  const [provider, model] = MODELS[rand(MODELS.length)];
  const at = new Date(START + rand(SPAN)).toISOString();
  const cost = rand(10) === 0 ? null : rand(50_000);
  return {
    id: `r-${String(seq).padStart(6, '0')}`,
    projectSlug: PROJECTS[rand(PROJECTS.length)],
    provider,
    mode: 'api',
    requestKind: 'messages',
    host: 'api.example.com',
    path: '/v1/messages',
    model,
    modelRequested: null,
    statusCode: 200,
    errorClass: null,
    stream: false,
    inputTokens: rand(8) === 0 ? null : rand(5000),
    cacheReadTokens: rand(3) === 0 ? null : rand(2000),
    cacheWrite5mTokens: rand(3) === 0 ? null : rand(300),
    cacheWrite1hTokens: rand(2) === 0 ? null : rand(300),
    outputTokens: rand(8) === 0 ? null : rand(1500),
    thinkingTokens: rand(2) === 0 ? null : rand(500),
    webSearchRequests: 0,
    costUsdMinorUnits: cost,
    costReason: cost === null ? 'unknown model' : null,
    ratesSource: 'bundled',
    serviceTier: null,
    // Few distinct values, so ranks fall inside runs of equal latencies too.
    latencyMs: rand(12) === 0 ? null : 10 * rand(40) + (rand(20) === 0 ? rand(100_000) : 0),
    ttfbMs: null,
    tokensComplete: true,
    usageSource: rand(5) === 0 ? 'estimated' : 'reported',
    outcome: 'completed',
    attributionRule: 'git_root',
    clientPid: null,
    clientName: null,
    providerRequestId: null,
    usageJson: null,
    requestedAt: at,
    completedAt: at,
    ...o,
  };
}

const ROWS: RequestRow[] = [
  ...Array.from({ length: 4000 }, () => row()),
  // On the edges: a day's first and last millisecond, and the bounds of the periods below.
  ...['2026-10-01T00:00:00.000Z', '2026-10-01T23:59:59.999Z', '2026-10-02T00:00:00.000Z', '2026-10-28T12:00:00.000Z', '2026-11-27T11:59:59.999Z', '2026-11-27T12:00:00.000Z'].flatMap(
    (at) => [row({ requestedAt: at, projectSlug: 'alpha' }), row({ requestedAt: at, projectSlug: 'beta', model: null })],
  ),
  // One large cell, so the p95 selection works on thousands of values.
  ...Array.from({ length: 3000 }, () => row({ projectSlug: 'gamma', provider: 'openai', model: 'gpt-5', latencyMs: rand(100_000) })),
];

const withIndex = join(dir, 'with-index.sqlite');
const withoutIndex = join(dir, 'without-index.sqlite');
{
  const db = openDb(withIndex);
  insertRequests(db, ROWS);
  archiveProject(db, 'old');
  db.pragmaValue('wal_checkpoint(TRUNCATE)');
  db.close();
  copyFileSync(withIndex, withoutIndex);
  // A file this version migrated and then lost the index: stats falls back to the grouped query.
  const bare = openDb(withoutIndex);
  bare.exec('DROP INDEX requests_report_cells');
  bare.pragmaValue('wal_checkpoint(TRUNCATE)');
  bare.close();
}

// ---- the reference --------------------------------------------------------------------------

const ARCHIVED = new Set(['old']);

function inScope(r: RequestRow, f: StatsFilter): boolean {
  if (r.requestedAt < f.from || r.requestedAt >= f.to) return false;
  if (f.project !== undefined) return r.projectSlug === f.project;
  return !ARCHIVED.has(r.projectSlug) && (f.includeSelftest === true || r.projectSlug !== SELFTEST_PROJECT);
}

const zero = (): StatsTotals => ({
  requests: 0,
  inputTokens: 0,
  outputTokens: 0,
  thinkingTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  costMinor: 0,
  estimatedCostMinor: 0,
  unknownCostRequests: 0,
});

function add(t: StatsTotals, r: RequestRow): void {
  t.requests++;
  t.inputTokens += r.inputTokens ?? 0;
  t.outputTokens += r.outputTokens ?? 0;
  t.thinkingTokens += r.thinkingTokens ?? 0;
  t.cacheReadTokens += r.cacheReadTokens ?? 0;
  t.cacheWriteTokens += (r.cacheWrite5mTokens ?? 0) + (r.cacheWrite1hTokens ?? 0);
  t.costMinor += r.costUsdMinorUnits ?? 0;
  if (r.usageSource === 'estimated') t.estimatedCostMinor += r.costUsdMinorUnits ?? 0;
  if (r.costUsdMinorUnits === null) t.unknownCostRequests++;
}

function keyOf(by: StatsGroup, r: RequestRow): { key: string; provider: string | null } {
  switch (by) {
    case 'project':
      return { key: r.projectSlug, provider: null };
    case 'model':
      return { key: r.model ?? '(none)', provider: r.provider };
    case 'provider':
      return { key: r.provider, provider: null };
    case 'day':
      return { key: r.requestedAt.slice(0, 10), provider: null };
  }
}

function referenceSummary(f: StatsFilter): StatsSummary {
  const rows = ROWS.filter((r) => inScope(r, f));
  const t = zero();
  for (const r of rows) add(t, r);
  return {
    ...t,
    projects: new Set(rows.map((r) => r.projectSlug)).size,
    models: new Set(rows.filter((r) => r.model !== null).map((r) => `${r.provider}/${r.model}`)).size,
    lastRequestAt: rows.reduce<string | null>((m, r) => (m === null || r.requestedAt > m ? r.requestedAt : m), null),
  };
}

function referenceGroups(f: StatsFilter, by: StatsGroup, p95: boolean): StatsGroupRow[] {
  const groups = new Map<string, { key: string; provider: string | null; t: StatsTotals; lats: number[] }>();
  for (const r of ROWS.filter((x) => inScope(x, f))) {
    const k = keyOf(by, r);
    const id = `${k.key}\u0000${k.provider ?? ''}`;
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { ...k, t: zero(), lats: [] }));
    add(g.t, r);
    if (r.latencyMs !== null) g.lats.push(r.latencyMs);
  }
  return [...groups.values()].map((g) => {
    const sorted = [...g.lats].sort((a, b) => a - b);
    return {
      ...g.t,
      key: g.key,
      provider: g.provider,
      avgLatencyMs: sorted.length === 0 ? null : sorted.reduce((s, x) => s + x, 0) / sorted.length,
      p95LatencyMs: !p95 || sorted.length === 0 ? null : sorted[Math.ceil(sorted.length * 0.95) - 1],
    };
  });
}

function referenceCells(db: Db, f: StatsFilter): StatsCell[] {
  const ids = new Map(db.prepare<{ id: number; slug: string }>('SELECT id, slug FROM projects').all().map((p) => [p.slug, p.id]));
  const cells = new Map<string, StatsCell>();
  for (const r of ROWS.filter((x) => inScope(x, f))) {
    const day = r.requestedAt.slice(0, 10);
    const id = JSON.stringify([r.projectSlug, r.provider, r.model, day]);
    let c = cells.get(id);
    if (!c) cells.set(id, (c = { ...zero(), project: r.projectSlug, provider: r.provider, model: r.model, day }));
    add(c, r);
  }
  // SQL's order: project id, then provider, model (NULL first) and day as binary text.
  const cmp = (a: string | null, b: string | null): number => (a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1);
  return [...cells.values()].sort(
    (a, b) => (ids.get(a.project) ?? 0) - (ids.get(b.project) ?? 0) || cmp(a.provider, b.provider) || cmp(a.model, b.model) || cmp(a.day, b.day),
  );
}

// ---- the comparisons ------------------------------------------------------------------------

const byId = (g: StatsGroupRow): string => `${g.key}\u0000${g.provider ?? ''}`;
const sortGroups = (gs: StatsGroupRow[]): StatsGroupRow[] => [...gs].sort((a, b) => (byId(a) < byId(b) ? -1 : byId(a) > byId(b) ? 1 : 0));

const FILTERS: ReadonlyArray<[string, StatsFilter]> = [
  ['30 days, not day-aligned', { from: '2026-10-28T12:00:00.000Z', to: '2026-11-27T12:00:00.000Z' }],
  ['the 30 days before', { from: '2026-09-28T12:00:00.000Z', to: '2026-10-28T12:00:00.000Z' }],
  ['whole days', { from: '2026-10-01T00:00:00.000Z', to: '2026-10-03T00:00:00.000Z' }],
  ['all time, as the API asks', { from: '0000-01-01T00:00:00.000Z', to: '2027-01-01T00:00:00.000Z' }],
  ['one project (archived)', { from: '2026-08-01T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z', project: 'old' }],
  ['self-test included', { from: '2026-09-01T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z', includeSelftest: true }],
  ['an empty period', { from: '2020-01-01T00:00:00.000Z', to: '2020-02-01T00:00:00.000Z' }],
  ['an unknown project', { from: '0000-01-01T00:00:00.000Z', to: '2027-01-01T00:00:00.000Z', project: 'nope' }],
];

function withDb<T>(path: string, fn: (db: Db) => T): T {
  const db = openDb(path, { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

describe('stats: the same numbers as the rows say, with and without the covering index', () => {
  test('the fixture: one file has the index, the other does not, both at the latest migration', () => {
    const indexes = (p: string): string[] => withDb(p, (db) => describeSchema(db).filter((o) => o.type === 'index').map((o) => o.name));
    assert.ok(indexes(withIndex).includes('requests_report_cells'));
    assert.ok(!indexes(withoutIndex).includes('requests_report_cells'));
    assert.deepEqual(
      withDb(withoutIndex, (db) => appliedMigrations(db).map((m) => m.id)),
      MIGRATIONS.map((m) => m.id),
    );
  });

  for (const [path, label] of [
    [withIndex, 'covering index'],
    [withoutIndex, 'grouped query'],
  ] as const) {
    for (const [name, f] of FILTERS) {
      test(`${label}: ${name}: statsAggregate for every grouping, with and without p95`, () => {
        withDb(path, (db) => {
          for (const by of STATS_GROUPS) {
            for (const p95 of [true, false]) {
              const got = statsAggregate(db, f, by, { p95 });
              assert.deepEqual(got.summary, referenceSummary(f), `summary, by ${by}`);
              assert.deepEqual(sortGroups(got.groups), sortGroups(referenceGroups(f, by, p95)), `groups by ${by}, p95 ${p95}`);
            }
          }
        });
      });
      test(`${label}: ${name}: statsCells, in order`, () => {
        withDb(path, (db) => {
          const got = statsCells(db, f);
          assert.deepEqual(got.summary, referenceSummary(f));
          assert.deepEqual(got.cells, referenceCells(db, f));
        });
      });
    }
  }

  test('the fixture reaches every kind of row the sums treat apart', () => {
    const f = FILTERS[3][1];
    const s = referenceSummary({ ...f, includeSelftest: true });
    assert.ok(s.unknownCostRequests > 0 && s.estimatedCostMinor > 0 && s.requests > 5000);
    assert.ok(ROWS.some((r) => r.model === null) && ROWS.some((r) => r.model === '') && ROWS.some((r) => r.latencyMs === null));
    assert.ok(referenceGroups(f, 'day', true).length > 100, 'many days');
  });
});
