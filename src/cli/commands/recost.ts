// `halton-meter recost [--since 7d|24h|YYYY-MM-DD] [--dry-run] [--json]` (SPEC §3): re-prices stored
// rows after a table upgrade or an override change. The old figure of every row that changes goes to
// audit_events (kind `recost`), so nothing is lost.
//
// What a row is re-priced from: its normalised token columns (never the raw usage_json, whose
// reading may have changed since), its provider, model, service tier and request kind, at its own
// requested_at (the rate in force then), with the current table and overrides. That is the input
// the daemon gave priceUsage when it wrote the row, so a row whose prices did not change comes out
// the same.
//
// One exception: a row priced from several records (Anthropic `iterations[]`, where an advisor
// iteration is billed as another model; message-batch results, one record per result line) cannot
// be re-priced from its summed columns. Those rows are re-read from usage_json through the adapter
// the daemon used (a synthetic exchange of the stored usage), and the records are used only if they
// add up exactly to the stored columns; otherwise the row is skipped and counted with the reason.
// See docs/pricing.md.
import { existsSync } from 'node:fs';
import { field, isRecord, tryParseJson } from '../../adapters/json-util.js';
import { MeterError } from '../../core/errors.js';
import type { Exchange, SseEvent } from '../../core/exchange.js';
import { addUsage, emptyUsage, type Usage, type UsageRecord } from '../../core/usage.js';
import { loadBundledTable, type OverrideRule, type PriceTable } from '../../pricing/index.js';
import { applyRecost, listRecostCandidates, openDb, type CostFigure, type RecostCandidate, type RecostChange, type RecostCursor } from '../../store/index.js';
import type { CliContext } from '../context.js';
import { matchAdapter, minorToUsd, quoteLikeMeter } from './pricing.js';

// ---------------------------------------------------------------------------------------------
// --since

const UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/**
 * `30m`, `24h`, `7d`, `2w` back from now, or a day `YYYY-MM-DD` (from its UTC midnight), or an
 * ISO-8601 time. Returns the ISO-8601 UTC bound that requested_at is compared with (same format, so
 * text order is time order); undefined = every row.
 */
export function parseSince(value: string | undefined, now: Date): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  const duration = /^(\d{1,6})([mhdw])$/.exec(v);
  if (duration) return new Date(now.getTime() - Number(duration[1]) * UNIT_MS[duration[2]]).toISOString();
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) {
    const d = new Date(`${v}T00:00:00Z`);
    if (!Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === v) return d.toISOString();
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(v)) {
    const d = new Date(v);
    if (!Number.isNaN(d.getTime())) return d.toISOString();
  }
  throw new MeterError('bad_argument', `--since "${value}" is not a duration or a date`, 'use e.g. 30m, 24h, 7d, 2w, or a day YYYY-MM-DD');
}

// ---------------------------------------------------------------------------------------------
// One row.

export type RowOutcome =
  /** The cost (or only rates_source) differs: update, with the old figure audited. */
  | { kind: 'change'; sub: 'changed' | 'filled' | 'relabelled'; figure: CostFigure }
  | { kind: 'unchanged' }
  /** $0 by rule (count_tokens `free`): nothing to re-price. */
  | { kind: 'fixed' }
  /** No token columns: the row stays without a cost. */
  | { kind: 'no_usage' }
  /** Still no cost; the reason says why (unknown model, unpriced tier, ...). */
  | { kind: 'unpriced'; reason: string }
  /** It had a cost and the current table cannot price it: the old figure is kept rather than erased. */
  | { kind: 'kept'; reason: string }
  /** Not re-priced at all. */
  | { kind: 'skipped'; reason: string };

const FIXED_SOURCES = new Set(['free', 'selftest']);

function columnUsage(row: RecostCandidate): Usage | null {
  const cols = [row.inputTokens, row.cacheReadTokens, row.cacheWrite5mTokens, row.cacheWrite1hTokens, row.outputTokens, row.thinkingTokens, row.webSearchRequests];
  if (cols.every((c) => c === null)) return null;
  return {
    inputTokens: row.inputTokens ?? 0,
    cacheReadTokens: row.cacheReadTokens ?? 0,
    cacheWrite5mTokens: row.cacheWrite5mTokens ?? 0,
    cacheWrite1hTokens: row.cacheWrite1hTokens ?? 0,
    outputTokens: row.outputTokens ?? 0,
    thinkingTokens: row.thinkingTokens ?? 0,
    webSearchRequests: row.webSearchRequests ?? 0,
  };
}

