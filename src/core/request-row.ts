// One row of `requests`: what the meter hands the store for every intercepted exchange.
import type { Outcome } from './exchange.js';
import type { RequestKind } from './parsed.js';
import type { Mode, ProviderId } from './providers.js';
import type { UsageSource } from './usage.js';

export const ATTRIBUTION_RULES = [
  'proxy_user',
  'env',
  'haltonrc',
  'ide_workspace',
  'git_root',
  'container',
  'cwd',
  'default',
  'unresolved',
  'selftest',
] as const;
export type AttributionRule = (typeof ATTRIBUTION_RULES)[number];

export interface RequestRow {
  id: string;
  projectSlug: string;
  provider: ProviderId;
  mode: Mode;
  requestKind: RequestKind | null;
  host: string;
  path: string;
  model: string | null;
  modelRequested: string | null;
  statusCode: number | null;
  errorClass: string | null;
  stream: boolean;
  /** Token columns are null when no usage could be read: never invented. */
  inputTokens: number | null;
  cacheReadTokens: number | null;
  cacheWrite5mTokens: number | null;
  cacheWrite1hTokens: number | null;
  outputTokens: number | null;
  thinkingTokens: number | null;
  webSearchRequests: number | null;
  costUsdMinorUnits: number | null;
  /** Why cost is null (unknown model, no usage, ...). */
  costReason: string | null;
  ratesSource: string | null;
  serviceTier: string | null;
  latencyMs: number | null;
  ttfbMs: number | null;
  tokensComplete: boolean;
  usageSource: UsageSource;
  outcome: Outcome;
  attributionRule: AttributionRule;
  clientPid: number | null;
  clientName: string | null;
  providerRequestId: string | null;
  usageJson: string | null;
  requestedAt: string;
  completedAt: string;
}
