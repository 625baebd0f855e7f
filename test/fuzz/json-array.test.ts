// Fuzzes src/adapters/json-array.ts, the reader of Gemini's streamed JSON array (a body that may be
// cut anywhere). Inputs: the recorded JSON-array streams and every other JSON body, mutated, plus
// generated arrays of random JSON (deep nesting, escapes, huge numbers). Properties: nothing throws;
// when the whole text is a valid JSON array the reader gives exactly its elements, closed, none
// invalid; a cut of the same text gives a prefix of those elements (never an element the whole text
// does not have), and closes only if the whole text closed at the same place.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { readJsonArray, type JsonArrayRead } from '../../src/adapters/json-array.js';
import { assertSameJson, fuzzConfig, jsonDiff, mutate, runTarget, wireSeeds, type FuzzTarget, type Rng } from '../helpers/fuzz.js';

interface ArrayOptions {
  /** Where the cut copy of the text ends (UTF-16 offset into the decoded text). */
  cutAt: number;
  /**
   * Bulk case: the input is `[` plus one piece, the piece repeated to this many bytes, read whole
   * (the per-case budget then checks the reader stays linear). Small when saved as a regression.
   */
  bulkBytes?: number;
}

/** Pieces for bulk cases: many small elements, long strings, deep nesting, nothing but spaces. */
const BULK_PIECES = ['{"a":1},', '"x",', '1,', '[', '{"k":', ' ', '"\\\\",', '[[]],'];
const BULK_BYTES = 1 << 20;

const SCALARS = ['0', '-1', '9007199254740993', '1e400', '-0', '1.5e-7', 'true', 'false', 'null', '""', '"a\\"]"', '"\\\\"', '"[{,"', '"\\u005d"', '"é😀"'];

/** A random JSON value, nested up to `depth` levels. */
function randomJson(rng: Rng, depth: number): string {
  if (depth <= 0 || rng.chance(0.4)) return rng.pick(SCALARS);
  const n = rng.skewed(6);
  const items = Array.from({ length: n }, () => randomJson(rng, depth - 1));
  if (rng.chance(0.5)) return `[${items.join(rng.pick([',', ' , ', ',\n']))}]`;
  return `{${items.map((v, i) => `"k${i}":${v}`).join(',')}}`;
}

function generatedArray(rng: Rng): string {
  const n = rng.skewed(20);
  const items = Array.from({ length: n }, () => (rng.chance(0.005) ? '['.repeat(10_000) + ']'.repeat(10_000) : randomJson(rng, 6)));
  const ws = (): string => rng.pick(['', ' ', '\n', '\r\n', '\t', '\uFEFF']);
  return `${ws()}[${ws()}${items.join(`${ws()},${ws()}`)}${ws()}]${rng.chance(0.2) ? ws() + 'garbage' : ''}`;
}

/** JSON.parse of the whole text, when that text is a JSON array: the reference. */
function parsedArray(text: string): unknown[] | null {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

const seeds = wireSeeds();
const arrays = seeds.filter((s) => s.meta.stream_framing === 'json-array').map((s) => s.compact);
const jsonBodies = seeds.filter((s) => !s.sse).map((s) => s.compact);

const reached = { valid: 0, arrays: 0, elements: 0, cutElements: 0, bulk: 0 };

const target: FuzzTarget<ArrayOptions> = {
  name: 'json-array',
  stats: () => `${reached.arrays} read as arrays (${reached.valid} valid JSON), ${reached.elements} elements, ${reached.cutElements} from cut copies, ${reached.bulk} megabyte arrays`,
  generate(rng) {
    if (rng.chance(0.0005)) {
      const piece = rng.pick(BULK_PIECES);
      return { input: Buffer.from(piece), ops: ['bulk'], options: { cutAt: 0, bulkBytes: BULK_BYTES } };
    }
    let input: Buffer;
    const ops: string[] = [];
    const kind = rng.int(100);
    if (kind < 50) {
      const m = rng.chance(0.05) ? { bytes: rng.pick(arrays), ops: ['none'] } : mutate(rng, rng.pick(arrays), { corpus: jsonBodies });
      input = m.bytes;
      ops.push('array', ...m.ops);
    } else if (kind < 85) {
      input = Buffer.from(generatedArray(rng), 'utf8');
      ops.push('generated');
      if (rng.chance(0.3)) ops.push(...mutate(rng, input).ops);
    } else {
      const m = mutate(rng, rng.pick(jsonBodies), { corpus: arrays });
      // Most JSON bodies are objects; wrapping some makes them arrays worth reading.
      input = rng.chance(0.5) ? Buffer.concat([Buffer.from('['), m.bytes, Buffer.from(']')]) : m.bytes;
      ops.push('json', ...m.ops);
    }
    const length = input.toString('utf8').length;
    return { input, ops, options: { cutAt: rng.chance(0.3) ? length : rng.int(length + 1) } };
  },
  check({ input, options }) {
    if (options.bulkBytes !== undefined) {
      const piece = input.toString('utf8');
      const text = `[${piece.repeat(piece.length === 0 ? 0 : Math.ceil(options.bulkBytes / piece.length))}`;
      const read = readJsonArray(text);
      assert.ok(read !== null && !read.closed, 'a bulk array that never closes');
      reached.bulk++;
      return;
    }
    const text = input.toString('utf8');
    const whole = readJsonArray(text);
    const reference = parsedArray(text);
    if (reference !== null) {
      reached.valid++;
      assert.ok(whole !== null, 'a JSON array read as not an array');
      assert.equal(whole.closed, true, 'a whole array read as not closed');
      assert.equal(whole.invalid, 0, 'a whole array had invalid elements');
      assertSameJson(whole.elements, reference, 'elements and JSON.parse');
    }
    const cut = readJsonArray(text.slice(0, options.cutAt));
    if (whole === null) {
      // Not an array (its first non-space character is not `[`): no prefix of it is one either.
      assert.equal(cut, null, 'a prefix of a non-array read as an array');
      return;
    }
    if (cut === null) {
      // Only a cut before the `[` can make an array text unreadable.
      assert.ok(!text.slice(0, options.cutAt).includes('['), 'a cut array read as not an array');
      return;
    }
    reached.arrays++;
    reached.elements += whole.elements.length;
    reached.cutElements += cut.elements.length;
    checkPrefix(cut, whole);
  },
};

function checkPrefix(cut: JsonArrayRead, whole: JsonArrayRead): void {
  assert.ok(cut.elements.length <= whole.elements.length, 'a cut text gave more elements than the whole');
  for (let i = 0; i < cut.elements.length; i++) {
    const at = jsonDiff(cut.elements[i], whole.elements[i]);
    if (at !== null) assert.fail(`element ${i} of the cut text differs from the whole text's at ${at}`);
  }
  assert.ok(cut.invalid <= whole.invalid, 'a cut text has more invalid elements than the whole');
  if (cut.closed) {
    assert.equal(cut.elements.length, whole.elements.length, 'closed early');
    assert.equal(whole.closed, true);
  }
}

test('fuzz: JSON-array stream reader', async (t) => {
  await runTarget(t, target, fuzzConfig('json-array', 100_000));
});
