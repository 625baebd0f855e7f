// Report shaping (STYLE §12): periods, the previous period, Δ% and ordering, over the sums that
// store/stats.ts computes. The report command, the local API and the dashboard all build from
// here, so they never disagree. Pure: the data source is passed in (the store's statsSummary and
// statsGroups fit it), and the clock is an argument.
import { MeterError } from './errors.js';

export const REPORT_GROUPS = ['project', 'model', 'provider', 'day'] as const;
export type ReportGroup = (typeof REPORT_GROUPS)[number];

/** The sums one group (or the whole period) carries; same fields as store StatsTotals. */
export interface Totals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  thinkingTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costMinor: number;
  estimatedCostMinor: number;
  unknownCostRequests: number;
}
/** Totals of nothing: where every sum starts. */
export function zeroTotals(): Totals {
  return {
    requests: 0,
    inputTokens: 0,
    outputTokens: 0,
    thinkingTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    costMinor: 0,
    estimatedCostMinor: 0,
    unknownCostRequests: 0,
  };
}

export interface SummaryData extends Totals {
  projects: number;
  models: number;
  lastRequestAt: string | null;
}
export interface GroupData extends Totals {
  key: string;
  provider: string | null;
  avgLatencyMs: number | null;
  p95LatencyMs: number | null;
}
export interface Filter {
  from: string;
  to: string;
  project?: string;
  includeSelftest?: boolean;
}

/** What computeReport reads from: the store's functions, bound to a connection. */
export interface ReportSource {
  aggregate(f: Filter, by: ReportGroup, opts: { p95?: boolean }): { summary: SummaryData; groups: GroupData[] };
}

export interface Period {
  /** Inclusive, ISO-8601 UTC. */
  from: string;
  /** Exclusive, ISO-8601 UTC. */
  to: string;
}

// ---------------------------------------------------------------------------------------------
// Periods.

const UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
export const DEFAULT_SINCE = '30d';

function parseDate(flag: string, value: string, endOfDay: boolean): Date {
  const v = value.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) {
    const d = new Date(`${v}T00:00:00Z`);
    // A day that does not exist (2026-02-30) is an error, not a roll-over into March.
    if (!Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === v) return endOfDay ? new Date(d.getTime() + UNIT_MS.d) : d;
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(v)) {
    const d = new Date(v);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new MeterError('bad_argument', `${flag} "${value}" is not a date`, 'use YYYY-MM-DD (UTC) or an ISO-8601 time such as 2026-08-21T12:00:00Z');
}

/** How the period's inputs are called where they came from: flags here, query parameters in the API. */
export interface PeriodNames {
  since: string;
  from: string;
  to: string;
}
const CLI_NAMES: PeriodNames = { since: '--since', from: '--from', to: '--to' };

/**
 * `--since 30m|24h|7d|2w` (back from now), or `--from D [--to D]` (days are UTC; --to's day is
 * included; --to defaults to now). Default: the last 30 days.
 */
export function resolvePeriod(flags: { since?: string; from?: string; to?: string }, now: Date, names: PeriodNames = CLI_NAMES): Period {
  const { since: SINCE, from: FROM, to: TO } = names;
  if (flags.since !== undefined && (flags.from !== undefined || flags.to !== undefined)) {
    throw new MeterError('bad_argument', `${SINCE} cannot be combined with ${FROM}/${TO}`, `use either ${SINCE} 7d or ${FROM} D ${TO} D`);
  }
  if (flags.to !== undefined && flags.from === undefined) throw new MeterError('bad_argument', `${TO} needs ${FROM}`, `e.g. ${FROM} 2026-11-01 ${TO} 2026-11-15`);
  if (flags.from !== undefined) {
    const from = parseDate(FROM, flags.from, false);
    const to = flags.to !== undefined ? parseDate(TO, flags.to, true) : now;
    if (to.getTime() <= from.getTime()) throw new MeterError('bad_argument', `${TO} is not after ${FROM}`, 'the period must not be empty');
    return { from: from.toISOString(), to: to.toISOString() };
  }
  const since = flags.since ?? DEFAULT_SINCE;
  const m = /^(\d{1,6})([mhdw])$/.exec(since.trim());
  if (!m || Number(m[1]) === 0) throw new MeterError('bad_argument', `${SINCE} "${since}" is not a duration`, 'use e.g. 30m, 24h, 7d or 2w');
  return { from: new Date(now.getTime() - Number(m[1]) * UNIT_MS[m[2]]).toISOString(), to: now.toISOString() };
}

/** The period of the same length just before. */
export function previousPeriod(p: Period): Period {
  const from = Date.parse(p.from);
  const len = Date.parse(p.to) - from;
  return { from: new Date(from - len).toISOString(), to: p.from };
}

/** Change in percent, one decimal; null when there is nothing to compare with (previous 0). */
export function deltaPct(current: number, previous: number): number | null {
  if (previous === 0) return null;
  return Math.round(((current - previous) / previous) * 1000) / 10;
}

