// Project slugs (SPEC §4: lowercased, [a-z0-9._:/-], max 64, a bad one falls through) and what of a
// request path may be stored (SPEC §5: no secrets, and Gemini's `?key=` is one).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normaliseSlug } from '../../src/core/slug.js';
import { storablePath } from '../../src/core/sanitize.js';

describe('normaliseSlug', () => {
  test('lowercases and trims a valid slug', () => {
    assert.equal(normaliseSlug('Billing'), 'billing');
    assert.equal(normaliseSlug('  Web-App  '), 'web-app');
    assert.equal(normaliseSlug('\tteam/API\n'), 'team/api');
  });

  test('accepts every character of the allowed set', () => {
    assert.equal(normaliseSlug('a-z.0_9:x/y'), 'a-z.0_9:x/y');
    assert.equal(normaliseSlug('halton-meter:selftest'), 'halton-meter:selftest');
    assert.equal(normaliseSlug('docker:0123abcdef'), 'docker:0123abcdef');
    assert.equal(normaliseSlug('7'), '7');
  });

  test('64 characters is the limit (counted after trimming)', () => {
    const max = 'a'.repeat(64);
    assert.equal(normaliseSlug(max), max);
    assert.equal(normaliseSlug(` ${max} `), max);
    assert.equal(normaliseSlug('a'.repeat(65)), null);
  });

  test('refuses anything outside the set, so the next attribution rule can answer', () => {
    for (const bad of ['', '   ', 'has space', 'semi;colon', 'dollar$', 'ünïcode', 'emoji🙂', 'back\\slash', 'quote"', 'new\nline', 'at@sign', 'plus+', 'per%cent']) {
      assert.equal(normaliseSlug(bad), null, JSON.stringify(bad));
    }
  });

  test('non-strings are null', () => {
    assert.equal(normaliseSlug(null), null);
    assert.equal(normaliseSlug(undefined), null);
  });
});

describe('storablePath', () => {
  test('a path without a query string is kept as is', () => {
    assert.equal(storablePath('/v1/messages'), '/v1/messages');
    assert.equal(storablePath('/v1beta/models/gemini-2.5-pro:generateContent'), '/v1beta/models/gemini-2.5-pro:generateContent');
    assert.equal(storablePath('/'), '/');
  });

  test('harmless parameters (alt, beta, api-version) are kept, in order', () => {
    assert.equal(storablePath('/v1/messages?beta=true'), '/v1/messages?beta=true');
    assert.equal(storablePath('/x?api-version=2024-10-21&alt=sse'), '/x?api-version=2024-10-21&alt=sse');
  });

  test('credentials in the query string are dropped: Gemini ?key=, tokens, anything unknown', () => {
    assert.equal(
      storablePath('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=AIzaSySECRET'),
      '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
    );
    assert.equal(storablePath('/v1beta/models/m:generateContent?key=AIzaSySECRET'), '/v1beta/models/m:generateContent');
    assert.equal(storablePath('/x?access_token=tok&api_key=k&Key=K&KEY=K2'), '/x');
    for (const p of ['/x?key=S1', '/x?alt=json&key=S1&beta=true', '/x?key=S1&key=S2']) assert.doesNotMatch(storablePath(p), /S1|S2|key=/);
  });

  test('an empty or value-less query leaves the bare path', () => {
    assert.equal(storablePath('/v1/messages?'), '/v1/messages');
    assert.equal(storablePath('/v1/messages?key'), '/v1/messages');
  });

  test('kept values are re-encoded, so a stored path cannot carry raw separators', () => {
    assert.equal(storablePath('/x?alt=a b'), '/x?alt=a%20b');
    assert.equal(storablePath('/x?alt=a%26key%3Dsecret'), '/x?alt=a%26key%3Dsecret');
    assert.equal(storablePath('/x?beta=true&beta=false'), '/x?beta=true&beta=false');
  });
});
