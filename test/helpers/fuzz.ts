// The fuzzing harness of test/fuzz/ (docs/reliability.md "Fuzzing"): a seeded PRNG, byte mutators
// aimed at the wire formats the meter reads, random chunk splits, an iterative deep-equal, a
// shrinker, a hang watchdog and the loop that runs a target, saves what fails and replays the saved
// regressions. No fuzzing library: the project installs none, and this is small enough to read.
//
// Every case is a pure function of (run seed, case index), so one failing case can be replayed on
// its own (FUZZ_SEED=<seed> FUZZ_CASE=<index>) without running the cases before it.
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TestContext } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { Exchange } from '../../src/core/exchange.js';
import { fixtureExchange, isSseFixture, listFixtures, loadFixture, repoRoot, wireFixturesRoot, type FixtureMeta } from './fixtures.js';

// ---- PRNG ------------------------------------------------------------------------------------

/** sfc32: tiny, fast, and good enough to drive mutations; Math.random cannot be seeded. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    // The first outputs of a fresh sfc32 state still look like the seed: discard them.
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(xs: readonly T[]): T {
    assert.ok(xs.length > 0, 'pick from an empty list');
    return xs[this.int(xs.length)];
  }

  /** Small sizes far more often than large ones: most bugs need few bytes, a few need many. */
  skewed(max: number): number {
    const bits = this.int(Math.max(1, Math.ceil(Math.log2(max + 1))) + 1);
    return Math.min(max, this.int(2 ** bits));
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

/** FNV-1a over the parts, then a murmur finaliser: independent case seeds from (seed, target, i). */
export function mixSeed(...parts: Array<number | string>): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    const s = typeof p === 'number' ? `#${p >>> 0}` : p;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0xff, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// ---- configuration ---------------------------------------------------------------------------

/** The seed of the CI-sized run. Any other seed is a different (equally valid) campaign. */
export const DEFAULT_SEED = 0x4a17_2025;

export interface FuzzConfig {
  target: string;
  seed: number;
  cases: number;
  /** FUZZ_CASE: run only this case index (a replay). */
  only: number | null;
  /**
   * The whole run must end within this (ms): set for the CI-sized run only, generous enough for a
   * loaded 2-core machine, so it catches a target gone quadratic rather than a busy neighbour.
   */
  budgetMs: number | null;
}

const CI_TARGET_BUDGET_MS = 150_000;

function envInt(name: string): number | null {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return null;
  const n = Number(raw.trim());
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * FUZZ_SEED and FUZZ_CASES override the seed and the case count of every target; `scale` lets a
 * slow target (real sockets) run a fixed fraction of FUZZ_CASES.
 */
export function fuzzConfig(target: string, defaultCases: number, scale = 1): FuzzConfig {
  const seed = envInt('FUZZ_SEED') ?? DEFAULT_SEED;
  const override = envInt('FUZZ_CASES');
  const cases = override === null ? defaultCases : Math.max(1, Math.ceil(override * scale));
  return { target, seed, cases, only: envInt('FUZZ_CASE'), budgetMs: override === null ? CI_TARGET_BUDGET_MS : null };
}

// ---- mutators --------------------------------------------------------------------------------

/** Numbers a token counter might choke on: past 2^53, negative, fractional, overflowing to Infinity. */
const INTERESTING_NUMBERS = [
  '0',
  '-0',
  '-1',
  '1',
  '2147483647',
  '2147483648',
  '4294967296',
  '4503599627370496',
  '9007199254740991',
  '9007199254740992',
  '9007199254740993',
  '18014398509481984',
  '12345678901234567890',
  '-9007199254740991',
  '1e21',
  '1e308',
  '1e400',
  '-1e400',
  '1.5',
  '0.0000001',
  '5e-324',
  '1E3',
];

/** Values a field expected to be a count might hold instead. */
const INTERESTING_VALUES = [
  ...INTERESTING_NUMBERS,
  'NaN',
  'Infinity',
  '-Infinity',
  '"NaN"',
  '"Infinity"',
  '"12"',
  '"-5"',
  '""',
  'null',
  'true',
  'false',
  '{}',
  '[]',
  '[1,2]',
  '{"a":1}',
  '0x10',
  '1_000',
  '.5',
];

/** Bytes that end strings, lines, fields and UTF-8 sequences. */
const INTERESTING_BYTES = [0x00, 0x0a, 0x0d, 0x20, 0x22, 0x2c, 0x3a, 0x5b, 0x5c, 0x5d, 0x7b, 0x7d, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xef, 0xf0, 0xff];

/** Invalid or awkward UTF-8: lone continuation, overlong, surrogate, truncated, BOM. */
const UTF8_TRAPS = [
  [0x80],
  [0xff],
  [0xfe],
  [0xc3],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf0, 0x9f, 0x98],
  [0xf4, 0x90, 0x80, 0x80],
  [0xef, 0xbb, 0xbf],
  [0xe2, 0x82],
].map((b) => Buffer.from(b));

const LINE_BREAKS = ['\n', '\r', '\r\n', '\n\n', '\r\n\r\n', '\r\r', '\n\r'].map((s) => Buffer.from(s, 'latin1'));

/** A usage counter key followed by its value: where a huge or negative number does the most harm. */
const COUNT_KEY = /"[A-Za-z_]*(?:tokens|Tokens|TokenCount|tokenCount|requests|Count)"\s*:\s*/g;

export interface Mutated {
  bytes: Buffer;
  /** What was done, for the failure report. */
  ops: string[];
}

export interface MutateOptions {
  /** Other inputs for splicing. */
  corpus?: readonly Buffer[];
  /** Mutation rounds: random in [1, maxRounds]. */
  maxRounds?: number;
  /** Output longer than this is cut back (keeps a case cheap). */
  maxLength?: number;
}

function lines(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, start)) {
    out.push(buf.subarray(start, i + 1));
    start = i + 1;
  }
  if (start < buf.length) out.push(buf.subarray(start));
  return out;
}

