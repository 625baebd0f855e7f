// What a usage costs (SPEC §3, STYLE §6): integer arithmetic throughout, one rounding per row.
import { MINOR_UNITS_PER_USD } from '../core/money.js';
import { totalInputTokens } from '../core/usage.js';
import type { Usage, UsageRecord } from '../core/usage.js';
import { findOverride, OVERRIDE_SOURCE, overrideRates } from './overrides.js';
import type { OverrideRule } from './overrides.js';
import { findModel, formatScaled, RATE_FIELDS, ratesAt } from './table.js';
import type { PriceTable, RateField, RateSet, Tier } from './table.js';

// Exact amounts are integers of 1e-17 USD. tokens x nano-USD/Mtok is a whole number of 1e-15 USD,
// and two more digits keep a whole-percent discount exact too, so nothing is rounded until the end.
const EXACT_DECIMALS = 17;
const EXACT_PER_MINOR = 10n ** BigInt(EXACT_DECIMALS) / BigInt(MINOR_UNITS_PER_USD);
/** Exact units per (quantity x nano-rate): per-Mtok classes 1e-15 USD, web search (per 1000) 1e-12 USD. */
const SCALE: Readonly<Record<RateField, bigint>> = {
  input: 100n,
  cache_read: 100n,
  cache_write_5m: 100n,
  cache_write_1h: 100n,
  output: 100n,
  web_search: 100_000n,
};
const CACHE_FIELDS: ReadonlySet<RateField> = new Set(['cache_read', 'cache_write_5m', 'cache_write_1h']);

/** Anthropic Message Batches, OpenAI Batch API and Gemini Batch API all bill half the standard rate. */
export const BATCH_DISCOUNT_PERCENT = 50;

export interface CostLine {
  tokenClass: RateField;
  /** Tokens, or requests for `web_search`. */
  quantity: number;
  unit: 'Mtok' | '1k requests';
  /** The rate applied, integer nano-USD per unit; null when unknown. */
  rateNano: number | null;
  /** The same rate as an exact decimal USD string. */
  rateUsd: string | null;
  /** quantity x rate, exact decimal USD, before any discount; null when the rate is unknown. */
  amountUsd: string | null;
  note: string | null;
}

export interface CostBreakdown {
  lines: CostLine[];
  /** The long-context threshold the request's total input passed, or null for base rates. */
  tierAbove: number | null;
  /** Classes with a quantity but no rate: when any, the cost is unknown. */
  unpriced: RateField[];
  /** Exact cost before discount in units of 1e-17 USD; null when unknown. */
  subtotal: bigint | null;
  subtotalUsd: string | null;
  discount: { reason: string; percent: number; amountUsd: string } | null;
  /** Exact cost after discount in units of 1e-17 USD; null when unknown. */
  exact: bigint | null;
  totalUsd: string | null;
  /** Rounded once, half up, to minor units (1 USD = 100,000). */
  minor: number | null;
}

export interface CostOptions {
  batch?: boolean;
  /** Shown on the discount line; defaults to "batch". */
  discountReason?: string;
}

function quantity(u: Usage, field: RateField): number {
  switch (field) {
    case 'input':
      return u.inputTokens;
    case 'cache_read':
      return u.cacheReadTokens;
    case 'cache_write_5m':
      return u.cacheWrite5mTokens;
    case 'cache_write_1h':
      return u.cacheWrite1hTokens;
    case 'output':
      return u.outputTokens;
    case 'web_search':
      return u.webSearchRequests;
  }
}

const DERIVED_NOTE: Readonly<Record<RateField, string>> = {
  input: '',
  output: '',
  web_search: '',
  cache_read: 'derived: 0.1x input (Anthropic rule; not in the source data)',
  cache_write_5m: 'derived: 1.25x input (Anthropic rule; not in the source data)',
  cache_write_1h: 'derived: 2x input (Anthropic rule; not in the source data)',
};

/** Rounds exact 1e-17 USD units to minor units, half up (amounts are never negative). */
export function exactToMinor(exact: bigint): number {
  return Number((exact * 2n + EXACT_PER_MINOR) / (2n * EXACT_PER_MINOR));
}

export function exactToUsd(exact: bigint): string {
  return formatScaled(exact, EXACT_DECIMALS);
}

/**
 * The tier whose threshold the total input (cached and uncached: core/usage.ts totalInputTokens)
 * is strictly above. Strict, as genai-prices decides it: exactly 200,000 tokens is still base.
 */
export function tierFor(rates: RateSet, usage: Usage): Tier | null {
  const total = totalInputTokens(usage);
  let chosen: Tier | null = null;
  for (const t of rates.tiers) if (total > t.above) chosen = t;
  return chosen;
}

