// Normalised token counts: one meaning everywhere (SPEC §2, docs/wire-formats.md).

export interface Usage {
  /** Input billed at the base input rate: no cache reads, no cache writes. */
  inputTokens: number;
  cacheReadTokens: number;
  cacheWrite5mTokens: number;
  cacheWrite1hTokens: number;
  /** All billed output, reasoning included. */
  outputTokens: number;
  /** The reasoning part of outputTokens. */
  thinkingTokens: number;
  webSearchRequests: number;
}

export const ZERO_USAGE: Readonly<Usage> = Object.freeze({
  inputTokens: 0,
  cacheReadTokens: 0,
  cacheWrite5mTokens: 0,
  cacheWrite1hTokens: 0,
  outputTokens: 0,
  thinkingTokens: 0,
  webSearchRequests: 0,
});

export function emptyUsage(): Usage {
  return { ...ZERO_USAGE };
}

export function addUsage(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
    cacheWrite5mTokens: a.cacheWrite5mTokens + b.cacheWrite5mTokens,
    cacheWrite1hTokens: a.cacheWrite1hTokens + b.cacheWrite1hTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    thinkingTokens: a.thinkingTokens + b.thinkingTokens,
    webSearchRequests: a.webSearchRequests + b.webSearchRequests,
  };
}

/** Everything the prompt carried, cached or not: what long-context tiers are decided on. */
export function totalInputTokens(u: Usage): number {
  return u.inputTokens + u.cacheReadTokens + u.cacheWrite5mTokens + u.cacheWrite1hTokens;
}

/**
 * One priced unit of a response. Usually one per exchange; Anthropic `usage.iterations[]` can give
 * several, some billed under another model (an advisor iteration).
 */
export interface UsageRecord {
  /** Model billed for this record; null = the exchange's model. */
  model: string | null;
  usage: Usage;
}

export const USAGE_SOURCES = ['reported', 'estimated', 'none'] as const;
export type UsageSource = (typeof USAGE_SOURCES)[number];