/** The [start, end) of a JSON-ish number literal at or after `from`, or null. */
function numberAt(buf: Buffer, from: number): [number, number] | null {
  let i = from;
  while (i < buf.length && !(buf[i] >= 0x30 && buf[i] <= 0x39)) i++;
  if (i >= buf.length) return null;
  let start = i;
  if (start > 0 && buf[start - 1] === 0x2d) start--;
  while (i < buf.length && ((buf[i] >= 0x30 && buf[i] <= 0x39) || buf[i] === 0x2e || buf[i] === 0x65 || buf[i] === 0x45 || buf[i] === 0x2b || buf[i] === 0x2d)) i++;
  return [start, i];
}

/** The end of the JSON value starting at `start` (a scalar, or a balanced {...}/[...]); best effort. */
function valueEnd(text: string, start: number): number {
  const open = text[start];
  if (open === '{' || open === '[') {
    let depth = 0;
    let inString = false;
    for (let i = start; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return text.length;
  }
  if (open === '"') {
    for (let i = start + 1; i < text.length; i++) {
      if (text[i] === '\\') i++;
      else if (text[i] === '"') return i + 1;
    }
    return text.length;
  }
  let i = start;
  while (i < text.length && !/[,}\]\s]/.test(text[i])) i++;
  return i;
}

function deepValue(rng: Rng): string {
  // Past ~4,000 levels a recursive JSON walker (JSON.stringify included) runs out of stack.
  const depth = rng.chance(0.03) ? rng.range(5_000, 20_000) : rng.range(1, 200);
  switch (rng.int(3)) {
    case 0:
      return '['.repeat(depth) + ']'.repeat(depth);
    case 1:
      return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    default:
      // Unbalanced: a nest that never closes.
      return '[{"x":'.repeat(depth);
  }
}

type Op = (rng: Rng, b: Buffer, corpus: readonly Buffer[]) => Buffer;

