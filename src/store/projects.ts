// Projects: what rows are attributed to. Created on first use; archived, never deleted, so an id
// once handed out stays valid for every process that cached it.
import { MeterError } from '../core/errors.js';
import type { Db } from './db.js';

export interface ProjectRecord {
  id: number;
  slug: string;
  name: string;
  createdAt: string;
  archivedAt: string | null;
}

interface ProjectDbRow {
  id: number;
  slug: string;
  name: string;
  created_at: string;
  archived_at: string | null;
}

const SELECT_PROJECT = 'SELECT id, slug, name, created_at, archived_at FROM projects';

// slug → id per connection: the daemon resolves a project for every row it writes.
const idCache = new WeakMap<Db, Map<string, number>>();

function cacheOf(db: Db): Map<string, number> {
  let cache = idCache.get(db);
  if (!cache) {
    cache = new Map();
    idCache.set(db, cache);
  }
  return cache;
}

/** The project's id, creating the project (named `name`, default the slug) when it is new. */
export function ensureProject(db: Db, slug: string, name?: string): number {
  const cache = cacheOf(db);
  const cached = cache.get(slug);
  if (cached !== undefined) return cached;
  const id = findOrCreateProject(db, slug, name ?? slug);
  // Inside a caller's transaction the insert could still roll back: caching it would hand out an
  // id that does not exist. The caller may remember it after commit (rememberProjectIds).
  if (!db.inTransaction) cache.set(slug, id);
  return id;
}

/** For callers that created projects inside their own transaction, once it has committed. */
export function rememberProjectIds(db: Db, ids: ReadonlyMap<string, number>): void {
  if (db.inTransaction) return;
  const cache = cacheOf(db);
  for (const [slug, id] of ids) cache.set(slug, id);
}

/** Forget cached ids, e.g. after another process renamed a slug. */
export function clearProjectCache(db: Db): void {
  idCache.delete(db);
}

function findOrCreateProject(db: Db, slug: string, name: string): number {
  if (slug.length === 0) throw new MeterError('bad_argument', 'project slug must not be empty');
  const select = db.prepare<{ id: number }>('SELECT id FROM projects WHERE slug = ?');
  const found = select.get(slug);
  if (found) return found.id;
  // DO NOTHING + re-select: another process may create the same slug between our two statements.
  db.prepare('INSERT INTO projects (slug, name, created_at) VALUES (?, ?, ?) ON CONFLICT (slug) DO NOTHING').run(
    slug,
    name,
    db.now(),
  );
  const created = select.get(slug);
  if (!created) throw new MeterError('internal', `project ${slug} vanished while being created`);
  return created.id;
}

export function getProjectBySlug(db: Db, slug: string): ProjectRecord | null {
  const row = db.prepare<ProjectDbRow>(`${SELECT_PROJECT} WHERE slug = ?`).get(slug);
  return row ? fromDb(row) : null;
}

export interface ListProjectsOptions {
  /** Include archived projects (default true: the API lists them with their archived_at). */
  includeArchived?: boolean;
}

/** Projects by slug. */
export function listProjects(db: Db, opts: ListProjectsOptions = {}): ProjectRecord[] {
  const where = opts.includeArchived === false ? ' WHERE archived_at IS NULL' : '';
  return db
    .prepare<ProjectDbRow>(`${SELECT_PROJECT}${where} ORDER BY slug`)
    .all()
    .map(fromDb);
}

function fromDb(r: ProjectDbRow): ProjectRecord {
  return { id: r.id, slug: r.slug, name: r.name, createdAt: r.created_at, archivedAt: r.archived_at };
}
