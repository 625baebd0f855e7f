// The `requests` table: one row per metered call. RequestRow carries no header fields, so no
// secret can reach this table; keep it that way (SPEC §5).
import { MeterError } from '../core/errors.js';
import type { Outcome } from '../core/exchange.js';
import type { RequestKind } from '../core/parsed.js';
import type { Mode, ProviderId } from '../core/providers.js';
import type { AttributionRule, RequestRow } from '../core/request-row.js';
import type { UsageSource } from '../core/usage.js';
import type { Db } from './db.js';
import { ensureProject, rememberProjectIds } from './projects.js';

// The single source of the column list: INSERT and SELECT are generated from it, and the
// Record<Column, ...> types make the compiler check both mappings below cover every column.
const COLUMNS = [
  'id',
  'project_id',
  'provider',
  'mode',
  'request_kind',
  'host',
  'path',
  'model',
  'model_requested',
  'status_code',
  'error_class',
  'stream',
  'input_tokens',
  'cache_read_tokens',
  'cache_write_5m_tokens',
  'cache_write_1h_tokens',
  'output_tokens',
  'thinking_tokens',
  'web_search_requests',
  'cost_usd_minor_units',
  'cost_reason',
  'rates_source',
  'service_tier',
  'latency_ms',
  'ttfb_ms',
  'tokens_complete',
  'usage_source',
  'outcome',
  'attribution_rule',
  'client_pid',
  'client_name',
  'provider_request_id',
  'usage_json',
  'requested_at',
  'completed_at',
] as const;
type Column = (typeof COLUMNS)[number];
type SqlValue = string | number | null;

const INSERT_SQL = `INSERT INTO requests (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`;
const SELECT_SQL = `SELECT ${COLUMNS.map((c) => `r.${c}`).join(', ')}, p.slug AS project_slug
  FROM requests r JOIN projects p ON p.id = r.project_id`;

/** A row as SQLite returns it. */
type RequestDbRow = Record<Column, SqlValue> & { project_slug: string };

function toParams(row: RequestRow, projectId: number): Record<Column, SqlValue> {
  return {
    id: row.id,
    project_id: projectId,
    provider: row.provider,
    mode: row.mode,
    request_kind: row.requestKind,
    host: row.host,
    path: row.path,
    model: row.model,
    model_requested: row.modelRequested,
    status_code: row.statusCode,
    error_class: row.errorClass,
    stream: row.stream ? 1 : 0,
    input_tokens: row.inputTokens,
    cache_read_tokens: row.cacheReadTokens,
    cache_write_5m_tokens: row.cacheWrite5mTokens,
    cache_write_1h_tokens: row.cacheWrite1hTokens,
    output_tokens: row.outputTokens,
    thinking_tokens: row.thinkingTokens,
    web_search_requests: row.webSearchRequests,
    cost_usd_minor_units: row.costUsdMinorUnits,
    cost_reason: row.costReason,
    rates_source: row.ratesSource,
    service_tier: row.serviceTier,
    latency_ms: row.latencyMs,
    ttfb_ms: row.ttfbMs,
    tokens_complete: row.tokensComplete ? 1 : 0,
    usage_source: row.usageSource,
    outcome: row.outcome,
    attribution_rule: row.attributionRule,
    client_pid: row.clientPid,
    client_name: row.clientName,
    provider_request_id: row.providerRequestId,
    usage_json: row.usageJson,
    requested_at: row.requestedAt,
    completed_at: row.completedAt,
  };
}

const str = (v: SqlValue): string => String(v);
const strOrNull = (v: SqlValue): string | null => (v === null ? null : String(v));
const numOrNull = (v: SqlValue): number | null => (v === null ? null : Number(v));

// Value-list columns are cast, not validated: a newer meter may have written a provider or rule
// this version does not know, and those rows must still read back (SPEC §10: rollback keeps data).
function fromDb(r: RequestDbRow): RequestRow {
  return {
    id: str(r.id),
    projectSlug: r.project_slug,
    provider: str(r.provider) as ProviderId,
    mode: str(r.mode) as Mode,
    requestKind: strOrNull(r.request_kind) as RequestKind | null,
    host: str(r.host),
    path: str(r.path),
    model: strOrNull(r.model),
    modelRequested: strOrNull(r.model_requested),
    statusCode: numOrNull(r.status_code),
    errorClass: strOrNull(r.error_class),
    stream: r.stream === 1,
    inputTokens: numOrNull(r.input_tokens),
    cacheReadTokens: numOrNull(r.cache_read_tokens),
    cacheWrite5mTokens: numOrNull(r.cache_write_5m_tokens),
    cacheWrite1hTokens: numOrNull(r.cache_write_1h_tokens),
    outputTokens: numOrNull(r.output_tokens),
    thinkingTokens: numOrNull(r.thinking_tokens),
    webSearchRequests: numOrNull(r.web_search_requests),
    costUsdMinorUnits: numOrNull(r.cost_usd_minor_units),
    costReason: strOrNull(r.cost_reason),
    ratesSource: strOrNull(r.rates_source),
    serviceTier: strOrNull(r.service_tier),
    latencyMs: numOrNull(r.latency_ms),
    ttfbMs: numOrNull(r.ttfb_ms),
    tokensComplete: r.tokens_complete === 1,
    usageSource: str(r.usage_source) as UsageSource,
    outcome: str(r.outcome) as Outcome,
    attributionRule: str(r.attribution_rule) as AttributionRule,
    clientPid: numOrNull(r.client_pid),
    clientName: strOrNull(r.client_name),
    providerRequestId: strOrNull(r.provider_request_id),
    usageJson: strOrNull(r.usage_json),
    requestedAt: str(r.requested_at),
    completedAt: str(r.completed_at),
  };
}

