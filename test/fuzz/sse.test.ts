// Fuzzes src/adapters/sse.ts, the splitter that runs on every streamed chunk the daemon taps.
// Inputs: the recorded event streams (cut down to a few KB), mutated, and random soups of SSE
// tokens. Properties: nothing throws; the same bytes give the same result whether they arrive whole,
// in random byte chunks (splitting UTF-8 sequences and CRLF pairs) or as string chunks; with no cap
// the events are exactly what an independent, whole-text reading of the event-stream rules gives;
// with a cap, what is kept is a subsequence of those events whose part past the cap is only what a
// usage parser needs; the counters add up.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { SseEvent } from '../../src/core/exchange.js';
import { SseSplitter, worthKeeping } from '../../src/adapters/sse.js';
import { assertSameJson, fuzzConfig, mutate, randomCuts, runTarget, splitAt, wireSeeds, type FuzzTarget, type Rng } from '../helpers/fuzz.js';

interface SseOptions {
  /** Byte offsets where the chunked feed cuts the input. */
  cuts: number[];
  /** UTF-16 offsets where the string feed cuts the decoded text. */
  textCuts: number[];
  /** The splitter's cap in characters; null = unlimited. */
  cap: number | null;
  /** maxEventBytes; null = the default. */
  maxEvent: number | null;
  /**
   * Bulk case: the input is one line, repeated to this many bytes and fed whole, which checks that
   * the splitter stays linear in the size of a chunk (kept small this way in a saved regression).
   */
  bulkBytes?: number;
}

interface Split {
  events: SseEvent[];
  truncated: boolean;
  eventCount: number;
  droppedCount: number;
}

function splitter(o: SseOptions): SseSplitter {
  return new SseSplitter(o.cap ?? Number.POSITIVE_INFINITY, o.maxEvent === null ? {} : { maxEventBytes: o.maxEvent });
}

function run(o: SseOptions, chunks: ReadonlyArray<Uint8Array | string>): Split {
  const s = splitter(o);
  for (const c of chunks) s.feed(c);
  s.end();
  return { events: s.events, truncated: s.truncated, eventCount: s.eventCount, droppedCount: s.droppedCount };
}

/**
 * The event-stream rules applied to the whole decoded text at once, written from the WHATWG text
 * and the splitter's documented differences (an unclosed last event is dispatched), sharing no code
 * with the incremental splitter.
 */
