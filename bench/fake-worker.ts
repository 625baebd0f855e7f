// The fake provider, on its own worker thread inside the bench process. On its own event loop it
// does not share one core with the load generator: on a 2-core machine a single thread doing both
// client and server TLS would saturate first, at the same rate direct and through the meter, and hide
// the meter's cost (the throughput figure would read ~1.0x whatever the meter did).
//
// The test helper's fake is used unchanged. One bench-only addition is layered on top by wrapping its
// request listener: `x-bench-events: N` turns an Anthropic stream request into N text deltas (the
// helper's streams have 5), which is what the RSS figure needs (long streams, many events held by
// the meter's observer).
import { parentPort, workerData } from 'node:worker_threads';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startFakeProvider } from '../test/helpers/fake-provider.js';
import type { TestPki } from '../test/helpers/pki.js';

export type FakeWorkerIn = { type: 'close' };
export type FakeWorkerOut = { type: 'ready'; port: number } | { type: 'closed' };

const pki = (workerData as { pki: TestPki }).pki;
const fake = await startFakeProvider(pki);
const port = parentPort;
if (!port) throw new Error('fake-worker must run as a worker thread');

type Listener = (req: IncomingMessage, res: ServerResponse) => void;
const original = fake.server.listeners('request') as Listener[];
fake.server.removeAllListeners('request');
fake.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
  const events = Number(req.headers['x-bench-events'] ?? 0);
  if (events > 0) {
    req.resume();
    req.on('end', () => void longStream(res, Math.min(events, 5000), Number(req.headers['x-bench-delay-ms'] ?? 5)));
    return;
  }
  for (const l of original) l(req, res);
});

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
    // ~40 characters of text per event, like a typical token delta batch.
    res.write(ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ` word${i} lorem ipsum dolor sit amet.` } }));
  }
  res.end(
    ev('content_block_stop', { type: 'content_block_stop', index: 0 }) +
      ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: n * 8 } }) +
      ev('message_stop', { type: 'message_stop' }),
  );
}

port.on('message', (m: FakeWorkerIn) => {
  if (m.type === 'close') {
    void fake.close().then(() => {
      port.postMessage({ type: 'closed' } satisfies FakeWorkerOut);
      port.close();
    });
  }
});
port.postMessage({ type: 'ready', port: fake.port } satisfies FakeWorkerOut);
