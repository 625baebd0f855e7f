// `halton-meter pricing list` and `halton-meter pricing explain` (SPEC §3). `explain` reads a captured
// response body and prices it along the daemon's own path (src/daemon/meter.ts): the same adapter
// chosen by host and path, the same parse, the same model fallback and the same priceUsage. That is
// what makes its total the figure the daemon stores for that body (issue 3, must-show 5).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { findAdapter, parseSseText, type Adapter } from '../../adapters/index.js';
import { field, isRecord, tryParseJson } from '../../adapters/json-util.js';
import { errorMessage, MeterError } from '../../core/errors.js';
import type { Exchange, SseEvent } from '../../core/exchange.js';
import type { ParsedUsage, RequestKind } from '../../core/parsed.js';
import { METERED_HOSTS, meteredHost, PROVIDER_IDS, type MeteredHost } from '../../core/providers.js';
import type { Usage, UsageRecord } from '../../core/usage.js';
import {
  findOverride,
  formatScaled,
  listOverrideRates,
  listRates,
  loadBundledTable,
  priceUsage,
  type OverrideRule,
  type PriceOptions,
  type PriceQuote,
  type PriceTable,
  type RateRow,
} from '../../pricing/index.js';
import { listedRates, type ListedRate } from '../../pricing/price-list.js';
import { quoteExchange } from '../../pricing/quote-exchange.js';
import type { CliContext } from '../context.js';
import { renderTable, terminalWidth, type Cell, type ColumnSpec } from '../output/table.js';

// ---------------------------------------------------------------------------------------------
// Flags shared by the pricing commands and recost.

/** Providers that carry prices (the self-test host is not one). */
export const PRICED_PROVIDERS = PROVIDER_IDS.filter((p) => p !== 'selftest');

export function parseProviderFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const p = value.trim().toLowerCase();
  if (!(PRICED_PROVIDERS as readonly string[]).includes(p)) {
    throw new MeterError('bad_argument', `unknown provider "${value}"`, `use one of: ${PRICED_PROVIDERS.join(', ')}`);
  }
  return p;
}

/**
 * `--at`: a day (YYYY-MM-DD, UTC midnight: price periods start at UTC midnight) or a full ISO-8601
 * timestamp; absent = now.
 */
export function parseAtFlag(value: string | undefined, now: Date): Date {
  if (value === undefined) return now;
  const v = value.trim();
  const bad = (): never => {
    throw new MeterError('bad_argument', `--at "${value}" is not a date`, 'use YYYY-MM-DD (or an ISO-8601 time such as 2026-08-21T12:00:00Z)');
  };
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) {
    const d = new Date(`${v}T00:00:00Z`);
    // Date.parse rolls 2026-02-30 over to March: a day that does not exist is an error, not a guess.
    if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== v) bad();
    return d;
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(v)) {
    const d = new Date(v);
    if (!Number.isNaN(d.getTime())) return d;
  }
  return bad();
}

function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** USD per unit as people write it: 3, 0.3, 3.75, or "-" when the table has no rate. */
function usd(n: number | null): string {
  return n === null ? '-' : String(n);
}

function thousands(above: number): string {
  return above % 1000 === 0 ? `${above / 1000}k` : String(above);
}

