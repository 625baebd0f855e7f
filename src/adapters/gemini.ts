// Gemini API on generativelanguage.googleapis.com (docs/wire-formats.md "Google Gemini API",
// docs/adapters.md "Gemini API"). The model is named in the path, not the body:
// POST /{v1,v1beta,v1alpha}/models/{model}:{method}.
import type { Exchange } from '../core/exchange.js';
import type { ParsedUsage, RequestKind } from '../core/parsed.js';
import { meteredHost } from '../core/providers.js';
import { emptyUsage } from '../core/usage.js';
import { countAt, errorClassOf, isRecord, recordAt } from './json-util.js';
import { generateResult, geminiPayloads, googleErrorBody, readGeminiPayloads } from './gemini-shape.js';
import { defineAdapter, isPost, isSuccess, normaliseTarget, resultOf, upstreamErrorResult, type Readout } from './types.js';

type GeminiKind = Extract<RequestKind, 'generate' | 'embed' | 'count_tokens'>;

const METHODS: ReadonlyMap<string, GeminiKind> = new Map([
  ['generateContent', 'generate'],
  ['streamGenerateContent', 'generate'],
  ['embedContent', 'embed'],
  ['batchEmbedContents', 'embed'],
  ['countTokens', 'count_tokens'],
]);

const API_PATH = /^\/(?:v1|v1beta|v1alpha)\/models\/([^/:]+):([A-Za-z]+)$/;
// Parsing also accepts Vertex paths (…/publishers/google/models/{m}:{method}): captures of Vertex
// share the body shape, though its hosts are not metered.
const ANY_MODEL_PATH = /\/models\/([^/:]+):([A-Za-z]+)$/;

interface Target {
  model: string;
  kind: GeminiKind;
}

function targetOf(path: string, pattern: RegExp): Target | null {
  // Some HTTP clients percent-encode the colon of `model:method`.
  const m = pattern.exec(path.replace(/%3a/gi, ':'));
  if (m === null) return null;
  const kind = METHODS.get(m[2]);
  return kind === undefined ? null : { model: m[1], kind };
}

export const geminiAdapter = defineAdapter({
  id: 'gemini',
  provider: 'gemini',
  matches(host, method, path) {
    const t = normaliseTarget(host, path);
    const h = meteredHost(t.host);
    // cloudcode-pa.googleapis.com is provider gemini too, but speaks only v1internal (gemini-code-assist.ts).
    if (h?.provider !== 'gemini' || h.mode !== 'api' || !isPost(method)) return null;
    return targetOf(t.path, API_PATH)?.kind ?? null;
  },
  parse: parseGemini,
});

function parseGemini(exchange: Exchange): ParsedUsage {
  const { response } = exchange;
  const target = targetOf(normaliseTarget(exchange.host, exchange.path).path, ANY_MODEL_PATH);
  // The path's model is what the request asked for; a response's modelVersion wins over it.
  const pathModel = target?.model ?? null;
  if (!isSuccess(response.status)) {
    return { ...upstreamErrorResult(response.status, googleErrorBody(response.bodyText), null), model: pathModel };
  }
  switch (target?.kind ?? 'generate') {
    case 'generate':
      return parseGenerate(exchange, pathModel);
    case 'embed':
      return parseEmbed(exchange, pathModel);
    case 'count_tokens':
      return parseCountTokens(exchange, pathModel);
  }
}

function parseGenerate(exchange: Exchange, pathModel: string | null): ParsedUsage {
  const body = geminiPayloads(exchange.response);
  if (body.unreadable !== null) return resultOf({ ...nothing(pathModel), reason: body.unreadable });
  const read = readGeminiPayloads(body.payloads);
  return generateResult(body, read, pathModel, read.responseId);
}

/**
 * embedContent / batchEmbedContents: `usageMetadata.promptTokenCount` when the API reports it
 * (gemini/batch-embed-gzip does); without it the row has no usage and says so, never an estimate.
 */
function parseEmbed(exchange: Exchange, pathModel: string | null): ParsedUsage {
  const body = geminiPayloads(exchange.response);
  if (body.unreadable !== null) return resultOf({ ...nothing(pathModel), reason: body.unreadable });
  const payload = body.payloads[0];
  const usage = recordAt(payload, 'usageMetadata');
  const prompt = countAt(usage, 'promptTokenCount');
  const errorClass = isRecord(payload) && isRecord(payload.error) ? errorClassOf(payload) ?? 'error' : null;
  let reason = body.gap;
  if (reason === null && errorClass !== null) reason = `error body: ${errorClass}`;
  if (reason === null && prompt === null) reason = 'embedding response without usageMetadata (no token count on the wire)';
  return resultOf({
    ...nothing(pathModel),
    records: prompt === null ? null : [{ model: null, usage: { ...emptyUsage(), inputTokens: prompt } }],
    usageJson: usage,
    errorClass,
    reason,
  });
}

/**
 * countTokens is free: one zero record makes the row a real $0 (the meter prices count_tokens at
 * zero) rather than a NULL "usage unknown"; the reported count is kept as usage_json.
 */
function parseCountTokens(exchange: Exchange, pathModel: string | null): ParsedUsage {
  const body = geminiPayloads(exchange.response);
  if (body.unreadable !== null) return resultOf({ ...nothing(pathModel), reason: body.unreadable });
  const payload = body.payloads[0];
  const known = countAt(payload, 'totalTokens') !== null;
  return resultOf({
    ...nothing(pathModel),
    records: known ? [{ model: null, usage: emptyUsage() }] : null,
    usageJson: isRecord(payload) ? payload : null,
    reason: body.gap ?? (known ? null : 'countTokens response without totalTokens'),
  });
}

function nothing(model: string | null): Omit<Readout, 'reason'> {
  return { model, records: null, usageJson: null, errorClass: null, providerRequestId: null, serviceTier: null };
}
