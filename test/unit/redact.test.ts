// Secret redaction (src/core/redact.ts): every provider key format, bearer tokens, JWTs, PEM blocks,
// credential fields, optional e-mails, and keys hidden behind JSON escapes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { redactBody, redactText, redactValue } from '../../src/core/redact.js';

// Built at run time so this file itself holds no whole key a scanner would flag.
const k = (...parts: string[]): string => parts.join('');

const SECRETS: Array<[kind: string, secret: string]> = [
  ['anthropic-key', k('sk-ant-api03-', 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcdefghijklmnopqrstuvwxyz012345-ABCDEFGHIJKLMN-AAAA')],
  ['anthropic-key', k('sk-ant-oat01-', 'ZZZZyyyyXXXXwwwwVVVVuuuu1234')],
  ['openai-key', k('sk-proj-', 'Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8L9z0X1c2V3b4N5m6', 'T3BlbkFJ', 'abcdefghij')],
  ['openai-key', k('sk-', 'abcdefghijklmnopqrstT3BlbkFJabcdefghijklmnopqrst')],
  ['openai-key', k('sk-svcacct-', 'abcdefghijklmnopqrstuvwxyz012345')],
  ['google-key', k('AIza', 'SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q')],
  ['google-oauth-token', k('ya29.', 'a0AfH6SMBx1234567890abcdefghijklmnop')],
  ['xai-key', k('xai-', 'Abc123Def456Ghi789Jkl012Mno345Pqr678Stu901Vwx234Yz')],
  ['groq-key', k('gsk_', 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP')],
  ['aws-access-key', k('AKIA', 'IOSFODNN7EXAMPLE')],
  ['github-token', k('ghp_', 'abcdefghijklmnopqrstuvwxyz0123456789')],
  ['github-token', k('github_pat_', '11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz')],
  ['slack-token', k('xoxb-', '1234567890-0987654321-AbCdEfGhIjKlMnOp')],
  ['stripe-key', k('sk_live_', '4eC39HqLyjWDarjtT1zdp7dc')],
  ['huggingface-token', k('hf_', 'abcdefghijklmnopqrstuvwxyzABCD')],
  ['jwt', k('eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9', '.', 'eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ', '.', 'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c')],
];

describe('redactText', () => {
  for (const [kind, secret] of SECRETS) {
    test(`${kind}: ${secret.slice(0, 10)}…`, () => {
      const r = redactText(`here is my key ${secret} please keep it`);
      assert.ok(!r.value.includes(secret), r.value);
      assert.ok(r.value.includes(`[REDACTED:${kind}]`), r.value);
      assert.equal(r.count, 1);
      assert.ok(r.value.startsWith('here is my key ') && r.value.endsWith(' please keep it'));
    });
  }

  test('bearer tokens keep their scheme word', () => {
    const r = redactText('Authorization: Bearer abc.def-ghi_jkl~mno+pqr/stu=');
    assert.ok(!r.value.includes('abc.def'));
    assert.match(r.value, /Bearer \[REDACTED:(bearer-token|credential-field)\]/);
  });

  test('a bearer token that is a known key is redacted once, as the key', () => {
    const key = k('sk-ant-api03-', 'x'.repeat(40));
    const r = redactText(`Bearer ${key}`);
    assert.equal(r.value, 'Bearer [REDACTED:anthropic-key]');
    assert.equal(r.count, 1);
  });

  test('PEM private key blocks', () => {
    const pem = k('-----BEGIN RSA PRIVATE KEY-----\n', 'MIIEowIBAAKCAQEAx1\nabcdefghij\n', '-----END RSA PRIVATE KEY-----');
    const r = redactText(`key:\n${pem}\nend`);
    assert.equal(r.value, 'key:\n[REDACTED:private-key]\nend');
    const cut = redactText(k('-----BEGIN PRIVATE KEY-----\n', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC'));
    assert.equal(cut.value, '[REDACTED:private-key]');
  });

  test('credential fields in free text', () => {
    for (const t of ['password=hunter2secret', 'api_key: "abcd1234efgh"', "secret='s3cr3tvalue'", 'client_secret=xyzzy-plugh']) {
      const r = redactText(t);
      assert.ok(r.count >= 1, t);
      assert.ok(!/hunter2secret|abcd1234efgh|s3cr3tvalue|xyzzy-plugh/.test(r.value), r.value);
    }
  });

  test('AWS secret access keys next to their name', () => {
    const r = redactText(k('aws_secret_access_key = ', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'));
    assert.ok(!r.value.includes('wJalrXUtnFEMI'), r.value);
  });

  test('credentials in URLs', () => {
    const r = redactText('postgres://admin:pa55w0rd@db.example.com/x');
    assert.equal(r.value, 'postgres://admin:[REDACTED:url-credentials]@db.example.com/x');
  });

  test('emails only when asked', () => {
    const t = 'write to jane.doe+x@example.co.uk today';
    assert.equal(redactText(t).count, 0);
    const r = redactText(t, { emails: true });
    assert.equal(r.value, 'write to [REDACTED:email] today');
    assert.equal(r.count, 1);
  });

  test('ordinary prose is left alone', () => {
    const t = 'The task-based approach uses sk-learn and risk-free AI. Tokens: 1234. Basic idea. Bearer of news.';
    const r = redactText(t);
    assert.equal(r.value, t);
    assert.equal(r.count, 0);
  });

  test('escaped characters in undecoded text do not hide a key', () => {
    const escaped = k('sk\\u002dant\\u002dapi03\\u002d', 'A'.repeat(30));
    const r = redactText(`truncated {"k":"${escaped}`);
    assert.ok(r.value.includes('[REDACTED:anthropic-key]'), r.value);
    assert.ok(!r.value.includes('AAAAAAAAAA'));
  });
});

describe('redactBody / redactValue (JSON)', () => {
  const anthropic = SECRETS[0][1];
  const openai = SECRETS[2][1];

  test('keys hidden behind JSON escapes are found on the decoded text', () => {
    const escaped = anthropic.replace(/-/g, '\\u002d').replace(/a/g, '\\u0061');
    const body = `{"messages":[{"role":"user","content":"key ${escaped} here"}],"u":"https:\\/\\/x"}`;
    assert.equal(JSON.parse(body).messages[0].content, `key ${anthropic} here`);
    const r = redactBody(body);
    assert.ok(!r.value.includes('api03'), r.value);
    assert.deepEqual(JSON.parse(r.value).messages[0].content, 'key [REDACTED:anthropic-key] here');
    assert.equal(r.count, 1);
  });

  test('credential-named fields are replaced whatever their value', () => {
    const r = redactValue({ api_key: 'short', nested: { password: 'pw', Authorization: 'whatever', token_count: 5, passwd: 123456 }, model: 'gpt-4o' });
    assert.deepEqual(r.value, {
      api_key: '[REDACTED:credential-field]',
      nested: { password: '[REDACTED:credential-field]', Authorization: '[REDACTED:credential-field]', token_count: 5, passwd: '[REDACTED:credential-field]' },
      model: 'gpt-4o',
    });
    assert.equal(r.count, 4);
  });

  test('JSON carried inside a string (tool arguments) is decoded too', () => {
    const inner = JSON.stringify({ key: openai.replace(/-/g, '\u002d') }).replace(/-/g, '\\u002d');
    const r = redactValue({ tool_calls: [{ function: { arguments: inner } }] });
    const out = JSON.stringify(r.value);
    assert.ok(!out.includes('T3BlbkFJ'), out);
    assert.equal(r.count, 1);
  });

  test('non-JSON text falls back to text redaction', () => {
    const r = redactBody(`plain ${openai}`);
    assert.equal(r.value, 'plain [REDACTED:openai-key]');
  });

  test('every planted secret in one body', () => {
    const body = JSON.stringify({ messages: SECRETS.map(([, s]) => ({ role: 'user', content: `use ${s}` })) });
    const r = redactBody(body);
    for (const [, s] of SECRETS) assert.ok(!r.value.includes(s), s);
    assert.equal(r.count, SECRETS.length);
  });

  test('numbers, booleans and structure survive', () => {
    const v = { model: 'claude-sonnet-4-5', max_tokens: 10, stream: true, stop: null, messages: [{ role: 'user', content: 'hi' }] };
    const r = redactBody(JSON.stringify(v));
    assert.deepEqual(JSON.parse(r.value), v);
    assert.equal(r.count, 0);
  });
});

describe('cost stays linear', () => {
  // Inputs built to make a careless pattern backtrack quadratically: each must finish quickly.
  const cases: Array<[string, string]> = [
    ['letters and dots', 'a.'.repeat(200_000)],
    ['dashes', 'x-'.repeat(200_000)],
    ['url schemes', 'a://b:'.repeat(60_000)],
    ['at signs', 'a@b.'.repeat(100_000)],
    ['credential words', 'password='.repeat(40_000)],
    ['bearer words', 'Bearer '.repeat(50_000)],
    ['jwt heads', 'eyJabcde.'.repeat(40_000)],
    ['escapes', '\\u002d'.repeat(60_000)],
    ['pem heads', '-----BEGIN PRIVATE KEY-----\n'.repeat(10_000)],
  ];
  for (const [name, text] of cases) {
    test(name, () => {
      const t = performance.now();
      redactText(text, { emails: true });
      assert.ok(performance.now() - t < 1000, `${name} took ${performance.now() - t} ms`);
    });
  }
});
