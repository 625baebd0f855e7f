// src/daemon/mitm/observer.ts: the bounded copy of a response the meter parses (STYLE §2). Bodies
// are compressed with real zlib and fed in chunks cut at odd sizes, the way a socket delivers them;
// what the observer returns is compared with the original text.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { isEventStream, ResponseObserver, type ObserverOptions } from '../../src/daemon/mitm/observer.js';

const JSON_TYPE = 'application/json';
const SSE_TYPE = 'text/event-stream; charset=utf-8';

/** Splits at sizes cycling through `sizes` (odd, and smaller than a deflate block). */
function chunks(buf: Buffer, sizes: readonly number[] = [1, 7, 13, 3, 101, 2, 29]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0, k = 0; i < buf.length; k++) {
    const n = sizes[k % sizes.length];
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

async function observe(opts: ObserverOptions, body: Buffer, sizes?: readonly number[]) {
  const o = new ResponseObserver(opts);
  for (const c of chunks(body, sizes)) o.write(c);
  return o.finish();
}

/** An Anthropic-like JSON body of a given rough size, non-repetitive enough to compress in blocks. */
function jsonBody(fillerChars = 200): string {
  const words: string[] = [];
  for (let i = 0, len = 0; len < fillerChars; i++) {
    const w = `w${(i * 7919) % 104729}`;
    words.push(w);
    len += w.length + 1;
  }
  return JSON.stringify({
    id: 'msg_01',
    type: 'message',
    model: 'claude-haiku-4-5-20251001',
    content: [{ type: 'text', text: words.join(' ') }],
    usage: { input_tokens: 1200, output_tokens: 345, cache_read_input_tokens: 0 },
  });
}

function sseBody(): string {
  const ev = (type: string, data: unknown): string => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
  return (
    ev('message_start', { type: 'message_start', message: { id: 'msg_1', model: 'claude-haiku-4-5', usage: { input_tokens: 12, output_tokens: 1 } } }) +
    ': a comment line\n\n' +
    ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'héllo wörld ✓' } }) +
    ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 6 } }) +
    ev('message_stop', { type: 'message_stop' })
  );
}

const expectedEvents = (text: string): Array<{ event: string; data: string }> =>
  text
    .split('\n\n')
    .filter((block) => block.startsWith('event:'))
    .map((block) => {
      const [e, d] = block.split('\n');
      return { event: e.slice('event: '.length), data: d.slice('data: '.length) };
    });

