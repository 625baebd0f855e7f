// exchange -> adapter -> price -> attribution -> row. Runs after the response has been delivered
// (cold path): nothing here can delay a byte to the client, and nothing here may throw into a socket
// handler — a failure becomes a row with a reason, and a log line.
import { randomUUID } from 'node:crypto';
import type { Exchange, Outcome } from '../core/exchange.js';
import type { Logger } from '../core/log.js';
import { parsedNothing, type ParsedUsage, type RequestKind } from '../core/parsed.js';
import { SELFTEST_PROJECT, type MeteredHost } from '../core/providers.js';
import type { RequestRow } from '../core/request-row.js';
import { storablePath } from '../core/sanitize.js';
import type { Usage } from '../core/usage.js';
import type { ExchangeToPrice } from '../pricing/quote-exchange.js';
import type { Adapter } from '../adapters/types.js';
import type { Attribution } from './attribution/index.js';

export interface Quote {
  costMinor: number | null;
  ratesSource: string | null;
  reason: string | null;
}

/** Prices one exchange: src/pricing/quote-exchange.ts, the decision `pricing explain` shares. */
export type Pricer = (x: ExchangeToPrice) => Quote;

export interface MeterDeps {
  price: Pricer;
  enqueue: (row: RequestRow) => void;
  log: Logger;
  /** Token estimate for streams without usage (OpenAI chat/completions); absent = no estimates. */
  estimate?: (exchange: Exchange, model: string | null) => Promise<Usage | null>;
  /** The id of an earlier row for the same batch results (repeat downloads must not bill twice). */
  earlierBatchRow?: (providerRequestId: string) => string | null;
  /** How long a row waits for the client-process lookup before it is written as `unresolved`. */
  attributionTimeoutMs: number;
  defaultProject: string;
  /** Body capture (src/daemon/capture/): queues the exchange; it decides, redacts and writes later. */
  captureBodies?: (offer: { requestId: string; projectSlug: string; haltonrcCapture?: boolean; exchange: Exchange }) => void;
}

export interface FinishedExchange {
  exchange: Exchange;
  metered: MeteredHost;
  adapter: Adapter;
  kind: RequestKind;
  outcome: Outcome;
  /** Why the exchange did not complete: client_aborted, upstream_aborted, upstream_unreachable, ... */
  failure: string | null;
  stream: boolean;
  requestedAt: Date;
  latencyMs: number | null;
  ttfbMs: number | null;
  attribution: Promise<Attribution>;
  undecodable: string | null;
}

export function requestedModel(requestJson: unknown): string | null {
  if (requestJson && typeof requestJson === 'object' && 'model' in requestJson) {
    const m = (requestJson as { model?: unknown }).model;
    if (typeof m === 'string' && m) return m;
  }
  return null;
}

/** Gemini names the model in the URL (`/v1beta/models/gemini-2.5-pro:generateContent`). */
export function modelFromPath(path: string): string | null {
  const m = /\/models\/([^/:?]+):/.exec(path);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    // A malformed escape (`gemini-2.5-pro%3:`) is the client's; it must not cost the row.
    return m[1];
  }
}

export function requestStreams(requestJson: unknown): boolean {
  return !!(requestJson && typeof requestJson === 'object' && (requestJson as { stream?: unknown }).stream === true);
}

/**
 * usage_json as text. A usage object nested thousands deep (JSON.parse takes it, JSON.stringify
 * overflows the stack) must not cost the row: it is stored without its usage_json instead.
 */
function storableJson(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  try {
    return JSON.stringify(value);
  } catch {
    return null;
  }
}

