// Fuzzes src/daemon/mitm/observer.ts, the bounded, decoding copy of every metered response. Inputs:
// the wire fixtures' bodies (SSE and JSON), mutated, then sent as identity, gzip, deflate or br,
// sometimes with the compressed bytes garbled or cut, under a wrong or unknown content-encoding,
// with small caps, in random chunks. Properties: write and finish never throw and finish always
// settles (the harness watchdog turns a hang into a failure); whatever zlib itself decodes (the
// one-shot decoder with the observer's flush mode) is exactly what the observer keeps, however the
// bytes were chunked: the whole text, or its first maxBodyBytes bytes with `truncated`, or the events
// the splitter reads from it; what zlib rejects is `undecodable`, with nothing kept.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { brotliCompressSync, brotliDecompressSync, constants, deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { SseSplitter } from '../../src/adapters/sse.js';
import { ResponseObserver, type Observation } from '../../src/daemon/mitm/observer.js';
import { assertSameJson, fuzzConfig, mutate, randomCuts, runTarget, splitAt, wireSeeds, type FuzzTarget, type Rng } from '../helpers/fuzz.js';

interface ObserverCaseOptions {
  contentType: string;
  contentEncoding: string;
  /** maxBodyBytes; null = the default. */
  maxBody: number | null;
  /** maxEventBytes; null = the default. */
  maxEvents: number | null;
  cuts: number[];
  /** A second chunking, for a quarter of the cases (the one-shot decode is the check for all). */
  otherCuts: number[] | null;
}

const ENCODINGS = ['gzip', 'deflate', 'br', 'identity', ''] as const;
type Encoding = (typeof ENCODINGS)[number];
/** Header spellings: case, padding, aliases, and codings the observer does not decode. */
const ODD_ENCODINGS = [' GZIP ', 'x-gzip', 'Deflate', 'BR', 'zstd', 'compress', 'gzip, br', 'identity, gzip', 'chunked', '\u0000'];
const SSE_TYPES = ['text/event-stream', 'text/event-stream; charset=utf-8', 'TEXT/EVENT-STREAM'];
const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', '', 'text/plain'];

function encode(body: Buffer, encoding: Encoding): Buffer {
  switch (encoding) {
    case 'gzip':
      return gzipSync(body);
    case 'deflate':
      return deflateSync(body);
    case 'br':
      return brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } });
    case 'identity':
    case '':
      return body;
  }
}

/** What zlib makes of the whole input at once, with the observer's flush modes; null = rejected. */
function oneShot(input: Buffer, contentEncoding: string): Buffer | null | 'unsupported' {
  const e = contentEncoding.trim().toLowerCase();
  try {
    if (e === '' || e === 'identity') return input;
    if (e === 'gzip' || e === 'x-gzip') return gunzipSync(input, { finishFlush: constants.Z_SYNC_FLUSH });
    if (e === 'deflate') return inflateSync(input, { finishFlush: constants.Z_SYNC_FLUSH });
    if (e === 'br') return brotliDecompressSync(input, { finishFlush: constants.BROTLI_OPERATION_FLUSH });
  } catch {
    return null;
  }
  return 'unsupported';
}

function observerOf(o: ObserverCaseOptions): ResponseObserver {
  return new ResponseObserver({
    contentType: o.contentType,
    contentEncoding: o.contentEncoding,
    ...(o.maxBody === null ? {} : { maxBodyBytes: o.maxBody }),
    ...(o.maxEvents === null ? {} : { maxEventBytes: o.maxEvents }),
  });
}

async function observe(input: Buffer, o: ObserverCaseOptions, cuts: readonly number[]): Promise<Observation> {
  const obs = observerOf(o);
  for (const c of splitAt(input, cuts)) obs.write(c);
  return obs.finish();
}

/**
 * Chunkings with a handful of cuts (a few dozen now and then): each write to a zlib stream is a
 * round trip to the libuv thread pool, the cost of this target, and over 100k cases a few cuts at
 * random places reach every boundary a few hundred would.
 */
function fewCuts(rng: Rng, input: Buffer): number[] {
  const cuts = randomCuts(rng, input.length, input);
  const most = rng.chance(0.05) ? 64 : 8;
  if (cuts.length <= most) return cuts;
  const kept = new Set<number>();
  for (let n = 0; n < most; n++) kept.add(rng.pick(cuts));
  return [...kept].sort((a, b) => a - b);
}

