#!/usr/bin/env node
// Builds src/pricing/bundled-table.json from a pinned copy of pydantic/genai-prices (MIT).
//
//   node scripts/gen-pricing.mjs [path-to-genai-prices-dir]   (default: ../shared/pricing/genai-prices)
//
// The output is reviewed in diffs (STYLE §6), so it is deterministic: no timestamps, sorted models,
// sorted patterns, fixed key order, rates as integers. Anything in the source this script has not
// been taught to translate stops it with a message, rather than being guessed at.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '..');
const srcDir = process.argv[2] ? resolve(process.argv[2]) : resolve(repoRoot, '../shared/pricing/genai-prices');
const outFile = join(repoRoot, 'src', 'pricing', 'bundled-table.json');

/** genai-prices provider id -> halton-meter provider id (src/core/providers.ts). */
const PROVIDERS = new Map([
  ['anthropic', 'anthropic'],
  ['openai', 'openai'],
  ['google', 'gemini'],
  ['x-ai', 'xai'],
]);

/** Whole models left out, with the reason. */
const EXCLUDED = [
  {
    source: 'google',
    idPrefix: 'claude-',
    why: 'Claude on Vertex AI; halton-meter meters the Gemini API hosts only, where no Claude model is served',
  },
];

// `contains` is the loose substring match STYLE §6 forbids. Each one found in the source gets a
// deliberate translation here; an unlisted one stops the script. Model names reach us bare (Gemini's
// `models/` prefix is stripped by findModel), so "contains X" is read as "starts with X".
const CONTAINS = new Map([
  ['anthropic/claude-v2', { prefixes: ['claude-v2'], why: 'bare id claude-v2 / claude-v2:N; platform-prefixed Bedrock ids are not served by api.anthropic.com' }],
  ['google/gemini-1.5-flash', { prefixes: ['gemini-1.5-flash'] }],
  ['google/gemini-1.5-pro', { prefixes: ['gemini-1.5-pro'] }],
  ['google/gemini-2.0-flash-0', { prefixes: ['gemini-2.0-flash-0'] }],
  ['google/gemini-2.0-flash-exp', { prefixes: ['gemini-2.0-flash-exp'] }],
  ['google/gemini-2.0-flash-thinking', { prefixes: ['gemini-2.0-flash-thinking'] }],
  ['google/gemini-2.0-flash-latest', { prefixes: ['gemini-2.0-flash-latest'] }],
  ['google/gemini-2.0-flash-lite', { prefixes: ['gemini-2.0-flash-lite'] }],
  ['google/gemini-2.5-flash-preview-05-20', { prefixes: ['gemini-2.5-flash-preview-05-20'] }],
  ['google/gemini-2.5-flash-preview-04-17', { prefixes: ['gemini-2.5-flash-preview-04-17'] }],
  [
    'openai/moderation',
    { prefixes: ['omni-moderation', 'text-moderation'], why: "OpenAI's two moderation model families (free)" },
  ],
]);

/** genai-prices price field -> table rate field. */
const RATE_FIELDS = new Map([
  ['input_mtok', 'input'],
  ['cache_read_mtok', 'cache_read'],
  ['cache_write_mtok', 'cache_write_5m'],
  ['cache_write_5m_mtok', 'cache_write_5m'],
  ['cache_write_1h_mtok', 'cache_write_1h'],
  ['output_mtok', 'output'],
  ['web_searches_kcount', 'web_search'],
]);
const RATE_KEYS = ['input', 'cache_read', 'cache_write_5m', 'cache_write_1h', 'output', 'web_search'];

// Modalities our normalised Usage does not split out (SPEC §2): adapters count such tokens as text,
// so these rates are listed per period as `unpriced` for the reviewer instead of silently vanishing.
const MODALITY_FIELDS = new Set([
  'input_audio_mtok',
  'cache_audio_read_mtok',
  'output_audio_mtok',
  'input_image_mtok',
  'cache_image_read_mtok',
  'output_image_mtok',
  'input_video_mtok',
  'output_video_mtok',
]);

// ---------------------------------------------------------------------------------------------
// Exact decimals. JSON.parse would turn 0.01875 into a binary double; prices are kept as the text
// the source wrote and converted to integers with string arithmetic.

class Decimal {
  constructor(text) {
    this.text = text;
  }
}

