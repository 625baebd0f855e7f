// Incremental server-sent-events splitter for the daemon's tap (STYLE §2: stream, never buffer).
// It runs for every streamed chunk, so it scans with indexOf and slices values out of the decoded
// chunk instead of building strings a character at a time, and it is bounded: past its byte cap it
// keeps only the events a usage parser can need.
//
// Framing follows the WHATWG event-stream rules: lines end with \n, \r\n or \r (a \r at the end of
// a chunk may be followed by the \n in the next one); a leading BOM is dropped; lines starting with
// ':' are comments; `field:value` with one optional space after the colon; a line without a colon is
// a field with an empty value; several `data` lines join with \n; a blank line dispatches; an event
// with no data line is not dispatched. `id` and `retry` are read and ignored (SseEvent has no slot).
//
// One deliberate difference at end of stream: the spec discards an event that was not closed by a
// blank line. A meter would rather see it (a capture or proxy that lost the final blank line still
// carried the usage), and a half-sent JSON payload fails JSON.parse in the adapter anyway.
import type { ObservedResponse, SseEvent } from '../core/exchange.js';

const LF = 10;
const SPACE = 32;
const COLON = 58;

/** A single event (or line) larger than this is dropped even with an unlimited cap: memory guard. */
const DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024;

export interface SseSplitterOptions {
  /** Largest single event kept, in decoded characters. Default max(capBytes, 8 MiB). */
  maxEventBytes?: number;
}

export class SseSplitter {
  /** True once the cap was hit (or an oversized event dropped): `events` is then a selection. */
  truncated = false;
  /** Events dispatched by the stream, kept or not. */
  eventCount = 0;
  /** Events dispatched but not kept (over the cap and of no use for usage, evicted, or oversized). */
  droppedCount = 0;

  // Sizes are counted in UTF-16 code units of decoded text: equal to bytes for the ASCII JSON that
  // providers send, and free to compute (Buffer.byteLength would be a second scan).
  private readonly cap: number;
  private readonly maxEvent: number;
  private readonly decoder = new TextDecoder('utf-8'); // strips a leading BOM, holds split UTF-8
  private started = false;
  private ended = false;

  // Everything until the cap: kept in full, in order.
  private readonly head: SseEvent[] = [];
  private headBytes = 0;
  // After the cap: only usage/error/terminal events, oldest evicted first past a second cap.
  private tail: SseEvent[] = [];
  private tailStart = 0;
  private tailBytes = 0;

  // Line state across chunks.
  private pending: string[] = [];
  private pendingLen = 0;
  private skipLF = false;
  private discardingLine = false;

  // Event being assembled.
  private evType: string | null = null;
  private data: string | null = null;
  private evBytes = 0;
  private dropEvent = false;

  constructor(capBytes: number, options: SseSplitterOptions = {}) {
    this.cap = Number.isNaN(capBytes) ? 0 : Math.max(0, capBytes);
    this.maxEvent = options.maxEventBytes ?? Math.max(this.cap, DEFAULT_MAX_EVENT_BYTES);
  }

