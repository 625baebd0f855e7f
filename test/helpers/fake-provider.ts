// A local fake of the providers' HTTPS APIs that answers like the real ones: JSON bodies, chunked SSE
// with delays between events, gzip/br when asked, errors, truncated streams. Tests steer it per
// request with headers (the meter forwards them untouched):
//   x-fake-scenario: ok | gzip | br | error-4xx | error-5xx | truncate | midstream-error | hold
//   x-fake-usage:    JSON object merged into the usage the fake reports
//   x-fake-fixture:  <provider>/<name> to replay a recorded exchange from shared/fixtures/wire
//   x-fake-delay-ms: delay between SSE events (default 5)
//   x-fake-model-version: the modelVersion a Gemini answer reports (default: the model in the URL)
// By Host: api.anthropic.com / api.openai.com as below; generativelanguage.googleapis.com (Gemini:
// generateContent, streamGenerateContent as SSE with alt=sse or as a streamed JSON array without,
// embedContent, batchEmbedContents, countTokens), cloudcode-pa.googleapis.com (Code Assist
// v1internal, payload under `response`), api.x.ai (chat and responses with xAI's usage; /v1/messages
// is the Anthropic handler), chatgpt.com (Codex /backend-api/codex/responses), and GETs of Anthropic
// batch results and OpenAI background-response polls.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { repoRoot, sharedDir } from './fixtures.js';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { TestPki } from './pki.js';

export interface SeenRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: string;
}