export function parseGroup(value: string | undefined): ReportGroup {
  if (value === undefined) return 'project';
  const v = value.trim().toLowerCase();
  if (!(REPORT_GROUPS as readonly string[]).includes(v)) {
    throw new MeterError('bad_argument', `--by "${value}" is not a grouping`, `use one of: ${REPORT_GROUPS.join(', ')}`);
  }
  return v as ReportGroup;
}

// ---------------------------------------------------------------------------------------------
// The report (its JSON shape is documented in docs/report.md; snake_case like the API).

export interface TotalsJson {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  thinking_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost_usd_minor_units: number;
  estimated_cost_usd_minor_units: number;
  unknown_cost_requests: number;
}

export interface ReportJson {
  period: Period;
  previous_period: Period | null;
  by: ReportGroup;
  project: string | null;
  include_selftest: boolean;
  summary: TotalsJson & { projects: number; models: number; last_request_at: string | null };
  previous_summary: (TotalsJson & { projects: number; models: number }) | null;
  delta: { requests_pct: number | null; cost_pct: number | null } | null;
  groups: Array<
    TotalsJson & {
      key: string;
      provider: string | null;
      avg_latency_ms: number | null;
      p95_latency_ms: number | null;
      previous: { requests: number; cost_usd_minor_units: number } | null;
      cost_delta_pct: number | null;
    }
  >;
}

export interface ReportQuery {
  period: Period;
  by: ReportGroup;
  project?: string;
  includeSelftest?: boolean;
  vsPrevious?: boolean;
}

function totalsJson(t: Totals): TotalsJson {
  return {
    requests: t.requests,
    input_tokens: t.inputTokens,
    output_tokens: t.outputTokens,
    thinking_tokens: t.thinkingTokens,
    cache_read_tokens: t.cacheReadTokens,
    cache_write_tokens: t.cacheWriteTokens,
    cost_usd_minor_units: t.costMinor,
    estimated_cost_usd_minor_units: t.estimatedCostMinor,
    unknown_cost_requests: t.unknownCostRequests,
  };
}

const gid = (g: { key: string; provider: string | null }): string => `${g.key}\u0000${g.provider ?? ''}`;

/**
 * Days ascend; every other grouping goes by cost, then requests, then name, descending in money
 * (the question a report answers first is where the money went).
 */
export function orderGroups<G extends { key: string; provider: string | null; costMinor: number; requests: number }>(by: ReportGroup, groups: readonly G[]): G[] {
  const byName = (a: G, b: G): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : (a.provider ?? '') < (b.provider ?? '') ? -1 : (a.provider ?? '') > (b.provider ?? '') ? 1 : 0);
  return [...groups].sort(by === 'day' ? byName : (a, b) => b.costMinor - a.costMinor || b.requests - a.requests || byName(a, b));
}

export function computeReport(src: ReportSource, q: ReportQuery): ReportJson {
  const filter = (p: Period): Filter => ({ from: p.from, to: p.to, project: q.project, includeSelftest: q.includeSelftest });
  const current = src.aggregate(filter(q.period), q.by, { p95: true });
  const summary = current.summary;
  const groups = orderGroups(q.by, current.groups);
  let prevPeriod: Period | null = null;
  let prevSummary: SummaryData | null = null;
  const prevGroups = new Map<string, GroupData>();
  if (q.vsPrevious) {
    prevPeriod = previousPeriod(q.period);
    const previous = src.aggregate(filter(prevPeriod), q.by, { p95: false });
    prevSummary = previous.summary;
    // By day, a day is compared with the day one period-length earlier (the same place in the
    // previous period); other groups with the same group there.
    const shift = Date.parse(q.period.to) - Date.parse(q.period.from);
    for (const g of previous.groups) {
      const key = q.by === 'day' ? new Date(Date.parse(`${g.key}T00:00:00Z`) + shift).toISOString().slice(0, 10) : g.key;
      prevGroups.set(gid({ key, provider: g.provider }), g);
    }
  }
  return {
    period: q.period,
    previous_period: prevPeriod,
    by: q.by,
    project: q.project ?? null,
    include_selftest: q.includeSelftest === true,
    summary: { ...totalsJson(summary), projects: summary.projects, models: summary.models, last_request_at: summary.lastRequestAt },
    previous_summary: prevSummary ? { ...totalsJson(prevSummary), projects: prevSummary.projects, models: prevSummary.models } : null,
    delta: prevSummary ? { requests_pct: deltaPct(summary.requests, prevSummary.requests), cost_pct: deltaPct(summary.costMinor, prevSummary.costMinor) } : null,
    groups: groups.map((g) => {
      const prev = q.vsPrevious ? (prevGroups.get(gid(g)) ?? null) : null;
      return {
        key: g.key,
        provider: g.provider,
        ...totalsJson(g),
        avg_latency_ms: g.avgLatencyMs === null ? null : Math.round(g.avgLatencyMs),
        p95_latency_ms: g.p95LatencyMs,
        previous: q.vsPrevious ? { requests: prev?.requests ?? 0, cost_usd_minor_units: prev?.costMinor ?? 0 } : null,
        cost_delta_pct: q.vsPrevious ? deltaPct(g.costMinor, prev?.costMinor ?? 0) : null,
      };
    }),
  };
}
