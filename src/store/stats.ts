// Aggregates over `requests` (STYLE §12): the one place report, the local API and the dashboard get
// their sums from. Every query is parameterised; the grouping expressions come from a fixed table,
// never from user text. The time filter is a half-open range on requested_at (ISO-8601 UTC text,
// so text order is time order).
import type { Db } from './db.js';

/** The project the self-test writes to: left out of aggregates unless asked for. */
export const SELFTEST_PROJECT = 'halton-meter:selftest';

export const STATS_GROUPS = ['project', 'model', 'provider', 'day'] as const;
export type StatsGroup = (typeof STATS_GROUPS)[number];

export interface StatsFilter {
  /** Inclusive lower bound, ISO-8601 UTC. */
  from: string;
  /** Exclusive upper bound, ISO-8601 UTC. */
  to: string;
  /** Only this project (by slug); archived and self-test projects are included when named. */
  project?: string;
  /** Include the self-test project when no project is named. */
  includeSelftest?: boolean;
}

export interface StatsTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  thinkingTokens: number;
  cacheReadTokens: number;
  /** 5m and 1h cache writes together. */
  cacheWriteTokens: number;
  /** Every known cost, estimated rows included. */
  costMinor: number;
  /** The part of costMinor from rows whose usage was estimated (usage_source = estimated). */
  estimatedCostMinor: number;
  /** Rows with no cost (unknown model, no usage, ...): never counted as $0. */
  unknownCostRequests: number;
}

export interface StatsSummary extends StatsTotals {
  projects: number;
  /** Distinct (provider, model) pairs. */
  models: number;
  lastRequestAt: string | null;
}

export interface StatsGroupRow extends StatsTotals {
  /** Project slug, model id ('(none)' when unknown), provider id or day YYYY-MM-DD. */
  key: string;
  /** The model's provider when grouped by model; null otherwise. */
  provider: string | null;
  avgLatencyMs: number | null;
  /** Nearest-rank p95 of latency_ms over the rows that have one. */
  p95LatencyMs: number | null;
}

export interface GroupOptions {
  /** Compute p95 latency (a window sort over the period's rows); default true. */
  p95?: boolean;
}

const TOTALS_SQL = `COUNT(*) AS requests,
  COALESCE(SUM(r.input_tokens), 0) AS input_tokens,
  COALESCE(SUM(r.output_tokens), 0) AS output_tokens,
  COALESCE(SUM(r.thinking_tokens), 0) AS thinking_tokens,
  COALESCE(SUM(r.cache_read_tokens), 0) AS cache_read_tokens,
  COALESCE(SUM(COALESCE(r.cache_write_5m_tokens, 0) + COALESCE(r.cache_write_1h_tokens, 0)), 0) AS cache_write_tokens,
  COALESCE(SUM(r.cost_usd_minor_units), 0) AS cost,
  COALESCE(SUM(CASE WHEN r.usage_source = 'estimated' THEN r.cost_usd_minor_units END), 0) AS estimated_cost,
  COALESCE(SUM(r.cost_usd_minor_units IS NULL), 0) AS unknown_cost`;

interface TotalsDbRow {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  thinking_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost: number;
  estimated_cost: number;
  unknown_cost: number;
}

function totalsOf(r: TotalsDbRow): StatsTotals {
  return {
    requests: r.requests,
    inputTokens: r.input_tokens,
    outputTokens: r.output_tokens,
    thinkingTokens: r.thinking_tokens,
    cacheReadTokens: r.cache_read_tokens,
    cacheWriteTokens: r.cache_write_tokens,
    costMinor: r.cost,
    estimatedCostMinor: r.estimated_cost,
    unknownCostRequests: r.unknown_cost,
  };
}

export interface StatsAggregate {
  summary: StatsSummary;
  groups: StatsGroupRow[];
}

// Speed (issue 5, must-show 5: a 30-day report over 1,000,000 rows under a second): SQLite
// aggregates by sorting, so every GROUP BY over the period costs a sort of its rows. The whole
// report is therefore one grouped pass into small "cells" (project × provider × model, × day when
// grouping by day), from which the summary and the groups are summed here, plus one narrow pass
// for the p95 (a latency histogram per group, ranked here); the previous period needs no p95. The project filter is resolved first into a
// list of ids, so the pass reads no other table.

interface CellDbRow extends TotalsDbRow {
  project_id: number;
  provider: string;
  model: string | null;
  day: string | null;
  lat_sum: number | null;
  lat_n: number;
  last: string | null;
}

interface Scope {
  /** JSON array of the project ids in scope (json_each keeps the statement text fixed). */
  ids: string;
  slugs: Map<number, string>;
  /** Read the table in full instead of through the requested_at index (see chooseScan). */
  fullScan: boolean;
}

