// Every rate in force, as `pricing list` and GET /v1/pricing show them: the overrides first (they
// are consulted first), then the bundled table in its order.
import { findOverride, listOverrideRates, type OverrideRule } from './overrides.js';
import { listRates, type PriceTable, type RateRow } from './table.js';

export interface ListedRate extends RateRow {
  /**
   * For a bundled row: the pattern of the override in config.toml that matches this table id, so a
   * request naming exactly this id is priced by the override. Dated snapshot ids resolve to the table
   * model by prefix; whether the override covers them too depends on its pattern (a glob such as
   * `claude-3-5-sonnet*` does). null when no override matches.
   */
  overridden_by: string | null;
}

export function listedRates(table: PriceTable, overrides: readonly OverrideRule[], at: Date, provider?: string): ListedRate[] {
  const own = listOverrideRates(overrides, provider).map((r) => ({ ...r, overridden_by: null }));
  const bundled = listRates(table, at, provider).map((r) => ({ ...r, overridden_by: findOverride(overrides, r.provider, r.model)?.model ?? null }));
  return [...own, ...bundled];
}
