// Money is integer: 1 USD = 100,000 minor units (SPEC §3).
export const MINOR_UNITS_PER_USD = 100_000;

export function formatUsd(minor: number | null, digits = 2): string {
  if (minor === null) return 'n/a';
  const usd = minor / MINOR_UNITS_PER_USD;
  return `$${usd.toFixed(digits)}`;
}