/**
 * Prices one usage at one rate set. A long-context tier moves every class of the request to the
 * tier's rates. A cache class with no rate is billed at the input rate (genai-prices does the same:
 * no cache price means no cache discount); any other class with a quantity and no rate leaves the
 * cost unknown rather than guessed.
 */
export function costOf(usage: Usage, rates: RateSet, opts: CostOptions = {}): CostBreakdown {
  const tier = tierFor(rates, usage);
  const r = tier ? tier.rates : rates.base;
  const lines: CostLine[] = [];
  const unpriced: RateField[] = [];
  let subtotal = 0n;
  for (const field of RATE_FIELDS) {
    const qty = quantity(usage, field);
    if (qty === 0) continue;
    const unit = field === 'web_search' ? '1k requests' : 'Mtok';
    let rate = r[field];
    let note: string | null = rates.derived.includes(field) ? DERIVED_NOTE[field] : null;
    if (rate === null && CACHE_FIELDS.has(field) && r.input !== null) {
      rate = r.input;
      note = `no ${field} rate in the table: billed at the input rate`;
    }
    if (field === 'output' && usage.thinkingTokens > 0) note = `includes ${usage.thinkingTokens} reasoning tokens`;
    if (!Number.isSafeInteger(qty) || qty < 0 || rate === null) {
      unpriced.push(field);
      const why = rate === null ? `no ${field} rate in the table` : `invalid count ${qty}`;
      lines.push({ tokenClass: field, quantity: qty, unit, rateNano: rate, rateUsd: null, amountUsd: null, note: why });
      continue;
    }
    const amount = BigInt(qty) * BigInt(rate) * SCALE[field];
    subtotal += amount;
    const rateUsd = formatScaled(BigInt(rate), 9);
    lines.push({ tokenClass: field, quantity: qty, unit, rateNano: rate, rateUsd, amountUsd: exactToUsd(amount), note });
  }
  const tierAbove = tier?.above ?? null;
  if (unpriced.length > 0) {
    return { lines, tierAbove, unpriced, subtotal: null, subtotalUsd: null, discount: null, exact: null, totalUsd: null, minor: null };
  }
  const percent = opts.batch ? BATCH_DISCOUNT_PERCENT : 0;
  // Every amount is a multiple of 100 exact units, so a whole-percent discount divides exactly.
  const off = (subtotal * BigInt(percent)) / 100n;
  const exact = subtotal - off;
  return {
    lines,
    tierAbove,
    unpriced,
    subtotal,
    subtotalUsd: exactToUsd(subtotal),
    discount: percent ? { reason: opts.discountReason ?? 'batch', percent, amountUsd: exactToUsd(off) } : null,
    exact,
    totalUsd: exactToUsd(exact),
    minor: exactToMinor(exact),
  };
}

// ---------------------------------------------------------------------------------------------
// Service tiers, as the response names them (Anthropic usage.service_tier, OpenAI service_tier).

type TierPricing = 'standard' | 'half' | 'unpriced';

// Flex is billed at Batch rates by OpenAI and Google. Priority and scale cost more by amounts the
// source data does not carry, so they are priced as unknown rather than as standard.
const SERVICE_TIERS: ReadonlyMap<string, TierPricing> = new Map([
  ['standard', 'standard'],
  ['standard_only', 'standard'],
  ['default', 'standard'],
  ['auto', 'standard'],
  ['on_demand', 'standard'],
  ['batch', 'half'],
  ['flex', 'half'],
  ['priority', 'unpriced'],
  ['scale', 'unpriced'],
]);

// ---------------------------------------------------------------------------------------------
// A whole exchange: every usage record, each at its own model's rates, rounded once at the end.

export interface PriceOptions {
  /** The exchange went through a batch API (e.g. Anthropic message-batch results). */
  batch?: boolean;
  /** The service tier the response reported, if any. */
  serviceTier?: string | null;
}

export interface QuoteLine extends CostLine {
  /** Index of the usage record this line prices. */
  record: number;
  /** Model billed, as reported. */
  model: string;
  priceModelId: string;
  ratesSource: string;
  tierAbove: number | null;
}

export interface PriceQuote {
  costMinor: number | null;
  /** The table version, or "override" when any record was priced by an override. */
  ratesSource: string | null;
  /** Why costMinor is null. */
  reason: string | null;
  /** Table model id (or override pattern) used for the exchange's own model. */
  priceModelId: string | null;
  /** e.g. ">200000 input tokens" when a long-context tier applied. */
  tier: string | null;
  discount: { reason: string; percent: number } | null;
  /** Exact sum of the lines before any discount, decimal USD. */
  subtotalUsd: string | null;
  /** Exact total after discount, before the one rounding, decimal USD. */
  exactUsd: string | null;
  lines: QuoteLine[];
}

