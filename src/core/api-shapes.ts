// The local API's JSON (../shared/docs/api.md), shaped from the store's sums. Pure: rows and cells
// in, JSON out, the clock an argument. The ordering rules are core/report.ts's (orderGroups), so the
// API, the report and the dashboard list groups the same way.
import { MeterError } from './errors.js';
import { orderGroups, resolvePeriod, zeroTotals, type Period, type Totals } from './report.js';
import type { RequestRow } from './request-row.js';

// ---------------------------------------------------------------------------------------------
// Query parameters.

/** The earliest and latest times a period can name: "all time" without a `since`. */
const ALL_TIME_FROM = '0000-01-01T00:00:00.000Z';

const API_NAMES = { since: 'since', from: 'since', to: 'until' };

/**
 * `since` and `until` of /v1/stats: days (YYYY-MM-DD, UTC; `until`'s day is included) or ISO-8601
 * times, or a duration back from now in `since` (30m, 24h, 7d, 2w). No `since` means all time.
 */
export function statsPeriod(since: string | null, until: string | null, now: Date): Period {
  if (since !== null && /^\d+[mhdw]$/.test(since.trim())) {
    if (until !== null) throw new MeterError('bad_argument', 'a duration in since cannot be combined with until', 'use since=YYYY-MM-DD&until=YYYY-MM-DD');
    return resolvePeriod({ since }, now, API_NAMES);
  }
  const p = resolvePeriod({ from: since ?? '2000-01-01', to: until ?? undefined }, now, API_NAMES);
  return since === null ? { from: ALL_TIME_FROM, to: p.to } : p;
}

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 500;

export function pageLimit(value: string | null): number {
  if (value === null || value === '') return DEFAULT_PAGE_LIMIT;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_LIMIT) {
    throw new MeterError('bad_argument', `limit "${value}" is not a whole number from 1 to ${MAX_PAGE_LIMIT}`);
  }
  return n;
}

export interface Cursor {
  requestedAt: string;
  id: string;
}

// Opaque to clients: base64url of the last row's time and id. Decoding checks the shape, so a
// forged cursor is a 400, never SQL.
export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.requestedAt, c.id]), 'utf8').toString('base64url');
}

export function decodeCursor(value: string | null): Cursor | undefined {
  if (value === null || value === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    parsed = null;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string') {
    throw new MeterError('bad_argument', 'cursor is not one this API gave out', 'start again without cursor and follow next_cursor');
  }
  return { requestedAt: parsed[0], id: parsed[1] };
}

// ---------------------------------------------------------------------------------------------
// /v1/stats

/** What statsCells gives: one day's sums for one project, provider and model. */
export interface Cell extends Totals {
  project: string;
  provider: string;
  model: string | null;
  day: string;
}

export interface Summary extends Totals {
  projects: number;
  models: number;
  lastRequestAt: string | null;
}

export interface StatsJson {
  period: { from: string; to: string };
  summary: {
    total_requests: number;
    total_input_tokens: number;
    total_output_tokens: number;
    total_thinking_tokens: number;
    total_cache_read_tokens: number;
    total_cache_write_tokens: number;
    total_cost_usd_minor_units: number;
    estimated_cost_usd_minor_units: number;
    unknown_cost_requests: number;
    cache_hit_rate: number | null;
    active_projects: number;
    models_in_use: number;
    last_request_at: string | null;
  };
  by_day: Array<{ date: string; requests: number; cost_usd_minor_units: number }>;
  by_day_by_provider: Array<{ date: string; provider: string; requests: number; cost_usd_minor_units: number }>;
  // unknown_cost_requests: rows in the group with no cost (not in its sum; a group of only those
  // has no known cost, which is not $0).
  by_provider: Array<{ provider: string; requests: number; cost_usd_minor_units: number; unknown_cost_requests: number }>;
  by_model: Array<{
    provider: string;
    model: string | null;
    requests: number;
    input_tokens: number;
    output_tokens: number;
    cost_usd_minor_units: number;
    unknown_cost_requests: number;
  }>;
  by_project: Array<{ slug: string; requests: number; cost_usd_minor_units: number; unknown_cost_requests: number }>;
}

/**
 * The share of prompt tokens served from the cache: cache reads over all prompt tokens (uncached
 * input + cache reads + cache writes), 4 decimals; null with no prompt tokens.
 */
export function cacheHitRate(t: Pick<Totals, 'inputTokens' | 'cacheReadTokens' | 'cacheWriteTokens'>): number | null {
  const prompt = t.inputTokens + t.cacheReadTokens + t.cacheWriteTokens;
  return prompt === 0 ? null : Math.round((t.cacheReadTokens / prompt) * 10_000) / 10_000;
}

interface Group extends Totals {
  key: string;
  provider: string | null;
}


