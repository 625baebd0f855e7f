import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { InjectedUsageStripper, injectIncludeUsage, isInjectedUsageEvent } from '../../src/daemon/mitm/usage-injection.js';
import { chatPrompt, encodingFor, streamedCompletion } from '../../src/daemon/estimate/texts.js';
import { parseSseText } from '../../src/adapters/sse.js';

const chunk = (o: unknown): string => `data: ${JSON.stringify(o)}\n\n`;
const stream =
  chunk({ id: 'c', choices: [{ index: 0, delta: { role: 'assistant', content: '' } }], usage: null }) +
  chunk({ id: 'c', choices: [{ index: 0, delta: { content: 'Hé llo' } }], usage: null }) +
  chunk({ id: 'c', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null }) +
  chunk({ id: 'c', choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } }) +
  'data: [DONE]\n\n';

async function strip(parts: Buffer[]): Promise<string> {
  const out: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    Readable.from(parts)
      .pipe(new InjectedUsageStripper())
      .on('data', (d: Buffer) => out.push(d))
      .on('end', resolve)
      .on('error', reject);
  });
  return Buffer.concat(out).toString('utf8');
}

test('injectIncludeUsage adds include_usage to chat streams only', () => {
  const add = injectIncludeUsage(Buffer.from(JSON.stringify({ model: 'm', stream: true, stream_options: { foo: 1 } })));
  assert.deepEqual(JSON.parse(add!.toString()).stream_options, { foo: 1, include_usage: true });
  assert.equal(injectIncludeUsage(Buffer.from(JSON.stringify({ model: 'm', stream: false }))), null);
  assert.equal(injectIncludeUsage(Buffer.from(JSON.stringify({ stream: true, stream_options: { include_usage: true } }))), null);
  assert.equal(injectIncludeUsage(Buffer.from('not json')), null);
});

test('the stripper removes exactly the usage-only chunk, however the bytes are split', async () => {
  const expected = stream.replace(/data: \{"id":"c","choices":\[\],"usage":[^\n]*\n\n/, '');
  assert.notEqual(expected, stream);
  const bytes = Buffer.from(stream);
  for (const size of [1, 2, 3, 7, 64, bytes.length]) {
    const parts: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
    assert.equal(await strip(parts), expected, `split every ${size} bytes`);
  }
  assert.equal(isInjectedUsageEvent('data: {"choices":[{"delta":{}}],"usage":{"prompt_tokens":1}}\n\n'), false);
});

test('prompt and completion texts for estimates', () => {
  const p = chatPrompt({ messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'image_url' }] }, { role: 'assistant', content: 'b', name: 'x' }] });
  assert.deepEqual(p.texts, ['user', 'a', 'assistant', 'b', 'x']);
  assert.equal(p.overhead, 3 + 3 + 3 + 1);
  assert.deepEqual(chatPrompt({ prompt: 'legacy' }), { texts: ['legacy'], overhead: 0 });
  const events = parseSseText(
    chunk({ choices: [{ delta: { content: 'Hi' } }] }) +
      chunk({ choices: [{ delta: { tool_calls: [{ function: { name: 'f', arguments: '{"a":' } }] } }] }) +
      chunk({ choices: [{ text: '!' }] }) +
      'data: [DONE]\n\n',
  );
  assert.equal(streamedCompletion(events), 'Hif{"a":!');
  assert.equal(encodingFor('gpt-3.5-turbo-0125'), 'cl100k_base');
  assert.equal(encodingFor('gpt-4-0613'), 'cl100k_base');
  assert.equal(encodingFor('gpt-4o-mini'), 'o200k_base');
  assert.equal(encodingFor('gpt-5'), 'o200k_base');
});
