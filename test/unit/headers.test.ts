// Header surgery between client and upstream (src/daemon/mitm/headers.ts): hop-by-hop headers and
// those a Connection header names stay on their hop (RFC 9110 §7.6.1), the meter's own
// X-Halton-Client and the client's Proxy-Authorization never leave the machine, everything else keeps
// its case and order, and a metered request's Accept-Encoding only offers codings the meter decodes
// (SPEC §2).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { filterAcceptEncoding, flatten, forwardableRawHeaders, headerMap } from '../../src/daemon/mitm/headers.js';

const fwd = (raw: string[], metered = false): Array<[string, string]> => forwardableRawHeaders(raw, { meteredAcceptEncoding: metered });

describe('forwardableRawHeaders', () => {
  test('drops the hop-by-hop headers, whatever their case', () => {
    const raw = [
      'Host', 'api.anthropic.com',
      'Connection', 'keep-alive',
      'Keep-Alive', 'timeout=5',
      'Proxy-Connection', 'keep-alive',
      'TE', 'trailers',
      'Trailer', 'X-Checksum',
      'Transfer-Encoding', 'chunked',
      'Upgrade', 'h2c',
      'PROXY-AUTHENTICATE', 'Basic',
      'Content-Type', 'application/json',
    ];
    assert.deepEqual(fwd(raw), [
      ['Host', 'api.anthropic.com'],
      ['Content-Type', 'application/json'],
    ]);
  });

  test('x-halton-client and proxy-authorization are never forwarded', () => {
    const raw = ['X-Halton-Client', '127.0.0.1:50123', 'Proxy-Authorization', 'Basic YmlsbGluZzo=', 'x-halton-client', '[::1]:1', 'proxy-authorization', 'Basic eA==', 'X-Api-Key', 'k'];
    assert.deepEqual(fwd(raw), [['X-Api-Key', 'k']]);
    assert.deepEqual(fwd(raw, true), [['X-Api-Key', 'k']]);
  });

  test('headers named in Connection are dropped too (across several Connection headers)', () => {
    const raw = [
      'Connection', 'close, X-Trace-Hop',
      'X-Trace-Hop', '1',
      'connection', ' x-debug ',
      'X-DEBUG', 'yes',
      'X-Keep', 'kept',
    ];
    assert.deepEqual(fwd(raw), [['X-Keep', 'kept']]);
  });

  test('a Connection-named header listed after its use is dropped as well', () => {
    assert.deepEqual(fwd(['X-Late', 'v', 'Accept', '*/*', 'Connection', 'X-Late']), [['Accept', '*/*']]);
  });

  test('keeps name case, order and repeats of everything else', () => {
    const raw = ['x-Lower-Upper', 'a', 'Authorization', 'Bearer sk', 'anthropic-version', '2023-06-01', 'Cookie', 'a=1', 'cookie', 'b=2', 'X-Lower-Upper', 'b'];
    assert.deepEqual(fwd(raw), [
      ['x-Lower-Upper', 'a'],
      ['Authorization', 'Bearer sk'],
      ['anthropic-version', '2023-06-01'],
      ['Cookie', 'a=1'],
      ['cookie', 'b=2'],
      ['X-Lower-Upper', 'b'],
    ]);
  });

  test('Accept-Encoding: filtered on metered requests only, keeping its name and position', () => {
    const raw = ['Accept', 'application/json', 'Accept-Encoding', 'gzip, deflate, br, zstd', 'User-Agent', 'ua'];
    assert.deepEqual(fwd(raw, true), [
      ['Accept', 'application/json'],
      ['Accept-Encoding', 'gzip, deflate, br'],
      ['User-Agent', 'ua'],
    ]);
    assert.deepEqual(fwd(raw, false), [
      ['Accept', 'application/json'],
      ['Accept-Encoding', 'gzip, deflate, br, zstd'],
      ['User-Agent', 'ua'],
    ]);
  });

  test(
    'Accept-Encoding offering nothing decodable asks for identity (no header means "any coding", RFC 9110 §12.5.3)',
    () => {
      assert.deepEqual(fwd(['accept-encoding', 'zstd, compress'], true), [['accept-encoding', 'identity']]);
    },
  );
});

describe('filterAcceptEncoding', () => {
  test('keeps gzip, x-gzip, deflate, br, identity; drops zstd, compress and unknown codings', () => {
    assert.equal(filterAcceptEncoding('gzip, deflate, br, zstd'), 'gzip, deflate, br');
    assert.equal(filterAcceptEncoding('zstd, compress, x-gzip, identity'), 'x-gzip, identity');
    assert.equal(filterAcceptEncoding('snappy,br'), 'br');
    assert.equal(filterAcceptEncoding('zstd'), 'identity');
    assert.equal(filterAcceptEncoding(''), 'identity');
  });

  test('q-values survive on kept codings and do not keep a dropped one', () => {
    assert.equal(filterAcceptEncoding('zstd;q=1.0, br;q=0.9, gzip;q=0.8, compress;q=0.5'), 'br;q=0.9, gzip;q=0.8');
    assert.equal(filterAcceptEncoding('gzip ; q=0.5 ,  zstd ;q=1'), 'gzip ; q=0.5');
  });

  test('coding names are case-insensitive and the original spelling is kept', () => {
    assert.equal(filterAcceptEncoding('GZIP, Br, ZSTD'), 'GZIP, Br');
  });

  test('the wildcard is not offered: the upstream could answer it with zstd', () => {
    assert.equal(filterAcceptEncoding('gzip, *;q=0.1'), 'gzip');
  });

  test('empty list members are ignored', () => {
    assert.equal(filterAcceptEncoding(' , gzip,, br , '), 'gzip, br');
  });
});

describe('headerMap and flatten', () => {
  test('headerMap lowercases names and joins repeats with ", " in order', () => {
    assert.deepEqual(headerMap(['Content-Type', 'text/event-stream', 'Set-Cookie', 'a=1', 'X-Request-Id', 'r1', 'set-cookie', 'b=2', 'SET-COOKIE', 'c=3']), {
      'content-type': 'text/event-stream',
      'set-cookie': 'a=1, b=2, c=3',
      'x-request-id': 'r1',
    });
  });

  test('flatten gives the raw [name, value, ...] form back, order intact', () => {
    const pairs: Array<[string, string]> = [['B', '1'], ['a', '2'], ['B', '3']];
    assert.deepEqual(flatten(pairs), ['B', '1', 'a', '2', 'B', '3']);
    assert.deepEqual(flatten([]), []);
    const raw = ['X-One', '1', 'Connection', 'x-two', 'x-two', '2', 'X-Three', '3'];
    assert.deepEqual(flatten(fwd(raw)), ['X-One', '1', 'X-Three', '3']);
  });
});