function hasIterations(u: unknown): boolean {
  const it = (o: unknown): boolean => {
    const v = field(o, 'iterations');
    return Array.isArray(v) && v.length > 0;
  };
  return it(u) || it(field(u, 'message_start')) || it(field(u, 'message_delta'));
}

function sameUsage(a: Usage, b: Usage): boolean {
  return (Object.keys(a) as Array<keyof Usage>).every((k) => a[k] === b[k]);
}

/**
 * The stored usage as the exchange the adapter read it from: a stream's {message_start,
 * message_delta} as those two events (the adapter merges them itself), a JSON body's usage as the
 * message it came in, batch results' {results: [{custom_id, model, usage}]} as the JSON lines.
 */
function syntheticExchange(row: RecostCandidate, u: Record<string, unknown>, method: string): Exchange {
  const streamed = 'message_start' in u || 'message_delta' in u;
  let events: SseEvent[] | null = null;
  let bodyText: string | null = null;
  if (row.requestKind === 'batch_results') {
    const results = Array.isArray(u.results) ? u.results.filter(isRecord) : [];
    bodyText = results
      .map((r) => JSON.stringify({ custom_id: r.custom_id ?? null, result: { type: 'succeeded', message: { type: 'message', role: 'assistant', model: r.model, content: [], usage: r.usage } } }))
      .join('\n');
  } else if (streamed) {
    const start = isRecord(u.message_start) ? u.message_start : undefined;
    events = [{ event: 'message_start', data: JSON.stringify({ type: 'message_start', message: { id: row.id, type: 'message', role: 'assistant', model: row.model, content: [], usage: start } }) }];
    if (isRecord(u.message_delta)) events.push({ event: 'message_delta', data: JSON.stringify({ type: 'message_delta', delta: {}, usage: u.message_delta }) });
    events.push({ event: 'message_stop', data: JSON.stringify({ type: 'message_stop' }) });
  } else {
    bodyText = JSON.stringify({ id: row.id, type: 'message', role: 'assistant', model: row.model, content: [], usage: u });
  }
  return {
    host: row.host,
    method,
    path: row.path,
    requestJson: null,
    response: { status: 200, headers: { 'content-type': events ? 'text/event-stream' : 'application/json' }, bodyText, events, truncated: false, outcome: 'completed' },
  };
}

/** The priced records of a multi-record row, re-read from usage_json, or why they cannot be had. */
function reparsedRecords(row: RecostCandidate, u: unknown, columns: Usage, what: string): UsageRecord[] | { reason: string } {
  const match = matchAdapter(row.host, row.path);
  if (!match || !isRecord(u)) return { reason: `${what}: no adapter re-reads it` };
  const parsed = match.adapter.parse(syntheticExchange(row, u, match.method));
  if (parsed.records.length === 0) return { reason: `${what}: the adapter no longer reads it` };
  const sum = parsed.records.reduce((s, r) => addUsage(s, r.usage), emptyUsage());
  if (!sameUsage(sum, columns)) return { reason: `${what}: re-read records do not add up to the stored token columns` };
  return parsed.records;
}

export function recostRow(row: RecostCandidate, table: PriceTable, overrides: readonly OverrideRule[]): RowOutcome {
  if (row.requestKind === 'count_tokens' || (row.ratesSource !== null && FIXED_SOURCES.has(row.ratesSource))) return { kind: 'fixed' };
  const columns = columnUsage(row);
  if (columns === null) return { kind: 'no_usage' };
  let records: UsageRecord[] = [{ model: null, usage: columns }];
  const stored = row.usageJson === null ? undefined : tryParseJson(row.usageJson);
  // Rows priced from several records, possibly of several models, cannot be re-priced from the
  // summed columns: usage with iterations[], and batch results (one record per result line).
  const multi = row.requestKind === 'batch_results' ? 'batch results' : hasIterations(stored) ? 'usage with iterations' : null;
  if (multi !== null) {
    const r = reparsedRecords(row, stored, columns, multi);
    if ('reason' in r) return { kind: 'skipped', reason: r.reason };
    records = r;
  }
  const at = new Date(row.requestedAt);
  if (Number.isNaN(at.getTime())) return { kind: 'skipped', reason: 'requested_at is not a time' };
  const quote = quoteLikeMeter(table, overrides, {
    provider: row.provider,
    kind: row.requestKind,
    model: row.model,
    parsed: { usage: columns, records, reason: null, serviceTier: row.serviceTier },
    at,
  });
  if (quote.costMinor === null) {
    const reason = quote.reason ?? 'cannot be priced';
    return row.costUsdMinorUnits === null ? { kind: 'unpriced', reason } : { kind: 'kept', reason };
  }
  const figure: CostFigure = { costUsdMinorUnits: quote.costMinor, ratesSource: quote.ratesSource, costReason: null };
  if (row.costUsdMinorUnits === null) return { kind: 'change', sub: 'filled', figure };
  if (row.costUsdMinorUnits !== quote.costMinor) return { kind: 'change', sub: 'changed', figure };
  if (row.ratesSource !== quote.ratesSource || row.costReason !== null) return { kind: 'change', sub: 'relabelled', figure };
  return { kind: 'unchanged' };
}

