// The adapter contract (STYLE §5): one pure adapter per API family. `matches` decides whether an
// exchange is metered and as what; `parse` reads usage out of what the daemon observed. No I/O, no
// clock, no prices, and `parse` never throws: a body it cannot read is a ParsedUsage with a reason.
import type { Exchange, ObservedResponse } from '../core/exchange.js';
import { parsedNothing, type ParsedUsage, type RequestKind } from '../core/parsed.js';
import type { ProviderId } from '../core/providers.js';
import { errorMessage } from '../core/errors.js';
import { addUsage, emptyUsage, type Usage, type UsageRecord } from '../core/usage.js';
import { errorClassOf } from './json-util.js';

export const ADAPTER_IDS = [
  'anthropic',
  'openai-chat',
  'openai-responses',
  'openai-embeddings',
  'openai-completions',
  'anthropic-batch-results',
  'codex',
  'gemini',
  'gemini-code-assist',
  'xai-chat',
  'xai-responses',
  'xai-messages',
] as const;
export type AdapterId = (typeof ADAPTER_IDS)[number];

export interface Adapter {
  readonly id: AdapterId;
  /** The provider whose wire shape this is; the row's provider still comes from the host table. */
  readonly provider: ProviderId;
  /** The request kind when this adapter meters the request, else null (passes through, no row). */
  matches(host: string, method: string, path: string): RequestKind | null;
  parse(exchange: Exchange): ParsedUsage;
}

/**
 * Builds an adapter whose parse is guarded: the daemon must never lose a row (or a socket) to a
 * parser bug on a body nobody anticipated, so an exception becomes a reason.
 */
export function defineAdapter(spec: Adapter): Adapter {
  return {
    id: spec.id,
    provider: spec.provider,
    matches(host, method, path) {
      try {
        return spec.matches(host, method, path);
      } catch {
        return null;
      }
    },
    parse(exchange) {
      try {
        return spec.parse(exchange);
      } catch (e) {
        return parsedNothing(`adapter ${spec.id} failed: ${errorMessage(e)}`);
      }
    },
  };
}

/** Host without port, lower-cased; path without query or fragment and without a trailing slash. */
export function normaliseTarget(host: string, path: string): { host: string; path: string } {
  const h = host.toLowerCase().replace(/:\d+$/, '');
  let p = path;
  const q = p.search(/[?#]/);
  if (q !== -1) p = p.slice(0, q);
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return { host: h, path: p };
}

/** Only POST is metered: GETs (model lists, background polls) pass through without a row. */
export function isPost(method: string): boolean {
  return method.toUpperCase() === 'POST';
}

export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** Why what the observer holds may not be the whole body; null when it is. */
export function observerGap(response: ObservedResponse): string | null {
  if (response.outcome === 'aborted') return 'exchange aborted before the response ended';
  if (response.outcome === 'failed') return 'exchange failed (network error)';
  if (response.truncated) return 'response observer hit its capture cap';
  return null;
}

export function header(response: ObservedResponse, name: string): string | null {
  const v = response.headers[name];
  return typeof v === 'string' && v.length > 0 ? v : null;
}

/** What an adapter read, before the fields every result derives the same way. */
export interface Readout {
  model: string | null;
  /** Records read from the wire; null when there was no usage to read. */
  records: UsageRecord[] | null;
  usageJson: unknown;
  errorClass: string | null;
  providerRequestId: string | null;
  serviceTier: string | null;
  /** Why the usage is missing or may not be final; null when it is final. */
  reason: string | null;
}

/**
 * One rule for every adapter: `usage` is the sum of the records, and tokens are complete only when
 * usage was read, nothing was cut, and no error interrupted the response.
 */
export function resultOf(r: Readout): ParsedUsage {
  let records = r.records;
  let usage: Usage | null = null;
  let reason = r.reason;
  if (records !== null) {
    usage = records.reduce((sum, rec) => addUsage(sum, rec.usage), emptyUsage());
    // Each count read is a safe integer, but adapters add them up (iterations, candidates +
    // thoughts, output + reasoning, batch lines), and a sum past 2^53 is no longer exact: such
    // usage is not stored or priced as if it were (found by test/fuzz/adapters.test.ts).
    if (!countsInRange(usage) || !records.every((rec) => countsInRange(rec.usage))) {
      records = null;
      usage = null;
      reason = 'usage token counts out of range';
    }
  }
  return {
    model: r.model,
    records: records ?? [],
    usage,
    usageJson: r.usageJson ?? null,
    usageSource: usage === null ? 'none' : 'reported',
    tokensComplete: usage !== null && reason === null && r.errorClass === null,
    errorClass: r.errorClass,
    providerRequestId: r.providerRequestId,
    serviceTier: r.serviceTier,
    reason,
  };
}

function countsInRange(u: Usage): boolean {
  return Object.values(u).every((n) => Number.isSafeInteger(n) && n >= 0);
}

/**
 * A non-2xx answer: no usage (providers do not bill rejected requests), the provider's error type
 * when the body names one, else `http_<status>` so every error row has a class.
 */
export function upstreamErrorResult(status: number, body: unknown, providerRequestId: string | null): ParsedUsage {
  // Status 0: no answer came at all. There is nothing to class here; the meter's own failure
  // (upstream_unreachable, client_aborted) says what happened, so no `http_0` stands in for it.
  if (status === 0) return parsedNothing('no response from upstream');
  const p = parsedNothing(`upstream error ${status}`);
  p.errorClass = errorClassOf(body) ?? `http_${status}`;
  p.providerRequestId = providerRequestId;
  return p;
}