describe('ResponseObserver, JSON bodies', () => {
  test('identity: the text as sent, in any chunking', async () => {
    const text = jsonBody();
    for (const enc of ['', 'identity', ' Identity ']) {
      const obs = await observe({ contentType: JSON_TYPE, contentEncoding: enc }, Buffer.from(text));
      assert.deepEqual(obs, { bodyText: text, events: null, truncated: false, undecodable: null }, `encoding ${JSON.stringify(enc)}`);
    }
  });

  test('multi-byte UTF-8 split across chunks is reassembled', async () => {
    const text = JSON.stringify({ text: 'ünïcödé ✓ 🙂 日本語' });
    const obs = await observe({ contentType: JSON_TYPE, contentEncoding: '' }, Buffer.from(text), [1]);
    assert.equal(obs.bodyText, text);
  });

  test('gzip (and x-gzip) are decoded for the copy', async () => {
    const text = jsonBody(5000);
    for (const enc of ['gzip', 'x-gzip', 'GZIP']) {
      const obs = await observe({ contentType: JSON_TYPE, contentEncoding: enc }, gzipSync(text));
      assert.deepEqual(obs, { bodyText: text, events: null, truncated: false, undecodable: null }, enc);
    }
  });

  test('deflate (zlib-wrapped, as HTTP defines it) is decoded', async () => {
    const text = jsonBody(5000);
    const obs = await observe({ contentType: JSON_TYPE, contentEncoding: 'deflate' }, deflateSync(text));
    assert.equal(obs.bodyText, text);
    assert.equal(obs.undecodable, null);
  });

  test('br is decoded', async () => {
    const text = jsonBody(5000);
    const obs = await observe({ contentType: JSON_TYPE, contentEncoding: 'br' }, brotliCompressSync(text));
    assert.equal(obs.bodyText, text);
    assert.equal(obs.undecodable, null);
  });

  test('a gzip body cut short still yields what arrived, not an error', async () => {
    const text = jsonBody(40_000);
    const full = gzipSync(text);
    // Drop the 8-byte trailer and the last part of the compressed data: a connection that died.
    const cut = full.subarray(0, Math.floor(full.length * 0.7));
    const obs = await observe({ contentType: JSON_TYPE, contentEncoding: 'gzip' }, cut);
    assert.equal(obs.undecodable, null);
    assert.ok(obs.bodyText !== null && obs.bodyText.length > 0, 'some text decoded');
    assert.ok(obs.bodyText.length < text.length, 'not all of it');
    assert.ok(text.startsWith(obs.bodyText), 'a prefix of the original');
  });

  test('a corrupt gzip body is undecodable, with no text', async () => {
    const good = gzipSync(jsonBody(2000));
    const corrupt = Buffer.from(good);
    for (let i = 20; i < 60; i++) corrupt[i] ^= 0xa5;
    const obs = await observe({ contentType: JSON_TYPE, contentEncoding: 'gzip' }, corrupt);
    assert.equal(obs.bodyText, null);
    assert.match(obs.undecodable ?? '', /^could not decode body: /);
  });

  test('a body that is not gzip at all, labelled gzip, is undecodable', async () => {
    const obs = await observe({ contentType: JSON_TYPE, contentEncoding: 'gzip' }, Buffer.from(jsonBody()));
    assert.equal(obs.bodyText, null);
    assert.match(obs.undecodable ?? '', /could not decode body/);
  });

  test('an encoding the meter cannot decode (zstd, stacked codings) is undecodable up front', async () => {
    for (const enc of ['zstd', 'compress', 'gzip, br']) {
      const o = new ResponseObserver({ contentType: JSON_TYPE, contentEncoding: enc });
      o.write(Buffer.from('(\xb5/\xfd binary'));
      const obs = await o.finish();
      assert.deepEqual(obs, { bodyText: null, events: null, truncated: false, undecodable: `unsupported content-encoding ${enc}` });
    }
  });

  test('the JSON cap: past maxBodyBytes the copy is marked truncated and keeps a prefix', async () => {
    const text = 'x'.repeat(100);
    const obs = await observe({ contentType: JSON_TYPE, contentEncoding: '', maxBodyBytes: 40 }, Buffer.from(text), [10]);
    assert.equal(obs.truncated, true);
    assert.equal(obs.bodyText, 'x'.repeat(40));
  });

  test('a body exactly at the cap is not truncated', async () => {
    const obs = await observe({ contentType: JSON_TYPE, contentEncoding: '', maxBodyBytes: 40 }, Buffer.from('y'.repeat(40)), [13]);
    assert.equal(obs.truncated, false);
    assert.equal(obs.bodyText, 'y'.repeat(40));
  });

  test('the cap counts decoded bytes, not compressed ones', async () => {
    const text = 'z'.repeat(10_000);
    const gz = gzipSync(text);
    assert.ok(gz.length < 200);
    const obs = await observe({ contentType: JSON_TYPE, contentEncoding: 'gzip', maxBodyBytes: 1000 }, gz);
    assert.equal(obs.truncated, true);
    assert.ok((obs.bodyText ?? '').length <= 1000);
  });

  test(
    'after the cap, what is kept stays a prefix of the body (a later small chunk is not appended)',
    async () => {
      const o = new ResponseObserver({ contentType: JSON_TYPE, contentEncoding: '', maxBodyBytes: 10 });
      for (const c of ['aaaa', 'bbbb', 'cccc', 'dd']) o.write(Buffer.from(c));
      const obs = await o.finish();
      assert.equal(obs.truncated, true);
      assert.ok('aaaabbbbccccdd'.startsWith(obs.bodyText ?? '?'), `kept ${JSON.stringify(obs.bodyText)}`);
    },
  );
});

describe('ResponseObserver, event streams', () => {
  test('isEventStream reads the media type, case-insensitively, with parameters', () => {
    assert.equal(isEventStream('text/event-stream'), true);
    assert.equal(isEventStream('Text/Event-Stream; charset=UTF-8'), true);
    assert.equal(isEventStream('application/json'), false);
    assert.equal(isEventStream(''), false);
  });

  test('SSE in identity: events in order, comments skipped, UTF-8 intact', async () => {
    const text = sseBody();
    const obs = await observe({ contentType: SSE_TYPE, contentEncoding: '' }, Buffer.from(text), [1, 2, 3, 5, 8]);
    assert.equal(obs.bodyText, null);
    assert.equal(obs.truncated, false);
    assert.equal(obs.undecodable, null);
    assert.deepEqual(obs.events, expectedEvents(text));
  });

  test('SSE through gzip, in odd chunks', async () => {
    const text = sseBody();
    const obs = await observe({ contentType: SSE_TYPE, contentEncoding: 'gzip' }, gzipSync(text));
    assert.deepEqual(obs.events, expectedEvents(text));
    assert.equal(obs.undecodable, null);
  });

  test('SSE through br', async () => {
    const text = sseBody();
    const obs = await observe({ contentType: SSE_TYPE, contentEncoding: 'br' }, brotliCompressSync(text), [3]);
    assert.deepEqual(obs.events, expectedEvents(text));
  });

  test('a gzip stream cut short yields the events that arrived whole', async () => {
    const text = sseBody();
    const events = expectedEvents(text);
    const full = gzipSync(text);
    const obs = await observe({ contentType: SSE_TYPE, contentEncoding: 'gzip' }, full.subarray(0, full.length - 30));
    assert.equal(obs.undecodable, null);
    assert.ok(obs.events !== null && obs.events.length >= 1 && obs.events.length < events.length, `${obs.events?.length} events`);
    assert.deepEqual(obs.events[0], events[0]);
  });

  test('SSE with an undecodable encoding reports it and no events', async () => {
    const obs = await observe({ contentType: SSE_TYPE, contentEncoding: 'zstd' }, Buffer.from(sseBody()));
    assert.equal(obs.undecodable, 'unsupported content-encoding zstd');
    assert.deepEqual(obs.events, []);
  });
});