  /** Feed the next chunk as it arrived. Do not mix Buffer and string chunks in one stream. */
  feed(chunk: Uint8Array | string): void {
    if (this.ended) return;
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (text.length === 0) return;
    if (!this.started) {
      this.started = true;
      // TextDecoder already dropped the BOM of byte input; string input still has it.
      if (typeof chunk === 'string' && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.scan(text);
  }

  /** The stream ended: flush a split character, the last line and a last unclosed event. */
  end(): void {
    if (this.ended) return;
    const rest = this.decoder.decode();
    if (rest.length > 0) this.scan(rest);
    this.ended = true;
    if (this.pendingLen > 0 && !this.discardingLine) {
      const line = this.takePending('');
      this.line(line, 0, line.length);
    }
    this.pending = [];
    this.pendingLen = 0;
    this.dispatch();
  }

  /** Kept events in arrival order (a fresh array: the caller may keep or change it). */
  get events(): SseEvent[] {
    return this.head.concat(this.tail.slice(this.tailStart));
  }

  private scan(text: string): void {
    const len = text.length;
    let pos = 0;
    if (this.skipLF) {
      this.skipLF = false;
      if (text.charCodeAt(0) === LF) pos = 1;
    }
    // Next \n and \r positions, refreshed only once passed: two memchr-like scans per chunk in the
    // common case, not per line.
    let lf = text.indexOf('\n', pos);
    let cr = text.indexOf('\r', pos);
    while (pos < len) {
      if (lf !== -1 && lf < pos) lf = text.indexOf('\n', pos);
      if (cr !== -1 && cr < pos) cr = text.indexOf('\r', pos);
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(lf, cr);
      if (end === -1) {
        this.keepPartial(text, pos);
        return;
      }
      let next = end + 1;
      if (end === cr) {
        if (next < len) {
          if (text.charCodeAt(next) === LF) next++;
        } else {
          this.skipLF = true;
        }
      }
      if (this.discardingLine) {
        this.discardingLine = false;
      } else if (this.pendingLen + (end - pos) > this.maxEvent) {
        // The same limit as for a line still arriving (keepPartial), so whether an oversized line
        // is dropped never depends on where the chunks were cut.
        this.dropLine();
      } else if (this.pendingLen > 0) {
        const line = this.takePending(text.slice(pos, end));
        this.line(line, 0, line.length);
      } else {
        this.line(text, pos, end);
      }
      pos = next;
    }
  }

  private keepPartial(text: string, pos: number): void {
    if (this.discardingLine || pos >= text.length) return;
    this.pendingLen += text.length - pos;
    if (this.pendingLen > this.maxEvent) {
      // An endless line must not grow memory: drop it and the event it belongs to.
      this.dropLine();
      this.discardingLine = true;
      return;
    }
    this.pending.push(text.slice(pos));
  }

  /** A line longer than maxEvent: it and the event it belongs to are dropped. */
  private dropLine(): void {
    this.pending = [];
    this.pendingLen = 0;
    this.dropEvent = true;
    this.truncated = true;
  }

  private takePending(last: string): string {
    this.pending.push(last);
    const line = this.pending.length === 1 ? this.pending[0] : this.pending.join('');
    this.pending = [];
    this.pendingLen = 0;
    return line;
  }

  /** One line: s[start, end) without its terminator. */
  private line(s: string, start: number, end: number): void {
    if (start === end) {
      this.dispatch();
      return;
    }
    if (s.charCodeAt(start) === COLON) return; // comment (OpenRouter's ": OPENROUTER PROCESSING")
    // Only `data` and `event` matter, so the colon is looked for right after those names, never
    // with indexOf: on a line without one that search runs to the end of the chunk, and a chunk of
    // such lines took quadratic time (a megabyte of "x\n": seconds; found by test/fuzz/sse.test.ts).
    if (s.startsWith('data', start)) {
      const v = this.valueAfter(s, start + 4, end);
      if (v !== null) this.appendData(v);
    } else if (s.startsWith('event', start)) {
      const v = this.valueAfter(s, start + 5, end);
      if (v !== null) this.evType = v;
    }
  }

  /** The value of a field whose name ends at `nameEnd`; null when the name goes on (`database:`). */
  private valueAfter(s: string, nameEnd: number, end: number): string | null {
    if (nameEnd === end) return '';
    if (nameEnd > end || s.charCodeAt(nameEnd) !== COLON) return null;
    let vStart = nameEnd + 1;
    if (vStart < end && s.charCodeAt(vStart) === SPACE) vStart++;
    return s.slice(vStart, end);
  }

  private appendData(v: string): void {
    if (this.dropEvent) return;
    this.evBytes += v.length + 1;
    if (this.evBytes > this.maxEvent) {
      this.dropEvent = true;
      this.data = null;
      this.truncated = true;
      return;
    }
    this.data = this.data === null ? v : `${this.data}\n${v}`;
  }

  private dispatch(): void {
    if (this.dropEvent) {
      this.eventCount++;
      this.droppedCount++;
    } else if (this.data !== null) {
      const event = this.evType === null || this.evType.length === 0 ? null : this.evType;
      this.keep({ event, data: this.data });
    }
    this.evType = null;
    this.data = null;
    this.evBytes = 0;
    this.dropEvent = false;
  }

  private keep(ev: SseEvent): void {
    this.eventCount++;
    const size = ev.data.length + (ev.event === null ? 0 : ev.event.length);
    if (!this.truncated && this.headBytes + size <= this.cap) {
      this.head.push(ev);
      this.headBytes += size;
      return;
    }
    this.truncated = true;
    if (!worthKeeping(ev)) {
      this.droppedCount++;
      return;
    }
    // Copy: a slice would pin the whole decoded chunk it came from for the life of the exchange.
    this.tail.push({ event: ev.event, data: detach(ev.data) });
    this.tailBytes += size;
    while (this.tailBytes > this.cap && this.tail.length - this.tailStart > 1) {
      const old = this.tail[this.tailStart++];
      this.tailBytes -= old.data.length + (old.event === null ? 0 : old.event.length);
      this.droppedCount++;
    }
    if (this.tailStart > 1024 && this.tailStart * 2 > this.tail.length) {
      this.tail = this.tail.slice(this.tailStart);
      this.tailStart = 0;
    }
  }
}

function detach(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

/**
 * Past the cap, what a usage parser can still need: events carrying usage (Anthropic
 * message_start/message_delta, the OpenAI chunk with usage, response.completed, Gemini
 * usageMetadata), errors, and the end markers that tell a complete stream from a cut one.
 */
export function worthKeeping(ev: SseEvent): boolean {
  const name = ev.event;
  if (name !== null && (name.includes('error') || name === 'message_stop')) return true;
  const d = ev.data;
  return mentionsUsage(d) || d.includes('error') || d === '[DONE]' || d.includes('"message_stop"');
}

/** "usage"/"Usage" anywhere, except OpenAI's `"usage":null` on every ordinary chunk. */
function mentionsUsage(d: string): boolean {
  let i = d.indexOf('sage');
  while (i > 0) {
    const c = d.charCodeAt(i - 1);
    if (c === 117 /* u */ || c === 85 /* U */) {
      const after = i + 4;
      if (!d.startsWith('":null', after) && !d.startsWith('": null', after)) return true;
    }
    i = d.indexOf('sage', i + 4);
  }
  return false;
}

/** Whole-text convenience for tests and `pricing explain`: no cap. */
export function parseSseText(text: string): SseEvent[] {
  const s = new SseSplitter(Number.POSITIVE_INFINITY);
  s.feed(text);
  s.end();
  return s.events;
}

/**
 * The events of an observed response: the daemon's split events, or the body text split here when
 * it is an event stream that reached the adapter as text (`pricing explain`, a missed content type).
 */
export function observedEvents(response: ObservedResponse): readonly SseEvent[] | null {
  if (response.events !== null) return response.events;
  const body = response.bodyText;
  if (body === null) return null;
  const ct = response.headers['content-type'] ?? '';
  if (ct.includes('text/event-stream') || looksLikeSse(body)) return parseSseText(body);
  return null;
}

function looksLikeSse(body: string): boolean {
  const t = body.trimStart().replace(/^\uFEFF/, '');
  return t.startsWith('event:') || t.startsWith('data:') || t.startsWith(':');
}