function referenceEvents(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  let type: string | null = null;
  let data: string | null = null;
  const dispatch = (): void => {
    if (data !== null) out.push({ event: type === null || type === '' ? null : type, data });
    type = null;
    data = null;
  };
  const all = text.split(/\r\n|\r|\n/);
  all.forEach((line, i) => {
    if (line === '') {
      // The piece after the last line break is not a blank line, just nothing.
      if (i < all.length - 1) dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') data = data === null ? value : `${data}\n${value}`;
    else if (name === 'event') type = value;
  });
  dispatch();
  return out;
}

const SOUP = [
  'data:',
  'data: ',
  'data',
  'event:',
  'event: ',
  'event: message_start',
  'event: error',
  ':',
  ': OPENROUTER PROCESSING',
  'id: 7',
  'retry: 100',
  '\n',
  '\r',
  '\r\n',
  '\n\n',
  '\r\n\r\n',
  ' ',
  'x',
  '{"usage":{"input_tokens":1}}',
  '{"usage":null}',
  '[DONE]',
  '"message_stop"',
  'é',
  '✓',
  '😀',
  '\uFEFF',
  'error',
];

function soup(rng: Rng): Buffer {
  const parts: Buffer[] = [];
  for (let n = rng.skewed(200); n > 0; n--) parts.push(rng.chance(0.05) ? rng.bytes(rng.range(1, 4)) : Buffer.from(rng.pick(SOUP), 'utf8'));
  return Buffer.concat(parts);
}

/** Lines for bulk cases: colon-less, comment, bare field names, blank, CR-only. */
const BULK_LINES = ['x\n', 'data\n', 'event\r\n', 'data: {}\n\n', ':\n', 'ab:cd\n', '\n', '\r', 'databank\n'];
const BULK_BYTES = 1 << 20;

const seeds = wireSeeds();
const sseBodies = seeds.filter((s) => s.sse).map((s) => s.compact);
const allBodies = seeds.map((s) => s.compact);
const fullSse = seeds.filter((s) => s.sse).map((s) => s.body);

const reached = { events: 0, truncated: 0, dropped: 0, referenceChecked: 0, bulk: 0 };

const target: FuzzTarget<SseOptions> = {
  name: 'sse',
  stats: () => `${reached.events} events, ${reached.truncated} truncated runs (${reached.dropped} events dropped), ${reached.referenceChecked} runs equal to the reference, ${reached.bulk} megabyte bodies`,
  generate(rng, _index) {
    if (rng.chance(0.0005)) {
      // A body of a megabyte, whole: linear work is milliseconds, quadratic work is many seconds,
      // which the per-case budget turns into a failure.
      const line = rng.pick(BULK_LINES);
      return { input: Buffer.from(line, 'latin1'), ops: ['bulk'], options: { cuts: [], textCuts: [], cap: null, maxEvent: null, bulkBytes: BULK_BYTES } };
    }
    let input: Buffer;
    const ops: string[] = [];
    const kind = rng.int(100);
    if (kind < 70) {
      // A whole recorded stream now and then, so real sizes are covered too.
      const base = rng.chance(0.02) ? rng.pick(fullSse) : rng.pick(sseBodies);
      const m = rng.chance(0.05) ? { bytes: base, ops: ['none'] } : mutate(rng, base, { corpus: sseBodies });
      input = m.bytes;
      ops.push('stream', ...m.ops);
    } else if (kind < 90) {
      input = soup(rng);
      ops.push('soup');
      if (rng.chance(0.5)) ops.push(...mutate(rng, input).ops);
    } else {
      const m = mutate(rng, rng.pick(allBodies), { corpus: allBodies });
      input = m.bytes;
      ops.push('any', ...m.ops);
    }
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(input);
    return {
      input,
      ops,
      options: {
        cuts: randomCuts(rng, input.length, input),
        textCuts: randomCuts(rng, text.length, text),
        cap: rng.chance(0.7) ? null : rng.skewed(8192),
        maxEvent: rng.chance(0.7) ? null : rng.range(1, 4096),
      },
    };
  },
  check({ input, options }) {
    if (options.bulkBytes !== undefined) {
      const line = input.toString('latin1');
      const body = Buffer.from(line.repeat(line.length === 0 ? 0 : Math.ceil(options.bulkBytes / line.length)), 'latin1');
      const bulk = run(options, [body]);
      assert.equal(bulk.events.length, bulk.eventCount - bulk.droppedCount);
      reached.bulk++;
      return;
    }
    const whole = run(options, [input]);
    const chunked = run(options, splitAt(input, options.cuts));
    assertSameJson(chunked, whole, 'byte-chunked and whole results');
    // String input keeps its BOM for the splitter to drop, as TextDecoder does for bytes.
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(input);
    const strings = run(options, splitAt(text, options.textCuts));
    assertSameJson(strings, whole, 'string-chunked and byte results');

    assert.equal(whole.events.length, whole.eventCount - whole.droppedCount, 'kept = dispatched - dropped');
    reached.events += whole.events.length;
    reached.dropped += whole.droppedCount;
    if (whole.truncated) reached.truncated++;
    if (!whole.truncated) assert.equal(whole.droppedCount, 0, 'nothing dropped without truncation');
    const unlimitedEvents = options.maxEvent === null && input.length < 8 * 1024 * 1024;
    if (!unlimitedEvents) return;
    const expected = referenceEvents(new TextDecoder().decode(input));
    assert.equal(whole.eventCount, expected.length, 'every event dispatched is counted');
    if (options.cap === null) {
      assertSameJson(whole.events, expected, 'events and the reference reading');
      assert.equal(whole.truncated, false);
      reached.referenceChecked++;
      return;
    }
    // Capped: a prefix of the stream in full, then only events worth keeping, in order.
    let prefix = 0;
    while (prefix < whole.events.length && prefix < expected.length && JSON.stringify(whole.events[prefix]) === JSON.stringify(expected[prefix])) prefix++;
    let at = prefix;
    for (let i = prefix; i < whole.events.length; i++) {
      const ev = whole.events[i];
      assert.ok(worthKeeping(ev), `event ${i} past the cap is not worth keeping`);
      const want = JSON.stringify(ev);
      while (at < expected.length && JSON.stringify(expected[at]) !== want) at++;
      assert.ok(at < expected.length, `kept event ${i} is not in the stream (or out of order)`);
      at++;
    }
  },
};

test('fuzz: SSE splitter', async (t) => {
  await runTarget(t, target, fuzzConfig('sse', 100_000));
});
