// Gemini Code Assist on cloudcode-pa.googleapis.com: what Gemini CLI speaks with a Google login
// (docs/wire-formats.md "Gemini Code Assist"). The Gemini payload is wrapped:
// `{response: {candidates, usageMetadata, modelVersion, ...}, traceId}`, per SSE event or JSON body.
// Only the two generate methods are metered; countTokens, loadCodeAssist, onboardUser, quota and
// telemetry calls pass through without a row.
import type { Exchange } from '../core/exchange.js';
import type { ParsedUsage, RequestKind } from '../core/parsed.js';
import { meteredHost } from '../core/providers.js';
import { field, isRecord, stringAt } from './json-util.js';
import { generateResult, geminiPayloads, googleErrorBody, modelName, readGeminiPayloads } from './gemini-shape.js';
import { defineAdapter, isPost, isSuccess, normaliseTarget, resultOf, upstreamErrorResult } from './types.js';

const METERED: ReadonlySet<string> = new Set(['/v1internal:generateContent', '/v1internal:streamGenerateContent']);

export const geminiCodeAssistAdapter = defineAdapter({
  id: 'gemini-code-assist',
  provider: 'gemini',
  matches(host, method, path): RequestKind | null {
    const t = normaliseTarget(host, path);
    const h = meteredHost(t.host);
    if (h?.provider !== 'gemini' || h.mode !== 'code-assist' || !isPost(method)) return null;
    return METERED.has(t.path.replace(/%3a/gi, ':')) ? 'generate' : null;
  },
  parse: parseCodeAssist,
});

function parseCodeAssist(exchange: Exchange): ParsedUsage {
  const { response } = exchange;
  // The request names the model at its top level; the response's modelVersion wins when present.
  const requestModel = modelName(field(exchange.requestJson, 'model'));
  if (!isSuccess(response.status)) {
    return { ...upstreamErrorResult(response.status, googleErrorBody(response.bodyText), null), model: requestModel };
  }
  const body = geminiPayloads(response);
  if (body.unreadable !== null) {
    return resultOf({
      model: requestModel,
      records: null,
      usageJson: null,
      errorClass: null,
      providerRequestId: null,
      serviceTier: null,
      reason: body.unreadable,
    });
  }
  // An error envelope has no `response`; reading it as the payload itself keeps its `error`.
  const unwrapped = body.payloads.map((p) => (isRecord(p) && isRecord(p.response) ? p.response : p));
  const read = readGeminiPayloads(unwrapped);
  const traceId = body.payloads.map((p) => stringAt(p, 'traceId')).find((id) => id !== null) ?? null;
  return generateResult(body, read, requestModel, read.responseId ?? traceId);
}