// ---------------------------------------------------------------------------------------------
// The run.

export interface RecostSummary {
  dry_run: boolean;
  since: string | null;
  bundle: string;
  overrides: number;
  examined: number;
  changed: number;
  filled: number;
  relabelled: number;
  unchanged: number;
  fixed: number;
  no_usage: number;
  unpriced: number;
  kept: number;
  skipped: number;
  /** Rows another recost changed between our read and our write; left alone. */
  conflicts: number;
  /** Sum of (new - old) over changed rows, minor units. */
  delta_usd_minor_units: number;
  /** Sum of the costs given to rows that had none, minor units. */
  filled_usd_minor_units: number;
  reasons: { unpriced: Record<string, number>; kept: Record<string, number>; skipped: Record<string, number> };
}

export interface RecostOptions {
  since?: string;
  dryRun?: boolean;
  json?: boolean;
  /** Rows per read and per write transaction. */
  batchSize?: number;
}

function bump(m: Record<string, number>, k: string): void {
  m[k] = (m[k] ?? 0) + 1;
}

export function recostDatabase(
  dbPath: string,
  table: PriceTable,
  overrides: readonly OverrideRule[],
  opts: { since?: string; dryRun: boolean; batchSize?: number; now: Date },
): RecostSummary {
  const s: RecostSummary = {
    dry_run: opts.dryRun,
    since: opts.since ?? null,
    bundle: table.version,
    overrides: overrides.length,
    examined: 0,
    changed: 0,
    filled: 0,
    relabelled: 0,
    unchanged: 0,
    fixed: 0,
    no_usage: 0,
    unpriced: 0,
    kept: 0,
    skipped: 0,
    conflicts: 0,
    delta_usd_minor_units: 0,
    filled_usd_minor_units: 0,
    reasons: { unpriced: {}, kept: {}, skipped: {} },
  };
  // A fresh install has no database yet: nothing to re-price is not an error.
  if (!existsSync(dbPath)) return s;
  const db = openDb(dbPath, { readonly: opts.dryRun });
  try {
    if (!opts.dryRun && db.newerThanCode) {
      throw new MeterError('db_newer', db.notice ?? 'the database was written by a newer halton-meter', 'upgrade halton-meter, then run recost again; --dry-run works meanwhile');
    }
    const batch = opts.batchSize ?? 200;
    const ts = opts.now.toISOString();
    let after: RecostCursor | null = null;
    for (;;) {
      const rows = listRecostCandidates(db, { since: opts.since, after, limit: batch });
      if (rows.length === 0) break;
      const changes: Array<RecostChange & { sub: 'changed' | 'filled' | 'relabelled' }> = [];
      for (const row of rows) {
        s.examined++;
        const o = recostRow(row, table, overrides);
        switch (o.kind) {
          case 'change':
            changes.push({
              id: row.id,
              sub: o.sub,
              old: { costUsdMinorUnits: row.costUsdMinorUnits, ratesSource: row.ratesSource, costReason: row.costReason },
              new: o.figure,
              context: { bundle: table.version, provider: row.provider, model: row.model, requested_at: row.requestedAt, by: 'halton-meter recost' },
            });
            break;
          case 'unchanged':
            s.unchanged++;
            break;
          case 'fixed':
            s.fixed++;
            break;
          case 'no_usage':
            s.no_usage++;
            break;
          case 'unpriced':
            s.unpriced++;
            bump(s.reasons.unpriced, o.reason);
            break;
          case 'kept':
            s.kept++;
            bump(s.reasons.kept, o.reason);
            break;
          case 'skipped':
            s.skipped++;
            bump(s.reasons.skipped, o.reason);
            break;
        }
      }
      // One transaction per batch, so the daemon's writer never waits long for the lock.
      const applied = opts.dryRun ? new Set(changes.map((c) => c.id)) : appliedIds(db, changes, ts, s);
      for (const c of changes) {
        if (!applied.has(c.id)) continue;
        const oldMinor = c.old.costUsdMinorUnits;
        const newMinor = c.new.costUsdMinorUnits ?? 0;
        s[c.sub]++;
        if (oldMinor === null) s.filled_usd_minor_units += newMinor;
        else s.delta_usd_minor_units += newMinor - oldMinor;
      }
      const last = rows[rows.length - 1];
      after = { requestedAt: last.requestedAt, id: last.id };
      if (rows.length < batch) break;
    }
  } finally {
    db.close();
  }
  return s;
}

