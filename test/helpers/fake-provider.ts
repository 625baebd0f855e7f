// A local fake of the providers' HTTPS APIs that answers like the real ones: JSON bodies, chunked SSE
// with delays between events, gzip/br when asked, errors, truncated streams. Tests steer it per
// request with headers (the meter forwards them untouched):
//   x-fake-scenario: ok | gzip | br | error-4xx | error-5xx | truncate | midstream-error | hold
//   x-fake-usage:    JSON object merged into the usage the fake reports
//   x-fake-fixture:  <provider>/<name> to replay a recorded exchange from shared/fixtures/wire
//   x-fake-delay-ms: delay between SSE events (default 5)
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
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
  const shared = process.env.HALTON_SHARED_DIR ?? join(repoRoot(), '..', 'shared');
  return join(shared, 'fixtures', 'wire');
}

export function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json'))) dir = join(dir, '..');
  return dir;
}

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
      const u = usageOverride as { input_tokens?: number; output_tokens?: number; cached_tokens?: number; reasoning_tokens?: number };
      const usage = {
        input_tokens: u.input_tokens ?? 900,
        input_tokens_details: { cached_tokens: u.cached_tokens ?? 0 },
        output_tokens: u.output_tokens ?? 300,
        output_tokens_details: { reasoning_tokens: u.reasoning_tokens ?? 0 },
        total_tokens: (u.input_tokens ?? 900) + (u.output_tokens ?? 300),
      };
      const reported = model === 'gpt-5' ? 'gpt-5-2025-08-07' : model;
      const response = { id: 'resp_fake1', object: 'response', created_at: 1760000000, status: 'completed', model: reported, output: [], usage, service_tier: 'default' };
      if (!stream) return sendJson(res, 200, response, 'identity', { 'x-request-id': 'req_fake_openai_3' });
      const events: Array<[string, Json]> = [
        ['response.created', { type: 'response.created', sequence_number: 0, response: { ...response, status: 'in_progress', usage: null } }],
        ['response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hello' }],
        ['response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 2, item_id: 'msg_1', output_index: 0, content_index: 0, delta: ' there.' }],
        ['response.completed', { type: 'response.completed', sequence_number: 3, response }],
      ];
      return streamSse(res, events.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`), delay, scenario, { 'x-request-id': 'req_fake_openai_4' });
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
    const gz = scenario === 'gzip';
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...(gz ? { 'content-encoding': 'gzip' } : {}), ...extra });
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
