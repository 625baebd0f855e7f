// OpenAI Responses API (docs/wire-formats.md "OpenAI Responses API"). Streams have no [DONE]: the
// terminal event (response.completed / response.incomplete / response.failed) carries the whole
// response object, whose `usage` is the usage.
import type { Exchange, SseEvent } from '../core/exchange.js';
import type { ParsedUsage } from '../core/parsed.js';
import type { UsageRecord } from '../core/usage.js';
import {
  codeString,
  errorClassOf,
  isRecord,
  path,
  recordAt,
  stringAt,
  tryParseJson,
  type JsonRecord,
} from './json-util.js';
import { billedServiceTier, openAiMatcher, openAiStyleRecords, type OpenAiUsageFields } from './openai-chat.js';
import { observedEvents } from './sse.js';
import {
  defineAdapter,
  header,
  isSuccess,
  observerGap,
  resultOf,
  upstreamErrorResult,
} from './types.js';

export const openAiResponsesAdapter = defineAdapter({
  id: 'openai-responses',
  provider: 'openai',
  matches: openAiMatcher('/v1/responses', 'responses'),
  parse: (exchange) => parseResponses(exchange),
});

const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);
// Events read before the terminal one: only for the model/id/tier of a stream that never ends.
const OPENING = new Set(['response.created', 'response.in_progress']);

/**
 * `input_tokens` includes cached tokens and, in the newer shape, `cache_write_tokens`
 * (openai/responses-stream-cache-write-field). genai-prices reads both as parts of input_tokens and
 * prices writes at the model's cache-write rate, so they come out of the base input here and go to
 * the 5m cache-write column (OpenAI has one cache-write rate; 5m is the column priced by it).
 */
export function responsesRecords(u: JsonRecord): UsageRecord[] | null {
  return openAiStyleRecords(u, RESPONSES_FIELDS);
}

const RESPONSES_FIELDS: OpenAiUsageFields = {
  input: 'input_tokens',
  output: 'output_tokens',
  inputDetails: 'input_tokens_details',
  outputDetails: 'output_tokens_details',
};

/** How a Responses usage object becomes priced records (xAI may count reasoning differently). */
export type ResponsesRecordsOf = (u: JsonRecord) => UsageRecord[] | null;

/** Also what the Codex backend and xAI's /v1/responses speak (adapters/codex.ts, adapters/xai.ts). */
export function parseResponses(exchange: Exchange, recordsOf: ResponsesRecordsOf = responsesRecords): ParsedUsage {
  const { response } = exchange;
  const headerId = header(response, 'x-request-id');
  if (!isSuccess(response.status)) {
    const body = response.bodyText === null ? undefined : tryParseJson(response.bodyText);
    return upstreamErrorResult(response.status, body, headerId);
  }
  const events = observedEvents(response);
  if (events !== null) return parseStream(events, exchange, headerId, recordsOf);
  const body = response.bodyText === null ? undefined : tryParseJson(response.bodyText);
  if (!isRecord(body)) {
    const why = response.bodyText === null ? 'response body not captured' : 'response body is not JSON';
    return fromResponseObject(undefined, null, headerId, observerGap(response) ?? why, recordsOf);
  }
  return fromResponseObject(body, failureOf(body), headerId, observerGap(response), recordsOf);
}

function parseStream(events: readonly SseEvent[], exchange: Exchange, headerId: string | null, recordsOf: ResponsesRecordsOf): ParsedUsage {
  let opening: unknown;
  let terminal: unknown;
  let terminalType: string | null = null;
  let errorClass: string | null = null;
  for (const ev of events) {
    let obj: unknown;
    let type = ev.event;
    if (type === null) {
      obj = tryParseJson(ev.data);
      type = stringAt(obj, 'type');
    }
    // Deltas are most of a stream and say nothing about usage: skip them unparsed.
    if (type === null || (!TERMINAL.has(type) && !OPENING.has(type) && type !== 'error')) continue;
    obj ??= tryParseJson(ev.data);
    if (type === 'error') {
      errorClass ??= errorClassOf(obj) ?? 'error';
    } else if (TERMINAL.has(type)) {
      terminal = recordAt(obj, 'response') ?? undefined;
      terminalType = type;
    } else if (opening === undefined) {
      opening = recordAt(obj, 'response') ?? undefined;
    }
  }
  if (terminalType === 'response.failed') errorClass ??= failureOf(terminal) ?? 'response.failed';
  let reason = observerGap(exchange.response);
  if (errorClass !== null) reason = `stream error: ${errorClass}`;
  else if (reason === null && terminalType === null) reason = 'stream ended before response.completed';
  return fromResponseObject(terminal ?? opening, errorClass, headerId, reason, recordsOf);
}

/**
 * `background: true` answers the create call at once with status queued/in_progress and no usage;
 * the usage arrives only in a later `GET /v1/responses/{id}` poll, which is deliberately not metered
 * (a client may poll many times, and each poll repeats the same usage). A streamed background create
 * carries response.completed with usage and is metered in full; this one stays NULL-cost, saying why.
 */
export const BACKGROUND_PENDING_REASON =
  'background response still queued: its usage only arrives in GET /v1/responses/{id} polls, which are not metered';

function isPendingBackground(resp: unknown): boolean {
  const status = stringAt(resp, 'status');
  return path(resp, 'background') === true && (status === 'queued' || status === 'in_progress');
}

/** Why a response object failed: its `error` (code first: the Responses `error` has no type). */
function failureOf(resp: unknown): string | null {
  const err = recordAt(resp, 'error');
  if (err === null) return null;
  return codeString(err.code) ?? stringAt(err, 'type') ?? 'error';
}

function fromResponseObject(
  resp: unknown,
  errorClass: string | null,
  headerId: string | null,
  reasonSoFar: string | null,
  recordsOf: ResponsesRecordsOf,
): ParsedUsage {
  const usage = recordAt(resp, 'usage');
  const records = usage === null ? null : recordsOf(usage);
  let reason = reasonSoFar;
  if (reason === null && errorClass !== null) reason = `response failed: ${errorClass}`;
  if (reason === null && records === null && isPendingBackground(resp)) reason = BACKGROUND_PENDING_REASON;
  if (reason === null && records === null) reason = usage === null ? 'response without usage' : 'usage without token counts';
  return resultOf({
    model: stringAt(resp, 'model'),
    records,
    usageJson: usage,
    errorClass,
    providerRequestId: headerId ?? stringAt(resp, 'id'),
    serviceTier: billedServiceTier(path(resp, 'service_tier')),
    reason,
  });
}
