// Which requests the issue-3 adapters meter, and as what; everything else on a metered host passes
// through without a row.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { ADAPTER_IDS, ADAPTERS, findAdapter } from '../../src/adapters/index.js';

const GL = 'generativelanguage.googleapis.com';
const CA = 'cloudcode-pa.googleapis.com';

describe('findAdapter for the issue-3 families', () => {
  const cases: [string, string, string, string | null, string | null][] = [
    // Gemini API: v1, v1beta, v1alpha; every metered method; query strings (alt, key) ignored.
    [GL, 'POST', '/v1beta/models/gemini-2.5-flash:generateContent', 'gemini', 'generate'],
    [GL, 'POST', '/v1/models/gemini-2.5-flash:generateContent?key=AIza', 'gemini', 'generate'],
    [GL, 'POST', '/v1alpha/models/gemini-2.5-flash:streamGenerateContent?alt=sse', 'gemini', 'generate'],
    [GL, 'POST', '/v1beta/models/gemini-2.5-flash:streamGenerateContent', 'gemini', 'generate'],
    [GL, 'POST', '/v1beta/models/gemini-2.5-flash%3AgenerateContent', 'gemini', 'generate'],
    [GL, 'POST', '/v1beta/models/gemini-embedding-001:embedContent', 'gemini', 'embed'],
    [GL, 'POST', '/v1beta/models/gemini-embedding-001:batchEmbedContents', 'gemini', 'embed'],
    [GL, 'POST', '/v1beta/models/gemini-2.5-flash:countTokens', 'gemini', 'count_tokens'],
    [GL, 'GET', '/v1beta/models/gemini-2.5-flash', null, null],
    [GL, 'GET', '/v1beta/models', null, null],
    [GL, 'POST', '/v1beta/models/gemini-2.5-flash:batchGenerateContent', null, null],
    [GL, 'POST', '/v1beta2/models/gemini-2.5-flash:generateContent', null, null],
    [GL, 'POST', '/upload/v1beta/files', null, null],
    [GL, 'POST', '/v1internal:generateContent', null, null],
    // Code Assist: only the two generate methods.
    [CA, 'POST', '/v1internal:generateContent', 'gemini-code-assist', 'generate'],
    [CA, 'POST', '/v1internal:streamGenerateContent?alt=sse', 'gemini-code-assist', 'generate'],
    [CA, 'POST', '/v1internal:countTokens', null, null],
    [CA, 'POST', '/v1internal:loadCodeAssist', null, null],
    [CA, 'POST', '/v1internal:onboardUser', null, null],
    [CA, 'POST', '/v1internal:retrieveUserQuota', null, null],
    [CA, 'GET', '/v1internal/event:receive', null, null],
    [CA, 'POST', '/v1beta/models/gemini-2.5-flash:generateContent', null, null],
    // xAI: three shapes.
    ['api.x.ai', 'POST', '/v1/chat/completions', 'xai-chat', 'chat'],
    ['api.x.ai', 'POST', '/v1/responses', 'xai-responses', 'responses'],
    ['api.x.ai', 'POST', '/v1/messages', 'xai-messages', 'messages'],
    ['api.x.ai', 'GET', '/v1/models', null, null],
    ['api.x.ai', 'GET', '/v1/responses/resp_1', null, null],
    // Codex backend: only POST codex/responses; the WebSocket upgrade is a GET.
    ['chatgpt.com', 'POST', '/backend-api/codex/responses', 'codex', 'responses'],
    ['chatgpt.com', 'GET', '/backend-api/codex/responses', null, null],
    ['chatgpt.com', 'POST', '/backend-api/conversation', null, null],
    ['chatgpt.com', 'POST', '/v1/responses', null, null],
    ['api.openai.com', 'POST', '/backend-api/codex/responses', null, null],
    // Anthropic batch results: the GET download only.
    ['api.anthropic.com', 'GET', '/v1/messages/batches/msgbatch_01abc/results', 'anthropic-batch-results', 'batch_results'],
    ['api.anthropic.com', 'GET', '/v1/messages/batches/msgbatch_01abc', null, null],
    ['api.anthropic.com', 'POST', '/v1/messages/batches', null, null],
    ['api.anthropic.com', 'POST', '/v1/messages/batches/msgbatch_01abc/cancel', null, null],
    ['api.x.ai', 'GET', '/v1/messages/batches/msgbatch_01abc/results', null, null],
    // OpenAI background polls and the rest of /v1/responses/* are never metered (no double count).
    ['api.openai.com', 'GET', '/v1/responses/resp_123', null, null],
    ['api.openai.com', 'GET', '/v1/responses/resp_123?stream=true&starting_after=4', null, null],
    ['api.openai.com', 'POST', '/v1/responses/resp_123/cancel', null, null],
    ['api.openai.com', 'GET', '/v1/responses/resp_123/input_items', null, null],
    ['api.openai.com', 'POST', '/v1/responses/input_tokens', null, null],
    ['api.openai.com', 'DELETE', '/v1/responses/resp_123', null, null],
  ];
  for (const [host, method, path, id, kind] of cases) {
    test(`${method} ${host}${path} -> ${id ?? 'pass through'}`, () => {
      const m = findAdapter(host, method, path);
      assert.equal(m?.adapter.id ?? null, id);
      assert.equal(m?.kind ?? null, kind);
    });
  }

  test('every id is registered once, and no request matches two adapters', () => {
    assert.deepEqual(ADAPTERS.map((a) => a.id).sort(), [...ADAPTER_IDS].sort());
    for (const [host, method, path] of cases) {
      const claimed = ADAPTERS.filter((a) => a.matches(host, method, path) !== null).map((a) => a.id);
      assert.ok(claimed.length <= 1, `${method} ${host}${path}: ${claimed.join(', ')}`);
    }
  });
});