const seeds = wireSeeds();
const reached = { decoded: 0, truncated: 0, rejected: 0, unsupported: 0, events: 0 };
const bodies = seeds.map((s) => s.compact);

const target: FuzzTarget<ObserverCaseOptions> = {
  name: 'observer',
  concurrency: 16,
  // A case's time includes waiting for the zlib thread pool behind 15 other cases.
  caseBudgetMs: 5000,
  stats: () =>
    `${reached.decoded} decoded (${reached.truncated} over the cap, ${reached.events} events kept), ${reached.rejected} rejected by zlib, ${reached.unsupported} unsupported codings`,
  generate(rng: Rng) {
    const seed = rng.pick(seeds);
    const ops = [seed.id];
    let plain = seed.compact;
    if (rng.chance(0.7)) {
      const m = mutate(rng, plain, { corpus: bodies });
      plain = m.bytes;
      ops.push(...m.ops);
    }
    const encoding = rng.pick(ENCODINGS);
    let input = encode(plain, encoding);
    ops.push(`encode:${encoding || 'none'}`);
    if (encoding !== '' && encoding !== 'identity' && rng.chance(0.3)) {
      // Garbage on the compressed wire: flips, cuts, splices, trailing bytes.
      const m = mutate(rng, input, { corpus: [input, rng.bytes(64)], maxRounds: 2 });
      input = m.bytes;
      ops.push('garble', ...m.ops);
    }
    let contentEncoding: string = encoding;
    if (rng.chance(0.1)) {
      contentEncoding = rng.chance(0.5) ? rng.pick(ODD_ENCODINGS) : rng.pick(ENCODINGS);
      ops.push(`header:${contentEncoding}`);
    }
    const sse = rng.chance(0.1) ? !seed.sse : seed.sse;
    return {
      input,
      ops,
      options: {
        contentType: rng.pick(sse ? SSE_TYPES : JSON_TYPES),
        contentEncoding,
        maxBody: rng.chance(0.8) ? null : rng.skewed(8192),
        maxEvents: rng.chance(0.8) ? null : rng.skewed(8192),
        cuts: fewCuts(rng, input),
        otherCuts: rng.chance(0.25) ? fewCuts(rng, input) : null,
      },
    };
  },
  async check({ input, options }) {
    const a = await observe(input, options, options.cuts);
    if (options.otherCuts !== null) assertSameJson(await observe(input, options, options.otherCuts), a, 'observations of two chunkings');

    // Every chunking is held to the same one-shot decode, so the observation cannot depend on chunks.
    const decoded = oneShot(input, options.contentEncoding);
    if (decoded === 'unsupported' || decoded === null) {
      if (decoded === null) reached.rejected++;
      else reached.unsupported++;
      const why = decoded === null ? /^could not decode body: / : /^unsupported content-encoding /;
      assert.match(a.undecodable ?? '(decodable)', why);
      // Nothing of an undecodable body is kept, however much was decoded before the error.
      assertSameJson({ ...a, undecodable: null }, { bodyText: null, events: a.events === null ? null : [], truncated: false, undecodable: null }, 'an undecodable observation');
      return;
    }
    assert.equal(a.undecodable, null, `zlib decodes the body but the observer says: ${a.undecodable}`);
    reached.decoded++;
    if (a.truncated) reached.truncated++;
    reached.events += a.events?.length ?? 0;
    if (a.events !== null) {
      const s = new SseSplitter(options.maxEvents ?? 16 * 1024 * 1024);
      s.feed(decoded);
      s.end();
      assertSameJson(a.events, s.events, 'events and the splitter over the one-shot decode');
      assert.equal(a.truncated, s.truncated);
      return;
    }
    const cap = options.maxBody ?? 8 * 1024 * 1024;
    assert.equal(a.truncated, decoded.length > cap, 'truncated iff the decoded body is over the cap');
    assert.equal(a.bodyText, decoded.subarray(0, cap).toString('utf8'), 'the kept text is the decoded body (up to the cap)');
  },
};

test('fuzz: response observer (decoding, caps, chunking)', async (t) => {
  await runTarget(t, target, fuzzConfig('observer', 100_000));
});
