// OpenAI /v1/embeddings: JSON only; usage has prompt_tokens (and total_tokens, which equals it).
import type { Exchange } from '../core/exchange.js';
import type { ParsedUsage } from '../core/parsed.js';
import { emptyUsage } from '../core/usage.js';
import { countAt, isRecord, recordAt, stringAt, tryParseJson } from './json-util.js';
import { openAiMatcher } from './openai-chat.js';
import {
  defineAdapter,
  header,
  isSuccess,
  observerGap,
  resultOf,
  upstreamErrorResult,
} from './types.js';

export const openAiEmbeddingsAdapter = defineAdapter({
  id: 'openai-embeddings',
  provider: 'openai',
  matches: openAiMatcher('/v1/embeddings', 'embeddings'),
  parse: parseEmbeddings,
});

function parseEmbeddings(exchange: Exchange): ParsedUsage {
  const { response } = exchange;
  const headerId = header(response, 'x-request-id');
  const body = response.bodyText === null ? undefined : tryParseJson(response.bodyText);
  if (!isSuccess(response.status)) return upstreamErrorResult(response.status, body, headerId);
  const usage = recordAt(body, 'usage');
  const prompt = countAt(usage, 'prompt_tokens');
  let reason = observerGap(response);
  if (reason === null && !isRecord(body)) {
    reason = response.bodyText === null ? 'response body not captured' : 'response body is not JSON';
  }
  if (reason === null && prompt === null) reason = 'response without usage';
  return resultOf({
    model: stringAt(body, 'model'),
    records: prompt === null ? null : [{ model: null, usage: { ...emptyUsage(), inputTokens: prompt } }],
    usageJson: usage,
    errorClass: null,
    providerRequestId: headerId,
    serviceTier: null,
    reason,
  });
}
