// Expected costs computed in the test, straight from the genai-prices data (not through the code
// under test): USD per million tokens as exact decimals, 1 USD = 100,000 minor units, rounded half up
// once per row.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir } from './fake-provider.js';

interface RawModel {
  id: string;
  prices: unknown;
}

let cache: Array<{ id: string; models: RawModel[] }> | null = null;

function data(): Array<{ id: string; models: RawModel[] }> {
  if (!cache) {
    const file = join(fixturesDir(), '..', '..', 'pricing', 'genai-prices', 'data.v2.json');
    cache = JSON.parse(readFileSync(file, 'utf8')) as Array<{ id: string; models: RawModel[] }>;
  }
  return cache;
}

/** Base-tier price map of a model by its genai-prices id (for prices without date constraints). */
export function basePrices(provider: string, modelId: string): Record<string, number> {
  const p = data().find((x) => x.id === provider);
  const m = p?.models.find((x) => x.id === modelId);
  if (!m) throw new Error(`no ${provider}/${modelId} in price data`);
  let prices = m.prices as Record<string, unknown> | Array<{ prices: Record<string, unknown> }>;
  if (Array.isArray(prices)) prices = prices[prices.length - 1].prices;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(prices)) {
    if (typeof v === 'number') out[k] = v;
    else if (v && typeof v === 'object' && typeof (v as { base?: unknown }).base === 'number') out[k] = (v as { base: number }).base;
  }
  return out;
}

/** Exact decimal -> BigInt scaled by 1e9. */
function scaled(n: number): bigint {
  const [i, f = ''] = n.toString().split('.');
  return BigInt(i) * 1_000_000_000n + BigInt((f + '000000000').slice(0, 9));
}

/** tokens per class x USD/Mtok -> minor units, rounded half up. */
export function expectedMinor(lines: Array<[tokens: number, usdPerMtok: number]>): number {
  // sum(tokens * price*1e9) / 1e6 tokens -> USD*1e9; * 1e5 minor/USD / 1e9
  let num = 0n;
  for (const [t, p] of lines) num += BigInt(t) * scaled(p);
  const denom = 1_000_000n * 1_000_000_000n; // Mtok and the 1e9 scale
  const minorNum = num * 100_000n;
  return Number((minorNum * 2n + denom) / (2n * denom));
}
