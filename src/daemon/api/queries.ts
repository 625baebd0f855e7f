// What the API's data routes answer, as functions of a read connection and plain-JSON arguments.
// They run in the query worker (query-worker.ts), so a slow aggregate never holds the proxy's event
// loop; tests may call them in-process. The sums come from store/stats.ts and the shapes from
// core/api-shapes.ts: the same code as `report`.
import {
  decodeCursor,
  encodeCursor,
  monthBounds,
  pageLimit,
  projectJson,
  requestDetail,
  requestItem,
  statsJson,
  statsPeriod,
  type ProjectJson,
  type RequestItemJson,
  type StatsJson,
} from '../../core/api-shapes.js';
import { MeterError } from '../../core/errors.js';
import type { Usage } from '../../core/usage.js';
import type { RequestRow } from '../../core/request-row.js';
import { PROVIDER_IDS } from '../../core/providers.js';
import type { OverrideRule, PriceTable } from '../../pricing/index.js';
import { listedRates, type ListedRate } from '../../pricing/price-list.js';
import { quoteExchange } from '../../pricing/quote-exchange.js';
import { getProjectBySlug, getRequest, projectsWithModels, requestPage, SELFTEST_PROJECT, statsCells, type Db } from '../../store/index.js';

export interface QueryContext {
  db: Db;
  table: PriceTable;
  overrides: readonly OverrideRule[];
  now: () => Date;
}

export interface StatsArgs {
  since: string | null;
  until: string | null;
  project: string | null;
}

export interface RequestsArgs {
  project: string | null;
  provider: string | null;
  limit: string | null;
  cursor: string | null;
}

export interface RequestsPageJson {
  items: RequestItemJson[];
  next_cursor: string | null;
  total: number;
}

export interface PricingJson {
  bundle: string;
  at: string;
  rates: ListedRate[];
}

const notFound = (what: string): MeterError => new MeterError('not_found', what);

function knownProject(ctx: QueryContext, slug: string | null): void {
  if (slug !== null && getProjectBySlug(ctx.db, slug) === null) throw notFound(`no project "${slug}"`);
}

export function stats(ctx: QueryContext, a: StatsArgs): StatsJson {
  knownProject(ctx, a.project);
  const period = statsPeriod(a.since, a.until, ctx.now());
  const { summary, cells } = statsCells(ctx.db, { from: period.from, to: period.to, project: a.project ?? undefined });
  return statsJson(period, summary, cells);
}

/** Every project but the self-test's, archived ones included (archived_at says so). */
export function projects(ctx: QueryContext): ProjectJson[] {
  return projectsWithModels(ctx.db, monthBounds(ctx.now()))
    .filter((p) => p.slug !== SELFTEST_PROJECT)
    .map(projectJson);
}

export function project(ctx: QueryContext, slug: string): ProjectJson {
  const p = projectsWithModels(ctx.db, monthBounds(ctx.now()), slug)[0];
  if (!p) throw notFound(`no project "${slug}"`);
  return projectJson(p);
}

export function requests(ctx: QueryContext, a: RequestsArgs): RequestsPageJson {
  knownProject(ctx, a.project);
  const provider = a.provider === null || a.provider === '' ? undefined : a.provider.toLowerCase();
  if (provider !== undefined && !(PROVIDER_IDS as readonly string[]).includes(provider)) {
    throw new MeterError('bad_argument', `unknown provider "${a.provider}"`, `use one of: ${PROVIDER_IDS.join(', ')}`);
  }
  const page = requestPage(ctx.db, { projectSlug: a.project ?? undefined, provider, limit: pageLimit(a.limit), after: decodeCursor(a.cursor) }, SELFTEST_PROJECT);
  return { items: page.rows.map(requestItem), next_cursor: page.next ? encodeCursor(page.next) : null, total: page.total };
}

export interface CostLineJson {
  token_class: string;
  quantity: number;
  unit: string;
  rate_usd: string | null;
  amount_usd: string | null;
  /** The line's amount rounded to minor units, for display; the total is rounded once. */
  cost_usd_minor_units: number | null;
}

