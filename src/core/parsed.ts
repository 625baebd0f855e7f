// What an adapter reads out of one exchange. Adapters are pure: no I/O, no clock, no prices.
import type { Usage, UsageRecord, UsageSource } from './usage.js';

export const REQUEST_KINDS = [
  'messages',
  'count_tokens',
  'batch_results',
  'chat',
  'responses',
  'embeddings',
  'completions',
  'generate',
  'embed',
  'selftest',
] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export interface ParsedUsage {
  /** Model the response reports; null when it names none (the meter falls back to the request's). */
  model: string | null;
  /** Priced units; empty when there is no usage. Their sum is `usage`. */
  records: UsageRecord[];
  /** Sum of records, or null when no usage could be read. */
  usage: Usage | null;
  /**
   * The provider's usage exactly as sent, in its own field names, merged the way the wire format says
   * (Anthropic streams: {message_start, message_delta}; OpenAI chat: the chunk's `usage`; Responses:
   * `response.usage`; Gemini: the last `usageMetadata`). null when the wire carried none.
   */
  usageJson: unknown;
  usageSource: UsageSource;
  /** True only when the usage read is the final one for the exchange. */
  tokensComplete: boolean;
  /** Provider's error type (`overloaded_error`, `invalid_request_error`, ...) when the body carried one. */
  errorClass: string | null;
  providerRequestId: string | null;
  serviceTier: string | null;
  /** Why usage is missing or partial; null when complete. */
  reason: string | null;
}

export function parsedNothing(reason: string, model: string | null = null): ParsedUsage {
  return {
    model,
    records: [],
    usage: null,
    usageJson: null,
    usageSource: 'none',
    tokensComplete: false,
    errorClass: null,
    providerRequestId: null,
    serviceTier: null,
    reason,
  };
}
