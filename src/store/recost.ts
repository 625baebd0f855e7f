// SQL for `halton-meter recost` (SPEC §3): read stored rows in pages, and write new costs with the
// old figure kept in audit_events, one transaction per batch. The pricing itself happens in the
// caller; this file only reads and writes.
import { MeterError } from '../core/errors.js';
import { insertAuditEvent } from './audit.js';
import type { Db } from './db.js';

/** The columns re-pricing needs: the normalised tokens, what was billed, and the figure stored. */
export interface RecostCandidate {
  id: string;
  provider: string;
  requestKind: string | null;
  host: string;
  path: string;
  model: string | null;
  inputTokens: number | null;
  cacheReadTokens: number | null;
  cacheWrite5mTokens: number | null;
  cacheWrite1hTokens: number | null;
  outputTokens: number | null;
  thinkingTokens: number | null;
  webSearchRequests: number | null;
  costUsdMinorUnits: number | null;
  costReason: string | null;
  ratesSource: string | null;
  serviceTier: string | null;
  usageJson: string | null;
  requestedAt: string;
}

interface CandidateDbRow {
  id: string;
  provider: string;
  request_kind: string | null;
  host: string;
  path: string;
  model: string | null;
  input_tokens: number | null;
  cache_read_tokens: number | null;
  cache_write_5m_tokens: number | null;
  cache_write_1h_tokens: number | null;
  output_tokens: number | null;
  thinking_tokens: number | null;
  web_search_requests: number | null;
  cost_usd_minor_units: number | null;
  cost_reason: string | null;
  rates_source: string | null;
  service_tier: string | null;
  usage_json: string | null;
  requested_at: string;
}

/** Where the previous page ended: rows are read in (requested_at, id) order. */
export interface RecostCursor {
  requestedAt: string;
  id: string;
}

export interface RecostPageOptions {
  /** Rows requested at or after this ISO-8601 UTC time; absent = all rows. */
  since?: string;
  after?: RecostCursor | null;
  limit: number;
}

// Self-test rows are not LLM calls and carry a fixed $0: never re-priced.
const PAGE_SQL = `SELECT id, provider, request_kind, host, path, model, input_tokens, cache_read_tokens,
    cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, thinking_tokens, web_search_requests,
    cost_usd_minor_units, cost_reason, rates_source, service_tier, usage_json, requested_at
  FROM requests
  WHERE provider != 'selftest'
    AND requested_at >= @since
    AND (requested_at > @after_at OR (requested_at = @after_at AND id > @after_id))
  ORDER BY requested_at, id
  LIMIT @limit`;

/** One page of rows to re-price, oldest first. */
export function listRecostCandidates(db: Db, opts: RecostPageOptions): RecostCandidate[] {
  if (!Number.isInteger(opts.limit) || opts.limit < 1) {
    throw new MeterError('bad_argument', `limit must be a positive integer, got ${opts.limit}`);
  }
  // '' sorts before every ISO timestamp, so "no bound" needs no second statement.
  const rows = db.prepare<CandidateDbRow>(PAGE_SQL).all({
    since: opts.since ?? '',
    after_at: opts.after?.requestedAt ?? '',
    after_id: opts.after?.id ?? '',
    limit: opts.limit,
  });
  return rows.map((r) => ({
    id: r.id,
    provider: r.provider,
    requestKind: r.request_kind,
    host: r.host,
    path: r.path,
    model: r.model,
    inputTokens: r.input_tokens,
    cacheReadTokens: r.cache_read_tokens,
    cacheWrite5mTokens: r.cache_write_5m_tokens,
    cacheWrite1hTokens: r.cache_write_1h_tokens,
    outputTokens: r.output_tokens,
    thinkingTokens: r.thinking_tokens,
    webSearchRequests: r.web_search_requests,
    costUsdMinorUnits: r.cost_usd_minor_units,
    costReason: r.cost_reason,
    ratesSource: r.rates_source,
    serviceTier: r.service_tier,
    usageJson: r.usage_json,
    requestedAt: r.requested_at,
  }));
}

/** A row's figure, before or after re-pricing. */
export interface CostFigure {
  costUsdMinorUnits: number | null;
  ratesSource: string | null;
  costReason: string | null;
}

export interface RecostChange {
  id: string;
  /** What was read: the update applies only if the row still holds exactly this. */
  old: CostFigure;
  new: CostFigure;
  /** Written to audit_events.detail_json next to the old and new figures. */
  context: Record<string, unknown>;
}

export interface ApplyResult {
  /** Ids of the rows updated (each with its audit event). */
  applied: string[];
  /** Ids of rows changed by someone else between read and write (another recost): left alone. */
  conflicts: string[];
}

const UPDATE_SQL = `UPDATE requests
  SET cost_usd_minor_units = @new_cost, rates_source = @new_source, cost_reason = @new_reason
  WHERE id = @id AND cost_usd_minor_units IS @old_cost AND rates_source IS @old_source AND cost_reason IS @old_reason`;

/**
 * Applies a batch in one BEGIN IMMEDIATE transaction: each row's new figure and an audit event
 * (kind `recost`, subject = request id) holding the old one. The update is conditional on the row
 * still holding the figure that was read, so a concurrent recost cannot be overwritten or audited
 * twice. The daemon only inserts rows, so it never conflicts; its writer waits out our short lock.
 */
export function applyRecost(db: Db, changes: readonly RecostChange[], ts: string = db.now()): ApplyResult {
  if (changes.length === 0) return { applied: [], conflicts: [] };
  const update = db.prepare(UPDATE_SQL);
  return db.transaction((): ApplyResult => {
    const applied: string[] = [];
    const conflicts: string[] = [];
    for (const c of changes) {
      const info = update.run({
        id: c.id,
        new_cost: c.new.costUsdMinorUnits,
        new_source: c.new.ratesSource,
        new_reason: c.new.costReason,
        old_cost: c.old.costUsdMinorUnits,
        old_source: c.old.ratesSource,
        old_reason: c.old.costReason,
      });
      if (info.changes !== 1) {
        conflicts.push(c.id);
        continue;
      }
      applied.push(c.id);
      insertAuditEvent(db, {
        kind: 'recost',
        subject: c.id,
        ts,
        detail: {
          old_cost_usd_minor_units: c.old.costUsdMinorUnits,
          new_cost_usd_minor_units: c.new.costUsdMinorUnits,
          old_rates_source: c.old.ratesSource,
          new_rates_source: c.new.ratesSource,
          old_cost_reason: c.old.costReason,
          new_cost_reason: c.new.costReason,
          ...c.context,
        },
      });
    }
    return { applied, conflicts };
  })();
}