function scopeOf(db: Db, f: StatsFilter): Scope | null {
  let rows: Array<{ id: number; slug: string }>;
  if (f.project !== undefined) {
    rows = db.prepare<{ id: number; slug: string }>('SELECT id, slug FROM projects WHERE slug = ?').all(f.project);
  } else {
    rows = db
      .prepare<{ id: number; slug: string }>('SELECT id, slug FROM projects WHERE archived_at IS NULL AND (? OR slug <> ?)')
      .all(f.includeSelftest ? 1 : 0, SELFTEST_PROJECT);
  }
  if (rows.length === 0) return null;
  return { ids: JSON.stringify(rows.map((r) => r.id)), slugs: new Map(rows.map((r) => [r.id, r.slug])), fullScan: chooseScan(db, f) };
}

// Through the index, each row costs a b-tree lookup into the table; a plain scan reads pages in
// order. The index wins for a short period, the scan once the period holds a large part of the
// table (measured: ~25% faster at half the table). Counting the period reads only the index.
function chooseScan(db: Db, f: StatsFilter): boolean {
  const total = db.prepare<{ n: number | null }>('SELECT MAX(rowid) AS n FROM requests').get()?.n ?? 0;
  if (total < 50_000) return false;
  const inPeriod = db.prepare<{ n: number }>('SELECT COUNT(*) AS n FROM requests WHERE requested_at >= ? AND requested_at < ?').get(f.from, f.to)?.n ?? 0;
  return inPeriod > total / 4;
}

function rangeSql(scope: Scope): string {
  return `FROM requests r${scope.fullScan ? ' NOT INDEXED' : ''}
    WHERE r.requested_at >= @from AND r.requested_at < @to AND r.project_id IN (SELECT value FROM json_each(@ids))`;
}

