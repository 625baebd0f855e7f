// Anthropic Messages API (docs/wire-formats.md "Anthropic Messages"), also what the self-test host
// answers. JSON bodies carry `usage`; streams split it between message_start and message_delta.
import type { Exchange, SseEvent } from '../core/exchange.js';
import type { ParsedUsage, RequestKind } from '../core/parsed.js';
import { meteredHost } from '../core/providers.js';
import { emptyUsage, type Usage, type UsageRecord } from '../core/usage.js';
import {
  countAt,
  isRecord,
  recordAt,
  stringAt,
  tryParseJson,
  type JsonRecord,
} from './json-util.js';
import { observedEvents } from './sse.js';
import {
  defineAdapter,
  header,
  isPost,
  isSuccess,
  normaliseTarget,
  observerGap,
  resultOf,
  upstreamErrorResult,
} from './types.js';

type AnthropicKind = Extract<RequestKind, 'messages' | 'count_tokens'>;

function kindOfPath(path: string): AnthropicKind | null {
  if (path === '/v1/messages') return 'messages';
  if (path === '/v1/messages/count_tokens') return 'count_tokens';
  return null;
}

export const anthropicAdapter = defineAdapter({
  id: 'anthropic',
  provider: 'anthropic',
  matches(host, method, path) {
    const t = normaliseTarget(host, path);
    const provider = meteredHost(t.host)?.provider;
    // The self-test host answers Anthropic-shaped responses; the host table makes its rows `selftest`.
    if (provider !== 'anthropic' && provider !== 'selftest') return null;
    return isPost(method) ? kindOfPath(t.path) : null;
  },
  parse: parseAnthropic,
});

/** Also what xAI's Anthropic-compatible /v1/messages speaks (adapters/xai.ts). */
export function parseAnthropic(exchange: Exchange): ParsedUsage {
  const { response } = exchange;
  const headerId = header(response, 'request-id');
  const events = observedEvents(response);
  if (!isSuccess(response.status)) {
    const body = response.bodyText === null ? undefined : tryParseJson(response.bodyText);
    return upstreamErrorResult(response.status, body, headerId ?? stringAt(body, 'request_id'));
  }
  if (events !== null) return parseStream(events, exchange, headerId);
  // Parsed by path alone, not host: Anthropic-compatible endpoints and captures share the shape.
  const kind = kindOfPath(normaliseTarget(exchange.host, exchange.path).path) ?? 'messages';
  return parseJson(exchange, headerId, kind);
}

function parseJson(exchange: Exchange, headerId: string | null, kind: AnthropicKind): ParsedUsage {
  const { response } = exchange;
  const gap = observerGap(response);
  const body = response.bodyText === null ? undefined : tryParseJson(response.bodyText);
  const base = {
    model: stringAt(body, 'model'),
    providerRequestId: headerId ?? stringAt(body, 'id'),
    serviceTier: null,
    errorClass: null,
  };
  if (!isRecord(body)) {
    const why = response.bodyText === null ? 'response body not captured' : 'response body is not JSON';
    return resultOf({ ...base, records: null, usageJson: null, reason: gap ?? why });
  }
  if (body.type === 'error') {
    const errorClass = stringAt(body, 'error', 'type') ?? 'error';
    return resultOf({ ...base, errorClass, records: null, usageJson: null, reason: `error body: ${errorClass}` });
  }
  if (kind === 'count_tokens') {
    // count_tokens is free: its reported count is kept as usage_json, but it bills zero tokens, so
    // the row is a real $0 (one zero record) rather than a NULL "usage unknown".
    const known = countAt(body, 'input_tokens') !== null;
    return resultOf({
      ...base,
      records: known ? [{ model: null, usage: emptyUsage() }] : null,
      usageJson: body,
      reason: known ? gap : 'count_tokens response without input_tokens',
    });
  }
  const usage = recordAt(body, 'usage');
  const records = usage === null ? null : anthropicRecords(usage);
  return resultOf({
    ...base,
    serviceTier: stringAt(usage, 'service_tier'),
    records,
    usageJson: usage,
    reason: gap ?? (records === null ? 'response without usage' : null),
  });
}