type Resolved = { rates: RateSet; source: string } | { reason: string };

function resolveRates(
  table: PriceTable,
  overrides: readonly OverrideRule[],
  provider: string,
  model: string,
  at: Date,
): Resolved {
  const rule = findOverride(overrides, provider, model);
  if (rule) {
    const rates = overrideRates(rule);
    return rates ? { rates, source: OVERRIDE_SOURCE } : { reason: `override ${provider}/${rule.model} has an unusable rate` };
  }
  const found = findModel(table, provider, model);
  if (found) return { rates: ratesAt(found, at), source: table.version };
  if (!table.models.some((m) => m.provider === provider)) return { reason: `no prices for provider ${provider} (not in ${table.version})` };
  return { reason: `unknown model: ${model} (not in ${table.version})` };
}

function tierLabel(above: number): string {
  return `>${above} input tokens`;
}

function quoteOf(partial: Partial<PriceQuote> & Pick<PriceQuote, 'lines'>): PriceQuote {
  return {
    costMinor: null,
    ratesSource: null,
    reason: null,
    priceModelId: null,
    tier: null,
    discount: null,
    subtotalUsd: null,
    exactUsd: null,
    ...partial,
  };
}

/**
 * Prices an exchange. A record with model null is billed as the exchange's model; any record that
 * cannot be priced makes the whole cost null with a reason (never 0, never a partial sum).
 */
export function priceUsage(
  table: PriceTable,
  overrides: readonly OverrideRule[],
  provider: string,
  model: string | null,
  records: readonly UsageRecord[],
  requestedAt: Date,
  opts: PriceOptions = {},
): PriceQuote {
  const p = provider.toLowerCase();
  if (records.length === 0) return quoteOf({ lines: [], reason: 'no usage to price' });

  const tierName = opts.serviceTier?.trim().toLowerCase() || null;
  const tierPricing = tierName === null ? 'standard' : SERVICE_TIERS.get(tierName);
  if (tierPricing === undefined || tierPricing === 'unpriced') {
    const why = tierPricing === undefined ? 'unrecognised service tier' : 'no rates for service tier';
    return quoteOf({ lines: [], reason: `${why} "${tierName}" in ${table.version}` });
  }
  const batch = opts.batch === true || tierPricing === 'half';
  const discountReason = opts.batch === true ? 'batch' : `service tier ${tierName}`;

  const lines: QuoteLine[] = [];
  const tiers = new Set<string>();
  let exact = 0n;
  let subtotal = 0n;
  let usedOverride = false;
  const priceIds: string[] = [];
  for (const [i, rec] of records.entries()) {
    const billed = rec.model ?? model;
    if (billed === null || billed.trim() === '') return quoteOf({ lines, reason: 'no model reported' });
    const resolved = resolveRates(table, overrides, p, billed, requestedAt);
    if ('reason' in resolved) return quoteOf({ lines, reason: resolved.reason });
    const { rates, source } = resolved;
    const b = costOf(rec.usage, rates, { batch, discountReason });
    for (const line of b.lines) {
      lines.push({ ...line, record: i, model: billed, priceModelId: rates.modelId, ratesSource: source, tierAbove: b.tierAbove });
    }
    if (b.exact === null || b.subtotal === null) {
      const why = b.lines.filter((l) => b.unpriced.includes(l.tokenClass)).map((l) => `${l.tokenClass}: ${l.note ?? 'unpriced'}`);
      return quoteOf({ lines, reason: `cannot price ${rates.modelId} (${source}): ${why.join('; ')}` });
    }
    exact += b.exact;
    subtotal += b.subtotal;
    usedOverride ||= source === OVERRIDE_SOURCE;
    priceIds.push(rates.modelId);
    if (b.tierAbove !== null) tiers.add(tierLabel(b.tierAbove));
  }
  const own = records.findIndex((r) => r.model === null);
  return quoteOf({
    costMinor: exactToMinor(exact),
    ratesSource: usedOverride ? OVERRIDE_SOURCE : table.version,
    priceModelId: priceIds[own === -1 ? 0 : own],
    tier: tiers.size > 0 ? [...tiers].join(', ') : null,
    discount: batch ? { reason: discountReason, percent: BATCH_DISCOUNT_PERCENT } : null,
    subtotalUsd: exactToUsd(subtotal),
    exactUsd: exactToUsd(exact),
    lines,
  });
}
