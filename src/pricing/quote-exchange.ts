// How one metered exchange is priced — the single decision shared by the daemon (rows), `pricing
// explain` and `recost`, so the three can never disagree: the self-test host is $0 (`selftest`), a
// token count is $0 (`free`), no usage is NULL with the parser's reason, batch results get the batch
// discount, and anything else goes to priceUsage with the model the response reported (else the
// request's).
import type { ParsedUsage, RequestKind } from '../core/parsed.js';
import { priceUsage, type PriceOptions, type PriceQuote } from './cost.js';
import type { OverrideRule } from './overrides.js';
import type { PriceTable } from './table.js';

export function priceOptionsFor(kind: string | null, serviceTier: string | null): PriceOptions {
  return kind === 'batch_results' ? { batch: true, serviceTier } : { serviceTier };
}

function fixedQuote(costMinor: number, ratesSource: string): PriceQuote {
  return { costMinor, ratesSource, reason: null, priceModelId: null, tier: null, discount: null, subtotalUsd: '0', exactUsd: '0', lines: [] };
}

export interface ExchangeToPrice {
  provider: string;
  kind: RequestKind | string | null;
  model: string | null;
  parsed: Pick<ParsedUsage, 'usage' | 'records' | 'reason' | 'serviceTier'>;
  at: Date;
}

export function quoteExchange(table: PriceTable, overrides: readonly OverrideRule[], x: ExchangeToPrice): PriceQuote {
  if (x.provider === 'selftest') return fixedQuote(0, 'selftest');
  if (x.kind === 'count_tokens' && x.parsed.usage !== null) return fixedQuote(0, 'free');
  if (x.parsed.usage === null) {
    return { ...fixedQuote(0, ''), costMinor: null, ratesSource: null, subtotalUsd: null, exactUsd: null, reason: x.parsed.reason ?? 'no usage in response' };
  }
  return priceUsage(table, overrides, x.provider, x.model, x.parsed.records, x.at, priceOptionsFor(x.kind, x.parsed.serviceTier));
}
