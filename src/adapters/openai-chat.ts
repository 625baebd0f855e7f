// OpenAI Chat Completions (docs/wire-formats.md "OpenAI Chat Completions"). The same wire shape is
// spoken by legacy /v1/completions and by many compatible servers (Azure, Groq, DeepSeek, Mistral,
// OpenRouter, Z.ai, Cerebras), so the parser is exported for the completions adapter to share.
import type { Exchange, SseEvent } from '../core/exchange.js';
import type { ParsedUsage, RequestKind } from '../core/parsed.js';
import { meteredHost } from '../core/providers.js';
import type { UsageRecord } from '../core/usage.js';
import {
  countAt,
  errorClassOf,
  field,
  isRecord,
  nonEmptyString,
  path,
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

export const NO_STREAM_USAGE_REASON = 'stream without usage (client did not request include_usage)';

/** An OpenAI-host POST to exactly `wanted`; shared by the four api.openai.com adapters. */
export function openAiMatcher(wanted: string, kind: RequestKind) {
  return (host: string, method: string, p: string): RequestKind | null => {
    const t = normaliseTarget(host, p);
    const h = meteredHost(t.host);
    // chatgpt.com (Codex) is provider openai too, but speaks only its own path, never these.
    if (h?.provider !== 'openai' || h.mode !== 'api') return null;
    return isPost(method) && t.path === wanted ? kind : null;
  };
}

/**
 * The tier the response says it was served at. `auto` is the request's choice echoed back before
 * the server resolved it (response.created, a failed response): not a tier anything is billed at.
 */
export function billedServiceTier(v: unknown): string | null {
  const tier = nonEmptyString(v);
  return tier === 'auto' ? null : tier;
}

export const openAiChatAdapter = defineAdapter({
  id: 'openai-chat',
  provider: 'openai',
  matches: openAiMatcher('/v1/chat/completions', 'chat'),
  parse: parseChatShape,
});

/** Where an OpenAI-style usage object keeps its counts (chat and Responses name them differently). */
export interface OpenAiUsageFields {
  input: string;
  output: string;
  inputDetails: string;
  outputDetails: string;
}

const CHAT_FIELDS: OpenAiUsageFields = {
  input: 'prompt_tokens',
  output: 'completion_tokens',
  inputDetails: 'prompt_tokens_details',
  outputDetails: 'completion_tokens_details',
};

/**
 * OpenAI-style usage: the input count includes cached and cache-write tokens (genai-prices reads
 * both as parts of it), which come out of the base input here; the output includes reasoning.
 */
export function openAiStyleRecords(u: JsonRecord, f: OpenAiUsageFields): UsageRecord[] | null {
  const input = countAt(u, f.input);
  const output = countAt(u, f.output);
  if (input === null && output === null) return null;
  const cached = countAt(u, f.inputDetails, 'cached_tokens') ?? 0;
  const written = countAt(u, f.inputDetails, 'cache_write_tokens') ?? 0;
  return [
    {
      model: null,
      usage: {
        inputTokens: Math.max(0, (input ?? 0) - cached - written),
        cacheReadTokens: cached,
        cacheWrite5mTokens: written,
        cacheWrite1hTokens: 0,
        outputTokens: output ?? 0,
        thinkingTokens: countAt(u, f.outputDetails, 'reasoning_tokens') ?? 0,
        webSearchRequests: 0,
      },
    },
  ];
}

/** Chat-shaped usage: `prompt_tokens` includes cached (and cache-write) tokens. */
export function chatRecords(u: JsonRecord): UsageRecord[] | null {
  return openAiStyleRecords(u, CHAT_FIELDS);
}

/** How a chat-shaped usage object becomes priced records (xAI counts reasoning differently). */
export type ChatRecordsOf = (u: JsonRecord) => UsageRecord[] | null;

export function parseChatShape(exchange: Exchange): ParsedUsage {
  return parseChatShapeWith(exchange, chatRecords);
}

export function parseChatShapeWith(exchange: Exchange, recordsOf: ChatRecordsOf): ParsedUsage {
  const { response } = exchange;
  const headerId = header(response, 'x-request-id');
  if (!isSuccess(response.status)) {
    const body = response.bodyText === null ? undefined : tryParseJson(response.bodyText);
    return upstreamErrorResult(response.status, body, headerId);
  }
  const events = observedEvents(response);
  if (events !== null) return parseStream(events, exchange, headerId, recordsOf);
  const gap = observerGap(response);
  const body = response.bodyText === null ? undefined : tryParseJson(response.bodyText);
  const usage = recordAt(body, 'usage');
  const records = usage === null ? null : recordsOf(usage);
  const errorClass = isRecord(field(body, 'error')) ? errorClassOf(body) ?? 'error' : null;
  let reason = gap;
  if (reason === null && !isRecord(body)) {
    reason = response.bodyText === null ? 'response body not captured' : 'response body is not JSON';
  }
  if (reason === null && errorClass !== null) reason = `error body: ${errorClass}`;
  if (reason === null && records === null) reason = 'response without usage';
  return resultOf({
    model: stringAt(body, 'model'),
    records,
    usageJson: usage,
    errorClass,
    providerRequestId: headerId ?? stringAt(body, 'id'),
    serviceTier: billedServiceTier(field(body, 'service_tier')),
    reason,
  });
}

function parseStream(events: readonly SseEvent[], exchange: Exchange, headerId: string | null, recordsOf: ChatRecordsOf): ParsedUsage {
  let usage: JsonRecord | null = null;
  let model: string | null = null;
  let id: string | null = null;
  let tier: string | null = null;
  let errorClass: string | null = null;
  let done = false;
  for (const ev of events) {
    if (ev.data === '[DONE]') {
      done = true;
      continue;
    }
    const obj = tryParseJson(ev.data);
    if (!isRecord(obj)) continue;
    // Groq sends `event: error`; OpenRouter puts `error` in a chunk that may still carry usage.
    if (ev.event === 'error' || isRecord(obj.error)) errorClass ??= errorClassOf(obj) ?? 'error';
    model ??= nonEmptyString(obj.model); // Azure's first chunk has model ""
    id ??= nonEmptyString(obj.id);
    tier = billedServiceTier(obj.service_tier) ?? tier;
    // The last chunk carrying usage wins, whether or not it still has choices (Groq, Mistral, ...).
    if (isRecord(obj.usage)) usage = obj.usage;
  }
  const records = usage === null ? null : recordsOf(usage);
  let reason: string | null = observerGap(exchange.response);
  if (errorClass !== null) reason = `stream error: ${errorClass}`;
  else if (reason === null && records === null) {
    if (usage !== null) reason = 'usage without token counts';
    else if (!done) reason = 'stream ended before [DONE] without usage';
    else if (path(exchange.requestJson, 'stream_options', 'include_usage') === true) {
      reason = 'stream without usage although the client requested include_usage';
    } else reason = NO_STREAM_USAGE_REASON;
  }
  return resultOf({
    model,
    records,
    usageJson: usage,
    errorClass,
    providerRequestId: headerId ?? id,
    serviceTier: tier,
    reason,
  });
}
