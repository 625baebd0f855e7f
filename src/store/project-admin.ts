// `projects list|rename|archive`: the project table seen and changed by the user. Projects are never
// deleted (their rows keep them); archiving hides one from reports unless it is named.
import { MeterError } from '../core/errors.js';
import type { Db } from './db.js';
import { clearProjectCache } from './projects.js';

export interface ProjectOverview {
  slug: string;
  name: string;
  createdAt: string;
  archivedAt: string | null;
  requests: number;
  costMinor: number;
  lastRequestAt: string | null;
}

/** Every project with its all-time request count, known cost and last request, by slug. */
export function listProjectOverviews(db: Db): ProjectOverview[] {
  return db
    .prepare<{ slug: string; name: string; created_at: string; archived_at: string | null; requests: number; cost: number; last_request_at: string | null }>(
      `SELECT p.slug, p.name, p.created_at, p.archived_at,
         (SELECT COUNT(*) FROM requests r WHERE r.project_id = p.id) AS requests,
         (SELECT COALESCE(SUM(r.cost_usd_minor_units), 0) FROM requests r WHERE r.project_id = p.id) AS cost,
         (SELECT MAX(r.requested_at) FROM requests r WHERE r.project_id = p.id) AS last_request_at
       FROM projects p ORDER BY p.slug`,
    )
    .all()
    .map((r) => ({ slug: r.slug, name: r.name, createdAt: r.created_at, archivedAt: r.archived_at, requests: r.requests, costMinor: r.cost, lastRequestAt: r.last_request_at }));
}

/**
 * Renames a slug (and the name, when it was the slug). Refuses when NEW is taken: merging two
 * projects' rows is a different operation. A running daemon that cached OLD's id keeps writing to
 * the same project, now called NEW, which is what a rename means.
 */
export function renameProject(db: Db, oldSlug: string, newSlug: string): void {
  if (newSlug.trim() === '') throw new MeterError('bad_argument', 'the new project name must not be empty');
  db.transaction(() => {
    const old = db.prepare<{ id: number; name: string }>('SELECT id, name FROM projects WHERE slug = ?').get(oldSlug);
    if (!old) throw new MeterError('not_found', `no project "${oldSlug}"`, 'see: halton-meter projects list');
    if (db.prepare('SELECT 1 FROM projects WHERE slug = ?').get(newSlug) !== undefined) {
      throw new MeterError('bad_argument', `project "${newSlug}" already exists`, 'pick another name; merging projects is not supported');
    }
    const name = old.name === oldSlug ? newSlug : old.name;
    db.prepare('UPDATE projects SET slug = ?, name = ? WHERE id = ?').run(newSlug, name, old.id);
  })();
  clearProjectCache(db);
}

/** Archives a project; returns false when it already was. */
export function archiveProject(db: Db, slug: string): boolean {
  return db.transaction(() => {
    const p = db.prepare<{ archived_at: string | null }>('SELECT archived_at FROM projects WHERE slug = ?').get(slug);
    if (!p) throw new MeterError('not_found', `no project "${slug}"`, 'see: halton-meter projects list');
    if (p.archived_at !== null) return false;
    db.prepare('UPDATE projects SET archived_at = ? WHERE slug = ?').run(db.now(), slug);
    return true;
  })();
}