function safeParse(adapter: Adapter, exchange: Exchange): ParsedUsage {
  try {
    return adapter.parse(exchange);
  } catch (err) {
    return parsedNothing(`adapter ${adapter.id} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      () => {
        clearTimeout(timer);
        resolve(fallback);
      },
    );
  });
}

const ESTIMABLE = new Set(['openai-chat', 'openai-completions']);

/**
 * An OpenAI stream that carried no usage (no include_usage in the request): count the prompt and
 * the streamed completion with a tokenizer. Reported usage always wins; errors are not estimated.
 */
async function withEstimate(parsed: ParsedUsage, f: FinishedExchange, model: string | null, deps: MeterDeps): Promise<ParsedUsage> {
  const events = f.exchange.response.events;
  const status = f.exchange.response.status;
  if (!deps.estimate || parsed.usage !== null || !ESTIMABLE.has(f.adapter.id) || !events || status < 200 || status >= 300) return parsed;
  const usage = await deps.estimate(f.exchange, model).catch(() => null);
  if (!usage) return parsed;
  return {
    ...parsed,
    usage,
    records: [{ model: null, usage }],
    usageSource: 'estimated',
    tokensComplete: f.outcome === 'completed' && parsed.errorClass === null,
    reason: 'tokens estimated with a tokenizer: the stream carried no usage (client did not request include_usage)',
  };
}

export async function meterExchange(f: FinishedExchange, deps: MeterDeps): Promise<RequestRow> {
  const { exchange } = f;
  const modelRequested = requestedModel(exchange.requestJson) ?? modelFromPath(exchange.path);
  const first = f.undecodable ? parsedNothing(f.undecodable) : safeParse(f.adapter, exchange);
  const model = first.model ?? modelRequested;
  const parsed = await withEstimate(first, f, model, deps);
  const completedAt = new Date();

  let quote: Quote;
  const repeatOf = f.kind === 'batch_results' && parsed.providerRequestId && deps.earlierBatchRow ? deps.earlierBatchRow(parsed.providerRequestId) : null;
  try {
    quote = repeatOf
      ? { costMinor: 0, ratesSource: 'duplicate', reason: `batch results already metered in row ${repeatOf}` }
      : deps.price({ provider: f.metered.provider, kind: f.kind, model, parsed, at: f.requestedAt });
  } catch (err) {
    quote = { costMinor: null, ratesSource: null, reason: `pricing failed: ${err instanceof Error ? err.message : String(err)}` };
  }

  const fallback: Attribution = { slug: deps.defaultProject, rule: 'unresolved', clientPid: null, clientName: null };
  const found = await withTimeout(f.attribution, deps.attributionTimeoutMs, fallback);
  // Self-test rows always land in their own project, whoever sent them, so reports can leave them out.
  const who: Attribution = f.metered.provider === 'selftest' ? { ...found, slug: SELFTEST_PROJECT, rule: 'selftest' } : found;
  const status = exchange.response.status;
  // No response at all: the failure says what happened; an adapter would only see "status 0".
  const errorClass = (status === 0 ? f.failure : null) ?? parsed.errorClass ?? f.failure ?? (status >= 400 ? `http_${status}` : null);
  const complete = parsed.tokensComplete && f.outcome === 'completed' && !exchange.response.truncated;
  // A repeat download of batch results adds no tokens: its usage stays in usage_json only.
  const u = repeatOf && parsed.usage ? { ...parsed.usage, inputTokens: 0, cacheReadTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, outputTokens: 0, thinkingTokens: 0, webSearchRequests: 0 } : parsed.usage;

  const row: RequestRow = {
    id: randomUUID(),
    projectSlug: who.slug,
    provider: f.metered.provider,
    mode: f.metered.mode,
    requestKind: f.kind,
    host: exchange.host,
    path: storablePath(exchange.path),
    model,
    modelRequested,
    statusCode: status > 0 ? status : null,
    errorClass,
    stream: f.stream,
    inputTokens: u ? u.inputTokens : null,
    cacheReadTokens: u ? u.cacheReadTokens : null,
    cacheWrite5mTokens: u ? u.cacheWrite5mTokens : null,
    cacheWrite1hTokens: u ? u.cacheWrite1hTokens : null,
    outputTokens: u ? u.outputTokens : null,
    thinkingTokens: u ? u.thinkingTokens : null,
    webSearchRequests: u ? u.webSearchRequests : null,
    costUsdMinorUnits: quote.costMinor,
    costReason: quote.costMinor === null || repeatOf ? quote.reason : null,
    ratesSource: quote.ratesSource,
    serviceTier: parsed.serviceTier,
    latencyMs: f.latencyMs,
    ttfbMs: f.ttfbMs,
    tokensComplete: complete,
    usageSource: parsed.usageSource,
    outcome: f.outcome,
    attributionRule: who.rule,
    clientPid: who.clientPid,
    clientName: who.clientName,
    providerRequestId: parsed.providerRequestId,
    usageJson: storableJson(parsed.usageJson),
    requestedAt: f.requestedAt.toISOString(),
    completedAt: completedAt.toISOString(),
  };
  deps.enqueue(row);
  if (deps.captureBodies) {
    try {
      deps.captureBodies({ requestId: row.id, projectSlug: row.projectSlug, haltonrcCapture: who.bodyCapture === true, exchange });
    } catch (err) {
      deps.log.warn('capture.failed', { request_id: row.id, error: err instanceof Error ? err.message : String(err) });
    }
  }
  deps.log.info('attribution.resolved', { request_id: row.id, project: row.projectSlug, rule: row.attributionRule, client_pid: row.clientPid, client_name: row.clientName });
  deps.log.info('intercept.complete', {
    request_id: row.id,
    host: row.host,
    path: row.path,
    provider: row.provider,
    model: row.model,
    status: row.statusCode,
    outcome: row.outcome,
    error_class: row.errorClass,
    stream: row.stream,
    input_tokens: row.inputTokens,
    output_tokens: row.outputTokens,
    cache_read_tokens: row.cacheReadTokens,
    cost_usd_minor_units: row.costUsdMinorUnits,
    tokens_complete: row.tokensComplete,
    duration_ms: f.latencyMs,
    ttfb_ms: f.ttfbMs,
    project: row.projectSlug,
  });
  return row;
}