export interface FakeProvider {
  server: Server;
  port: number;
  seen: SeenRequest[];
  /** Streams in scenario `hold` wait after their first event until this is called. */
  release(): void;
  /** Resolves when a `hold` stream has sent its first event. */
  firstEventSent(): Promise<void>;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

export function fixturesDir(): string {
  return join(sharedDir(), 'fixtures', 'wire');
}

export { repoRoot };

export const DEFAULT_ANTHROPIC_USAGE = { input_tokens: 1200, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 345 };
export const DEFAULT_OPENAI_USAGE = {
  prompt_tokens: 1500,
  completion_tokens: 420,
  total_tokens: 1920,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};

export async function startFakeProvider(pki: TestPki): Promise<FakeProvider> {
  const seen: SeenRequest[] = [];
  let releaseHold!: () => void;
  let gate = new Promise<void>((r) => (releaseHold = r));
  let signalFirst!: () => void;
  let first = new Promise<void>((r) => (signalFirst = r));

  const server = createServer({ cert: pki.cert, key: pki.key, ALPNProtocols: ['http/1.1'] }, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body });
      void handle(req, res, body).catch(() => res.destroy());
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, bodyText: string): Promise<void> {
    const h = (name: string): string => {
      const v = req.headers[name];
      return typeof v === 'string' ? v : '';
    };
    const scenario = h('x-fake-scenario') || 'ok';
    const delay = Number(h('x-fake-delay-ms') || 5);
    const usageOverride = h('x-fake-usage') ? (JSON.parse(h('x-fake-usage')) as Json) : {};
    const fixture = h('x-fake-fixture');
    if (fixture) return replayFixture(res, fixture, h('accept-encoding'));
    let body: Json = {};
    try {
      body = JSON.parse(bodyText) as Json;
    } catch {
      body = {};
    }
    const path = (req.url ?? '').split('?')[0];
    const model = typeof body.model === 'string' ? body.model : 'unknown-model';
    const stream = body.stream === true;
    const host = h('host').replace(/:\d+$/, '').toLowerCase();
    const ctx: ExtraCtx = { req, res, body, path, scenario, delay, usageOverride, modelVersion: h('x-fake-model-version') };

    if (host === 'generativelanguage.googleapis.com') return gemini(ctx);
    if (host === 'cloudcode-pa.googleapis.com') return codeAssist(ctx);
    if (host === 'chatgpt.com') return codex(ctx);
    if (host === 'api.x.ai' && path !== '/v1/messages') return xai(ctx);
    if (req.method === 'GET' && /^\/v1\/messages\/batches\/[^/]+\/results$/.test(path)) return batchResults(ctx);
    if (req.method === 'GET' && path.startsWith('/v1/responses/')) {
      return sendJson(res, 200, { ...responsesObject('gpt-5-2025-08-07', responsesUsage(usageOverride)), id: path.slice('/v1/responses/'.length) }, 'identity');
    }

    if (scenario === 'error-4xx' || scenario === 'error-5xx') {
      const status = scenario === 'error-4xx' ? 400 : 529;
      const err = path.startsWith('/v1/messages')
        ? { type: 'error', error: { type: status === 400 ? 'invalid_request_error' : 'overloaded_error', message: 'fake error' } }
        : { error: { message: 'fake error', type: status === 400 ? 'invalid_request_error' : 'server_error', code: null } };
      return sendJson(res, status, err, 'identity');
    }

    if (path === '/v1/messages') {
      const usage = { ...DEFAULT_ANTHROPIC_USAGE, ...usageOverride };
      if (!stream) {
        return sendJson(res, 200, {
          id: 'msg_fake_01', type: 'message', role: 'assistant', model,
          content: [{ type: 'text', text: 'Hello from the fake provider.' }],
          stop_reason: 'end_turn', stop_sequence: null, usage,
        }, scenario === 'gzip' ? 'gzip' : scenario === 'br' ? 'br' : 'identity', { 'request-id': 'req_fake_anthropic_1' });
      }
      const startUsage = { ...usage, output_tokens: 1 };
      const events: Array<[string, Json]> = [
        ['message_start', { type: 'message_start', message: { id: 'msg_fake_02', type: 'message', role: 'assistant', model, content: [], stop_reason: null, usage: startUsage } }],
        ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
        ['ping', { type: 'ping' }],
      ];
      for (const word of ['Hello', ' from', ' the', ' fake', ' stream.']) {
        events.push(['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: word } }]);
      }
      if (scenario === 'midstream-error') {
        events.push(['error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }]);
        return streamSse(res, events.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`), delay, scenario, { 'request-id': 'req_fake_anthropic_2' });
      }
      events.push(['content_block_stop', { type: 'content_block_stop', index: 0 }]);
      events.push(['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }]);
      events.push(['message_stop', { type: 'message_stop' }]);
      return streamSse(res, events.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`), delay, scenario, { 'request-id': 'req_fake_anthropic_2' });
    }

    if (path === '/v1/chat/completions') {
      const usage = { ...DEFAULT_OPENAI_USAGE, ...usageOverride };
      const reported = model.startsWith('gpt-4o-mini') ? 'gpt-4o-mini-2024-07-18' : model.startsWith('gpt-4o') ? 'gpt-4o-2024-08-06' : model;
      if (!stream) {
        return sendJson(res, 200, {
          id: 'chatcmpl-fake1', object: 'chat.completion', created: 1760000000, model: reported,
          choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the fake provider.', refusal: null }, finish_reason: 'stop', logprobs: null }],
          usage, service_tier: 'default', system_fingerprint: 'fp_fake',
        }, scenario === 'gzip' ? 'gzip' : scenario === 'br' ? 'br' : 'identity', { 'x-request-id': 'req_fake_openai_1' });
      }
      const includeUsage = (body.stream_options as Json | undefined)?.include_usage === true;
      const base = { id: 'chatcmpl-fake2', object: 'chat.completion.chunk', created: 1760000000, model: reported, system_fingerprint: 'fp_fake', service_tier: 'default' };
      const lines: string[] = [];
      const chunk = (delta: Json, finish: string | null): string =>
        `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(includeUsage ? { usage: null } : {}) })}\n\n`;
      lines.push(chunk({ role: 'assistant', content: '', refusal: null }, null));
      for (const word of ['Hello', ' from', ' the', ' fake', ' stream.']) lines.push(chunk({ content: word }, null));
      lines.push(chunk({}, 'stop'));
      if (includeUsage) lines.push(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
      lines.push('data: [DONE]\n\n');
      return streamSse(res, lines, delay, scenario, { 'x-request-id': 'req_fake_openai_2' });
    }

    if (path === '/v1/responses') {
      const reported = model === 'gpt-5' ? 'gpt-5-2025-08-07' : model;
      return respondResponses(res, reported, responsesUsage(usageOverride), stream, body.background === true, delay, scenario, 'req_fake_openai');
    }

    if (path === '/v1/embeddings') {
      const usage = { prompt_tokens: 8, total_tokens: 8, ...usageOverride };
      return sendJson(res, 200, { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, -0.2, 0.3] }], model, usage }, 'identity');
    }

    if (path === '/download') {
      const total = Number(new URL(req.url ?? '', 'https://x').searchParams.get('bytes') ?? '1048576');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
      const block = Buffer.alloc(64 * 1024, 7);
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          const n = Math.min(block.length, total - sent);
          sent += n;
          if (!res.write(n === block.length ? block : block.subarray(0, n))) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }

    sendJson(res, 404, { error: { type: 'not_found', message: `fake provider has no ${path}` } }, 'identity');
  }

  function sendJson(res: ServerResponse, status: number, body: unknown, encoding: 'identity' | 'gzip' | 'br', extra: Record<string, string> = {}): void {
    let bytes: Buffer = Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = { 'content-type': 'application/json', ...extra };
    if (encoding === 'gzip') {
      bytes = gzipSync(bytes);
      headers['content-encoding'] = 'gzip';
    } else if (encoding === 'br') {
      bytes = brotliCompressSync(bytes);
      headers['content-encoding'] = 'br';
    }
    headers['content-length'] = bytes.length;
    res.writeHead(status, headers);
    res.end(bytes);
  }

  async function streamSse(res: ServerResponse, parts: string[], delay: number, scenario: string, extra: Record<string, string>): Promise<void> {
    return streamParts(res, parts, delay, scenario, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...extra });
  }

  /** Writes `parts` one at a time with `delay` between them, as a provider streams (any content type). */
  async function streamParts(res: ServerResponse, parts: string[], delay: number, scenario: string, headers: Record<string, string>): Promise<void> {
    const gz = scenario === 'gzip';
    res.writeHead(200, { ...headers, ...(gz ? { 'content-encoding': 'gzip' } : {}) });
    res.flushHeaders();
    const payload = parts.map((p) => Buffer.from(p));
    const out = gz ? [gzipSync(Buffer.concat(payload))] : payload;
    for (let i = 0; i < out.length; i++) {
      if (res.destroyed) return;
      if (scenario === 'truncate' && i === Math.floor(out.length / 2)) {
        res.socket?.destroy();
        return;
      }
      res.write(out[i]);
      if (i === 0 && scenario === 'hold') {
        signalFirst();
        await gate;
      } else if (delay > 0) {
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    res.end();
  }

  function respondResponses(res: ServerResponse, model: string, usage: Json, stream: boolean, background: boolean, delay: number, scenario: string, idPrefix: string): Promise<void> | void {
    const response = responsesObject(model, usage);
    // background: true answers at once, queued and without usage; the usage arrives in later GET polls.
    if (background && !stream) return sendJson(res, 200, { ...response, status: 'queued', background: true, usage: null }, 'identity', { 'x-request-id': `${idPrefix}_5` });
    if (!stream) return sendJson(res, 200, response, 'identity', { 'x-request-id': `${idPrefix}_3` });
    const events: Array<[string, Json]> = [
      ['response.created', { type: 'response.created', sequence_number: 0, response: { ...response, status: 'in_progress', usage: null } }],
      ['response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hello' }],
      ['response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 2, item_id: 'msg_1', output_index: 0, content_index: 0, delta: ' there.' }],
      ['response.completed', { type: 'response.completed', sequence_number: 3, response }],
    ];
    return streamSse(res, events.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`), delay, scenario, { 'x-request-id': `${idPrefix}_4` });
  }

  function googleError(res: ServerResponse, status: number, statusName: string, message: string): void {
    sendJson(res, status, { error: { code: status, message, status: statusName } }, 'identity');
  }

  function gemini(c: ExtraCtx): Promise<void> | void {
    const m = /^\/(?:v1|v1beta|v1alpha)\/models\/([^/:]+):([A-Za-z]+)$/.exec(c.path.replace(/%3a/gi, ':'));
    if (!m) return googleError(c.res, 404, 'NOT_FOUND', `fake provider has no ${c.path}`);
    if (c.scenario === 'error-4xx') return googleError(c.res, 400, 'INVALID_ARGUMENT', 'fake error');
    const [, urlModel, method] = m;
    const usage = geminiUsage(c.usageOverride);
    const chunks = geminiChunks(c.modelVersion || urlModel, usage);
    const encoding = c.scenario === 'gzip' ? 'gzip' : c.scenario === 'br' ? 'br' : 'identity';
    switch (method) {
      case 'generateContent':
        return sendJson(c.res, 200, geminiUnary(chunks), encoding);
      case 'streamGenerateContent':
        return streamGemini(c, chunks);
      case 'embedContent':
        // The documented EmbedContentResponse: the embedding and no usage.
        return sendJson(c.res, 200, { embedding: { values: [0.0123, -0.0456, 0.0789] } }, encoding);
      case 'batchEmbedContents': {
        const n = Array.isArray(c.body.requests) ? c.body.requests.length : 1;
        const prompt = typeof c.usageOverride.promptTokenCount === 'number' ? c.usageOverride.promptTokenCount : 4 * n;
        return sendJson(c.res, 200, {
          embeddings: Array.from({ length: n }, () => ({ values: [0.0123, -0.0456, 0.0789] })),
          usageMetadata: { promptTokenCount: prompt, promptTokenDetails: [{ modality: 'TEXT', tokenCount: prompt }] },
        }, encoding);
      }
      case 'countTokens': {
        const total = typeof c.usageOverride.totalTokens === 'number' ? c.usageOverride.totalTokens : 31;
        return sendJson(c.res, 200, { totalTokens: total, promptTokensDetails: [{ modality: 'TEXT', tokenCount: total }] }, encoding);
      }
      default:
        return googleError(c.res, 404, 'NOT_FOUND', `fake provider has no method ${method}`);
    }
  }

  /** alt=sse: CRLF-framed events as Google sends them; otherwise one JSON array, element by element. */
  function streamGemini(c: ExtraCtx, chunks: Json[], wrap: (chunk: Json) => Json = (x) => x): Promise<void> {
    const sse = new URL(c.req.url ?? '/', 'https://x').searchParams.get('alt') === 'sse';
    if (sse) return streamSse(c.res, chunks.map((x) => `data: ${JSON.stringify(wrap(x))}\r\n\r\n`), c.delay, c.scenario, {});
    // The layout of the recorded jsonarray-* captures: '[' + elements joined by '\n,\r\n' + '\n]'.
    const parts = chunks.map((x, i) => `${i === 0 ? '[' : '\n,\r\n'}${JSON.stringify(wrap(x), null, 2)}`);
    parts.push('\n]');
    return streamParts(c.res, parts, c.delay, c.scenario, { 'content-type': 'application/json; charset=UTF-8' });
  }

  function codeAssist(c: ExtraCtx): Promise<void> | void {
    const method = c.path.replace(/%3a/gi, ':');
    // Setup calls gemini-cli makes before generating: answered, and not metered.
    if (method === '/v1internal:loadCodeAssist') return sendJson(c.res, 200, { currentTier: { id: 'free-tier' }, cloudaicompanionProject: 'fake-project' }, 'identity');
    if (method !== '/v1internal:generateContent' && method !== '/v1internal:streamGenerateContent') {
      return googleError(c.res, 404, 'NOT_FOUND', `fake provider has no ${c.path}`);
    }
    if (c.scenario === 'error-4xx') return googleError(c.res, 400, 'INVALID_ARGUMENT', 'fake error');
    const model = typeof c.body.model === 'string' ? c.body.model.replace(/^models\//, '') : 'unknown-model';
    // `no-model-version`: the response leaves out modelVersion, so the request's model must be used.
    const version = c.scenario === 'no-model-version' ? null : c.modelVersion || model;
    const chunks = geminiChunks(version, geminiUsage(c.usageOverride));
    const wrap = (x: Json): Json => ({ response: x, traceId: 'fake-trace-0001' });
    if (method === '/v1internal:generateContent') return sendJson(c.res, 200, wrap(geminiUnary(chunks)), 'identity');
    return streamGemini(c, chunks, wrap);
  }

  function xai(c: ExtraCtx): Promise<void> | void {
    if (c.scenario === 'error-4xx') return sendJson(c.res, 400, { code: 'Client specified an invalid argument', error: 'fake error' }, 'identity');
    const model = typeof c.body.model === 'string' ? c.body.model : 'unknown-model';
    const stream = c.body.stream === true;
    if (c.path === '/v1/responses') {
      return respondResponses(c.res, model, responsesUsage(c.usageOverride), stream, false, c.delay, c.scenario, 'req_fake_xai');
    }
    if (c.path !== '/v1/chat/completions') return sendJson(c.res, 404, { code: 'Not found', error: `fake provider has no ${c.path}` }, 'identity');
    const usage = xaiChatUsage(c.usageOverride);
    const base = { id: 'xai-fake-0001', object: 'chat.completion.chunk', created: 1770000000, model, system_fingerprint: 'fp_fake_xai' };
    if (!stream) {
      return sendJson(c.res, 200, {
        ...base, object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello', reasoning_content: 'The user greets.', refusal: null }, finish_reason: 'stop' }],
        usage,
      }, 'identity');
    }
    const includeUsage = (c.body.stream_options as Json | undefined)?.include_usage === true;
    const chunk = (delta: Json, finish?: string): string =>
      `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, ...(finish ? { finish_reason: finish } : {}) }] })}\n\n`;
    const lines = [chunk({ reasoning_content: 'The', role: 'assistant' }), chunk({ reasoning_content: ' user greets.' }), chunk({ content: 'Hello' }), chunk({}, 'stop')];
    if (includeUsage) lines.push(`data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`);
    lines.push('data: [DONE]\n\n');
    return streamSse(c.res, lines, c.delay, c.scenario, {});
  }

  function codex(c: ExtraCtx): Promise<void> | void {
    if (c.req.method === 'POST' && c.path === '/backend-api/codex/responses') {
      const model = typeof c.body.model === 'string' ? c.body.model : 'unknown-model';
      // Codex always streams; a JSON answer only when the body says stream: false.
      return respondResponses(c.res, model, responsesUsage(c.usageOverride), c.body.stream !== false, false, c.delay, c.scenario, 'req_fake_codex');
    }
    // The rest of chatgpt.com (the web app, account calls): answered, and not metered.
    return sendJson(c.res, 200, { ok: true, path: c.path }, 'identity');
  }

  function batchResults(c: ExtraCtx): Promise<void> {
    const lines = BATCH_RESULT_LINES.map((l) => `${JSON.stringify(l)}\n`);
    return streamParts(c.res, lines, c.delay, c.scenario, { 'content-type': 'application/binary', 'request-id': 'req_fake_batch_1' });
  }

  function replayFixture(res: ServerResponse, name: string, acceptEncoding: string): void {
    const dir = join(fixturesDir(), name);
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { status: number; response_headers?: Record<string, string>; content_encoding?: string | null };
    const gz = join(dir, 'response.body.gz');
    const headers: Record<string, string | number> = { 'content-type': meta.response_headers?.['content-type'] ?? 'application/json' };
    let bytes: Buffer;
    if (existsSync(gz) && acceptEncoding.includes('gzip')) {
      bytes = readFileSync(gz);
      headers['content-encoding'] = 'gzip';
    } else {
      bytes = readFileSync(join(dir, 'response.txt'));
    }
    const isSse = String(headers['content-type']).includes('event-stream');
    res.writeHead(meta.status, headers);
    if (!isSse || headers['content-encoding']) {
      res.end(bytes);
      return;
    }
    // Send SSE in several chunks split at arbitrary points, like a network would.
    const step = Math.max(1, Math.floor(bytes.length / 7));
    let off = 0;
    const next = (): void => {
      if (off >= bytes.length) {
        res.end();
        return;
      }
      res.write(bytes.subarray(off, off + step));
      off += step;
      setTimeout(next, 2);
    };
    next();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    seen,
    release: () => {
      releaseHold();
      gate = new Promise<void>((r) => (releaseHold = r));
    },
    firstEventSent: () => {
      const p = first;
      return p.then(() => {
        first = new Promise<void>((r) => (signalFirst = r));
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface ExtraCtx {
  req: IncomingMessage;
  res: ServerResponse;
  body: Json;
  path: string;
  scenario: string;
  delay: number;
  usageOverride: Json;
  /** x-fake-model-version, or '' */
  modelVersion: string;
}

/** Responses-shape usage (OpenAI, xAI, Codex): output_tokens includes reasoning_tokens. */
export function responsesUsage(override: Json): Json {
  const u = override as { input_tokens?: number; output_tokens?: number; cached_tokens?: number; reasoning_tokens?: number };
  return {
    input_tokens: u.input_tokens ?? 900,
    input_tokens_details: { cached_tokens: u.cached_tokens ?? 0 },
    output_tokens: u.output_tokens ?? 300,
    output_tokens_details: { reasoning_tokens: u.reasoning_tokens ?? 0 },
    total_tokens: (u.input_tokens ?? 900) + (u.output_tokens ?? 300),
  };
}

function responsesObject(model: string, usage: Json): Json {
  return { id: 'resp_fake1', object: 'response', created_at: 1760000000, status: 'completed', model, output: [], usage, service_tier: 'default' };
}

export const DEFAULT_GEMINI_USAGE = { promptTokenCount: 1200, candidatesTokenCount: 300, thoughtsTokenCount: 150 };

/** usageMetadata with x-fake-usage merged in and totalTokenCount added up as Google does. */
export function geminiUsage(override: Json): Json {
  const u: Record<string, unknown> = { ...DEFAULT_GEMINI_USAGE, ...override };
  const n = (k: string): number => (typeof u[k] === 'number' ? (u[k] as number) : 0);
  u.totalTokenCount ??= n('promptTokenCount') + n('candidatesTokenCount') + n('thoughtsTokenCount') + n('toolUsePromptTokenCount');
  u.promptTokensDetails = [{ modality: 'TEXT', tokenCount: n('promptTokenCount') }];
  return u;
}

/**
 * Three cumulative chunks as Gemini streams them: the first with running usage, the second with
 * none (a meter must not reset on it), the last with the final usage and the finishReason.
 */
function geminiChunks(modelVersion: string | null, usage: Json): Json[] {
  const prompt = typeof usage.promptTokenCount === 'number' ? usage.promptTokenCount : 0;
  const meta = (x: Json): Json => ({ ...x, ...(modelVersion ? { modelVersion } : {}), responseId: 'fake-gemini-resp-1' });
  const part = (text: string, finish?: string): Json[] => [{ content: { parts: [{ text }], role: 'model' }, index: 0, ...(finish ? { finishReason: finish } : {}) }];
  return [
    meta({ candidates: part('Hello'), usageMetadata: { promptTokenCount: prompt, candidatesTokenCount: 1, totalTokenCount: prompt + 1 } }),
    meta({ candidates: part(' from the') }),
    meta({ candidates: part(' fake Gemini.', 'STOP'), usageMetadata: usage }),
  ];
}

/** The unary generateContent answer: the whole text and the final usage in one object. */
function geminiUnary(chunks: Json[]): Json {
  const last = chunks[chunks.length - 1];
  return { ...last, candidates: [{ content: { parts: [{ text: 'Hello from the fake Gemini.' }], role: 'model' }, finishReason: 'STOP', index: 0 }] };
}

/** xAI chat usage: reasoning_tokens are reported outside completion_tokens (total adds all three). */
export function xaiChatUsage(override: Json): Json {
  const u = override as { prompt_tokens?: number; completion_tokens?: number; cached_tokens?: number; reasoning_tokens?: number };
  const prompt = u.prompt_tokens ?? 1500;
  const completion = u.completion_tokens ?? 120;
  const reasoning = u.reasoning_tokens ?? 300;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion + reasoning,
    prompt_tokens_details: { text_tokens: prompt, audio_tokens: 0, image_tokens: 0, cached_tokens: u.cached_tokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    num_sources_used: 0,
    cost_in_usd_ticks: 1234500,
  };
}

/** What GET /v1/messages/batches/{id}/results answers: two succeeded lines under two models, one errored. */
export const BATCH_RESULT_LINES = [
  {
    custom_id: 'req-a',
    result: {
      type: 'succeeded',
      message: {
        id: 'msg_fake_batch_a', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929',
        content: [{ type: 'text', text: 'A' }], stop_reason: 'end_turn', stop_sequence: null,
        usage: { input_tokens: 1000, cache_creation_input_tokens: 2000, cache_read_input_tokens: 0, cache_creation: { ephemeral_5m_input_tokens: 2000, ephemeral_1h_input_tokens: 0 }, output_tokens: 400, service_tier: 'batch' },
      },
    },
  },
  {
    custom_id: 'req-b',
    result: {
      type: 'succeeded',
      message: {
        id: 'msg_fake_batch_b', type: 'message', role: 'assistant', model: 'claude-haiku-4-5-20251001',
        content: [{ type: 'text', text: 'B' }], stop_reason: 'end_turn', stop_sequence: null,
        usage: { input_tokens: 3000, cache_creation_input_tokens: 0, cache_read_input_tokens: 1000, output_tokens: 200, service_tier: 'batch' },
      },
    },
  },
  { custom_id: 'req-c', result: { type: 'errored', error: { type: 'error', error: { type: 'invalid_request_error', message: 'fake error' } } } },
] as const;