function write(ctx: CliContext, lines: readonly string[]): void {
  ctx.out(lines.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// pricing list

export interface PriceList {
  bundle: string;
  source: string;
  at: string;
  provider: string | null;
  overrides_file: string;
  rates: ListedRate[];
}

/** Overrides first (they are consulted first), then the bundled table in its order. */
export function priceList(table: PriceTable, overrides: readonly OverrideRule[], at: Date, provider: string | undefined, configFile: string): PriceList {
  return { bundle: table.version, source: table.source, at: day(at), provider: provider ?? null, overrides_file: configFile, rates: listedRates(table, overrides, at, provider) };
}

const LIST_COLUMNS: readonly ColumnSpec[] = [
  { header: 'provider', dropOrder: 2 },
  { header: 'model', minWidth: 14 },
  { header: 'input', align: 'right' },
  { header: 'output', align: 'right' },
  { header: 'cache read', align: 'right', dropOrder: 5 },
  { header: 'write 5m', align: 'right', dropOrder: 4 },
  { header: 'write 1h', align: 'right', dropOrder: 6 },
  { header: 'search/1k', align: 'right', dropOrder: 7 },
  { header: 'source', minWidth: 7, dropOrder: 3 },
];

export function renderPriceList(list: PriceList, ctx: Pick<CliContext, 'style'>, width: number | undefined): string[] {
  const { style } = ctx;
  const rows: Cell[][] = [];
  for (const r of list.rates) {
    const isOverride = r.source === 'override';
    const overridden = r.overridden_by !== null;
    const source = isOverride ? 'override' : overridden ? `bundled (override ${r.overridden_by})` : 'bundled';
    rows.push([
      r.provider,
      isOverride ? { text: r.model, style: style.bold } : overridden ? { text: r.model, style: style.dim } : r.model,
      usd(r.input),
      usd(r.output),
      usd(r.cache_read),
      usd(r.cache_write_5m),
      usd(r.cache_write_1h),
      usd(r.web_search_per_1k),
      isOverride ? { text: source, style: style.bold } : overridden ? { text: source, style: style.dim } : source,
    ]);
    for (const t of r.tiers) {
      // A tier replaces every rate of a request whose total input passes it, so it reads as its own row.
      rows.push([
        '',
        { text: `  >${thousands(t.above)} input tokens`, style: style.dim },
        usd(t.input),
        usd(t.output),
        usd(t.cache_read),
        usd(t.cache_write_5m),
        usd(t.cache_write_1h),
        '',
        '',
      ]);
    }
  }
  const overrideCount = list.rates.filter((r) => r.source === 'override').length;
  const lines = [
    style.bold(`Prices ${list.bundle}${list.provider ? ` for ${list.provider}` : ''}, in force at ${list.at}: USD per million tokens (web search per 1000 requests)`),
    overrideCount > 0
      ? `${overrideCount} override${overrideCount === 1 ? '' : 's'} from ${list.overrides_file}, consulted before the bundled table`
      : style.dim(`no overrides ([[pricing.override]] in ${list.overrides_file})`),
    '',
  ];
  if (list.rates.length === 0) return [...lines, 'no prices for this provider'];
  const t = renderTable(LIST_COLUMNS, rows, { width, headerStyle: style.bold });
  lines.push(...t.lines);
  if (t.dropped.length > 0) lines.push('', style.dim(`hidden to fit the terminal: ${t.dropped.join(', ')} (widen it, or use --json)`));
  if (list.rates.some((r) => r.source === 'override' && !r.model.includes('*'))) {
    lines.push('', style.dim('an override without * matches only that exact id; responses report dated ids (claude-3-5-sonnet-20240620): use a glob such as claude-3-5-sonnet* to cover them.'));
  }
  const tiers = list.rates.some((r) => r.tiers.length > 0);
  if (tiers) lines.push('', style.dim('">N input tokens" rows: the whole request is billed at those rates when its input (cached and uncached) is above N.'));
  return lines;
}

export interface ListOptions {
  json?: boolean;
  provider?: string;
  at?: string;
}

export async function pricingListCommand(ctx: CliContext, opts: ListOptions, now = new Date()): Promise<number> {
  const provider = parseProviderFlag(opts.provider);
  const at = parseAtFlag(opts.at, now);
  const list = priceList(loadBundledTable(), ctx.config.pricing.overrides, at, provider, ctx.config.paths.configFile);
  if (opts.json) ctx.out(JSON.stringify(list, null, 2));
  else write(ctx, renderPriceList(list, ctx, terminalWidth(process.stdout)));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Pricing an exchange the way the daemon does.

/**
 * The price options for a stored or explained exchange. Batch results are billed at the batch
 * discount (SPEC §2); priceUsage never stacks it with a half-price service tier, so a batch row that
 * also names tier "batch" is not discounted twice.
 */
/** The daemon's own pricing decision (src/pricing/quote-exchange.ts), re-exported for recost. */
export const quoteLikeMeter = quoteExchange;

// ---------------------------------------------------------------------------------------------
// pricing explain: reading the capture.

export interface Capture {
  /** The decoded body text. */
  text: string;
  /** From a captured header block (curl -i / -D), else 200. */
  status: number;
  /** Lower-cased; from a captured header block, else empty. */
  headers: Record<string, string>;
  /** How the bytes were unwrapped, for the "body" line. */
  notes: string[];
}

function decodeBytes(bytes: Buffer, encoding: string, where: string): Buffer {
  try {
    if (encoding === 'gzip' || encoding === 'x-gzip') return gunzipSync(bytes);
    if (encoding === 'deflate') {
      // HTTP "deflate" is zlib-wrapped by the standard, raw by some servers: accept both.
      try {
        return inflateSync(bytes);
      } catch {
        return inflateRawSync(bytes);
      }
    }
    if (encoding === 'br') return brotliDecompressSync(bytes);
  } catch (e) {
    throw new MeterError('bad_argument', `${where}: cannot decode ${encoding} body: ${errorMessage(e)}`);
  }
  throw new MeterError('bad_argument', `${where}: unsupported content-encoding "${encoding}"`, 'save the body decoded (curl --compressed) and try again');
}

const isGzip = (b: Buffer): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * Unwraps what a user is likely to have saved: a plain body (curl -o), a gzip file, or a response
 * with its header block in front (curl -i, including a proxy's "200 Connection established" block);
 * a header block's Content-Encoding is honoured.
 */
export function readCapture(raw: Buffer, where: string): Capture {
  let bytes = raw;
  const notes: string[] = [];
  if (isGzip(bytes)) {
    bytes = decodeBytes(bytes, 'gzip', where);
    notes.push('gzip');
  }
  let status = 200;
  let headers: Record<string, string> = {};
  // Header blocks: HTTP/x.y status line ... blank line. curl -i through a proxy prints two.
  while (/^HTTP\/\d(\.\d)? \d{3}/.test(bytes.subarray(0, 16).toString('latin1'))) {
    const text = bytes.toString('latin1');
    const m = /\r?\n\r?\n/.exec(text);
    if (!m) break;
    const head = text.slice(0, m.index).split(/\r?\n/);
    status = Number(/^HTTP\/\S+ (\d{3})/.exec(head[0])?.[1] ?? 200);
    headers = {};
    for (const line of head.slice(1)) {
      const c = line.indexOf(':');
      if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
    }
    bytes = bytes.subarray(Buffer.byteLength(text.slice(0, m.index + m[0].length), 'latin1'));
    if (!notes.includes('headers')) notes.push('headers');
  }
  const enc = (headers['content-encoding'] ?? '').toLowerCase();
  if (enc && enc !== 'identity') {
    bytes = decodeBytes(bytes, enc, where);
    notes.push(enc);
  } else if (isGzip(bytes)) {
    bytes = decodeBytes(bytes, 'gzip', where);
    notes.push('gzip');
  }
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw new MeterError('bad_argument', `${where} holds no response body`);
  return { text, status, headers, notes };
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

export async function readInput(file: string | undefined, stdinIsTty: boolean): Promise<{ bytes: Buffer; where: string }> {
  if (file === undefined || file === '-') {
    if (file === undefined && stdinIsTty) {
      throw new MeterError('bad_argument', 'no response body given', 'pass a FILE, or - to read it from stdin (e.g. curl ... | halton-meter pricing explain -)');
    }
    return { bytes: await readStdin(), where: 'stdin' };
  }
  if (!existsSync(file)) throw new MeterError('not_found', `${file}: no such file`);
  if (statSync(file).isDirectory()) throw new MeterError('bad_argument', `${file} is a directory, not a captured response body`);
  try {
    return { bytes: readFileSync(file), where: file };
  } catch (e) {
    throw new MeterError('io', `cannot read ${file}: ${errorMessage(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// pricing explain: which API the body is from.

export type BodyFormat = 'json' | 'sse' | 'json-array' | 'jsonl';

/**
 * The adapter the daemon would pick for a request to host+path. Almost every metered call is a POST;
 * Anthropic batch results are downloaded with GET, so GET is tried second.
 */
export function matchAdapter(host: string, path: string): { adapter: Adapter; kind: RequestKind; method: 'POST' | 'GET' } | null {
  for (const method of ['POST', 'GET'] as const) {
    const m = findAdapter(host, method, path);
    if (m) return { ...m, method };
  }
  return null;
}

export interface Sniffed {
  format: BodyFormat;
  /** What the body looks like, for the output: "Anthropic Messages stream". */
  label: string;
  host: string;
  path: string;
}

const ANTHROPIC = 'api.anthropic.com';
const OPENAI = 'api.openai.com';
const GEMINI = 'generativelanguage.googleapis.com';
const CODE_ASSIST = 'cloudcode-pa.googleapis.com';

function geminiModel(obj: unknown, fallback: string | null): string {
  const v = field(obj, 'modelVersion') ?? field(field(obj, 'response'), 'modelVersion');
  return typeof v === 'string' && v ? v : fallback ?? 'unknown-model';
}

function sniffJsonObject(obj: unknown, model: string | null): Omit<Sniffed, 'format'> | null {
  if (!isRecord(obj)) return null;
  const object = obj.object;
  if (obj.type === 'message' || (obj.type === 'error' && isRecord(obj.error) && !('code' in obj.error))) {
    return { label: 'Anthropic Messages', host: ANTHROPIC, path: '/v1/messages' };
  }
  if (typeof obj.input_tokens === 'number' && Object.keys(obj).every((k) => k === 'input_tokens' || k === 'context_management')) {
    return { label: 'Anthropic count_tokens', host: ANTHROPIC, path: '/v1/messages/count_tokens' };
  }
  if (object === 'response') return { label: 'OpenAI Responses', host: OPENAI, path: '/v1/responses' };
  if (object === 'chat.completion') return { label: 'OpenAI Chat Completions', host: OPENAI, path: '/v1/chat/completions' };
  if (object === 'text_completion') return { label: 'OpenAI Completions (legacy)', host: OPENAI, path: '/v1/completions' };
  if (object === 'list' && Array.isArray(obj.data) && field(obj.data[0], 'object') === 'embedding') {
    return { label: 'OpenAI Embeddings', host: OPENAI, path: '/v1/embeddings' };
  }
  if (isRecord(obj.response) && ('candidates' in obj.response || 'usageMetadata' in obj.response)) {
    return { label: 'Gemini Code Assist generateContent', host: CODE_ASSIST, path: '/v1internal:generateContent' };
  }
  if ('candidates' in obj || 'usageMetadata' in obj) {
    return { label: 'Gemini generateContent', host: GEMINI, path: `/v1beta/models/${geminiModel(obj, model)}:generateContent` };
  }
  if ('embeddings' in obj || 'embedding' in obj) {
    const batch = 'embeddings' in obj;
    return { label: `Gemini ${batch ? 'batchEmbedContents' : 'embedContent'}`, host: GEMINI, path: `/v1beta/models/${model ?? 'unknown-model'}:${batch ? 'batchEmbedContents' : 'embedContent'}` };
  }
  if (isRecord(obj.error)) return null;
  if (typeof obj.totalTokens === 'number') {
    return { label: 'Gemini countTokens', host: GEMINI, path: `/v1beta/models/${model ?? 'unknown-model'}:countTokens` };
  }
  return null;
}

function sniffSse(events: readonly SseEvent[], model: string | null): Omit<Sniffed, 'format'> | null {
  for (const ev of events.slice(0, 50)) {
    const name = ev.event ?? '';
    const obj = tryParseJson(ev.data);
    const type = typeof field(obj, 'type') === 'string' ? (field(obj, 'type') as string) : '';
    if (name.startsWith('message_') || name.startsWith('content_block_') || type.startsWith('message_') || type.startsWith('content_block_')) {
      return { label: 'Anthropic Messages stream', host: ANTHROPIC, path: '/v1/messages' };
    }
    if (name.startsWith('response.') || type.startsWith('response.')) return { label: 'OpenAI Responses stream', host: OPENAI, path: '/v1/responses' };
    const object = field(obj, 'object');
    if (object === 'chat.completion.chunk') return { label: 'OpenAI Chat Completions stream', host: OPENAI, path: '/v1/chat/completions' };
    if (object === 'text_completion') return { label: 'OpenAI Completions stream (legacy)', host: OPENAI, path: '/v1/completions' };
    const wrapped = field(obj, 'response');
    if (isRecord(wrapped) && ('candidates' in wrapped || 'usageMetadata' in wrapped)) {
      return { label: 'Gemini Code Assist stream', host: CODE_ASSIST, path: '/v1internal:streamGenerateContent?alt=sse' };
    }
    if (isRecord(obj) && ('candidates' in obj || 'usageMetadata' in obj)) {
      return { label: 'Gemini streamGenerateContent (SSE)', host: GEMINI, path: `/v1beta/models/${geminiModel(obj, model)}:streamGenerateContent?alt=sse` };
    }
    if (isRecord(obj) && Array.isArray(obj.choices)) return { label: 'OpenAI-compatible chat stream', host: OPENAI, path: '/v1/chat/completions' };
  }
  return null;
}

function looksLikeSse(text: string): boolean {
  const t = text.trimStart();
  return t.startsWith('event:') || t.startsWith('data:') || t.startsWith(':') || t.startsWith('id:');
}

/** Detects the wire format and the API family from the body alone. */
export function sniffBody(text: string, model: string | null): Sniffed | { format: BodyFormat | null; problem: string } {
  const t = text.trimStart();
  if (looksLikeSse(t)) {
    const found = sniffSse(parseSseText(text), model);
    return found ? { format: 'sse', ...found } : { format: 'sse', problem: 'an SSE stream of no API this version knows' };
  }
  const json = tryParseJson(t);
  if (json === undefined && t.startsWith('[') && /"(candidates|usageMetadata)"/.test(t)) {
    // A Gemini JSON-array stream cut before its closing bracket: the adapter reads what arrived.
    return { format: 'json-array', label: 'Gemini streamGenerateContent (JSON array, unterminated)', host: GEMINI, path: `/v1beta/models/${model ?? 'unknown-model'}:streamGenerateContent` };
  }
  if (json === undefined) {
    // Anthropic message-batch results: JSON lines of {custom_id, result}.
    const first = tryParseJson(t.split('\n', 1)[0]);
    if (isRecord(first) && 'custom_id' in first && isRecord(first.result)) {
      return { format: 'jsonl', label: 'Anthropic message-batch results (JSONL)', host: ANTHROPIC, path: '/v1/messages/batches/unknown_batch/results' };
    }
    return { format: null, problem: 'neither JSON nor an SSE event stream' };
  }
  if (Array.isArray(json)) {
    // Gemini's streamGenerateContent without alt=sse: one JSON array of chunks.
    const first = json.find(isRecord);
    if (first !== undefined && ('candidates' in first || 'usageMetadata' in first)) {
      return { format: 'json-array', label: 'Gemini streamGenerateContent (JSON array)', host: GEMINI, path: `/v1beta/models/${geminiModel(first, model)}:streamGenerateContent` };
    }
    return { format: 'json-array', problem: 'a JSON array of no API this version knows' };
  }
  const found = sniffJsonObject(json, model);
  if (found) return { format: 'json', ...found };
  // An error envelope ({"error": {...}}) has the same shape at several providers.
  const problem = isRecord(field(json, 'error')) ? 'an error response, whose shape several providers share' : 'JSON of no API this version knows';
  return { format: 'json', problem };
}

export interface Target {
  host: string;
  path: string;
  method: 'POST' | 'GET';
  metered: MeteredHost;
  adapter: Adapter;
  kind: RequestKind;
  /** How the target was decided, for the output. */
  /** `host-flag`: --host given, path told from the body; `path-flag`: --path given, first host serving it. */
  chosenBy: 'flags' | 'sniffed' | 'host-flag' | 'path-flag';
  sniffedAs: string | null;
  format: BodyFormat;
}

const ENDPOINT_HINT = 'pass --host and --path of the request, e.g. --host api.anthropic.com --path /v1/messages';

function hostOnly(h: string): string {
  return h.replace(/^https?:\/\//, '').replace(/\/.*$/, '').toLowerCase();
}

/**
 * The adapter, as the daemon would pick it: by host and path (findAdapter). Flags win; what they
 * leave out is taken from the body's shape: a --host alone keeps the sniffed path (xAI and Codex
 * speak OpenAI and Anthropic shapes), a --path alone takes the first metered host that serves it.
 */
export function chooseTarget(text: string, flags: { host?: string; path?: string; model?: string }): Target {
  const sniffed = sniffBody(text, flags.model ?? null);
  const shape = 'problem' in sniffed ? null : sniffed;
  const format: BodyFormat | null = sniffed.format ?? (looksLikeSse(text) ? 'sse' : null);
  if (format === null) throw new MeterError('bad_argument', `the body is ${'problem' in sniffed ? sniffed.problem : 'unreadable'}`, 'give a captured response body: JSON, or an SSE stream as received (curl -N -o FILE ...)');
  let host: string;
  let path: string;
  let chosenBy: Target['chosenBy'];
  if (flags.host !== undefined && flags.path !== undefined) {
    host = hostOnly(flags.host);
    path = flags.path;
    chosenBy = 'flags';
  } else if (flags.host !== undefined) {
    if (!shape) throw new MeterError('bad_argument', `cannot tell the path: the body is ${'problem' in sniffed ? sniffed.problem : ''}`, ENDPOINT_HINT);
    host = hostOnly(flags.host);
    path = shape.path;
    chosenBy = 'host-flag';
  } else if (flags.path !== undefined) {
    path = flags.path;
    const serving = METERED_HOSTS.find((h) => h.provider !== 'selftest' && matchAdapter(h.host, path) !== null);
    if (!serving) throw new MeterError('bad_argument', `no metered host serves ${path}`, ENDPOINT_HINT);
    host = serving.host;
    chosenBy = 'path-flag';
  } else {
    if (!shape) throw new MeterError('bad_argument', `cannot tell which API this body is from: it is ${'problem' in sniffed ? sniffed.problem : ''}`, ENDPOINT_HINT);
    host = shape.host;
    path = shape.path;
    chosenBy = 'sniffed';
  }
  if (!path.startsWith('/')) path = `/${path}`;
  const metered = meteredHost(host);
  if (!metered) throw new MeterError('bad_argument', `${host} is not a metered host`, `metered hosts: ${METERED_HOSTS.map((h) => h.host).join(', ')}`);
  const match = matchAdapter(host, path);
  if (!match) throw new MeterError('bad_argument', `no adapter meters ${host}${path} in this version`, ENDPOINT_HINT);
  return { host, path, method: match.method, metered, adapter: match.adapter, kind: match.kind, chosenBy, sniffedAs: shape?.label ?? null, format };
}

// ---------------------------------------------------------------------------------------------
// pricing explain: the explanation.

export function exchangeOf(capture: Capture, target: Pick<Target, 'host' | 'path' | 'method' | 'format'>, requestModel: string | null): Exchange {
  const sse = target.format === 'sse';
  const headers: Record<string, string> = { ...capture.headers };
  // The body is already decoded: the adapter must not see an encoding it would try to undo.
  delete headers['content-encoding'];
  headers['content-type'] ??= sse ? 'text/event-stream' : 'application/json';
  return {
    host: target.host,
    method: target.method,
    path: target.path,
    // What the daemon has of the request that matters for pricing: the model it asked for.
    requestJson: requestModel === null ? null : { model: requestModel },
    response: {
      status: capture.status,
      headers,
      // As the daemon's observer hands it over: SSE split into events, anything else as text.
      bodyText: sse ? null : capture.text,
      events: sse ? parseSseText(capture.text) : null,
      truncated: false,
      outcome: 'completed',
    },
  };
}

const USAGE_KEYS = [
  ['input_tokens', 'inputTokens'],
  ['cache_read_tokens', 'cacheReadTokens'],
  ['cache_write_5m_tokens', 'cacheWrite5mTokens'],
  ['cache_write_1h_tokens', 'cacheWrite1hTokens'],
  ['output_tokens', 'outputTokens'],
  ['thinking_tokens', 'thinkingTokens'],
  ['web_search_requests', 'webSearchRequests'],
] as const satisfies ReadonlyArray<readonly [string, keyof Usage]>;

export type UsageJson = Record<(typeof USAGE_KEYS)[number][0], number>;

export function usageJson(u: Usage): UsageJson {
  const out: Record<string, number> = {};
  for (const [k, f] of USAGE_KEYS) out[k] = u[f];
  return out as UsageJson;
}

export interface ExplainLine {
  record: number;
  model: string;
  price_model_id: string;
  rates_source: string;
  token_class: string;
  quantity: number;
  unit: string;
  rate_usd: string | null;
  amount_usd: string | null;
  tier_above: number | null;
  note: string | null;
}

export interface Explanation {
  input: string;
  format: BodyFormat;
  unwrapped: string[];
  adapter: string;
  chosen_by: Target['chosenBy'];
  sniffed_as: string | null;
  method: string;
  host: string;
  path: string;
  provider: string;
  kind: string;
  status: number;
  model: string | null;
  model_source: 'response' | 'flag' | null;
  at: string;
  usage: UsageJson | null;
  records: Array<{ model: string | null; usage: UsageJson }>;
  tokens_complete: boolean;
  usage_reason: string | null;
  service_tier: string | null;
  provider_usage: unknown;
  lines: ExplainLine[];
  price_model_id: string | null;
  tier: string | null;
  discount: { reason: string; percent: number; amount_usd: string } | null;
  subtotal_usd: string | null;
  total_usd_exact: string | null;
  total_usd: string | null;
  cost_usd_minor_units: number | null;
  rates_source: string | null;
  cost_reason: string | null;
}

const EXACT_DECIMALS = 17;

/** An exact decimal USD string from priceUsage as BigInt units of 1e-17. */
function exactUnits(s: string): bigint {
  const [whole, frac = ''] = s.split('.');
  return BigInt(whole) * 10n ** BigInt(EXACT_DECIMALS) + BigInt((frac + '0'.repeat(EXACT_DECIMALS)).slice(0, EXACT_DECIMALS));
}

export function minorToUsd(minor: number): string {
  return formatScaled(BigInt(minor), 5);
}

export interface ExplainInput {
  capture: Capture;
  where: string;
  flags: { host?: string; path?: string; model?: string };
  at: Date;
  table: PriceTable;
  overrides: readonly OverrideRule[];
}

/** Pure: a capture in, the daemon's figure and how it was reached out. */
export function explainCapture(x: ExplainInput): Explanation {
  const target = chooseTarget(x.capture.text, x.flags);
  const requestModel = x.flags.model ?? null;
  const exchange = exchangeOf(x.capture, target, requestModel);
  const parsed = target.adapter.parse(exchange);
  const model = parsed.model ?? requestModel;
  const quote = quoteLikeMeter(x.table, x.overrides, { provider: target.metered.provider, kind: target.kind, model, parsed, at: x.at });
  let discount: Explanation['discount'] = null;
  if (quote.discount && quote.subtotalUsd !== null && quote.exactUsd !== null) {
    discount = { ...quote.discount, amount_usd: formatScaled(exactUnits(quote.subtotalUsd) - exactUnits(quote.exactUsd), EXACT_DECIMALS) };
  }
  return {
    input: x.where,
    format: target.format,
    unwrapped: x.capture.notes,
    adapter: target.adapter.id,
    chosen_by: target.chosenBy,
    sniffed_as: target.sniffedAs,
    method: target.method,
    host: target.host,
    path: target.path,
    provider: target.metered.provider,
    kind: target.kind,
    status: x.capture.status,
    model,
    model_source: parsed.model !== null ? 'response' : requestModel !== null ? 'flag' : null,
    at: x.at.toISOString(),
    usage: parsed.usage === null ? null : usageJson(parsed.usage),
    records: parsed.records.map((r: UsageRecord) => ({ model: r.model, usage: usageJson(r.usage) })),
    tokens_complete: parsed.tokensComplete,
    usage_reason: parsed.reason,
    service_tier: parsed.serviceTier,
    provider_usage: parsed.usageJson,
    lines: quote.lines.map((l) => ({
      record: l.record,
      model: l.model,
      price_model_id: l.priceModelId,
      rates_source: l.ratesSource,
      token_class: l.tokenClass,
      quantity: l.quantity,
      unit: l.unit,
      rate_usd: l.rateUsd,
      amount_usd: l.amountUsd,
      tier_above: l.tierAbove,
      note: l.note,
    })),
    price_model_id: quote.priceModelId,
    tier: quote.tier,
    discount,
    subtotal_usd: quote.subtotalUsd,
    total_usd_exact: quote.exactUsd,
    total_usd: quote.costMinor === null ? null : minorToUsd(quote.costMinor),
    cost_usd_minor_units: quote.costMinor,
    rates_source: quote.ratesSource,
    cost_reason: quote.costMinor === null ? quote.reason : null,
  };
}

const CLASS_LABEL: Readonly<Record<string, string>> = {
  input: 'input',
  cache_read: 'cache read',
  cache_write_5m: 'cache write 5m',
  cache_write_1h: 'cache write 1h',
  output: 'output',
  web_search: 'web search',
};

function usageLine(u: UsageJson): string {
  return [
    `input ${u.input_tokens}`,
    `cache read ${u.cache_read_tokens}`,
    `cache write 5m ${u.cache_write_5m_tokens}`,
    `cache write 1h ${u.cache_write_1h_tokens}`,
    `output ${u.output_tokens} (reasoning ${u.thinking_tokens})`,
    `web search ${u.web_search_requests}`,
  ].join(', ');
}

export function renderExplanation(e: Explanation, ctx: Pick<CliContext, 'style'>, width: number | undefined): string[] {
  const { style } = ctx;
  const label = (s: string): string => style.dim(s.padEnd(13));
  const how = {
    flags: 'from --host and --path',
    sniffed: `told from the body: ${e.sniffed_as}`,
    'host-flag': `--host given, path told from the body: ${e.sniffed_as}`,
    'path-flag': `--path given, served by ${e.host}`,
  }[e.chosen_by];
  const out: string[] = [];
  const format = { sse: 'SSE stream', 'json-array': 'JSON array stream', jsonl: 'JSON lines', json: 'JSON' }[e.format];
  out.push(`${label('body')}${e.input}: ${format}${e.unwrapped.length ? ` (unwrapped: ${e.unwrapped.join(', ')})` : ''}${e.status !== 200 ? `, HTTP ${e.status}` : ''}`);
  out.push(`${label('adapter')}${e.adapter} (${how}) for ${e.method} ${e.host}${e.path}`);
  out.push(`${label('provider')}${e.provider}, request kind ${e.kind}`);
  out.push(`${label('model')}${e.model ?? 'none'}${e.model_source === 'response' ? ' (reported by the response)' : e.model_source === 'flag' ? ' (from --model: the response names none)' : ''}`);
  if (e.usage === null) {
    out.push(`${label('usage read')}none: ${e.usage_reason ?? 'no usage in the body'}`);
  } else {
    out.push(`${label('usage read')}${usageLine(e.usage)}`);
    if (e.records.length > 1) {
      e.records.forEach((r, i) => out.push(`${label(i === 0 ? 'records' : '')}#${i + 1} ${r.model ?? e.model ?? '?'}: ${usageLine(r.usage)}`));
    }
    out.push(`${label('')}tokens complete: ${e.tokens_complete ? 'yes' : `no (${e.usage_reason ?? 'incomplete'})`}; service tier: ${e.service_tier ?? 'not named'}`);
  }
  out.push(`${label('rates at')}${e.at.slice(0, 10)}${e.price_model_id ? `, priced as ${e.price_model_id}` : ''}`);
  if (e.lines.length > 0) {
    const multi = e.records.length > 1;
    const columns: ColumnSpec[] = [
      ...(multi ? [{ header: 'record', minWidth: 8 }] : []),
      { header: 'class' },
      { header: 'tokens', align: 'right' },
      { header: 'rate USD', align: 'right' },
      { header: 'per', dropOrder: 2 },
      { header: 'amount USD', align: 'right' },
      { header: 'note', minWidth: 10, dropOrder: 1 },
    ];
    const rows: Cell[][] = e.lines.map((l) => [
      ...(multi ? [`#${l.record + 1} ${l.price_model_id}`] : []),
      CLASS_LABEL[l.token_class] ?? l.token_class,
      String(l.quantity),
      l.rate_usd ?? '-',
      l.unit === 'Mtok' ? 'Mtok' : '1k req',
      l.amount_usd ?? 'unknown',
      l.note ? { text: l.note, style: style.dim } : '',
    ]);
    out.push('', ...renderTable(columns, rows, { width, headerStyle: style.bold }).lines, '');
  }
  out.push(`${label('tier')}${e.tier ?? 'base rates'}`);
  if (e.discount) out.push(`${label('discount')}${e.discount.percent}% (${e.discount.reason}): -${e.discount.amount_usd} USD`);
  if (e.subtotal_usd !== null && e.discount) out.push(`${label('subtotal')}${e.subtotal_usd} USD`);
  if (e.cost_usd_minor_units === null) {
    out.push(`${label('total')}${style.bad('unknown')}: ${e.cost_reason ?? 'no reason given'} (stored as NULL, never $0)`);
  } else {
    const exact = e.total_usd_exact !== null && e.total_usd_exact !== e.total_usd ? `${e.total_usd_exact} USD exact, ` : '';
    out.push(`${label('total')}${style.bold(`$${e.total_usd}`)} = ${e.cost_usd_minor_units} minor units (${exact}rounded once, half up; 1 USD = 100,000)`);
  }
  out.push(`${label('rates_source')}${e.rates_source ?? 'none'}`);
  if (e.chosen_by === 'sniffed' && e.cost_reason?.startsWith('unknown model')) {
    out.push(style.dim(`the host was told from the body's shape; if the call went elsewhere (xAI, Codex), pass --host`));
  }
  return out;
}

export interface ExplainOptions {
  host?: string;
  path?: string;
  model?: string;
  at?: string;
  json?: boolean;
}

export async function pricingExplainCommand(ctx: CliContext, file: string | undefined, opts: ExplainOptions, now = new Date()): Promise<number> {
  if (opts.host === '' || opts.path === '') throw new MeterError('bad_argument', '--host and --path must not be empty');
  const at = parseAtFlag(opts.at, now);
  const { bytes, where } = await readInput(file, process.stdin.isTTY === true);
  const capture = readCapture(bytes, where);
  const e = explainCapture({ capture, where, flags: { host: opts.host, path: opts.path, model: opts.model }, at, table: loadBundledTable(), overrides: ctx.config.pricing.overrides });
  if (opts.json) ctx.out(JSON.stringify(e, null, 2));
  else write(ctx, renderExplanation(e, ctx, terminalWidth(process.stdout)));
  return 0;
}
