// The test helper's fake provider, unchanged, plus one bench-only scenario layered on top by wrapping
// its request listener: `x-bench-events: N` (with `x-bench-delay-ms`) turns an Anthropic stream
// request into N text deltas (the helper's streams have 5). The RSS figure needs long streams: many
// events pass through, and are held by, the meter's observer. `x-bench-download-bytes: N` answers
// with N bytes of application/octet-stream (the peer comparison's passthrough throughput); no
// existing request carries either header, so the helper's behaviour is unchanged.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startFakeProvider, type FakeProvider } from '../test/helpers/fake-provider.js';
import type { TestPki } from '../test/helpers/pki.js';

const MAX_EVENTS = 5000;
const MAX_DOWNLOAD_BYTES = 4 * 1024 ** 3;
// One shared block, written again and again: the fake should spend its time on TLS, not on filling
// buffers, so the download measures the path between client and fake.
const DOWNLOAD_BLOCK = Buffer.alloc(256 * 1024, 0x61);

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

export async function startBenchFake(pki: TestPki): Promise<FakeProvider> {
  const fake = await startFakeProvider(pki);
  const original = fake.server.listeners('request') as Listener[];
  fake.server.removeAllListeners('request');
  fake.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const events = Number(req.headers['x-bench-events'] ?? 0);
    if (events > 0) {
      req.resume();
      req.on('end', () => void longStream(res, Math.min(events, MAX_EVENTS), Number(req.headers['x-bench-delay-ms'] ?? 5)));
      return;
    }
    const download = Number(req.headers['x-bench-download-bytes'] ?? 0);
    if (download > 0) {
      req.resume();
      req.on('end', () => void sendBytes(res, Math.min(download, MAX_DOWNLOAD_BYTES)));
      return;
    }
    for (const l of original) l(req, res);
  });
  return fake;
}

/** Writes `total` bytes, waiting for 'drain' whenever the socket's buffer is full. */
async function sendBytes(res: ServerResponse, total: number): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
  let left = total;
  while (left > 0) {
    if (res.destroyed) return;
    const chunk = left >= DOWNLOAD_BLOCK.length ? DOWNLOAD_BLOCK : DOWNLOAD_BLOCK.subarray(0, left);
    left -= chunk.length;
    if (!res.write(chunk)) {
      await new Promise<void>((r) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          r();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  res.end();
}

async function longStream(res: ServerResponse, n: number, delayMs: number): Promise<void> {
  const ev = (name: string, data: object): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_bench_long' });
  res.flushHeaders();
  const usage = { input_tokens: 1200, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 };
  res.write(
    ev('message_start', {
      type: 'message_start',
      message: { id: 'msg_bench_long', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [], stop_reason: null, usage },
    }) + ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  );
  for (let i = 0; i < n; i++) {
    if (res.destroyed) return;
    await new Promise((r) => setTimeout(r, delayMs));
    // ~40 characters of text per event, like a typical delta.
    res.write(ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ` word${i} lorem ipsum dolor sit amet.` } }));
  }
  res.end(
    ev('content_block_stop', { type: 'content_block_stop', index: 0 }) +
      ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: n * 8 } }) +
      ev('message_stop', { type: 'message_stop' }),
  );
}
