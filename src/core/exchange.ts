// What the daemon observed of one intercepted HTTP exchange, handed to a pure adapter.

export interface SseEvent {
  /** The `event:` field, or null when the event had none. */
  event: string | null;
  /** The `data:` lines joined with "\n". */
  data: string;
}

/** How an exchange ended, from the meter's point of view (STYLE §4). */
export const OUTCOMES = ['completed', 'aborted', 'failed'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface ObservedResponse {
  status: number;
  /** Lower-cased header names; repeated headers joined with ", ". */
  headers: Readonly<Record<string, string>>;
  /** Decoded (decompressed) body text when it was not SSE; null when not captured. */
  bodyText: string | null;
  /** SSE events in arrival order, when the body was an event stream. */
  events: readonly SseEvent[] | null;
  /** The observer hit its cap: what is here is incomplete (the client still got every byte). */
  truncated: boolean;
  /** Whether the whole body arrived. */
  outcome: Outcome;
}

export interface Exchange {
  host: string;
  method: string;
  /** Path including the query string, as the client sent it. */
  path: string;
  /** Parsed JSON request body when it was JSON and under the capture limit; otherwise null. */
  requestJson: unknown;
  response: ObservedResponse;
}
