// Metering WebSocket upgrades on metered hosts (Codex tries `GET .../responses` with Upgrade first).
// The connection itself is a raw splice to the upstream; this tap reads a copy of what the upstream
// sends: the HTTP 101 head, then RFC 6455 frames, decompressed when permessage-deflate was agreed.
// Each message is a JSON event shaped like the Responses SSE events; every terminal event
// (response.completed / .incomplete / .failed) closes one exchange, handed to the adapter as an
// event list. Bounded: only the events that matter for usage are kept between two terminals.
import { constants, createInflateRaw, type InflateRaw } from 'node:zlib';
import type { SseEvent } from '../../core/exchange.js';

const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);
const KEPT = new Set(['response.created', 'response.in_progress', 'error', ...TERMINAL]);
const MAX_MESSAGE = 16 * 1024 * 1024;
const MAX_HEAD = 16 * 1024;
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export interface WsExchange {
  /** When the first event of this response arrived. */
  startedAt: Date;
  events: SseEvent[];
  /** The terminal event's type, or null when the connection ended mid-response. */
  terminal: string | null;
}

export class WebSocketUsageTap {
  private head: Buffer | null = Buffer.alloc(0);
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentsSize = 0;
  private fragmentCompressed = false;
  private inflate: InflateRaw | null = null;
  private chain: Promise<void> = Promise.resolve();
  private events: SseEvent[] = [];
  private startedAt = new Date();
  private dead = false;
  /** The upstream agreed to the upgrade (101). */
  upgraded = false;

  constructor(private readonly onExchange: (x: WsExchange) => void) {}

  /** A copy of each chunk the upstream sent; never throws. */
  push(chunk: Buffer): void {
    if (this.dead) return;
    try {
      if (this.head) {
        this.head = Buffer.concat([this.head, chunk]);
        const end = this.head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.head.length > MAX_HEAD) this.dead = true;
          return;
        }
        const text = this.head.subarray(0, end).toString('latin1');
        const rest = this.head.subarray(end + 4);
        this.head = null;
        this.upgraded = /^HTTP\/1\.1 101\b/.test(text);
        if (!this.upgraded) {
          this.dead = true;
          return;
        }
        if (/^sec-websocket-extensions:.*permessage-deflate/im.test(text)) this.inflate = createInflateRaw();
        chunk = rest;
      }
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      this.frames();
    } catch {
      this.dead = true;
    }
  }

  /** The connection closed: a response still open is handed over as cut short. */
  async end(): Promise<void> {
    await this.chain;
    if (this.events.length) this.emit(null);
    this.inflate?.close();
  }

  private frames(): void {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const rsv1 = (b[0] & 0x40) !== 0;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        const big = b.readBigUInt64BE(2);
        if (big > BigInt(MAX_MESSAGE)) {
          this.dead = true;
          return;
        }
        len = Number(big);
        off = 10;
      }
      const maskAt = off;
      if (masked) off += 4;
      if (b.length < off + len) return;
      let payload = b.subarray(off, off + len);
      if (masked) {
        const key = b.subarray(maskAt, maskAt + 4);
        payload = Buffer.from(payload);
        for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
      }
      this.buf = b.subarray(off + len);
      if (opcode === 0x1 || opcode === 0x2) {
        this.fragments = [payload];
        this.fragmentsSize = payload.length;
        this.fragmentCompressed = rsv1;
      } else if (opcode === 0x0) {
        this.fragments.push(payload);
        this.fragmentsSize += payload.length;
      } else {
        continue; // control frames (close, ping, pong) carry no events
      }
      if (this.fragmentsSize > MAX_MESSAGE) {
        this.dead = true;
        return;
      }
      if (fin) {
        const message = Buffer.concat(this.fragments, this.fragmentsSize);
        const compressed = this.fragmentCompressed;
        this.fragments = [];
        this.fragmentsSize = 0;
        this.chain = this.chain.then(() => this.message(message, compressed)).catch(() => {
          this.dead = true;
        });
      }
    }
  }

  private async message(payload: Buffer, compressed: boolean): Promise<void> {
    const data = compressed ? await this.decompress(payload) : payload;
    const text = data.toString('utf8');
    let type: string | null = null;
    try {
      const parsed = JSON.parse(text) as { type?: unknown };
      type = typeof parsed.type === 'string' ? parsed.type : null;
    } catch {
      return;
    }
    if (!type || !KEPT.has(type)) return;
    if (this.events.length === 0) this.startedAt = new Date();
    this.events.push({ event: type, data: text });
    if (TERMINAL.has(type)) this.emit(type);
  }

  private decompress(payload: Buffer): Promise<Buffer> {
    const inflate = this.inflate;
    if (!inflate) return Promise.reject(new Error('compressed frame without permessage-deflate'));
    return new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const onData = (d: Buffer): void => {
        out.push(d);
      };
      inflate.on('data', onData);
      inflate.once('error', reject);
      inflate.write(Buffer.concat([payload, DEFLATE_TAIL]));
      inflate.flush(constants.Z_SYNC_FLUSH, () => {
        inflate.removeListener('data', onData);
        inflate.removeListener('error', reject);
        resolve(Buffer.concat(out));
      });
    });
  }

  private emit(terminal: string | null): void {
    const events = this.events;
    this.events = [];
    try {
      this.onExchange({ startedAt: this.startedAt, events, terminal });
    } catch {
      // Metering is best-effort; the socket keeps flowing regardless.
    }
  }
}
