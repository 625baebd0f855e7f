// The pricing module's public surface (SPEC §3): bundled table, overrides, and the cost of a usage.
export {
  findModel,
  formatScaled,
  listRates,
  loadBundledTable,
  nanoToUsd,
  normaliseModelId,
  parsePriceTable,
  PREFIX_RESTS,
  RATE_FIELDS,
  ratesAt,
  withProviderDefaults,
} from './table.js';
export type {
  ModelMatch,
  ModelPrice,
  PrefixRest,
  PricePeriod,
  PriceTable,
  RateField,
  RateRow,
  RateRowTier,
  Rates,
  RateSet,
  ShapedPrefix,
  Tier,
} from './table.js';
export {
  BATCH_DISCOUNT_PERCENT,
  costOf,
  exactToMinor,
  exactToUsd,
  priceUsage,
  tierFor,
} from './cost.js';
export type { CostBreakdown, CostLine, CostOptions, PriceOptions, PriceQuote, QuoteLine } from './cost.js';
export {
  findOverride,
  listOverrideRates,
  OVERRIDE_SOURCE,
  overrideMatches,
  overrideRates,
  usdToNano,
} from './overrides.js';
export type { OverrideRule } from './overrides.js';