/**
 * Writes rows in one transaction: all or none. Projects named by the rows are created in the same
 * transaction. Throws the driver's error (SQLITE_BUSY, SQLITE_CONSTRAINT_PRIMARYKEY, ...) or
 * MeterError('db_newer'); RowWriter decides what to retry.
 */
export function insertRequests(db: Db, rows: readonly RequestRow[]): number {
  if (rows.length === 0) return 0;
  const insert = db.prepare(INSERT_SQL);
  const projectIds = new Map<string, number>();
  db.transaction(() => {
    for (const row of rows) {
      let projectId = projectIds.get(row.projectSlug);
      if (projectId === undefined) {
        projectId = ensureProject(db, row.projectSlug);
        projectIds.set(row.projectSlug, projectId);
      }
      insert.run(toParams(row, projectId));
    }
  })();
  rememberProjectIds(db, projectIds);
  return rows.length;
}

export function getRequest(db: Db, id: string): RequestRow | null {
  const row = db.prepare<RequestDbRow>(`${SELECT_SQL} WHERE r.id = ?`).get(id);
  return row ? fromDb(row) : null;
}

export interface ListRequestsOptions {
  projectSlug?: string;
  limit: number;
  /** Rows requested at or after this ISO-8601 UTC time; a date prefix ('2025-01-31') works too. */
  since?: string;
}

/** Newest first. */
export function listRequests(db: Db, opts: ListRequestsOptions): RequestRow[] {
  if (!Number.isInteger(opts.limit) || opts.limit < 1) {
    throw new MeterError('bad_argument', `limit must be a positive integer, got ${opts.limit}`);
  }
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (opts.projectSlug !== undefined) {
    // A sub-select on the slug lets SQLite use the (project_id, requested_at) index.
    where.push('r.project_id = (SELECT id FROM projects WHERE slug = ?)');
    params.push(opts.projectSlug);
  }
  if (opts.since !== undefined) {
    // requested_at is always toISOString() text, so string order is time order.
    where.push('r.requested_at >= ?');
    params.push(opts.since);
  }
  const sql = `${SELECT_SQL}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
    ORDER BY r.requested_at DESC, r.id DESC LIMIT ?`;
  return db
    .prepare<RequestDbRow>(sql)
    .all(...params, opts.limit)
    .map(fromDb);
}

export function countRequests(db: Db): number {
  const row = db.prepare<{ n: number }>('SELECT count(*) AS n FROM requests').get();
  return row ? row.n : 0;
}

/** Where a page starts: just after this row in newest-first order. */
export interface PageCursor {
  requestedAt: string;
  id: string;
}

export interface RequestPageQuery {
  /** One project by slug; without it every project but the self-test's. */
  projectSlug?: string;
  provider?: string;
  limit: number;
  after?: PageCursor;
}

export interface RequestPage {
  rows: RequestRow[];
  /** Rows matching the filters, over all pages. */
  total: number;
  /** The cursor of the next page; null on the last one. */
  next: PageCursor | null;
}

/**
 * One page, newest first, by keyset (requested_at, id): a page stays stable while rows are being
 * written, and reading page 1,000 costs what page 1 does.
 */
export function requestPage(db: Db, q: RequestPageQuery, selftestSlug: string): RequestPage {
  if (!Number.isInteger(q.limit) || q.limit < 1) throw new MeterError('bad_argument', `limit must be a positive integer, got ${q.limit}`);
  const where: string[] = [];
  const params: Record<string, SqlValue> = {};
  if (q.projectSlug !== undefined) {
    where.push('r.project_id = (SELECT id FROM projects WHERE slug = @slug)');
    params.slug = q.projectSlug;
  } else {
    where.push('r.project_id <> COALESCE((SELECT id FROM projects WHERE slug = @selftest), -1)');
    params.selftest = selftestSlug;
  }
  if (q.provider !== undefined) {
    where.push('r.provider = @provider');
    params.provider = q.provider;
  }
  const filter = where.join(' AND ');
  const total = db.prepare<{ n: number }>(`SELECT COUNT(*) AS n FROM requests r WHERE ${filter}`).get(params)?.n ?? 0;
  let keyset = '';
  if (q.after) {
    keyset = ' AND (r.requested_at < @at OR (r.requested_at = @at AND r.id < @id))';
    params.at = q.after.requestedAt;
    params.id = q.after.id;
  }
  // One row more than asked tells whether there is a next page without a second query.
  const rows = db
    .prepare<RequestDbRow>(`${SELECT_SQL} WHERE ${filter}${keyset} ORDER BY r.requested_at DESC, r.id DESC LIMIT @limit`)
    .all({ ...params, limit: q.limit + 1 })
    .map(fromDb);
  const more = rows.length > q.limit;
  if (more) rows.length = q.limit;
  const last = rows[rows.length - 1];
  return { rows, total, next: more && last ? { requestedAt: last.requestedAt, id: last.id } : null };
}