function appliedIds(db: ReturnType<typeof openDb>, changes: readonly RecostChange[], ts: string, s: RecostSummary): Set<string> {
  const r = applyRecost(db, changes, ts);
  s.conflicts += r.conflicts.length;
  return new Set(r.applied);
}

function signedUsd(minor: number): string {
  return `${minor < 0 ? '-' : '+'}$${minorToUsd(Math.abs(minor))}`;
}

function reasonLines(m: Record<string, number>): string[] {
  return Object.entries(m)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 5)
    .map(([r, n]) => `  ${n} × ${r}`);
}

export function renderSummary(s: RecostSummary, style: CliContext['style']): string[] {
  const rows: Array<[number, string, string]> = [
    [s.changed, 'changed', s.changed ? `(${signedUsd(s.delta_usd_minor_units)}, ${s.delta_usd_minor_units >= 0 ? '+' : ''}${s.delta_usd_minor_units} minor units)` : ''],
    [s.filled, 'filled', s.filled ? `($${minorToUsd(s.filled_usd_minor_units)} for rows that had no cost)` : ''],
    [s.relabelled, 'relabelled', '(same cost, new rates_source)'],
    [s.unchanged, 'unchanged', ''],
    [s.unpriced, 'unpriced', '(still without a cost)'],
    [s.no_usage, 'no usage', '(stay without a cost)'],
  ];
  if (s.fixed) rows.push([s.fixed, 'free', '(count_tokens: not re-priced)']);
  if (s.kept) rows.push([s.kept, 'kept', '(had a cost the current prices cannot give: old figure kept)']);
  if (s.skipped) rows.push([s.skipped, 'skipped', '']);
  if (s.conflicts) rows.push([s.conflicts, 'conflicts', '(changed by another recost meanwhile: left alone)']);
  const width = Math.max(...rows.map(([n]) => String(n).length), 5);
  const reasons: Record<string, Record<string, number>> = { unpriced: s.reasons.unpriced, kept: s.reasons.kept, skipped: s.reasons.skipped };
  const lines = [
    style.bold(`recost${s.dry_run ? ' (dry run)' : ''}: ${s.examined} rows examined${s.since ? ` since ${s.since}` : ''}, prices ${s.bundle}, ${s.overrides} override${s.overrides === 1 ? '' : 's'}`),
  ];
  for (const [n, label, detail] of rows) {
    lines.push(`${String(n).padStart(width + 2)} ${label.padEnd(10)} ${detail}`.trimEnd());
    for (const r of reasonLines(reasons[label] ?? {})) lines.push(`${' '.repeat(width + 3)}${r}`);
  }
  lines.push(s.dry_run ? style.dim('dry run: nothing was written') : style.dim('old figures are in audit_events (kind recost)'));
  return lines;
}

export async function recostCommand(ctx: CliContext, opts: RecostOptions, now = new Date()): Promise<number> {
  const since = parseSince(opts.since, now);
  const summary = recostDatabase(ctx.config.paths.db, loadBundledTable(), ctx.config.pricing.overrides, { since, dryRun: opts.dryRun === true, batchSize: opts.batchSize, now });
  if (opts.json) ctx.out(JSON.stringify(summary, null, 2));
  else ctx.out(renderSummary(summary, ctx.style).join('\n'));
  return 0;
}