const OPS: ReadonlyArray<readonly [string, number, Op]> = [
  [
    'flip',
    3,
    (rng, b) => {
      if (b.length === 0) return b;
      const out = Buffer.from(b);
      for (let k = rng.range(1, 4); k > 0; k--) out[rng.int(out.length)] ^= 1 << rng.int(8);
      return out;
    },
  ],
  [
    'byte',
    3,
    (rng, b) => {
      if (b.length === 0) return Buffer.from([rng.pick(INTERESTING_BYTES)]);
      const out = Buffer.from(b);
      out[rng.int(out.length)] = rng.chance(0.7) ? rng.pick(INTERESTING_BYTES) : rng.int(256);
      return out;
    },
  ],
  ['insert', 2, (rng, b) => insertAt(b, rng.int(b.length + 1), rng.bytes(rng.range(1, 16)))],
  [
    'erase',
    2,
    (rng, b) => {
      if (b.length === 0) return b;
      const at = rng.int(b.length);
      return Buffer.concat([b.subarray(0, at), b.subarray(at + rng.range(1, Math.max(1, rng.skewed(b.length - at))))]);
    },
  ],
  [
    'dup-range',
    1,
    (rng, b) => {
      if (b.length === 0) return b;
      const at = rng.int(b.length);
      const len = rng.range(1, Math.min(256, b.length - at));
      return insertAt(b, rng.int(b.length + 1), Buffer.from(b.subarray(at, at + len)));
    },
  ],
  ['truncate', 3, (rng, b) => b.subarray(0, rng.int(b.length + 1))],
  [
    'splice',
    2,
    (rng, b, corpus) => {
      if (corpus.length === 0) return b;
      const other = rng.pick(corpus);
      // Mostly at line boundaries (two streams glued event-wise), sometimes anywhere.
      const cutA = rng.chance(0.6) ? lineBoundary(rng, b) : rng.int(b.length + 1);
      const cutB = rng.chance(0.6) ? lineBoundary(rng, other) : rng.int(other.length + 1);
      return Buffer.concat([b.subarray(0, cutA), other.subarray(cutB)]);
    },
  ],
  [
    'dup-line',
    2,
    (rng, b) => {
      const ls = lines(b);
      if (ls.length === 0) return b;
      const at = rng.int(ls.length);
      ls.splice(rng.int(ls.length + 1), 0, ls[at]);
      return Buffer.concat(ls);
    },
  ],
  [
    'drop-line',
    2,
    (rng, b) => {
      const ls = lines(b);
      if (ls.length === 0) return b;
      ls.splice(rng.int(ls.length), rng.range(1, 3));
      return Buffer.concat(ls);
    },
  ],
  [
    'swap-lines',
    1,
    (rng, b) => {
      const ls = lines(b);
      if (ls.length < 2) return b;
      const i = rng.int(ls.length);
      const j = rng.int(ls.length);
      [ls[i], ls[j]] = [ls[j], ls[i]];
      return Buffer.concat(ls);
    },
  ],
  [
    'number',
    3,
    (rng, b) => {
      const span = numberAt(b, rng.int(b.length + 1)) ?? numberAt(b, 0);
      if (span === null) return b;
      return Buffer.concat([b.subarray(0, span[0]), Buffer.from(rng.pick(INTERESTING_NUMBERS)), b.subarray(span[1])]);
    },
  ],
  [
    'count-value',
    5,
    (rng, b) => {
      const text = b.toString('latin1');
      const starts: number[] = [];
      for (const m of text.matchAll(COUNT_KEY)) starts.push((m.index ?? 0) + m[0].length);
      if (starts.length === 0) return b;
      const at = rng.pick(starts);
      const end = valueEnd(text, at);
      const value = rng.chance(0.1) ? deepValue(rng) : rng.pick(INTERESTING_VALUES);
      return Buffer.concat([b.subarray(0, at), Buffer.from(value, 'latin1'), b.subarray(end)]);
    },
  ],
  [
    'nest',
    1,
    (rng, b) => {
      // After a colon is where a value starts in JSON; anywhere else makes plain garbage.
      const text = b.toString('latin1');
      let at = text.indexOf(':', rng.int(text.length + 1));
      if (at === -1) at = rng.int(b.length + 1);
      else at++;
      const end = rng.chance(0.5) ? valueEnd(text, at) : at;
      return Buffer.concat([b.subarray(0, at), Buffer.from(deepValue(rng), 'latin1'), b.subarray(end)]);
    },
  ],
  ['utf8', 2, (rng, b) => insertAt(b, rng.int(b.length + 1), rng.pick(UTF8_TRAPS))],
  ['newline', 2, (rng, b) => insertAt(b, rng.int(b.length + 1), rng.pick(LINE_BREAKS))],
  [
    'long-run',
    1,
    (rng, b) => {
      const byte = rng.pick([0x61, 0x20, 0x3a, 0x0d, 0x22, 0x7b, 0x30]);
      return insertAt(b, rng.int(b.length + 1), Buffer.alloc(rng.chance(0.03) ? rng.range(10_000, 50_000) : rng.range(100, 3_000), byte));
    },
  ],
  ['random', 1, (rng) => rng.bytes(rng.skewed(2048))],
];

