// The `audit_events` table: what changed a stored figure after the fact (SPEC §3: `recost` keeps the
// old cost here). Append-only; nothing in the meter updates or deletes an audit event.
import type { Db } from './db.js';

/** Kinds written by this version. Stored as text: a newer meter may write kinds this one does not know. */
export const AUDIT_KINDS = ['recost'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

export interface AuditEventInput {
  kind: AuditKind;
  /** What the event is about, e.g. a request id. */
  subject: string | null;
  /** Serialised as detail_json. */
  detail: unknown;
  /** ISO-8601 UTC; defaults to the connection's clock. */
  ts?: string;
}

export interface AuditEvent {
  id: number;
  ts: string;
  kind: string;
  subject: string | null;
  /** detail_json parsed; null when absent or not JSON. */
  detail: unknown;
}

const INSERT_SQL = 'INSERT INTO audit_events (ts, kind, subject, detail_json) VALUES (?, ?, ?, ?)';

/** Inserts one event; joins the caller's transaction when there is one. Returns its id. */
export function insertAuditEvent(db: Db, e: AuditEventInput): number {
  const info = db.prepare(INSERT_SQL).run(e.ts ?? db.now(), e.kind, e.subject, e.detail === undefined ? null : JSON.stringify(e.detail));
  return Number(info.lastInsertRowid);
}

export interface ListAuditOptions {
  kind?: string;
  subject?: string;
  /** Default 100. */
  limit?: number;
}

interface AuditDbRow {
  id: number;
  ts: string;
  kind: string;
  subject: string | null;
  detail_json: string | null;
}

function parseDetail(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/** Oldest first. */
export function listAuditEvents(db: Db, opts: ListAuditOptions = {}): AuditEvent[] {
  const where: string[] = [];
  const params: Array<string | number> = [];
  if (opts.kind !== undefined) {
    where.push('kind = ?');
    params.push(opts.kind);
  }
  if (opts.subject !== undefined) {
    where.push('subject = ?');
    params.push(opts.subject);
  }
  const sql = `SELECT id, ts, kind, subject, detail_json FROM audit_events${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
  return db
    .prepare<AuditDbRow>(sql)
    .all(...params, opts.limit ?? 100)
    .map((r) => ({ id: r.id, ts: r.ts, kind: r.kind, subject: r.subject, detail: parseDetail(r.detail_json) }));
}
