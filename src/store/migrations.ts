// The schema, as an append-only list of migrations (SPEC §5). Rules that keep older and newer
// versions able to share one file (upgrade and rollback, SPEC §10):
// - only add: new tables, new nullable (or defaulted) columns, new indexes; never drop, rename or
//   change the meaning of a column;
// - never edit a migration that has shipped; add the next id instead;
// - no STRICT tables and no CHECKs on value lists (providers, modes, ...): older sqlite3 shells
//   could not open the file, and an older meter would be unable to read a newer one's rows.
// Every column is documented in docs/storage.md.
import type { Db } from './db.js';

export interface Migration {
  readonly id: number;
  readonly name: string;
  readonly sql: string;
}

const INITIAL_SCHEMA = `
-- AUTOINCREMENT: a project id is cached by running daemons, so ids are never reused.
CREATE TABLE projects (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  slug        TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  archived_at TEXT
);

-- One row per metered call. Token and cost columns are NULL when unknown, never a guessed 0.
-- A project's rows keep it from being deleted (no cascade): archive it instead.
CREATE TABLE requests (
  id                    TEXT PRIMARY KEY NOT NULL,
  project_id            INTEGER NOT NULL REFERENCES projects(id),
  provider              TEXT NOT NULL,
  mode                  TEXT NOT NULL,
  request_kind          TEXT,
  host                  TEXT NOT NULL,
  path                  TEXT NOT NULL,
  model                 TEXT,
  model_requested       TEXT,
  status_code           INTEGER,
  error_class           TEXT,
  stream                INTEGER NOT NULL CHECK (stream IN (0, 1)),
  input_tokens          INTEGER,
  cache_read_tokens     INTEGER,
  cache_write_5m_tokens INTEGER,
  cache_write_1h_tokens INTEGER,
  output_tokens         INTEGER,
  thinking_tokens       INTEGER,
  web_search_requests   INTEGER,
  cost_usd_minor_units  INTEGER,
  cost_reason           TEXT,
  rates_source          TEXT,
  service_tier          TEXT,
  latency_ms            INTEGER,
  ttfb_ms               INTEGER,
  tokens_complete       INTEGER NOT NULL CHECK (tokens_complete IN (0, 1)),
  usage_source          TEXT NOT NULL,
  outcome               TEXT NOT NULL,
  attribution_rule      TEXT NOT NULL,
  client_pid            INTEGER,
  client_name           TEXT,
  provider_request_id   TEXT,
  usage_json            TEXT,
  requested_at          TEXT NOT NULL,
  completed_at          TEXT NOT NULL
);
CREATE INDEX requests_requested_at ON requests (requested_at);
CREATE INDEX requests_project_requested_at ON requests (project_id, requested_at);
CREATE INDEX requests_provider_model ON requests (provider, model);

-- Opt-in body capture, stored only after redaction; goes with its request.
CREATE TABLE request_bodies (
  request_id    TEXT PRIMARY KEY NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
  request_body  TEXT,
  response_body TEXT,
  redacted      INTEGER NOT NULL CHECK (redacted IN (0, 1)),
  bytes         INTEGER NOT NULL,
  created_at    TEXT NOT NULL
);

CREATE TABLE project_settings (
  project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  key        TEXT NOT NULL,
  value      TEXT NOT NULL,
  PRIMARY KEY (project_id, key)
);

-- NOT NULL matters in a composite primary key: SQLite would otherwise accept NULLs there.
CREATE TABLE pricing_rates (
  provider       TEXT NOT NULL,
  model          TEXT NOT NULL,
  rates_json     TEXT NOT NULL,
  source         TEXT NOT NULL,
  effective_from TEXT NOT NULL,
  PRIMARY KEY (provider, model, source, effective_from)
);

CREATE TABLE audit_events (
  id          INTEGER PRIMARY KEY,
  ts          TEXT NOT NULL,
  kind        TEXT NOT NULL,
  subject     TEXT,
  detail_json TEXT
);
CREATE INDEX audit_events_subject ON audit_events (subject);
`;

// The report's covering index (issue 5: a 30-day report over 1M rows under a second). Keyed like
// the report's cells, then time, then every column the sums read, so a report is answered from the
// index alone, cell by cell and in time order: no sort and no table page (store/stats.ts). Costs
// one more b-tree entry per insert (~4 µs a row) and ~100 bytes a row on disk (docs/storage.md).
// Building it on an existing file takes ~5 s per million rows, once, inside the migration.
const REPORT_INDEX = `
CREATE INDEX IF NOT EXISTS requests_report_cells ON requests (
  project_id, provider, model, requested_at,
  input_tokens, output_tokens, thinking_tokens, cache_read_tokens, cache_write_5m_tokens,
  cache_write_1h_tokens, cost_usd_minor_units, usage_source, latency_ms
);
`;