const OP_WEIGHT = OPS.reduce((n, [, w]) => n + w, 0);

function insertAt(b: Buffer, at: number, ins: Buffer): Buffer {
  return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
}

function lineBoundary(rng: Rng, b: Buffer): number {
  const at = b.indexOf(10, rng.int(b.length + 1));
  return at === -1 ? b.length : at + 1;
}

/** Applies 1..maxRounds random mutations. The input is never modified. */
export function mutate(rng: Rng, input: Buffer, opts: MutateOptions = {}): Mutated {
  const corpus = opts.corpus ?? [];
  const rounds = rng.range(1, opts.maxRounds ?? 4);
  let bytes = input;
  const ops: string[] = [];
  for (let r = 0; r < rounds; r++) {
    let w = rng.int(OP_WEIGHT);
    for (const [name, weight, op] of OPS) {
      if (w < weight) {
        bytes = op(rng, bytes, corpus);
        ops.push(name);
        break;
      }
      w -= weight;
    }
  }
  if (opts.maxLength !== undefined && bytes.length > opts.maxLength) bytes = bytes.subarray(0, opts.maxLength);
  return { bytes, ops };
}

// ---- chunk splits ----------------------------------------------------------------------------

/**
 * Cut points for feeding `length` bytes in chunks, as a socket might deliver them: one chunk, every
 * byte apart (short inputs), a few hundred random cuts at most, or cuts right at the bytes where a
 * split hurts (line breaks, multi-byte UTF-8). Ascending offsets strictly inside (0, length), so a
 * split is saved and replayed as plain numbers. `data` (when given) is what the targeted mode scans.
 */
export function randomCuts(rng: Rng, length: number, data?: Uint8Array | string): number[] {
  if (length <= 1) return [];
  const mode = rng.int(4);
  if (mode === 0) return [];
  if (mode === 1 && length <= 512) return Array.from({ length: length - 1 }, (_v, i) => i + 1);
  const cuts = new Set<number>();
  if (mode === 3 && data !== undefined) {
    for (let n = rng.range(1, 64); n > 0; n--) {
      // A bounded look-ahead: plain ASCII stretches are long, and this runs for every case.
      const from = rng.int(length);
      const stop = Math.min(length, from + 256);
      let i = from;
      while (i < stop && !awkward(data, i)) i++;
      cuts.add(i + rng.int(2));
    }
  } else {
    for (let n = 1 + rng.skewed(Math.min(length - 1, 255)); n > 0; n--) cuts.add(rng.range(1, length - 1));
  }
  return [...cuts].filter((c) => c > 0 && c < length).sort((a, b) => a - b);
}

/** CR, LF, or a byte (code unit) outside ASCII: where a chunk boundary is most likely to matter. */
function awkward(data: Uint8Array | string, i: number): boolean {
  const c = typeof data === 'string' ? data.charCodeAt(i) : data[i];
  return c === 10 || c === 13 || c >= 0x80;
}

