// The ChatGPT Codex backend on chatgpt.com (docs/wire-formats.md "ChatGPT Codex backend"): Codex
// CLI with a ChatGPT login posts Responses-format requests to /backend-api/codex/responses and reads
// Responses-format SSE (or JSON). The host table gives these rows mode `codex`: subscription traffic
// priced at the API-equivalent rate. Everything else on chatgpt.com (the web app, the WebSocket
// upgrade Codex tries first, which is a GET) passes through without a row.
import type { RequestKind } from '../core/parsed.js';
import { meteredHost } from '../core/providers.js';
import { parseResponses } from './openai-responses.js';
import { defineAdapter, isPost, normaliseTarget } from './types.js';

const CODEX_RESPONSES = '/backend-api/codex/responses';

export const codexAdapter = defineAdapter({
  id: 'codex',
  provider: 'openai',
  matches(host, method, path): RequestKind | null {
    const t = normaliseTarget(host, path);
    const h = meteredHost(t.host);
    if (h?.provider !== 'openai' || h.mode !== 'codex') return null;
    return isPost(method) && t.path === CODEX_RESPONSES ? 'responses' : null;
  },
  parse: (exchange) => parseResponses(exchange),
});
