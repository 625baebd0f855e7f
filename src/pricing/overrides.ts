// User price overrides (`[[pricing.override]]` in config.toml, SPEC §3). They are consulted before
// the bundled table; rows priced with them record rates_source = "override".
import { normaliseModelId, rateRow, withProviderDefaults } from './table.js';
import type { RateRow, RateSet } from './table.js';

/**
 * One override rule: USD per million tokens as the user wrote them. Structurally the same as
 * config's PricingOverride, declared here because pricing may import only core (STYLE layout).
 */
export interface OverrideRule {
  provider: string;
  /** Exact model id, or a glob where `*` stands for any run of characters. */
  model: string;
  input: number;
  output: number;
  cacheRead: number | null;
  cacheWrite5m: number | null;
  cacheWrite1h: number | null;
}

export const OVERRIDE_SOURCE = 'override';

function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

/** Whether an override's model pattern covers `model` (case-insensitive, whole id). */
export function overrideMatches(rule: OverrideRule, provider: string, model: string): boolean {
  if (rule.provider.trim().toLowerCase() !== provider.toLowerCase()) return false;
  const pattern = normaliseModelId(provider, rule.model);
  const id = normaliseModelId(provider, model);
  return pattern.includes('*') ? globToRegExp(pattern).test(id) : pattern === id;
}

/**
 * The override for a model: an exact rule wins over any glob; among globs the first in config order
 * wins, so users order them from specific to general as they would firewall rules.
 */
export function findOverride(overrides: readonly OverrideRule[], provider: string, model: string): OverrideRule | null {
  const matching = overrides.filter((o) => overrideMatches(o, provider, model));
  return matching.find((o) => !o.model.includes('*')) ?? matching[0] ?? null;
}

/**
 * USD/Mtok as written in TOML -> integer nano-USD/Mtok. Goes through the number's shortest decimal
 * text so 0.075 becomes exactly 75000000; digits past 1e-9 are rounded half-up. null when not a
 * usable rate (negative, NaN, infinite, absurdly large).
 */
export function usdToNano(usd: number): number | null {
  if (!Number.isFinite(usd) || usd < 0) return null;
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(usd));
  if (!m) return null;
  const digits = BigInt(m[1] + (m[2] ?? ''));
  const shift = 9 - (m[2]?.length ?? 0) + Number(m[3] ?? 0);
  let nano: bigint;
  if (shift >= 0) nano = digits * 10n ** BigInt(shift);
  else {
    const div = 10n ** BigInt(-shift);
    nano = (digits * 2n + div) / (2n * div);
  }
  return nano <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(nano) : null;
}

/**
 * The override as a rate set: flat (no tiers, no dates). Missing Anthropic cache rates follow the
 * Anthropic multiples (withProviderDefaults); null when input or output is not a usable number.
 */
export function overrideRates(rule: OverrideRule): RateSet | null {
  const input = usdToNano(rule.input);
  const output = usdToNano(rule.output);
  if (input === null || output === null) return null;
  const optional = (v: number | null): number | null => (v === null ? null : usdToNano(v));
  const { rates, derived } = withProviderDefaults(rule.provider.trim(), {
    input,
    output,
    cache_read: optional(rule.cacheRead),
    cache_write_5m: optional(rule.cacheWrite5m),
    cache_write_1h: optional(rule.cacheWrite1h),
    web_search: null,
  });
  return { modelId: rule.model, from: null, base: rates, tiers: [], derived };
}

/** The overrides as display rows (source "override"); unusable rules are left out. */
export function listOverrideRates(overrides: readonly OverrideRule[], provider?: string): RateRow[] {
  const p = provider?.toLowerCase();
  const rows: RateRow[] = [];
  for (const o of overrides) {
    const rates = overrideRates(o);
    const op = o.provider.trim().toLowerCase();
    if (rates && (p === undefined || op === p)) rows.push(rateRow(op, o.model, rates, OVERRIDE_SOURCE));
  }
  return rows;
}