export function splitAt<T extends Uint8Array | string>(data: T, cuts: readonly number[]): T[] {
  const out: T[] = [];
  let prev = 0;
  for (const c of cuts) {
    if (c <= prev || c >= data.length) continue;
    out.push(data.slice(prev, c) as T);
    prev = c;
  }
  out.push(data.slice(prev) as T);
  return out;
}

// ---- comparison ------------------------------------------------------------------------------

/**
 * Structural equality of JSON-like values, iterative: the fuzzers build values nested tens of
 * thousands deep, which overflow the stack of a recursive comparison (assert.deepStrictEqual).
 * Returns null when equal, else the path of the first difference.
 */
export function jsonDiff(a: unknown, b: unknown): string | null {
  const stack: Array<[unknown, unknown, string]> = [[a, b, '$']];
  while (stack.length > 0) {
    const [x, y, at] = stack.pop() as [unknown, unknown, string];
    if (Object.is(x, y)) continue;
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return at;
    if (Array.isArray(x) !== Array.isArray(y)) return at;
    if (Array.isArray(x) && Array.isArray(y)) {
      if (x.length !== y.length) return `${at}.length`;
      for (let i = 0; i < x.length; i++) stack.push([x[i], y[i], `${at}[${i}]`]);
      continue;
    }
    const xo = x as Record<string, unknown>;
    const yo = y as Record<string, unknown>;
    const xk = Object.keys(xo);
    const yk = Object.keys(yo);
    if (xk.length !== yk.length) return `${at}{keys}`;
    for (const k of xk) {
      if (!Object.hasOwn(yo, k)) return `${at}.${k}`;
      stack.push([xo[k], yo[k], `${at}.${k}`]);
    }
  }
  return null;
}

export function assertSameJson(a: unknown, b: unknown, what: string): void {
  const at = jsonDiff(a, b);
  if (at !== null) assert.fail(`${what} differ at ${at}`);
}