function parseStream(events: readonly SseEvent[], exchange: Exchange, headerId: string | null): ParsedUsage {
  let start: JsonRecord | null = null;
  let delta: JsonRecord | null = null;
  let model: string | null = null;
  let messageId: string | null = null;
  let errorClass: string | null = null;
  let stopped = false;
  for (const ev of events) {
    let obj: unknown;
    let type = ev.event;
    if (type === null) {
      // Some compatible servers omit `event:` lines; the payload's `type` says the same.
      obj = tryParseJson(ev.data);
      type = stringAt(obj, 'type');
    }
    // Only these four matter; skipping the rest unparsed keeps long streams cheap.
    if (type !== 'message_start' && type !== 'message_delta' && type !== 'message_stop' && type !== 'error') {
      continue;
    }
    if (type === 'message_stop') {
      stopped = true;
      continue;
    }
    obj ??= tryParseJson(ev.data);
    if (type === 'error') {
      errorClass ??= stringAt(obj, 'error', 'type') ?? 'error';
    } else if (type === 'message_start') {
      const message = recordAt(obj, 'message');
      model ??= stringAt(message, 'model');
      messageId ??= stringAt(message, 'id');
      const u = recordAt(message, 'usage');
      if (u !== null) start = u;
    } else {
      const u = recordAt(obj, 'usage');
      // message_delta usage is cumulative: later values replace earlier ones, never add to them.
      if (u !== null) delta = overwrite(delta ?? {}, u);
    }
  }
  const merged = overwrite(overwrite({}, start ?? {}), delta ?? {});
  const hasUsage = start !== null || delta !== null;
  const records = hasUsage ? anthropicRecords(merged) : null;
  const gap = observerGap(exchange.response);
  let reason: string | null = null;
  if (errorClass !== null) reason = `stream error: ${errorClass}`;
  else if (gap !== null) reason = gap;
  else if (!stopped) reason = 'stream ended before message_stop';
  else if (records === null) reason = hasUsage ? 'usage without token counts' : 'stream without usage';
  return resultOf({
    model,
    records,
    usageJson: hasUsage ? { message_start: start, message_delta: delta } : null,
    errorClass,
    providerRequestId: headerId ?? messageId,
    serviceTier: stringAt(merged, 'service_tier'),
    reason,
  });
}

/** Copies every present, non-null field of `src` over `dst` (the wire-formats merge rule). */
function overwrite(dst: JsonRecord, src: JsonRecord): JsonRecord {
  for (const [k, v] of Object.entries(src)) {
    if (v !== null && v !== undefined) dst[k] = v;
  }
  return dst;
}

/**
 * The priced records of one usage object; null when it has no token counts at all.
 *
 * With `iterations[]` (compaction, advisor) the iterations are what is billed: the top-level
 * totals leave out the compaction iteration and the advisor's, so each iteration is one record, an
 * iteration naming a `model` billed as that model. Counts that only the top level reports (thinking
 * tokens, web searches) are added once, to the first executor iteration, so the sum keeps them.
 */
export function anthropicRecords(u: JsonRecord): UsageRecord[] | null {
  if (countAt(u, 'input_tokens') === null && countAt(u, 'output_tokens') === null) return null;
  const top = usageOf(u);
  const iterations = Array.isArray(u.iterations) ? u.iterations.filter(isRecord) : [];
  if (iterations.length === 0) return [{ model: null, usage: top }];
  const records = iterations.map((it) => ({ model: stringAt(it, 'model'), usage: usageOf(it) }));
  let target = iterations.findIndex((it) => it.type === 'message' && stringAt(it, 'model') === null);
  if (target === -1) target = Math.max(0, records.findIndex((r) => r.model === null));
  const inIterations = (pick: (x: Usage) => number): number =>
    records.reduce((n, r) => (r.model === null ? n + pick(r.usage) : n), 0);
  const t = records[target].usage;
  t.thinkingTokens += Math.max(0, top.thinkingTokens - inIterations((x) => x.thinkingTokens));
  t.webSearchRequests += Math.max(0, top.webSearchRequests - inIterations((x) => x.webSearchRequests));
  return records;
}

function usageOf(u: JsonRecord): Usage {
  // cache_creation_input_tokens is the total; the ephemeral split says which part is 1h. No split
  // means all 5m (wire-formats.md). A split that disagrees with the total (message_start's split
  // next to message_delta's newer total) keeps the total and gives the remainder to 5m.
  const writeTotal = countAt(u, 'cache_creation_input_tokens');
  const split5m = countAt(u, 'cache_creation', 'ephemeral_5m_input_tokens') ?? 0;
  const split1h = countAt(u, 'cache_creation', 'ephemeral_1h_input_tokens') ?? 0;
  const write1h = writeTotal === null ? split1h : Math.min(split1h, writeTotal);
  const write5m = writeTotal === null ? split5m : writeTotal - write1h;
  return {
    inputTokens: countAt(u, 'input_tokens') ?? 0,
    cacheReadTokens: countAt(u, 'cache_read_input_tokens') ?? 0,
    cacheWrite5mTokens: write5m,
    cacheWrite1hTokens: write1h,
    outputTokens: countAt(u, 'output_tokens') ?? 0,
    thinkingTokens: countAt(u, 'output_tokens_details', 'thinking_tokens') ?? 0,
    webSearchRequests: countAt(u, 'server_tool_use', 'web_search_requests') ?? 0,
  };
}