const NUMBER_TOKEN = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

function parseJsonKeepingNumbers(text) {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER_TOKEN.lastIndex = i;
      const m = NUMBER_TOKEN.exec(text);
      if (!m) throw new Error(`bad number at offset ${i}`);
      out += JSON.stringify(`\u0000${m[0]}`);
      i += m[0].length;
    } else {
      out += c;
      i += 1;
    }
  }
  return JSON.parse(out, (_k, v) => (typeof v === 'string' && v.startsWith('\u0000') ? new Decimal(v.slice(1)) : v));
}

/** "0.01875" -> 18750000 (the value x 1e9), exactly; throws when it is not a whole number of nanos. */
function toNano(dec, where) {
  if (!(dec instanceof Decimal)) throw new Error(`${where}: expected a number, got ${JSON.stringify(dec)}`);
  const m = /^(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(dec.text);
  if (!m) throw new Error(`${where}: negative or malformed price ${dec.text}`);
  const digits = m[1] + (m[2] ?? '');
  const shift = 9 - (m[2] ?? '').length + Number(m[3] ?? 0);
  let value;
  if (shift >= 0) value = BigInt(digits) * 10n ** BigInt(shift);
  else {
    const div = 10n ** BigInt(-shift);
    if (BigInt(digits) % div !== 0n) throw new Error(`${where}: ${dec.text} is finer than 1e-9`);
    value = BigInt(digits) / div;
  }
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${where}: ${dec.text} too large`);
  return Number(value);
}

function toInt(dec, where) {
  if (!(dec instanceof Decimal) || !/^\d+$/.test(dec.text)) throw new Error(`${where}: expected an integer`);
  return Number(dec.text);
}

// ---------------------------------------------------------------------------------------------
// Match clauses -> exact ids, plain prefixes and shaped prefixes.

const ESCAPED_LITERAL = /^\^((?:[a-z0-9_:@/-]|\\\.)+)/;
const REGEX_RESTS = new Map([
  ['\\d{4}-\\d{2}-\\d{2}$', 'yyyy-mm-dd'],
  ['\\d{8}$', 'yyyymmdd'],
  ['\\d', 'digit+any'],
]);

function translateRegex(re, where) {
  const m = ESCAPED_LITERAL.exec(re);
  const rest = m ? REGEX_RESTS.get(re.slice(m[0].length)) : undefined;
  if (!m || !rest) throw new Error(`${where}: regex ${re} is not a literal prefix plus a known suffix shape; teach translateRegex`);
  return { prefix: m[1].replaceAll('\\.', '.'), rest };
}

function translateMatch(clause, source, modelId, acc) {
  const where = `${source}/${modelId}`;
  const kinds = Object.keys(clause);
  if (kinds.length !== 1) throw new Error(`${where}: clause with keys ${kinds.join(',')}`);
  const [kind] = kinds;
  const value = clause[kind];
  switch (kind) {
    case 'or':
      for (const c of value) translateMatch(c, source, modelId, acc);
      return;
    case 'equals':
      acc.exact.add(value.toLowerCase());
      return;
    case 'starts_with':
      acc.prefixes.add(value.toLowerCase());
      return;
    case 'ends_with':
      // Only the Gemini family uses it, for path-qualified names (`models/X`, `publishers/.../X`);
      // findModel strips the `models/` path, so what is left is an exact id.
      acc.exact.add(value.toLowerCase());
      acc.notes.push(`ends_with "${value}" taken as the exact id "${value.toLowerCase()}"`);
      return;
    case 'contains': {
      const t = CONTAINS.get(`${source}/${value}`);
      if (!t) throw new Error(`${where}: contains "${value}" has no translation; add it to CONTAINS`);
      for (const p of t.prefixes) acc.prefixes.add(p);
      acc.notes.push(`contains "${value}" taken as prefix ${t.prefixes.map((p) => `"${p}"`).join(', ')}${t.why ? ` (${t.why})` : ''}`);
      return;
    }
    case 'regex': {
      const shaped = translateRegex(value, where);
      acc.shaped.set(`${shaped.prefix}\u0000${shaped.rest}`, shaped);
      return;
    }
    default:
      // `and` and anything newer: no model of ours uses them today; decide when one appears.
      throw new Error(`${where}: unsupported match clause "${kind}"`);
  }
}

// ---------------------------------------------------------------------------------------------
// Prices -> date-bounded periods with base rates and long-context tiers.

function emptyRates() {
  return Object.fromEntries(RATE_KEYS.map((k) => [k, null]));
}

function translatePrices(prices, where) {
  const entries = Array.isArray(prices) ? prices : [{ prices }];
  const periods = entries.map((entry, i) => {
    let from = null;
    if (entry.constraint !== undefined) {
      if (typeof entry.constraint.start_date !== 'string' || Object.keys(entry.constraint).length !== 1) {
        throw new Error(`${where}: unsupported price constraint ${JSON.stringify(entry.constraint)}`);
      }
      from = entry.constraint.start_date;
    }
    if ((from === null) !== (i === 0)) throw new Error(`${where}: only the first price period may be unbounded`);
    return translatePeriod(entry.prices, from, `${where}[${i}]`);
  });
  for (let i = 1; i < periods.length; i++) {
    if (i > 1 && periods[i].from <= periods[i - 1].from) throw new Error(`${where}: periods out of date order`);
  }
  return periods;
}

function translatePeriod(prices, from, where) {
  const base = emptyRates();
  const tiered = new Map();
  const unpriced = [];
  for (const [field, value] of Object.entries(prices)) {
    if (MODALITY_FIELDS.has(field)) {
      unpriced.push(field);
      continue;
    }
    const key = RATE_FIELDS.get(field);
    if (!key) throw new Error(`${where}: unknown price field ${field}; decide how to bill it`);
    if (base[key] !== null) throw new Error(`${where}: two source fields for ${key}`);
    if (value instanceof Decimal) {
      base[key] = toNano(value, `${where}.${field}`);
    } else {
      base[key] = toNano(value.base, `${where}.${field}.base`);
      const tiers = value.tiers.map((t) => ({ start: toInt(t.start, where), price: toNano(t.price, `${where}.${field}`) }));
      tiers.sort((a, b) => a.start - b.start);
      tiered.set(key, tiers);
    }
  }
  // genai-prices tiers are per field; a request over a threshold pays every field's rate for that
  // threshold (the whole request moves), so the table stores one complete rate set per threshold.
  const thresholds = [...new Set([...tiered.values()].flatMap((ts) => ts.map((t) => t.start)))].sort((a, b) => a - b);
  const tiers = thresholds.map((above) => {
    const rates = { ...base };
    for (const [key, ts] of tiered) {
      for (const t of ts) if (t.start <= above) rates[key] = t.price;
    }
    return { above, rates };
  });
  const free = Object.keys(prices).length === 0;
  if (free) {
    // genai-prices writes `prices: {}` for models it documents as free of charge.
    base.input = 0;
    base.output = 0;
  }
  return { from, rates: base, tiers, unpriced: unpriced.sort() };
}

// ---------------------------------------------------------------------------------------------
// Cross-check: our exact-then-longest-prefix lookup must pick the same model genai-prices' own
// first-match-in-list-order picks, for every id and prefix we emit.

function genaiMatches(clause, s) {
  const [kind] = Object.keys(clause);
  const v = clause[kind];
  switch (kind) {
    case 'or':
      return v.some((c) => genaiMatches(c, s));
    case 'and':
      return v.every((c) => genaiMatches(c, s));
    case 'equals':
      return s === v.toLowerCase();
    case 'starts_with':
      return s.startsWith(v.toLowerCase());
    case 'ends_with':
      return s.endsWith(v.toLowerCase());
    case 'contains':
      return s.includes(v.toLowerCase());
    case 'regex':
      return new RegExp(v).test(s);
    default:
      return false;
  }
}

const REST_TESTS = {
  any: () => true,
  'yyyy-mm-dd': (r) => /^\d{4}-\d{2}-\d{2}$/.test(r),
  yyyymmdd: (r) => /^\d{8}$/.test(r),
  'digit+any': (r) => /^\d/.test(r),
};
const REST_SAMPLES = { any: ['', '-20250101', 'x'], 'yyyy-mm-dd': ['2025-01-01'], yyyymmdd: ['20250101'], 'digit+any': ['1', '001'] };

function ourFind(models, s) {
  const exact = models.find((m) => m.match.exact.includes(s));
  if (exact) return exact;
  let best = null;
  let bestLen = -1;
  for (const m of models) {
    const pats = [...m.match.prefixes.map((prefix) => ({ prefix, rest: 'any' })), ...m.match.shaped];
    for (const p of pats) {
      if (s.startsWith(p.prefix) && REST_TESTS[p.rest](s.slice(p.prefix.length)) && p.prefix.length > bestLen) {
        best = m;
        bestLen = p.prefix.length;
      }
    }
  }
  return best;
}

function crossCheck(provider, models, sourceModels) {
  const problems = [];
  const seen = new Map();
  for (const m of models) {
    for (const id of m.match.exact) {
      if (seen.has(id)) problems.push(`exact id "${id}" in both ${seen.get(id)} and ${m.id}`);
      seen.set(id, m.id);
    }
  }
  for (const m of models) {
    const samples = [...m.match.exact];
    for (const p of m.match.prefixes) samples.push(...REST_SAMPLES.any.map((r) => p + r));
    for (const p of m.match.shaped) samples.push(...REST_SAMPLES[p.rest].map((r) => p.prefix + r));
    for (const s of samples) {
      const ours = ourFind(models, s)?.id ?? null;
      const theirs = sourceModels.find((sm) => genaiMatches(sm.match, s))?.id ?? null;
      if (ours !== theirs) problems.push(`"${s}": ours ${ours}, genai-prices ${theirs}`);
    }
  }
  if (problems.length) {
    throw new Error(`${provider}: lookup disagrees with genai-prices:\n  ${problems.join('\n  ')}`);
  }
}

// ---------------------------------------------------------------------------------------------

function sourceLine(sourceMd) {
  const m = /commit\s+([0-9a-f]{40})\s+\((\d{4}-\d{2}-\d{2})\)/.exec(sourceMd);
  if (!m) throw new Error('SOURCE.md: no "commit <sha> (<date>)" line');
  return { commit: m[1], date: m[2] };
}

function main() {
  const dataText = readFileSync(join(srcDir, 'data.v2.json'), 'utf8');
  const { commit, date } = sourceLine(readFileSync(join(srcDir, 'SOURCE.md'), 'utf8'));
  const data = parseJsonKeepingNumbers(dataText);
  const models = [];
  for (const [source, provider] of PROVIDERS) {
    const p = data.find((x) => x.id === source);
    if (!p) throw new Error(`provider ${source} not in data.v2.json`);
    const kept = p.models.filter((m) => !EXCLUDED.some((e) => e.source === source && m.id.startsWith(e.idPrefix)));
    const ours = kept.map((m) => {
      const acc = { exact: new Set(), prefixes: new Set(), shaped: new Map(), notes: [] };
      translateMatch(m.match, source, m.id, acc);
      const periods = translatePrices(m.prices, `${source}/${m.id}`);
      if (!Array.isArray(m.prices) && Object.keys(m.prices).length === 0) {
        acc.notes.push('free of charge per genai-prices (empty price object)');
      }
      return {
        provider,
        id: m.id,
        name: m.name ?? m.id,
        match: {
          exact: [...acc.exact].sort(),
          prefixes: [...acc.prefixes].sort(),
          shaped: [...acc.shaped.values()].sort((a, b) => (a.prefix + a.rest < b.prefix + b.rest ? -1 : 1)),
        },
        periods,
        notes: acc.notes,
      };
    });
    crossCheck(provider, ours, kept);
    models.push(...ours);
  }
  models.sort((a, b) => (a.provider + '\u0000' + a.id < b.provider + '\u0000' + b.id ? -1 : 1));

  const table = {
    version: `bundled-${date}`,
    source: `pydantic/genai-prices commit ${commit} (${date}), data.v2.json, MIT licence (THIRD_PARTY_LICENSES.md)`,
    source_sha256: createHash('sha256').update(dataText).digest('hex'),
    units:
      'rates are integers: USD x 1e9 per million tokens (nano-USD/Mtok); web_search is USD x 1e9 per 1000 requests; null = not in the source',
    models,
  };
  writeFileSync(outFile, `${JSON.stringify(table, null, 2)}\n`);
  const excluded = EXCLUDED.map((e) => `${e.source}/${e.idPrefix}* (${e.why})`).join('; ');
  process.stdout.write(`wrote ${outFile}: ${table.version}, ${models.length} models; excluded ${excluded}\n`);
}

main();
