// xAI on api.x.ai speaks three borrowed shapes (docs/wire-formats.md "xAI", docs/adapters.md "xAI"):
// OpenAI chat, OpenAI Responses and Anthropic Messages. The parsers are the originals'; what
// differs is where reasoning tokens are counted, decided per usage object by `total_tokens`.
// `cost_in_usd_ticks` and `num_sources_used` stay in usage_json, unpriced here.
import type { RequestKind } from '../core/parsed.js';
import { meteredHost } from '../core/providers.js';
import type { UsageRecord } from '../core/usage.js';
import { countAt, type JsonRecord } from './json-util.js';
import { parseAnthropic } from './anthropic.js';
import { chatRecords, parseChatShapeWith } from './openai-chat.js';
import { parseResponses, responsesRecords } from './openai-responses.js';
import { defineAdapter, isPost, normaliseTarget } from './types.js';

function xaiMatcher(wanted: string, kind: RequestKind) {
  return (host: string, method: string, p: string): RequestKind | null => {
    const t = normaliseTarget(host, p);
    if (meteredHost(t.host)?.provider !== 'xai') return null;
    return isPost(method) && t.path === wanted ? kind : null;
  };
}

/**
 * Whether `reasoning` is billed on top of the reported output. `total_tokens` settles it when it
 * adds up one way and not the other; otherwise the API's documented convention (`fallback`) holds.
 * xAI chat reports reasoning outside completion_tokens (xai/json-grok3-mini-reasoning:
 * 12 + 1 + 228 = 241, and cost_in_usd_ticks matches output = 1 + 228); its Responses API inside
 * output_tokens (xai/responses-stream-grok-code-fast: 216 + 923 = 1139, reasoning 323).
 */
export function reasoningOutside(total: number | null, input: number, output: number, reasoning: number, fallback: boolean): boolean {
  if (reasoning === 0) return false;
  if (total === input + output + reasoning) return true;
  if (total === input + output && reasoning <= output) return false;
  return fallback;
}

function withReasoningAdded(records: UsageRecord[] | null, add: boolean, reasoning: number): UsageRecord[] | null {
  if (records === null || !add) return records;
  return records.map((r) => ({ ...r, usage: { ...r.usage, outputTokens: r.usage.outputTokens + reasoning } }));
}

export function xaiChatRecords(u: JsonRecord): UsageRecord[] | null {
  const reasoning = countAt(u, 'completion_tokens_details', 'reasoning_tokens') ?? 0;
  const prompt = countAt(u, 'prompt_tokens') ?? 0;
  const completion = countAt(u, 'completion_tokens') ?? 0;
  const outside = reasoningOutside(countAt(u, 'total_tokens'), prompt, completion, reasoning, true);
  return withReasoningAdded(chatRecords(u), outside, reasoning);
}

export function xaiResponsesRecords(u: JsonRecord): UsageRecord[] | null {
  const reasoning = countAt(u, 'output_tokens_details', 'reasoning_tokens') ?? 0;
  const input = countAt(u, 'input_tokens') ?? 0;
  const output = countAt(u, 'output_tokens') ?? 0;
  const outside = reasoningOutside(countAt(u, 'total_tokens'), input, output, reasoning, false);
  return withReasoningAdded(responsesRecords(u), outside, reasoning);
}

export const xaiChatAdapter = defineAdapter({
  id: 'xai-chat',
  provider: 'xai',
  matches: xaiMatcher('/v1/chat/completions', 'chat'),
  parse: (exchange) => parseChatShapeWith(exchange, xaiChatRecords),
});

export const xaiResponsesAdapter = defineAdapter({
  id: 'xai-responses',
  provider: 'xai',
  matches: xaiMatcher('/v1/responses', 'responses'),
  parse: (exchange) => parseResponses(exchange, xaiResponsesRecords),
});

/** Anthropic semantics as documented for the shape: input_tokens excludes cache reads and writes. */
export const xaiMessagesAdapter = defineAdapter({
  id: 'xai-messages',
  provider: 'xai',
  matches: xaiMatcher('/v1/messages', 'messages'),
  parse: parseAnthropic,
});