function fold(cells: readonly Cell[], keyOf: (c: Cell) => { key: string; provider: string | null }): Group[] {
  const out = new Map<string, Group>();
  for (const c of cells) {
    const k = keyOf(c);
    const id = `${k.key}\u0000${k.provider ?? ''}`;
    let g = out.get(id);
    if (!g) out.set(id, (g = { ...zeroTotals(), key: k.key, provider: k.provider }));
    for (const f of Object.keys(zeroTotals()) as Array<keyof Totals>) g[f] += c[f];
  }
  return [...out.values()];
}

// Days with no calls are listed with zeros when the period is bounded (up to a year), so a chart
// drawn from by_day has no gaps; "all time" lists only the days that have calls.
const MAX_FILLED_DAYS = 366;

function daysOf(period: Period): string[] | null {
  const from = Date.parse(period.from.slice(0, 10) + 'T00:00:00Z');
  const to = Date.parse(period.to);
  if (period.from === ALL_TIME_FROM || (to - from) / 86_400_000 > MAX_FILLED_DAYS) return null;
  const days: string[] = [];
  for (let t = from; t < to; t += 86_400_000) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

export function statsJson(period: Period, summary: Summary, cells: readonly Cell[]): StatsJson {
  const byDay = fold(cells, (c) => ({ key: c.day, provider: null }));
  const days = daysOf(period);
  if (days) {
    const seen = new Set(byDay.map((g) => g.key));
    for (const d of days) if (!seen.has(d)) byDay.push({ ...zeroTotals(), key: d, provider: null });
  }
  const byDayProvider = fold(cells, (c) => ({ key: c.day, provider: c.provider }));
  return {
    period,
    summary: {
      total_requests: summary.requests,
      total_input_tokens: summary.inputTokens,
      total_output_tokens: summary.outputTokens,
      total_thinking_tokens: summary.thinkingTokens,
      total_cache_read_tokens: summary.cacheReadTokens,
      total_cache_write_tokens: summary.cacheWriteTokens,
      total_cost_usd_minor_units: summary.costMinor,
      estimated_cost_usd_minor_units: summary.estimatedCostMinor,
      unknown_cost_requests: summary.unknownCostRequests,
      cache_hit_rate: cacheHitRate(summary),
      active_projects: summary.projects,
      models_in_use: summary.models,
      last_request_at: summary.lastRequestAt,
    },
    by_day: orderGroups('day', byDay).map((g) => ({ date: g.key, requests: g.requests, cost_usd_minor_units: g.costMinor })),
    by_day_by_provider: orderGroups('day', byDayProvider).map((g) => ({
      date: g.key,
      provider: g.provider ?? '',
      requests: g.requests,
      cost_usd_minor_units: g.costMinor,
    })),
    by_provider: orderGroups('provider', fold(cells, (c) => ({ key: c.provider, provider: null }))).map((g) => ({
      provider: g.key,
      requests: g.requests,
      cost_usd_minor_units: g.costMinor,
      unknown_cost_requests: g.unknownCostRequests,
    })),
    // A model's key keeps null apart from a model named "(none)".
    by_model: orderGroups('model', fold(cells, (c) => ({ key: c.model === null ? '' : `=${c.model}`, provider: c.provider }))).map((g) => ({
      provider: g.provider ?? '',
      model: g.key === '' ? null : g.key.slice(1),
      requests: g.requests,
      input_tokens: g.inputTokens,
      output_tokens: g.outputTokens,
      cost_usd_minor_units: g.costMinor,
      unknown_cost_requests: g.unknownCostRequests,
    })),
    by_project: orderGroups('project', fold(cells, (c) => ({ key: c.project, provider: null }))).map((g) => ({
      slug: g.key,
      requests: g.requests,
      cost_usd_minor_units: g.costMinor,
      unknown_cost_requests: g.unknownCostRequests,
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// /v1/projects

export interface ProjectModelFigures {
  provider: string;
  model: string | null;
  requests: number;
  costMinor: number;
  monthRequests: number;
  monthCostMinor: number;
  previousMonthCostMinor: number;
  lastRequestAt: string | null;
}

export interface ProjectFigures {
  id: number;
  slug: string;
  name: string;
  createdAt: string;
  archivedAt: string | null;
  models: readonly ProjectModelFigures[];
}

export interface ProjectJson {
  id: number;
  name: string;
  slug: string;
  created_at: string;
  archived_at: string | null;
  stats: {
    requests_this_month: number;
    cost_usd_this_month_minor_units: number;
    previous_month_cost_usd_minor_units: number;
    all_time_cost_usd_minor_units: number;
    all_time_requests: number;
    last_active_at: string | null;
    primary_model: string | null;
    primary_provider: string | null;
    top_model: string | null;
    top_provider: string | null;
  };
}

/** This month's and last month's first instants (UTC) for `now`. */
export function monthBounds(now: Date): { monthStart: string; previousMonthStart: string } {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  return { monthStart: new Date(Date.UTC(y, m, 1)).toISOString(), previousMonthStart: new Date(Date.UTC(y, m - 1, 1)).toISOString() };
}

/** Ties go to the name that sorts first, so the answer does not change between two calls. */
function leader(models: readonly ProjectModelFigures[], by: (m: ProjectModelFigures) => number): ProjectModelFigures | null {
  let best: ProjectModelFigures | null = null;
  for (const m of models) {
    if (m.model === null) continue;
    if (best === null || by(m) > by(best) || (by(m) === by(best) && `${m.provider}/${m.model}` < `${best.provider}/${best.model}`)) best = m;
  }
  return best === null || by(best) === 0 ? null : best;
}

export function projectJson(p: ProjectFigures): ProjectJson {
  const sum = (f: (m: ProjectModelFigures) => number): number => p.models.reduce((s, m) => s + f(m), 0);
  let last: string | null = null;
  for (const m of p.models) if (m.lastRequestAt !== null && (last === null || m.lastRequestAt > last)) last = m.lastRequestAt;
  const primary = leader(p.models, (m) => m.requests);
  const top = leader(p.models, (m) => m.costMinor);
  return {
    id: p.id,
    name: p.name,
    slug: p.slug,
    created_at: p.createdAt,
    archived_at: p.archivedAt,
    stats: {
      requests_this_month: sum((m) => m.monthRequests),
      cost_usd_this_month_minor_units: sum((m) => m.monthCostMinor),
      previous_month_cost_usd_minor_units: sum((m) => m.previousMonthCostMinor),
      all_time_cost_usd_minor_units: sum((m) => m.costMinor),
      all_time_requests: sum((m) => m.requests),
      last_active_at: last,
      primary_model: primary?.model ?? null,
      primary_provider: primary?.provider ?? null,
      top_model: top?.model ?? null,
      top_provider: top?.provider ?? null,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface RequestItemJson {
  id: string;
  project: string;
  provider: string;
  model: string | null;
  mode: string;
  input_tokens: number | null;
  output_tokens: number | null;
  thinking_tokens: number | null;
  cache_read_tokens: number | null;
  cache_write_tokens: number | null;
  cost_usd_minor_units: number | null;
  latency_ms: number | null;
  tokens_complete: boolean;
  requested_at: string;
  status: string;
}

/** `success`, or what went wrong: the row's error class, else the outcome (aborted, failed). */
export function requestStatus(r: Pick<RequestRow, 'errorClass' | 'outcome' | 'statusCode'>): string {
  if (r.errorClass !== null) return r.errorClass;
  if (r.outcome !== 'completed') return r.outcome;
  if (r.statusCode !== null && r.statusCode >= 400) return `http_${r.statusCode}`;
  return 'success';
}

const cacheWrites = (r: RequestRow): number | null =>
  r.cacheWrite5mTokens === null && r.cacheWrite1hTokens === null ? null : (r.cacheWrite5mTokens ?? 0) + (r.cacheWrite1hTokens ?? 0);

export function requestItem(r: RequestRow): RequestItemJson {
  return {
    id: r.id,
    project: r.projectSlug,
    provider: r.provider,
    model: r.model,
    mode: r.mode,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    thinking_tokens: r.thinkingTokens,
    cache_read_tokens: r.cacheReadTokens,
    cache_write_tokens: cacheWrites(r),
    cost_usd_minor_units: r.costUsdMinorUnits,
    latency_ms: r.latencyMs,
    tokens_complete: r.tokensComplete,
    requested_at: r.requestedAt,
    status: requestStatus(r),
  };
}

/** The CSV columns: the item's fields, in its order. */
export const REQUEST_CSV_COLUMNS: ReadonlyArray<keyof RequestItemJson> = [
  'id',
  'project',
  'requested_at',
  'provider',
  'model',
  'mode',
  'status',
  'input_tokens',
  'output_tokens',
  'thinking_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'cost_usd_minor_units',
  'latency_ms',
  'tokens_complete',
];

/** The full row, snake_case like the table, with the usage JSON parsed. */
export function requestDetail(r: RequestRow): Record<string, unknown> {
  let usage: unknown = null;
  if (r.usageJson !== null) {
    try {
      usage = JSON.parse(r.usageJson);
    } catch {
      usage = r.usageJson;
    }
  }
  return {
    ...requestItem(r),
    request_kind: r.requestKind,
    host: r.host,
    path: r.path,
    model_requested: r.modelRequested,
    status_code: r.statusCode,
    error_class: r.errorClass,
    stream: r.stream,
    cache_write_5m_tokens: r.cacheWrite5mTokens,
    cache_write_1h_tokens: r.cacheWrite1hTokens,
    web_search_requests: r.webSearchRequests,
    cost_reason: r.costReason,
    rates_source: r.ratesSource,
    service_tier: r.serviceTier,
    ttfb_ms: r.ttfbMs,
    usage_source: r.usageSource,
    outcome: r.outcome,
    attribution_rule: r.attributionRule,
    client_name: r.clientName,
    provider_request_id: r.providerRequestId,
    completed_at: r.completedAt,
    usage,
  };
}
