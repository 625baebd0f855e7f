// A misbehaving provider for the fault suite (test/e2e/faults.test.ts, bench/faults.ts). It speaks
// Anthropic's Messages API over real TLS, and header `x-fault` makes it fail the way real upstreams
// and networks do:
//   ok                    (default) a JSON answer, or an SSE stream when the body says stream: true
//                         (`x-events` text deltas of `x-event-bytes` each, `x-delay-ms` apart)
//   reset-before-headers  TCP RST after the request arrived, before any answer
//   reset-mid-stream      200 + two SSE events, then TCP RST
//   stall-before-headers  reads the request, never answers
//   stall-mid-stream      200 + two SSE events, then silence
//   malformed-sse         200 text/event-stream full of broken framing and broken JSON, ended cleanly
//   malformed-json        200 application/json whose (complete, Content-Length-exact) body is not JSON
//   short-body            Content-Length: 4096, 100 bytes, then the connection closes
//   firehose              an endless SSE stream written as fast as the reader takes it (back-pressure)
// Every answer carries a unique `request-id` (stored by the meter as provider_request_id), so a
// client can match its responses to rows one by one.
//
// TLS is terminated on a socket this helper accepted itself, so it keeps the raw TCP socket and can
// send a real RST (resetAndDestroy) instead of a polite FIN.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { TLSSocket, createSecureContext } from 'node:tls';
import type { TestPki } from './pki.js';

export interface FaultUpstream {
  port: number;
  /** TCP connections open right now (raw sockets accepted and not yet closed). */
  openSockets(): number;
  /** Requests received, by fault. */
  seen: Map<string, number>;
  /** Bytes the firehose has handed to its socket so far (all firehose streams). */
  firehoseBytes(): number;
  /** Milliseconds since a firehose write last went through; 0 while one is flowing or none ran. */
  firehoseBlockedMs(): number;
  close(): Promise<void>;
}

const FIREHOSE_CHUNK = 64 * 1024;
const FIREHOSE_MAX = 4 * 1024 * 1024 * 1024;

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function messageStart(id: string, model: string): string {
  return sse('message_start', {
    type: 'message_start',
    message: {
      id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null,
      usage: { input_tokens: 1200, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
    },
  }) + sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
}

function delta(text: string): string {
  return sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });
}

function messageEnd(outputTokens: number): string {
  return (
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }) +
    sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: outputTokens } }) +
    sse('message_stop', { type: 'message_stop' })
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves on 'drain' or 'close', whichever comes first, and leaves no listener behind. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.removeListener('drain', done);
      res.removeListener('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

export async function startFaultUpstream(pki: TestPki): Promise<FaultUpstream> {
  const seen = new Map<string, number>();
  const raws = new Set<Socket>();
  const rawOf = new WeakMap<TLSSocket, Socket>();
  let counter = 0;
  let firehose = 0;
  let firehoseLastWrite = 0;
  let firehoseWaiting = false;
  const secureContext = createSecureContext({ cert: pki.cert, key: pki.key });

  const http = createHttpServer({ keepAlive: true, requestTimeout: 0 }, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req, res, Buffer.concat(chunks).toString('utf8')).catch(() => res.destroy());
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, bodyText: string): Promise<void> {
    const header = (name: string): string => {
      const v = req.headers[name];
      return typeof v === 'string' ? v : '';
    };
    const fault = header('x-fault') || 'ok';
    seen.set(fault, (seen.get(fault) ?? 0) + 1);
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(bodyText) as Record<string, unknown>;
    } catch {
      body = {};
    }
    const model = typeof body.model === 'string' ? body.model : 'claude-sonnet-4-5';
    const id = `req_fault_${++counter}`;
    const msgId = `msg_fault_${counter}`;
    const raw = rawOf.get(req.socket as TLSSocket);
    const reset = (): void => {
      if (raw && !raw.destroyed) raw.resetAndDestroy();
      else req.socket.destroy();
    };
    const sseHead = (): void => {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': id });
    };

    switch (fault) {
      case 'reset-before-headers':
        reset();
        return;
      case 'stall-before-headers':
        return; // the socket stays open until the peer goes away
      case 'reset-mid-stream':
      case 'stall-mid-stream': {
        sseHead();
        res.write(messageStart(msgId, model) + delta('Hello'));
        if (fault === 'stall-mid-stream') return;
        await sleep(50);
        reset();
        return;
      }
      case 'malformed-sse': {
        sseHead();
        res.write('event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":\n\n');
        res.write('data: [[[not json\n\n');
        res.write(':comment without end\r\rdata: \u0000\u0001\u0002\n\n');
        res.write('event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}}\n\n');
        res.write(`data: ${'y'.repeat(100_000)}`); // one huge line, never terminated by a blank line
        res.end();
        return;
      }
      case 'malformed-json': {
        const text = `{"id":"${msgId}","type":"message","model":"${model}","usage":{"input_tokens":12`;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'request-id': id });
        res.end(text);
        return;
      }
      case 'short-body': {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 4096, 'request-id': id });
        res.write('{"id":"' + msgId + '","type":"message","usage":{"input_tokens":' + ' '.repeat(60));
        await sleep(20);
        req.socket.destroy();
        return;
      }
      case 'firehose':
        return pumpFirehose(res, id, msgId, model);
      default:
        break;
    }

    if (body.stream !== true) {
      const text = JSON.stringify({
        id: msgId, type: 'message', role: 'assistant', model, content: [{ type: 'text', text: 'ok' }],
        stop_reason: 'end_turn', stop_sequence: null,
        usage: { input_tokens: 1200, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 345 },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'request-id': id });
      res.end(text);
      return;
    }
    const events = Math.max(1, Number(header('x-events') || 5));
    const eventBytes = Math.max(1, Number(header('x-event-bytes') || 8));
    const delayMs = Math.max(0, Number(header('x-delay-ms') || 0));
    sseHead();
    res.write(messageStart(msgId, model));
    const word = 'x'.repeat(eventBytes);
    for (let i = 0; i < events; i++) {
      if (res.destroyed) return;
      if (delayMs > 0) await sleep(delayMs);
      if (!res.write(delta(word))) await drained(res);
    }
    if (!res.destroyed) res.end(messageEnd(345));
  }

  async function pumpFirehose(res: ServerResponse, id: string, msgId: string, model: string): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'request-id': id });
    res.write(messageStart(msgId, model));
    const chunk = delta('z'.repeat(FIREHOSE_CHUNK));
    let sent = 0;
    while (!res.destroyed && sent < FIREHOSE_MAX) {
      sent += chunk.length;
      firehose += chunk.length;
      firehoseLastWrite = Date.now();
      if (!res.write(chunk)) {
        firehoseWaiting = true;
        await drained(res);
        firehoseWaiting = false;
      }
    }
    if (!res.destroyed) res.end(messageEnd(1));
  }

  const tcp = createNetServer((raw: Socket) => {
    raws.add(raw);
    raw.once('close', () => raws.delete(raw));
    raw.on('error', () => raw.destroy());
    const tls = new TLSSocket(raw, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
    rawOf.set(tls, raw);
    tls.on('error', () => tls.destroy());
    http.emit('connection', tls);
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));

  return {
    port: (tcp.address() as AddressInfo).port,
    openSockets: () => raws.size,
    seen,
    firehoseBytes: () => firehose,
    firehoseBlockedMs: () => (firehoseWaiting ? Date.now() - firehoseLastWrite : 0),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of raws) s.destroy();
        http.closeAllConnections();
        tcp.close(() => resolve());
      }),
  };
}
