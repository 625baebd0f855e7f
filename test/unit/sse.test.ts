import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { observedEvents, parseSseText, SseSplitter, worthKeeping } from '../../src/adapters/sse.js';
import type { SseEvent } from '../../src/core/exchange.js';
import { isSseFixture, listFixtures, loadFixture } from '../helpers/fixtures.js';

/**
 * A deliberately naive reference: the WHATWG rules applied to the whole text at once, with the same
 * lenient end-of-stream as the splitter (a last unclosed event is still dispatched).
 */
function reference(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  let type: string | null = null;
  let data: string[] | null = null;
  const dispatch = (): void => {
    if (data !== null) out.push({ event: type === '' ? null : type, data: data.join('\n') });
    type = null;
    data = null;
  };
  for (const line of body.split(/\r\n|\r|\n/)) {
    if (line === '') {
      dispatch();
      continue;
    }
    if (line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const name = i === -1 ? line : line.slice(0, i);
    let value = i === -1 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') (data ??= []).push(value);
    else if (name === 'event') type = value;
  }
  dispatch();
  return out;
}

function feedAll(chunks: (Buffer | string)[], cap = Number.POSITIVE_INFINITY): SseSplitter {
  const s = new SseSplitter(cap);
  for (const c of chunks) s.feed(c);
  s.end();
  return s;
}

function chunksOf(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

const TRICKY =
  '\uFEFFevent: message_start\r\ndata: {"t":"héllo wörld ✓ 🚀 日本"}\r\n\r\n' +
  ': a comment\n' +
  'data: line one\ndata:line two\ndata\ndata:  two spaces\n\n' +
  'event: ping\rdata: cr only\r\r' +
  'id: 7\nretry: 100\nfoo: bar\ndata: with id\n\n' +
  'event: lonely\n\n' +
  'data: 🚀🚀\r\n\r\n' +
  'event:\ndata: empty event name\n\n' +
  'data: last without blank line';

describe('SseSplitter framing (WHATWG event-stream)', () => {
  test('parses every rule: endings, comments, joined data, BOM, no-colon field, one optional space', () => {
    assert.deepEqual(parseSseText(TRICKY), [
      { event: 'message_start', data: '{"t":"héllo wörld ✓ 🚀 日本"}' },
      { event: null, data: 'line one\nline two\n\n two spaces' },
      { event: 'ping', data: 'cr only' },
      { event: null, data: 'with id' },
      { event: null, data: '🚀🚀' },
      { event: null, data: 'empty event name' },
      { event: null, data: 'last without blank line' },
    ]);
    assert.deepEqual(parseSseText(TRICKY), reference(TRICKY));
  });

  test('an event with no data line is not dispatched and its type does not leak', () => {
    assert.deepEqual(parseSseText('event: a\n\ndata: x\n\n'), [{ event: null, data: 'x' }]);
  });

  test('an empty data line dispatches an empty string', () => {
    assert.deepEqual(parseSseText('data:\n\n'), [{ event: null, data: '' }]);
  });

  test('byte chunks split at every position give the same events (multi-byte UTF-8, CR|LF)', () => {
    const buf = Buffer.from(TRICKY, 'utf8');
    const want = reference(TRICKY);
    for (let i = 0; i <= buf.length; i++) {
      const got = feedAll([buf.subarray(0, i), buf.subarray(i)]).events;
      assert.deepEqual(got, want, `split at byte ${i}`);
    }
    for (let size = 1; size <= 8; size++) assert.deepEqual(feedAll(chunksOf(buf, size)).events, want, `size ${size}`);
  });

  test('string chunks split at every position, BOM on a string stream', () => {
    const want = reference(TRICKY);
    for (let i = 0; i <= TRICKY.length; i++) {
      assert.deepEqual(feedAll([TRICKY.slice(0, i), TRICKY.slice(i)]).events, want, `split at char ${i}`);
    }
  });

  test('a CR at the end of one chunk and LF at the start of the next is one line end', () => {
    const s = feedAll(['data: a\r', '\ndata: b\r', '\n\r', '\n']);
    assert.deepEqual(s.events, [{ event: null, data: 'a\nb' }]);
  });

  test('every SSE wire fixture: 1-byte, odd and whole chunking agree with the reference', () => {
    let n = 0;
    for (const id of listFixtures()) {
      const fx = loadFixture(id);
      if (!isSseFixture(fx)) continue;
      const want = reference(fx.responseBytes.toString('utf8'));
      assert.ok(want.length > 0, id);
      for (const size of [1, 7, 977, fx.responseBytes.length]) {
        assert.deepEqual(feedAll(chunksOf(fx.responseBytes, size)).events, want, `${id} chunk ${size}`);
      }
      n++;
    }
    assert.ok(n >= 50, `SSE fixtures checked: ${n}`);
  });

  test('random bytes in random chunks: never throws, always agrees with the reference', () => {
    let seed = 0x9e3779b9;
    const rand = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    // Weighted toward what matters: line ends, field names, colons, multi-byte and broken UTF-8.
    const atoms = ['\n', '\r', '\r\n', ':', ' ', 'data', 'event', 'id', 'x', '{}', 'é', '🚀', '日'].map((a) => Buffer.from(a));
    atoms.push(Buffer.from([0xf0, 0x9f]), Buffer.from([0x80]), Buffer.from([0xc3]));
    for (let round = 0; round < 300; round++) {
      const parts: Buffer[] = [];
      for (let i = Math.floor(rand() * 200); i > 0; i--) parts.push(atoms[Math.floor(rand() * atoms.length)]);
      const buf = Buffer.concat(parts);
      const chunks: Buffer[] = [];
      for (let i = 0; i < buf.length; ) {
        const n = 1 + Math.floor(rand() * 9);
        chunks.push(buf.subarray(i, i + n));
        i += n;
      }
      const want = reference(new TextDecoder().decode(buf));
      assert.deepEqual(feedAll(chunks).events, want, `round ${round}: ${JSON.stringify(buf.toString('latin1'))}`);
    }
  });

  test('feed after end is ignored; end twice is harmless', () => {
    const s = new SseSplitter(1000);
    s.feed('data: a\n\n');
    s.end();
    s.end();
    s.feed('data: b\n\n');
    assert.deepEqual(s.events, [{ event: null, data: 'a' }]);
  });
});

describe('SseSplitter bounds', () => {
  const content = (i: number): string =>
    `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"chunk ${i} lorem ipsum"}}\n\n`;

  test('past the cap only usage, error and end events are kept, and truncated is set', () => {
    let text = 'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":5}}}\n\n';
    for (let i = 0; i < 200; i++) text += content(i);
    text += 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"}}\n\n';
    text += 'data: {"choices":[],"usage":null}\n\n';
    text += 'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":9}}\n\n';
    text += 'event: message_stop\ndata: {"type":"message_stop"}\n\n';
    text += 'data: [DONE]\n\n';
    const s = feedAll([text], 2000);
    assert.equal(s.truncated, true);
    assert.equal(s.eventCount, 206);
    const kept = s.events;
    assert.equal(kept[0].event, 'message_start');
    const tailNames = kept.filter((e) => e.event !== 'content_block_delta').map((e) => e.event ?? e.data);
    assert.deepEqual(tailNames, ['message_start', 'error', 'message_delta', 'message_stop', '[DONE]']);
    assert.equal(s.droppedCount, s.eventCount - kept.length);
    assert.ok(kept.length < 30, `kept ${kept.length}`);
  });

  test('kept usage events are themselves bounded: oldest evicted, newest kept', () => {
    const s = new SseSplitter(1000);
    for (let i = 0; i < 5000; i++) s.feed(`data: {"usageMetadata":{"totalTokenCount":${i}}}\n\n`);
    s.end();
    const kept = s.events;
    const bytes = kept.reduce((n, e) => n + e.data.length, 0);
    assert.ok(bytes <= 2000 + 100, `retained ${bytes}`);
    assert.equal(kept[kept.length - 1].data, '{"usageMetadata":{"totalTokenCount":4999}}');
    assert.equal(s.truncated, true);
  });

  test('an oversized event and an endless line are dropped, not buffered', () => {
    const s = new SseSplitter(100, { maxEventBytes: 1000 });
    s.feed(`data: ${'x'.repeat(600)}\ndata: ${'y'.repeat(600)}\n\n`);
    for (let i = 0; i < 50; i++) s.feed('z'.repeat(100)); // one line, never terminated in time
    s.feed('\n\ndata: {"usage":{"output_tokens":1}}\n\n');
    s.end();
    assert.equal(s.truncated, true);
    assert.deepEqual(s.events, [{ event: null, data: '{"usage":{"output_tokens":1}}' }]);
  });

  test('worthKeeping ignores `"usage":null` but keeps real usage, Usage, errors and end markers', () => {
    assert.equal(worthKeeping({ event: null, data: '{"choices":[{}],"usage":null}' }), false);
    assert.equal(worthKeeping({ event: null, data: '{"usage": null}' }), false);
    assert.equal(worthKeeping({ event: null, data: '{"usage":{"a":1}}' }), true);
    assert.equal(worthKeeping({ event: null, data: '{"Usage":{"a":1}}' }), true);
    assert.equal(worthKeeping({ event: 'error', data: '{}' }), true);
    assert.equal(worthKeeping({ event: null, data: '{"error":{"type":"x"}}' }), true);
    assert.equal(worthKeeping({ event: null, data: '[DONE]' }), true);
    assert.equal(worthKeeping({ event: 'message_stop', data: '{}' }), true);
    assert.equal(worthKeeping({ event: 'content_block_delta', data: '{"text":"hi"}' }), false);
  });

  test('observedEvents splits an SSE body that reached the adapter as text', () => {
    const response = {
      status: 200,
      headers: {},
      bodyText: 'event: ping\ndata: {}\n\n',
      events: null,
      truncated: false,
      outcome: 'completed' as const,
    };
    assert.deepEqual(observedEvents(response), [{ event: 'ping', data: '{}' }]);
    assert.equal(observedEvents({ ...response, bodyText: '{"usage":{}}' }), null);
  });
});

describe('SseSplitter speed', () => {
  test('benchmark: 5 MB stream in 16 KiB chunks (printed, not asserted)', () => {
    const parts: string[] = [
      'event: message_start\ndata: {"type":"message_start","message":{"model":"m","usage":{"input_tokens":10,"output_tokens":1}}}\n\n',
    ];
    let size = parts[0].length;
    for (let i = 0; size < 5 * 1024 * 1024; i++) {
      const p =
        `event: content_block_delta\r\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",` +
        `"text":"token ${i} — some streamed text, ünïcode and all"}}\r\n\r\n`;
      parts.push(p);
      size += p.length;
    }
    parts.push('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":99}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n');
    const buf = Buffer.from(parts.join(''), 'utf8');
    const chunks = chunksOf(buf, 16 * 1024);
    const mb = buf.length / (1024 * 1024);
    for (const [label, cap] of [
      ['unbounded', Number.POSITIVE_INFINITY],
      ['cap 256 KiB', 256 * 1024],
    ] as const) {
      const t0 = process.hrtime.bigint();
      const s = feedAll(chunks, cap);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      assert.equal(s.eventCount, parts.length + 1);
      const last = s.events[s.events.length - 1];
      assert.equal(last.event, 'message_stop');
      console.log(
        `# sse bench ${label}: ${mb.toFixed(2)} MB, ${s.eventCount} events, ${chunks.length} chunks in ` +
          `${ms.toFixed(1)} ms = ${(mb / (ms / 1000)).toFixed(0)} MB/s (kept ${s.events.length})`,
      );
    }
  });
});
