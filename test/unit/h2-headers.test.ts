// Header translation between an h2 client and the HTTP/1.1 upstream (src/daemon/mitm/h2-headers.ts,
// RFC 9113 §8.2-8.3): pseudo-headers never reach the upstream, :authority becomes Host, cookie
// crumbs are joined, and response headers become an h2 header object without losing repeats.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { forwardableRawHeaders } from '../../src/daemon/mitm/headers.js';
import { h1RequestRawHeaders, h2ResponseHeaders } from '../../src/daemon/mitm/h2-headers.js';

describe('h1RequestRawHeaders', () => {
  test('pseudo-headers dropped, :authority first as Host, the rest in order', () => {
    const raw = [':method', 'POST', ':path', '/v1/messages', ':scheme', 'https', ':authority', 'api.anthropic.com', 'content-type', 'application/json', 'x-api-key', 'k'];
    assert.deepEqual(h1RequestRawHeaders(raw), ['Host', 'api.anthropic.com', 'content-type', 'application/json', 'x-api-key', 'k']);
  });

  test('a Host the client sent itself wins over :authority', () => {
    const raw = [':authority', 'api.openai.com:443', 'host', 'api.openai.com', 'accept', '*/*'];
    assert.deepEqual(h1RequestRawHeaders(raw), ['host', 'api.openai.com', 'accept', '*/*']);
  });

  test('cookie crumbs are joined into one Cookie header (§8.2.3)', () => {
    const raw = [':authority', 'chatgpt.com', 'cookie', 'a=1', 'accept', '*/*', 'cookie', 'b=2'];
    assert.deepEqual(h1RequestRawHeaders(raw), ['Host', 'chatgpt.com', 'accept', '*/*', 'cookie', 'a=1; b=2']);
  });

  test('no :authority and no Host: none is made up', () => {
    assert.deepEqual(h1RequestRawHeaders([':method', 'GET', ':path', '/']), []);
  });

  test('h2-only hop headers are still dropped by the common filter afterwards', () => {
    const pairs = forwardableRawHeaders(h1RequestRawHeaders([':authority', 'api.x.ai', 'te', 'trailers', 'accept', '*/*']), { meteredAcceptEncoding: false });
    assert.deepEqual(pairs, [['Host', 'api.x.ai'], ['accept', '*/*']]);
  });
});

describe('h2ResponseHeaders', () => {
  test('lowercased names, repeats kept as arrays', () => {
    const out = h2ResponseHeaders([['Content-Type', 'application/json'], ['Set-Cookie', 'a=1'], ['set-cookie', 'b=2'], ['set-cookie', 'c=3'], ['Request-Id', 'req_1']]);
    assert.deepEqual(out, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2', 'c=3'], 'request-id': 'req_1' });
  });

  test('headers h2 refuses in a response are left out', () => {
    assert.deepEqual(h2ResponseHeaders([['HTTP2-Settings', 'AAMAAABkAAQAAP__'], ['x-ok', '1']]), { 'x-ok': '1' });
  });
});
