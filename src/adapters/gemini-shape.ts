// The GenerateContentResponse shape shared by the Gemini API, Vertex and Code Assist (which wraps
// it in `response`): where the payloads are in a body (JSON, SSE, or a streamed JSON array), how
// `usageMetadata` accumulates over a stream, and how it normalises (docs/wire-formats.md "Google
// Gemini API" and docs/adapters.md).
import type { ObservedResponse } from '../core/exchange.js';
import type { ParsedUsage } from '../core/parsed.js';
import type { UsageRecord } from '../core/usage.js';
import { readJsonArray } from './json-array.js';
import { countAt, errorClassOf, isRecord, nonEmptyString, recordAt, stringAt, tryParseJson, type JsonRecord } from './json-util.js';
import { observedEvents } from './sse.js';
import { observerGap, resultOf } from './types.js';

/** The payloads of a 2xx body, in order, and why they may not be all of it. */
export interface GeminiBody {
  payloads: unknown[];
  stream: boolean;
  /** Why the payloads may be incomplete (cut stream, observer cap); null when the body is whole. */
  gap: string | null;
  /** Why there is nothing to read at all; null when there is. */
  unreadable: string | null;
}

/**
 * Splits a response body into its GenerateContentResponse payloads: SSE events (`alt=sse`), the
 * elements of a streamed JSON array (no `alt`), or the one JSON object of a unary call.
 */
export function geminiPayloads(response: ObservedResponse): GeminiBody {
  const gap = observerGap(response);
  const events = observedEvents(response);
  if (events !== null) {
    // A half-sent last event fails to parse and is skipped; the gap (or a missing finishReason) says so.
    const payloads = events.map((ev) => tryParseJson(ev.data)).filter((p) => p !== undefined);
    return { payloads, stream: true, gap, unreadable: null };
  }
  const text = response.bodyText;
  if (text === null) return { payloads: [], stream: false, gap, unreadable: gap ?? 'response body not captured' };
  const array = readJsonArray(text);
  if (array !== null) {
    let arrayGap = gap;
    if (arrayGap === null && !array.closed) arrayGap = 'stream ended before the JSON array closed';
    if (arrayGap === null && array.invalid > 0) arrayGap = `${array.invalid} stream elements were not valid JSON`;
    return { payloads: array.elements, stream: true, gap: arrayGap, unreadable: null };
  }
  const body = tryParseJson(text);
  if (body === undefined) return { payloads: [], stream: false, gap, unreadable: gap ?? 'response body is not JSON' };
  return { payloads: [body], stream: false, gap, unreadable: null };
}

/** The error object of a non-2xx Google body: `{error}` or, from a streaming call, `[{error}]`. */
export function googleErrorBody(text: string | null): unknown {
  if (text === null) return undefined;
  const array = readJsonArray(text);
  if (array !== null) return array.elements.find((e) => isRecord(e) && isRecord(e.error));
  return tryParseJson(text);
}

/** What a run of GenerateContentResponse payloads says, read the way a stream accumulates. */
export interface GeminiReadout {
  /** The last usageMetadata seen: it is cumulative, and a payload without one changes nothing. */
  usage: JsonRecord | null;
  model: string | null;
  responseId: string | null;
  /** promptFeedback.blockReason: the prompt was refused before any candidate. */
  blockReason: string | null;
  /** A payload that was an error envelope (a stream failing after its 200). */
  errorClass: string | null;
  /** Some candidate carried a finishReason: the model's turn ended (streams have no other marker). */
  finished: boolean;
}

/** Reads GenerateContentResponse payloads (Code Assist's already taken out of `response`). */
export function readGeminiPayloads(responses: readonly unknown[]): GeminiReadout {
  const out: GeminiReadout = { usage: null, model: null, responseId: null, blockReason: null, errorClass: null, finished: false };
  for (const r of responses) {
    if (!isRecord(r)) continue;
    if (isRecord(r.error)) out.errorClass ??= errorClassOf(r) ?? 'error';
    const usage = recordAt(r, 'usageMetadata');
    if (usage !== null) out.usage = usage;
    out.model ??= modelName(r.modelVersion);
    out.responseId ??= stringAt(r, 'responseId');
    out.blockReason ??= stringAt(r, 'promptFeedback', 'blockReason');
    if (!out.finished && Array.isArray(r.candidates)) {
      out.finished = r.candidates.some((c) => stringAt(c, 'finishReason') !== null);
    }
  }
  return out;
}

