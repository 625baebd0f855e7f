// Codex opens `GET /backend-api/codex/responses` as a WebSocket first. Through the meter the upgrade
// must work, and every response the frames carry must give one row — compressed
// (permessage-deflate, context takeover) or not.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { constants, createDeflateRaw } from 'node:zlib';
import { ProxyAgent, WebSocket } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startMeter, type MeterProcs } from '../helpers/meter.js';
import { basePrices, expectedMinor } from '../helpers/expected-cost.js';

let pki: TestPki;
let server: Server;
let meter: MeterProcs;

function frame(payload: Buffer, opts: { compressed?: boolean; opcode?: number } = {}): Buffer {
  const head: number[] = [0x80 | (opts.compressed ? 0x40 : 0) | (opts.opcode ?? 1)];
  if (payload.length < 126) head.push(payload.length);
  else if (payload.length < 65536) head.push(126, payload.length >> 8, payload.length & 0xff);
  else throw new Error('test frames stay small');
  return Buffer.concat([Buffer.from(head), payload]);
}

/** Reads masked client text frames (enough for this fake). */
function onClientMessages(socket: Socket, cb: (text: string) => void): void {
  let buf = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        len = buf.readUInt16BE(2);
        off = 4;
      }
      if (buf.length < off + 4 + len) return;
      const key = buf.subarray(off, off + 4);
      const payload = Buffer.from(buf.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
      const opcode = buf[0] & 0x0f;
      buf = buf.subarray(off + 4 + len);
      if (opcode === 1) cb(payload.toString('utf8'));
    }
  });
}

function responseEvents(n: number, usage: Record<string, unknown>): unknown[] {
  const response = { id: `resp_ws_${n}`, object: 'response', model: 'gpt-5-codex', status: 'completed', output: [], usage };
  return [
    { type: 'response.created', sequence_number: 0, response: { ...response, status: 'in_progress', usage: null } },
    { type: 'response.output_text.delta', sequence_number: 1, delta: 'Hello' },
    { type: 'response.output_text.delta', sequence_number: 2, delta: ' from a socket' },
    { type: 'response.completed', sequence_number: 3, response },
  ];
}

before(async () => {
  pki = makeTestPki();
  server = createServer({ cert: pki.cert, key: pki.key });
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    const deflate = String(req.headers['sec-websocket-extensions'] ?? '').includes('permessage-deflate') && req.url?.includes('compress=1');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n` +
        (deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : '') +
        '\r\n',
    );
    // One compressor for the whole connection: context takeover, like the real servers.
    const deflater = deflate ? createDeflateRaw() : null;
    const send = (obj: unknown): Promise<void> => {
      const data = Buffer.from(JSON.stringify(obj));
      if (!deflater) {
        socket.write(frame(data));
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        const out: Buffer[] = [];
        const onData = (d: Buffer): void => {
          out.push(d);
        };
        deflater.on('data', onData);
        deflater.write(data);
        deflater.flush(constants.Z_SYNC_FLUSH, () => {
          deflater.removeListener('data', onData);
          const all = Buffer.concat(out);
          socket.write(frame(all.subarray(0, all.length - 4), { compressed: true }));
          resolve();
        });
      });
    };
    let n = 0;
    onClientMessages(socket, (text) => {
      const msg = JSON.parse(text) as { type: string; usage: Record<string, unknown> };
      if (msg.type !== 'response.create') return;
      n++;
      void (async () => {
        for (const ev of responseEvents(n, msg.usage)) await send(ev);
      })();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  meter = await startMeter({ pki, upstreamPort: (server.address() as AddressInfo).port });
});

after(async () => {
  await meter?.stop();
  server?.closeAllConnections();
  server?.close();
});

function usageOf(i: number): Record<string, unknown> {
  return { input_tokens: 1000 * i + 500, input_tokens_details: { cached_tokens: 200 }, output_tokens: 100 * i, output_tokens_details: { reasoning_tokens: 10 * i }, total_tokens: 0 };
}

async function talk(query: string, project: string, count: number): Promise<string[]> {
  const dispatcher = new ProxyAgent({ uri: `http://${project}:x@127.0.0.1:${meter.edgePort}`, requestTls: { ca: readFileSync(meter.clientBundlePath, 'utf8') } });
  const ws = new WebSocket(`wss://chatgpt.com/backend-api/codex/responses${query}`, { dispatcher });
  const got: string[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('error', () => reject(new Error('websocket error')));
    ws.addEventListener('open', () => ws.send(JSON.stringify({ type: 'response.create', usage: usageOf(1) })));
    let done = 0;
    ws.addEventListener("message", (ev) => {
      const msg = JSON.parse(String(ev.data)) as { type: string };
      got.push(msg.type);
      if (msg.type === 'response.completed' && ++done < count) ws.send(JSON.stringify({ type: 'response.create', usage: usageOf(done + 1) }));
      else if (msg.type === 'response.completed') {
        ws.close();
        resolve();
      }
    });
  });
  return got;
}

describe('WebSocket upgrades on a metered host', () => {
  for (const [label, query] of [['plain frames', ''], ['permessage-deflate', '?compress=1']] as const) {
    test(`${label}: works through the meter and gives one row per response`, async () => {
      const project = label === 'plain frames' ? 'ws-plain' : 'ws-deflate';
      const got = await talk(query, project, 2);
      assert.equal(got.filter((t) => t === 'response.completed').length, 2);
      const rows = await meter.waitForRows(2, `p.slug = '${project}'`);
      assert.equal(rows.length, 2);
      const p = basePrices('openai', 'gpt-5');
      rows.sort((a, b) => Number(a.input_tokens) - Number(b.input_tokens));
      rows.forEach((r, i) => {
        const u = usageOf(i + 1) as { input_tokens: number; output_tokens: number };
        assert.equal(r.mode, 'codex');
        assert.equal(r.provider, 'openai');
        assert.equal(r.model, 'gpt-5-codex');
        assert.equal(r.input_tokens, u.input_tokens - 200);
        assert.equal(r.cache_read_tokens, 200);
        assert.equal(r.output_tokens, u.output_tokens);
        assert.equal(r.thinking_tokens, 10 * (i + 1));
        assert.equal(r.tokens_complete, 1);
        if (r.cost_usd_minor_units !== null) {
          assert.equal(r.cost_usd_minor_units, expectedMinor([[u.input_tokens - 200, p.input_mtok], [200, p.cache_read_mtok], [u.output_tokens, p.output_mtok]]));
        }
      });
    });
  }
});
