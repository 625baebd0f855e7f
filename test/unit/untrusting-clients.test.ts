import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientKeyOf, isTrustRejection, UntrustingClients } from '../../src/daemon/mitm/untrusting-clients.js';

test('trust rejections are told apart from other TLS failures', () => {
  const e = (code: string, message: string): Error => Object.assign(new Error(message), { code });
  assert.ok(isTrustRejection(e('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'tlsv1 alert unknown ca ... SSL alert number 48')));
  assert.ok(isTrustRejection(e('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'sslv3 alert bad certificate')));
  assert.ok(isTrustRejection(e('ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN', 'alert number 46')));
  assert.ok(!isTrustRejection(e('ECONNRESET', 'socket hang up')));
  assert.ok(!isTrustRejection(e('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number')));
});

test('memory is per program and project and per host, and expires after 10 minutes', () => {
  let now = 0;
  const u = new UntrustingClients(() => now);
  const key = clientKeyOf('java', 'billing')!;
  assert.equal(clientKeyOf(null, 'billing'), null);
  u.remember(key, 'api.openai.com');
  assert.ok(u.anyFor('api.openai.com'));
  assert.ok(!u.anyFor('api.anthropic.com'));
  assert.ok(u.has(key, 'api.openai.com'));
  assert.ok(!u.has(clientKeyOf('java', 'other')!, 'api.openai.com'));
  assert.ok(!u.has(clientKeyOf('node', 'billing')!, 'api.openai.com'));
  now += 10 * 60_000 + 1;
  assert.ok(!u.has(key, 'api.openai.com'));
  assert.ok(!u.anyFor('api.openai.com'));
});