export interface CostBreakdownJson {
  /** Where the stored cost came from: the table version, "override", "selftest", "free" or null. */
  source: string | null;
  tier: string | null;
  price_model_id: string | null;
  discount: { reason: string; percent: number } | null;
  lines: CostLineJson[];
  subtotal_usd: string | null;
  total_usd: string | null;
  /** The stored figure; null when the row has no cost (see cost_reason). */
  total_cost_usd_minor_units: number | null;
  /** The same tokens priced now with today's table and overrides. */
  recomputed_cost_usd_minor_units: number | null;
  matches_stored: boolean;
  note: string | null;
}

const USD_TO_MINOR = 100_000;

function columnUsage(r: RequestRow): Usage | null {
  if (r.inputTokens === null && r.outputTokens === null) return null;
  return {
    inputTokens: r.inputTokens ?? 0,
    cacheReadTokens: r.cacheReadTokens ?? 0,
    cacheWrite5mTokens: r.cacheWrite5mTokens ?? 0,
    cacheWrite1hTokens: r.cacheWrite1hTokens ?? 0,
    outputTokens: r.outputTokens ?? 0,
    thinkingTokens: r.thinkingTokens ?? 0,
    webSearchRequests: r.webSearchRequests ?? 0,
  };
}

/**
 * The row's cost by token class: its token columns priced by the daemon's own decision
 * (quoteExchange) at the row's time. A row priced from several records (Anthropic iterations, batch
 * results) is shown from its summed columns; matches_stored says whether that gives the stored figure.
 */
export function costBreakdown(ctx: QueryContext, r: RequestRow): CostBreakdownJson {
  const usage = columnUsage(r);
  const quote = quoteExchange(ctx.table, ctx.overrides, {
    provider: r.provider,
    kind: r.requestKind,
    model: r.model,
    parsed: { usage, records: usage ? [{ model: null, usage }] : [], reason: r.costReason, serviceTier: r.serviceTier },
    at: new Date(r.requestedAt),
  });
  const matches = quote.costMinor === r.costUsdMinorUnits;
  let note: string | null = null;
  if (r.costUsdMinorUnits === null) note = r.costReason ?? quote.reason;
  else if (!matches) note = 'priced differently today (prices, overrides or several usage records); recost updates stored rows';
  return {
    source: r.ratesSource,
    tier: quote.tier,
    price_model_id: quote.priceModelId,
    discount: quote.discount,
    lines: quote.lines
      .filter((l) => l.quantity > 0)
      .map((l) => ({
        token_class: l.tokenClass,
        quantity: l.quantity,
        unit: l.unit,
        rate_usd: l.rateUsd,
        amount_usd: l.amountUsd,
        cost_usd_minor_units: l.amountUsd === null ? null : Math.round(Number(l.amountUsd) * USD_TO_MINOR),
      })),
    subtotal_usd: quote.subtotalUsd,
    total_usd: quote.exactUsd,
    total_cost_usd_minor_units: r.costUsdMinorUnits,
    recomputed_cost_usd_minor_units: quote.costMinor,
    matches_stored: matches,
    note,
  };
}

export function request(ctx: QueryContext, id: string): Record<string, unknown> {
  const r = getRequest(ctx.db, id);
  if (!r) throw notFound(`no request "${id}"`);
  return { ...requestDetail(r), cost_breakdown: costBreakdown(ctx, r) };
}

export function pricing(ctx: QueryContext): PricingJson {
  const now = ctx.now();
  return { bundle: ctx.table.version, at: now.toISOString().slice(0, 10), rates: listedRates(ctx.table, ctx.overrides, now) };
}

/** The queries by name: what the worker accepts. */
export const QUERIES = {
  stats: (ctx: QueryContext, a: StatsArgs) => stats(ctx, a),
  projects: (ctx: QueryContext) => projects(ctx),
  project: (ctx: QueryContext, a: { slug: string }) => project(ctx, a.slug),
  requests: (ctx: QueryContext, a: RequestsArgs) => requests(ctx, a),
  request: (ctx: QueryContext, a: { id: string }) => request(ctx, a.id),
  pricing: (ctx: QueryContext) => pricing(ctx),
} as const;

export type QueryName = keyof typeof QUERIES;
export type QueryArgs<N extends QueryName> = Parameters<(typeof QUERIES)[N]>[1];
export type QueryResult<N extends QueryName> = ReturnType<(typeof QUERIES)[N]>;