/** A token count as the meter may store it: a non-negative safe integer. */
export function isCount(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

// ---- cases, failures, regressions ------------------------------------------------------------

export interface FuzzCase<O> {
  input: Buffer;
  /** Everything besides the bytes that the check needs; JSON-serialisable (it is saved). */
  options: O;
  /** How the case was made (mutation ops, generator): shown on failure, not needed to replay. */
  ops: string[];
}

export interface FuzzTarget<O> {
  /** Names the seed stream, the regression folder and the failure files. */
  name: string;
  generate(rng: Rng, index: number): FuzzCase<O>;
  /** Throws (an AssertionError) when a property fails. */
  check(c: FuzzCase<O>): void | Promise<void>;
  /** Cases in flight at once (async targets); default 1. */
  concurrency?: number;
  /** A case slower than this fails the run (ms); default DEFAULT_CASE_BUDGET_MS. */
  caseBudgetMs?: number;
  /** No progress for this long means a hang: the watchdog kills the process (ms); default 20 s. */
  stallMs?: number;
  /** What the cases reached (how many parsed, decoded, ...): printed, so a vacuous run shows. */
  stats?: () => string;
}

/**
 * A parser case takes microseconds, a megabyte bulk case tens of milliseconds; seconds mean the work
 * went super-linear (the quadratic SSE case took 5-17 s). The margin is for a loaded 2-core machine.
 */
const DEFAULT_CASE_BUDGET_MS = 2000;

export interface FuzzSummary {
  cases: number;
  ms: number;
  maxCaseMs: number;
  regressions: number;
}

export function regressionDir(target: string): string {
  return join(repoRoot(), 'test', 'fixtures', 'fuzz', target);
}

interface SavedCase {
  target: string;
  /** Why this input is kept: the bug it found and the fix. */
  note?: string;
  found?: string;
  ops?: string[];
  options: unknown;
  input_base64: string;
}

/** The saved regression inputs of a target (test/fixtures/fuzz/<target>/*.json), sorted. */
export function loadRegressions<O>(target: string): Array<{ file: string; c: FuzzCase<O> }> {
  const dir = regressionDir(target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const saved = JSON.parse(readFileSync(join(dir, f), 'utf8')) as SavedCase;
      return { file: f, c: { input: Buffer.from(saved.input_base64, 'base64'), options: saved.options as O, ops: saved.ops ?? [] } };
    });
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Why the case fails (a property, or over the time budget), or null when it passes. */
async function fails<O>(target: FuzzTarget<O>, c: FuzzCase<O>): Promise<string | null> {
  const t0 = performance.now();
  try {
    await target.check(c);
  } catch (e) {
    return errorText(e);
  }
  const ms = performance.now() - t0;
  const budget = target.caseBudgetMs ?? DEFAULT_CASE_BUDGET_MS;
  return ms > budget ? `case took ${ms.toFixed(0)} ms (budget ${budget} ms)` : null;
}

/**
 * Shrinks a failing input (ddmin-style: drop halves, quarters, ... then single bytes) while the
 * check still fails, within a time budget. Options stay as they were.
 */
export async function shrink<O>(target: FuzzTarget<O>, c: FuzzCase<O>, budgetMs = 20_000): Promise<FuzzCase<O>> {
  const deadline = performance.now() + budgetMs;
  let best = c.input;
  let size = Math.max(1, best.length >> 1);
  while (size >= 1 && performance.now() < deadline) {
    let progressed = false;
    for (let at = 0; at < best.length && performance.now() < deadline; ) {
      const candidate = Buffer.concat([best.subarray(0, at), best.subarray(at + size)]);
      if ((await fails(target, { ...c, input: candidate })) !== null) {
        best = candidate;
        progressed = true;
      } else {
        at += size;
      }
    }
    if (!progressed) size >>= 1;
  }
  return { ...c, input: best };
}

function saveFailure<O>(target: string, found: string, c: FuzzCase<O>, message: string): string {
  const dir = join(tmpdir(), 'halton-fuzz', target);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${found.replace(/[^A-Za-z0-9]+/g, '-')}.json`);
  const saved: SavedCase & { failure: string } = {
    target,
    found,
    ops: c.ops,
    options: c.options,
    input_base64: c.input.toString('base64'),
    failure: message,
  };
  writeFileSync(file, JSON.stringify(saved, null, 2) + '\n');
  return file;
}

/**
 * Kills the whole process when the case counter stops moving: a synchronous infinite loop cannot be
 * interrupted from its own thread, and a test runner timeout never fires while the loop holds it.
 */
class Watchdog {
  private readonly shared = new Int32Array(new SharedArrayBuffer(12));
  private readonly worker: Worker;

  constructor(label: string, stallMs: number) {
    // Slots: 0 = cases finished, 1 = last case started, 2 = stop flag.
    this.worker = new Worker(
      `
      const { workerData } = require('node:worker_threads');
      const { writeSync } = require('node:fs');
      const s = workerData.shared;
      let last = -1;
      for (;;) {
        Atomics.wait(s, 2, 0, workerData.stallMs);
        if (Atomics.load(s, 2) !== 0) break;
        const done = Atomics.load(s, 0);
        if (done === last) {
          const index = Atomics.load(s, 1);
          const which = index < 0 ? 'a saved regression' : 'case ' + index + ' (replay: FUZZ_CASE=' + index + ')';
          writeSync(2, 'FUZZ HANG: ' + workerData.label + ': nothing finished in ' + workerData.stallMs + ' ms; running ' + which + '\\n');
          process.kill(process.pid, 'SIGKILL');
        }
        last = done;
      }
      `,
      { eval: true, workerData: { shared: this.shared, stallMs, label } },
    );
    this.worker.unref();
  }

  started(index: number): void {
    Atomics.store(this.shared, 1, index);
  }

  finished(): void {
    Atomics.add(this.shared, 0, 1);
  }

  async stop(): Promise<void> {
    Atomics.store(this.shared, 2, 1);
    Atomics.notify(this.shared, 2);
    await this.worker.terminate();
  }
}

/** Runs the saved regressions first (each must pass), then `cfg.cases` generated cases. */
export async function runTarget<O>(t: TestContext, target: FuzzTarget<O>, cfg: FuzzConfig): Promise<FuzzSummary> {
  const regressions = loadRegressions<O>(target.name);
  const first = cfg.only ?? 0;
  const end = cfg.only === null ? cfg.cases : cfg.only + 1;
  t.diagnostic(`fuzz ${target.name}: FUZZ_SEED=${cfg.seed} cases=${end - first} (+${regressions.length} regressions)`);
  const budget = target.caseBudgetMs ?? DEFAULT_CASE_BUDGET_MS;
  const dog = new Watchdog(`${target.name} (FUZZ_SEED=${cfg.seed})`, target.stallMs ?? 20_000);
  dog.started(-1);
  for (const { file, c } of regressions) {
    const failure = await fails(target, c);
    dog.finished();
    if (failure !== null) {
      await dog.stop();
      assert.fail(`${target.name}: regression ${file} fails again: ${failure}`);
    }
  }
  const started = performance.now();
  let maxCaseMs = 0;
  let next = first;
  let failure: { index: number; c: FuzzCase<O>; message: string } | null = null;

  const failed = (index: number, c: FuzzCase<O>, e: unknown): void => {
    if (failure === null || index < failure.index) failure = { index, c, message: errorText(e) };
  };
  const passed = (index: number, c: FuzzCase<O>, t0: number): void => {
    const ms = performance.now() - t0;
    if (ms > maxCaseMs) maxCaseMs = ms;
    if (ms > budget) failed(index, c, new Error(`case took ${ms.toFixed(0)} ms (budget ${budget} ms)`));
  };
  // Plain functions, not async ones: node:test tracks every promise with an async hook, which costs
  // more than a synchronous case itself. Only a check that returns a promise is awaited.
  const one = (index: number): Promise<void> | undefined => {
    dog.started(index);
    const c = target.generate(new Rng(mixSeed(cfg.seed, target.name, index)), index);
    const t0 = performance.now();
    let pending: void | Promise<void>;
    try {
      pending = target.check(c);
    } catch (e) {
      failed(index, c, e);
      dog.finished();
      return undefined;
    }
    if (!(pending instanceof Promise)) {
      passed(index, c, t0);
      dog.finished();
      return undefined;
    }
    return pending.then(
      () => {
        passed(index, c, t0);
        dog.finished();
      },
      (e: unknown) => {
        failed(index, c, e);
        dog.finished();
      },
    );
  };

  try {
    const lanes = target.concurrency ?? 1;
    if (lanes === 1) {
      for (; next < end && failure === null; next++) {
        const p = one(next);
        if (p !== undefined) await p;
      }
    } else {
      const lane = async (): Promise<void> => {
        while (next < end && failure === null) await one(next++);
      };
      await Promise.all(Array.from({ length: lanes }, lane));
    }
  } finally {
    await dog.stop();
  }
  const ms = performance.now() - started;
  if (failure !== null) {
    const f: { index: number; c: FuzzCase<O>; message: string } = failure;
    const found = `seed ${cfg.seed} case ${f.index}`;
    const small = await shrink(target, f.c);
    const file = saveFailure(target.name, found, small, f.message);
    assert.fail(
      `${target.name}: ${f.message}\n  found by ${found} (replay: FUZZ_SEED=${cfg.seed} FUZZ_CASE=${f.index}); ops ${f.c.ops.join(',')}\n` +
        `  input ${f.c.input.length} bytes, shrunk to ${small.input.length}: ${file}\n` +
        `  to keep it as a regression, copy that file to test/fixtures/fuzz/${target.name}/ with a "note"`,
    );
  }
  const done = end - first;
  if (cfg.budgetMs !== null && ms > cfg.budgetMs) assert.fail(`${target.name}: ${done} cases took ${(ms / 1000).toFixed(1)} s (budget ${cfg.budgetMs / 1000} s)`);
  t.diagnostic(`fuzz ${target.name}: ${done} cases in ${(ms / 1000).toFixed(1)} s, slowest case ${maxCaseMs.toFixed(1)} ms`);
  if (target.stats) t.diagnostic(`fuzz ${target.name}: ${target.stats()}`);
  return { cases: done, ms, maxCaseMs, regressions: regressions.length };
}

// ---- seed corpus -----------------------------------------------------------------------------

export interface WireSeed {
  /** `<provider>/<name>` of the recorded (or hand-made) fixture. */
  id: string;
  meta: FixtureMeta;
  sse: boolean;
  /** The whole decoded response body as recorded. */
  body: Buffer;
  /** The same exchange cut down to a few KB (see `compactBody`): what most cases start from. */
  compact: Buffer;
  /** The exchange as the contract test builds it: host, method, path, request JSON, headers. */
  exchange: Exchange;
}

const COMPACT_BYTES = 4 * 1024;
/** Events a usage parser reads (not OpenAI's `"usage":null` on every chunk); compaction keeps them. */
const USAGE_BLOCK = /[uU]sage(?:Metadata)?"\s*:\s*(?!null)|error|message_start|message_stop|\[DONE\]|response\.(?:completed|created|incomplete|failed|in_progress)|finishReason/;

/** The first ~120 characters of a JSON string literal, still a valid literal (no cut escape). */
function cutString(literal: string): string {
  for (let end = 121; end > 100; end--) {
    const cut = `${literal.slice(0, end)}"`;
    if (tryJson(cut)) return cut;
  }
  return '""';
}

function tryJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Cuts long JSON strings and long number arrays; keeps the text valid JSON where it was. */
function shrinkJsonText(text: string): string {
  // One alternation, so every string is matched whole and nothing between two strings is taken for one.
  return text.replace(/"(?:[^"\\\n]|\\.)*"|\[(?:\s*-?[\d.eE+-]+\s*,){16,}\s*-?[\d.eE+-]+\s*\]/g, (m) => {
    if (m.startsWith('"')) return m.length <= 240 ? m : cutString(m);
    return `[${m.slice(1, -1).split(',').slice(0, 8).join(',')}]`;
  });
}

/**
 * A real body made small enough for 100k cases: an event stream keeps its first and last events and
 * every event a usage parser reads, then as many others as fit; long strings and embedding vectors
 * are cut. Real framing, real field names, real usage objects: only the bulk goes.
 */
export function compactBody(body: Buffer, sse: boolean): Buffer {
  if (body.length <= COMPACT_BYTES) return body;
  const text = body.toString('utf8');
  if (!sse) return Buffer.from(shrinkJsonText(text), 'utf8');
  const blocks = text.split(/(?<=\n\n|\r\n\r\n)/);
  const keep = blocks.map((b, i) => i < 3 || i >= blocks.length - 4 || USAGE_BLOCK.test(b));
  let size = blocks.reduce((n, b, i) => (keep[i] ? n + b.length : n), 0);
  for (let i = 0; i < blocks.length && size < COMPACT_BYTES; i += 7) {
    if (!keep[i]) {
      keep[i] = true;
      size += blocks[i].length;
    }
  }
  return Buffer.from(shrinkJsonText(blocks.filter((_b, i) => keep[i]).join('')), 'utf8');
}

let seedCache: WireSeed[] | null = null;

/** Every wire fixture, recorded and hand-made, as fuzz seeds. */
export function wireSeeds(): WireSeed[] {
  if (seedCache !== null) return seedCache;
  const seeds: WireSeed[] = [];
  for (const root of [wireFixturesRoot(), join(repoRoot(), 'test', 'fixtures', 'wire-extra')]) {
    for (const id of listFixtures(root)) {
      const fx = loadFixture(id, root);
      const sse = isSseFixture(fx);
      seeds.push({ id, meta: fx.meta, sse, body: fx.responseBytes, compact: compactBody(fx.responseBytes, sse), exchange: fixtureExchange(fx) });
    }
  }
  seedCache = seeds;
  return seeds;
}
