// The one place that knows every adapter (STYLE §5). The daemon asks `findAdapter` per request; a
// null answer means the request passes through without a row.
import type { RequestKind } from '../core/parsed.js';
import { anthropicAdapter } from './anthropic.js';
import { anthropicBatchResultsAdapter } from './anthropic-batch-results.js';
import { codexAdapter } from './codex.js';
import { geminiAdapter } from './gemini.js';
import { geminiCodeAssistAdapter } from './gemini-code-assist.js';
import { openAiChatAdapter } from './openai-chat.js';
import { openAiCompletionsAdapter } from './openai-completions.js';
import { openAiEmbeddingsAdapter } from './openai-embeddings.js';
import { openAiResponsesAdapter } from './openai-responses.js';
import type { Adapter, AdapterId } from './types.js';
import { xaiChatAdapter, xaiMessagesAdapter, xaiResponsesAdapter } from './xai.js';

export type { Adapter, AdapterId } from './types.js';
export { ADAPTER_IDS } from './types.js';
export { SseSplitter, parseSseText, type SseSplitterOptions } from './sse.js';

export const ADAPTERS: readonly Adapter[] = [
  anthropicAdapter,
  openAiChatAdapter,
  openAiResponsesAdapter,
  openAiEmbeddingsAdapter,
  openAiCompletionsAdapter,
  anthropicBatchResultsAdapter,
  codexAdapter,
  geminiAdapter,
  geminiCodeAssistAdapter,
  xaiChatAdapter,
  xaiResponsesAdapter,
  xaiMessagesAdapter,
];

export interface AdapterMatch {
  adapter: Adapter;
  kind: RequestKind;
}

/** `path` may carry a query string (Claude Code calls `/v1/messages?beta=true`). */
export function findAdapter(host: string, method: string, path: string): AdapterMatch | null {
  for (const adapter of ADAPTERS) {
    const kind = adapter.matches(host, method, path);
    if (kind !== null) return { adapter, kind };
  }
  return null;
}

export function adapterById(id: AdapterId): Adapter {
  const found = ADAPTERS.find((a) => a.id === id);
  // ADAPTERS lists every AdapterId; reaching this is a programming error, not bad input.
  if (found === undefined) throw new Error(`no adapter ${id}`);
  return found;
}