/**
 * The result of a generateContent / streamGenerateContent exchange. A blocked prompt is a 200 with
 * no candidates: its errorClass is `blocked:<reason>`, and the usage it reports (the prompt) is
 * final, so unlike an error that interrupts a stream it leaves the tokens complete.
 */
export function generateResult(body: GeminiBody, read: GeminiReadout, model: string | null, providerRequestId: string | null): ParsedUsage {
  const records = read.usage === null ? null : geminiRecords(read.usage);
  const blocked = read.errorClass === null && read.blockReason !== null;
  const errorClass = read.errorClass ?? (blocked ? `blocked:${read.blockReason}` : null);
  let reason = body.gap;
  if (read.errorClass !== null) reason = `${body.stream ? 'stream error' : 'error body'}: ${read.errorClass}`;
  // Streams have no end marker but the finishReason of their last chunk; a blocked prompt has none.
  else if (reason === null && body.stream && !read.finished && !blocked) reason = 'stream ended before a finishReason';
  else if (reason === null && records === null) {
    reason = read.usage === null ? 'response without usageMetadata' : 'usageMetadata without token counts';
  }
  const result = resultOf({
    model: read.model ?? model,
    records,
    usageJson: read.usage,
    errorClass,
    providerRequestId,
    serviceTier: geminiServiceTier(read.usage),
    reason,
  });
  return blocked && reason === null ? { ...result, tokensComplete: result.usage !== null } : result;
}

/** `models/gemini-2.5-pro` and `gemini-2.5-pro` name the same model; the table knows the bare id. */
export function modelName(v: unknown): string | null {
  const s = nonEmptyString(v);
  if (s === null) return null;
  return nonEmptyString(s.startsWith('models/') ? s.slice('models/'.length) : s);
}

/**
 * `promptTokenCount` includes `cachedContentTokenCount`; `candidatesTokenCount` leaves out
 * `thoughtsTokenCount`; `toolUsePromptTokenCount` (search/tool results fed back) is billed as
 * input. So: input = prompt − cached + toolUse, cacheRead = cached, output = candidates + thoughts,
 * thinking = thoughts. Null when no count is present at all.
 */
export function geminiRecords(u: JsonRecord): UsageRecord[] | null {
  const prompt = countAt(u, 'promptTokenCount');
  const candidates = countAt(u, 'candidatesTokenCount');
  const thoughts = countAt(u, 'thoughtsTokenCount');
  const toolUse = countAt(u, 'toolUsePromptTokenCount');
  const cached = countAt(u, 'cachedContentTokenCount') ?? 0;
  if (prompt === null && candidates === null && thoughts === null && toolUse === null) return null;
  return [
    {
      model: null,
      usage: {
        inputTokens: Math.max(0, (prompt ?? 0) - cached) + (toolUse ?? 0),
        cacheReadTokens: cached,
        cacheWrite5mTokens: 0,
        cacheWrite1hTokens: 0,
        outputTokens: (candidates ?? 0) + (thoughts ?? 0),
        thinkingTokens: thoughts ?? 0,
        webSearchRequests: 0,
      },
    },
  ];
}

/**
 * The tier the usage says it was served at. Vertex reports `trafficType` (ON_DEMAND_FLEX is billed
 * as flex); the Gemini API reports `serviceTier`. Plain ON_DEMAND says nothing beyond standard.
 * Provisioned throughput is passed on as such: it is not billed per token, and the pricer leaves an
 * unknown tier unpriced rather than guessing.
 */
export function geminiServiceTier(u: JsonRecord | null): string | null {
  const traffic = stringAt(u, 'trafficType');
  if (traffic !== null && traffic !== 'ON_DEMAND' && traffic !== 'TRAFFIC_TYPE_UNSPECIFIED') {
    return traffic.startsWith('ON_DEMAND_') ? traffic.slice('ON_DEMAND_'.length).toLowerCase() : traffic.toLowerCase();
  }
  return stringAt(u, 'serviceTier')?.toLowerCase() ?? null;
}