const EMPTY_TOTALS = (): StatsTotals => ({
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

function addTotals(into: StatsTotals, t: StatsTotals): void {
  into.requests += t.requests;
  into.inputTokens += t.inputTokens;
  into.outputTokens += t.outputTokens;
  into.thinkingTokens += t.thinkingTokens;
  into.cacheReadTokens += t.cacheReadTokens;
  into.cacheWriteTokens += t.cacheWriteTokens;
  into.costMinor += t.costMinor;
  into.estimatedCostMinor += t.estimatedCostMinor;
  into.unknownCostRequests += t.unknownCostRequests;
}

function keyOf(by: StatsGroup, c: CellDbRow, slugs: Map<number, string>): { key: string; provider: string | null } {
  switch (by) {
    case 'project':
      return { key: slugs.get(c.project_id) ?? String(c.project_id), provider: null };
    case 'model':
      return { key: c.model ?? '(none)', provider: c.provider };
    case 'provider':
      return { key: c.provider, provider: null };
    case 'day':
      return { key: c.day ?? '', provider: null };
  }
}

function cellRows(db: Db, scope: Scope, params: Record<string, string>, byDay: boolean): CellDbRow[] {
  // Latency is not part of the cell key: measured on 1M rows, cells × distinct latencies came back
  // as ~200k rows, slower than the second, narrow pass for the histogram.
  return db
    .prepare<CellDbRow>(
      `SELECT r.project_id AS project_id, r.provider AS provider, r.model AS model,
         ${byDay ? 'substr(r.requested_at, 1, 10)' : 'NULL'} AS day,
         ${TOTALS_SQL},
         SUM(r.latency_ms) AS lat_sum, COUNT(r.latency_ms) AS lat_n, MAX(r.requested_at) AS last
       ${rangeSql(scope)} GROUP BY 1, 2, 3, 4`,
    )
    .all(params);
}

/** Adds a cell to the summary; projects and models collect the distinct ones seen. */
function addToSummary(summary: StatsSummary, c: CellDbRow, t: StatsTotals, projects: Set<number>, models: Set<string>): void {
  addTotals(summary, t);
  projects.add(c.project_id);
  // As COUNT(DISTINCT provider || '/' || model): a row without a model is no model.
  if (c.model !== null) models.add(`${c.provider}/${c.model}`);
  if (c.last !== null && (summary.lastRequestAt === null || c.last > summary.lastRequestAt)) summary.lastRequestAt = c.last;
}

const emptySummary = (): StatsSummary => ({ ...EMPTY_TOTALS(), projects: 0, models: 0, lastRequestAt: null });

/** The summary and one row per group (unordered: ordering is core/report.ts's job). */
export function statsAggregate(db: Db, f: StatsFilter, by: StatsGroup, opts: GroupOptions = {}): StatsAggregate {
  const scope = scopeOf(db, f);
  const summary = emptySummary();
  if (scope === null) return { summary, groups: [] };
  const params = { from: f.from, to: f.to, ids: scope.ids };
  const cells = cellRows(db, scope, params, by === 'day');
  const projects = new Set<number>();
  const models = new Set<string>();
  const groups = new Map<string, StatsGroupRow & { latSum: number; latN: number }>();
  for (const c of cells) {
    const t = totalsOf(c);
    addToSummary(summary, c, t, projects, models);
    const k = keyOf(by, c, scope.slugs);
    const id = groupId(k.key, k.provider);
    let g = groups.get(id);
    if (!g) {
      g = { ...EMPTY_TOTALS(), key: k.key, provider: k.provider, avgLatencyMs: null, p95LatencyMs: null, latSum: 0, latN: 0 };
      groups.set(id, g);
    }
    addTotals(g, t);
    g.latSum += c.lat_sum ?? 0;
    g.latN += c.lat_n;
  }
  summary.projects = projects.size;
  summary.models = models.size;
  const p95 = opts.p95 === false ? new Map<string, number>() : rankP95(histograms(db, by, scope, params));
  return {
    summary,
    groups: [...groups.entries()].map(([id, g]) => {
      const { latSum, latN, ...row } = g;
      return { ...row, avgLatencyMs: latN === 0 ? null : latSum / latN, p95LatencyMs: p95.get(id) ?? null };
    }),
  };
}

/** One day's sums for one project, provider and model: what the API's breakdowns are folded from. */
export interface StatsCell extends StatsTotals {
  project: string;
  provider: string;
  model: string | null;
  /** YYYY-MM-DD (UTC). */
  day: string;
}

/** The summary and the period's cells (project × provider × model × day), in one pass. */
export function statsCells(db: Db, f: StatsFilter): { summary: StatsSummary; cells: StatsCell[] } {
  const scope = scopeOf(db, f);
  const summary = emptySummary();
  if (scope === null) return { summary, cells: [] };
  const projects = new Set<number>();
  const models = new Set<string>();
  const cells = cellRows(db, scope, { from: f.from, to: f.to, ids: scope.ids }, true).map((c): StatsCell => {
    const t = totalsOf(c);
    addToSummary(summary, c, t, projects, models);
    return { ...t, project: scope.slugs.get(c.project_id) ?? String(c.project_id), provider: c.provider, model: c.model, day: c.day ?? '' };
  });
  summary.projects = projects.size;
  summary.models = models.size;
  return { summary, cells };
}

export function statsSummary(db: Db, f: StatsFilter): StatsSummary {
  return statsAggregate(db, f, 'provider', { p95: false }).summary;
}

export function statsGroups(db: Db, f: StatsFilter, by: StatsGroup, opts: GroupOptions = {}): StatsGroupRow[] {
  return statsAggregate(db, f, by, opts).groups;
}

const groupId = (key: string, provider: string | null): string => `${key}\u0000${provider ?? ''}`;

type Histograms = Map<string, Array<{ l: number; n: number }>>;

function addHist(hist: Histograms, id: string, l: number, n: number): void {
  let h = hist.get(id);
  if (!h) hist.set(id, (h = []));
  h.push({ l, n });
}

const P95_KEY: Readonly<Record<StatsGroup, { key: string; provider: string }>> = {
  project: { key: 'r.project_id', provider: 'NULL' },
  model: { key: "COALESCE(r.model, '(none)')", provider: 'r.provider' },
  provider: { key: 'r.provider', provider: 'NULL' },
  day: { key: 'substr(r.requested_at, 1, 10)', provider: 'NULL' },
};

/** Latency histograms per group: far fewer rows than the period has. */
function histograms(db: Db, by: StatsGroup, scope: Scope, params: Record<string, string>): Histograms {
  const k = P95_KEY[by];
  const rows = db
    .prepare<{ key: string | number; provider: string | null; l: number; n: number }>(
      `SELECT ${k.key} AS key, ${k.provider} AS provider, r.latency_ms AS l, COUNT(*) AS n
       ${rangeSql(scope)} AND r.latency_ms IS NOT NULL GROUP BY 1, 2, 3`,
    )
    .all(params);
  const hist: Histograms = new Map();
  for (const r of rows) {
    const key = by === 'project' ? (scope.slugs.get(Number(r.key)) ?? String(r.key)) : String(r.key);
    addHist(hist, groupId(key, r.provider), r.l, r.n);
  }
  return hist;
}

// Nearest rank: the ceil(0.95 n)-th smallest value, a real observation (as bench/stats.ts does).
function rankP95(hist: Histograms): Map<string, number> {
  const out = new Map<string, number>();
  for (const [id, h] of hist) {
    h.sort((a, b) => a.l - b.l);
    const total = h.reduce((s, x) => s + x.n, 0);
    const rank = Math.ceil(total * 0.95);
    let seen = 0;
    for (const x of h) {
      seen += x.n;
      if (seen >= rank) {
        out.set(id, x.l);
        break;
      }
    }
  }
  return out;
}