/** Append only: ids are consecutive from 1 and never reused. */
export const MIGRATIONS: readonly Migration[] = [
  { id: 1, name: 'initial schema', sql: INITIAL_SCHEMA },
  { id: 2, name: 'additive: index requests_report_cells', sql: REPORT_INDEX },
];

export const LATEST_MIGRATION_ID = Math.max(...MIGRATIONS.map((m) => m.id));

const knownIds = new Set(MIGRATIONS.map((m) => m.id));

const CREATE_MIGRATIONS_TABLE =
  'CREATE TABLE IF NOT EXISTS _migrations (id INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)';

export interface MigrationRecord {
  id: number;
  name: string | null;
  appliedAt: string | null;
}

interface MigrationDbRow {
  id: number;
  name: string | null;
  applied_at: string | null;
}

/** Migrations recorded in the file, oldest first; empty for a new or foreign database. */
export function appliedMigrations(db: Db): MigrationRecord[] {
  if (!tableExists(db, '_migrations')) return [];
  return db
    .prepare<MigrationDbRow>('SELECT id, name, applied_at FROM _migrations ORDER BY id')
    .all()
    .map((r) => ({ id: r.id, name: r.name, appliedAt: r.applied_at }));
}

/**
 * A migration whose name starts with this only adds (tables, nullable columns, indexes): code that
 * predates it still reads and writes the file correctly, since every INSERT names its columns. So a
 * rollback to an older version keeps metering instead of going read-only.
 */
export const ADDITIVE_PREFIX = 'additive:';

/**
 * Ids recorded in the file that this code does not know and that are not marked additive: the file
 * belongs to a newer version that changed something this code would get wrong.
 */
export function unknownMigrationIds(db: Db): number[] {
  return appliedMigrations(db)
    .filter((m) => !knownIds.has(m.id) && !(m.name ?? '').startsWith(ADDITIVE_PREFIX))
    .map((m) => m.id);
}

export type MigrateResult =
  | { kind: 'current' }
  | { kind: 'migrated'; applied: number[] }
  | { kind: 'newer'; unknownIds: number[] };

/**
 * Applies what is missing, all in one BEGIN IMMEDIATE transaction. The look before it is only a
 * fast path for the usual already-current open (no lock, no write); the decision is re-made inside
 * the transaction, where no other process can be migrating at the same time.
 */
export function migrate(db: Db): MigrateResult {
  const first = planMigration(db);
  if (first.kind !== 'pending') return first;
  return db.transaction((): MigrateResult => {
    db.exec(CREATE_MIGRATIONS_TABLE);
    const plan = planMigration(db);
    if (plan.kind !== 'pending') return plan;
    const record = db.prepare('INSERT INTO _migrations (id, name, applied_at) VALUES (?, ?, ?)');
    for (const m of plan.pending) {
      db.exec(m.sql);
      record.run(m.id, m.name, db.now());
    }
    return { kind: 'migrated', applied: plan.pending.map((m) => m.id) };
  })();
}

type Plan = { kind: 'current' } | { kind: 'newer'; unknownIds: number[] } | { kind: 'pending'; pending: Migration[] };

function planMigration(db: Db): Plan {
  const applied = appliedMigrations(db).map((m) => m.id);
  const unknown = unknownMigrationIds(db);
  if (unknown.length > 0) return { kind: 'newer', unknownIds: unknown };
  const done = new Set(applied);
  const pending = MIGRATIONS.filter((m) => !done.has(m.id));
  return pending.length === 0 ? { kind: 'current' } : { kind: 'pending', pending };
}

function tableExists(db: Db, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

export interface SchemaObject {
  type: string;
  name: string;
  sql: string | null;
}

/** The schema as SQLite stores it: for doctor checks and for tests that prove a file unchanged. */
export function describeSchema(db: Db): SchemaObject[] {
  return db
    .prepare<SchemaObject>("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
    .all();
}

/** Column names of one table, in table order; empty when the table does not exist. */
export function tableColumns(db: Db, table: string): string[] {
  return db
    .prepare<{ name: string }>('SELECT name FROM pragma_table_info(?) ORDER BY cid')
    .all(table)
    .map((c) => c.name);
}
