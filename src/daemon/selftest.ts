// The built-in self-test host (SPEC §2). Requests to selftest.halton-meter.internal through the edge
// are decrypted like any provider's and forwarded — to this tiny loopback server instead of the
// internet — so a self-test proves the whole path: edge chain, TLS with the meter's CA, forward and
// tap, the Anthropic adapter, and a row in project `halton-meter:selftest`.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export const SELFTEST_MODEL = 'halton-selftest';

export function createSelftestServer(): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      if (chunks.length < 64) chunks.push(c);
    });
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'POST' || path !== '/v1/messages') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('halton-meter self-test host: POST /v1/messages\n');
        return;
      }
      let stream = false;
      try {
        stream = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { stream?: unknown }).stream === true;
      } catch {
        stream = false;
      }
      const id = `msg_selftest_${randomUUID().replace(/-/g, '')}`;
      const requestId = `req_selftest_${randomUUID().replace(/-/g, '')}`;
      if (!stream) {
        const body = JSON.stringify({
          id,
          type: 'message',
          role: 'assistant',
          model: SELFTEST_MODEL,
          content: [{ type: 'text', text: 'halton-meter self-test ok' }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: { input_tokens: 12, output_tokens: 6, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
        });
        res.writeHead(200, { 'content-type': 'application/json', 'request-id': requestId, 'content-length': Buffer.byteLength(body) }).end(body);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': requestId });
      const ev = (type: string, data: unknown): string => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
      res.write(
        ev('message_start', {
          type: 'message_start',
          message: { id, type: 'message', role: 'assistant', model: SELFTEST_MODEL, content: [], usage: { input_tokens: 12, output_tokens: 1 } },
        }),
      );
      res.write(ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
      res.write(ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'halton-meter self-test ok' } }));
      res.write(ev('content_block_stop', { type: 'content_block_stop', index: 0 }));
      res.write(ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 6 } }));
      res.end(ev('message_stop', { type: 'message_stop' }));
    });
  });
}
