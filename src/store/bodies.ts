// request_bodies (opt-in, redacted body capture) and the project_settings that can turn it on.
// The bodies handed to insertBodies are already redacted and capped: src/daemon/capture/.
import type { Db } from './db.js';

export interface BodyRecord {
  requestId: string;
  requestBody: string | null;
  responseBody: string | null;
  /** How many values redaction replaced (the table stores whether any were: `redacted` 0/1). */
  redactions: number;
  /** UTF-8 bytes of the stored bodies. */
  bytes: number;
}

export interface StoredBody {
  requestId: string;
  requestBody: string | null;
  responseBody: string | null;
  redacted: boolean;
  bytes: number;
  createdAt: string;
}

/**
 * Inserts the bodies whose request row exists, in one transaction. Returns the ids written; bodies
 * whose row is not (yet) in the table are skipped, so the caller may retry them.
 */
export function insertBodies(db: Db, bodies: readonly BodyRecord[]): string[] {
  if (bodies.length === 0) return [];
  const insert = db.prepare(
    `INSERT INTO request_bodies (request_id, request_body, response_body, redacted, bytes, created_at)
     SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM requests WHERE id = ?)
     ON CONFLICT (request_id) DO NOTHING`,
  );
  const has = db.prepare<{ one: number }>('SELECT 1 AS one FROM request_bodies WHERE request_id = ?');
  return db.transaction((): string[] => {
    const done: string[] = [];
    const now = db.now();
    for (const b of bodies) {
      const r = insert.run(b.requestId, b.requestBody, b.responseBody, b.redactions > 0 ? 1 : 0, b.bytes, now, b.requestId);
      if (r.changes > 0 || has.get(b.requestId)) done.push(b.requestId);
    }
    return done;
  })();
}

export function getBodies(db: Db, requestId: string): StoredBody | null {
  const r = db
    .prepare<{ request_id: string; request_body: string | null; response_body: string | null; redacted: number; bytes: number; created_at: string }>(
      'SELECT request_id, request_body, response_body, redacted, bytes, created_at FROM request_bodies WHERE request_id = ?',
    )
    .get(requestId);
  return r
    ? { requestId: r.request_id, requestBody: r.request_body, responseBody: r.response_body, redacted: r.redacted === 1, bytes: r.bytes, createdAt: r.created_at }
    : null;
}

/** A project's setting by slug; null when the project or the setting does not exist. */
export function getProjectSetting(db: Db, slug: string, key: string): string | null {
  const r = db
    .prepare<{ value: string }>('SELECT s.value FROM project_settings s JOIN projects p ON p.id = s.project_id WHERE p.slug = ? AND s.key = ?')
    .get(slug, key);
  return r?.value ?? null;
}

/** Sets (or, with null, removes) a project's setting; the project must exist. Returns false when it does not. */
export function setProjectSetting(db: Db, slug: string, key: string, value: string | null): boolean {
  const p = db.prepare<{ id: number }>('SELECT id FROM projects WHERE slug = ?').get(slug);
  if (!p) return false;
  if (value === null) db.prepare('DELETE FROM project_settings WHERE project_id = ? AND key = ?').run(p.id, key);
  else
    db.prepare('INSERT INTO project_settings (project_id, key, value) VALUES (?, ?, ?) ON CONFLICT (project_id, key) DO UPDATE SET value = excluded.value').run(
      p.id,
      key,
      value,
    );
  return true;
}

/** Slugs whose project_settings say `key = value`. */
export function projectsWithSetting(db: Db, key: string, value: string): string[] {
  return db
    .prepare<{ slug: string }>('SELECT p.slug FROM project_settings s JOIN projects p ON p.id = s.project_id WHERE s.key = ? AND lower(s.value) = lower(?) ORDER BY p.slug')
    .all(key, value)
    .map((r) => r.slug);
}

export interface BodiesProjectStats {
  project: string;
  bodies: number;
  bytes: number;
  /** Bodies in which redaction replaced at least one value. */
  redacted: number;
  first: string | null;
  last: string | null;
}

export interface BodiesStats {
  bodies: number;
  bytes: number;
  redacted: number;
  projects: BodiesProjectStats[];
}

export function bodiesStats(db: Db): BodiesStats {
  const projects = db
    .prepare<{ project: string; bodies: number; bytes: number; redacted: number; first: string | null; last: string | null }>(
      `SELECT p.slug AS project, COUNT(*) AS bodies, COALESCE(SUM(b.bytes), 0) AS bytes, COALESCE(SUM(b.redacted), 0) AS redacted,
              MIN(b.created_at) AS first, MAX(b.created_at) AS last
       FROM request_bodies b JOIN requests r ON r.id = b.request_id JOIN projects p ON p.id = r.project_id
       GROUP BY p.slug ORDER BY bytes DESC, p.slug`,
    )
    .all();
  return {
    bodies: projects.reduce((n, p) => n + p.bodies, 0),
    bytes: projects.reduce((n, p) => n + p.bytes, 0),
    redacted: projects.reduce((n, p) => n + p.redacted, 0),
    projects,
  };
}
