// The SQLite connection: the only module that imports the driver (STYLE §11). It owns the pragmas,
// the newer-than-code guard and the migration hand-off; queries live in the other store files and
// reach SQLite only through `Db`.
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MeterError, errorMessage } from '../core/errors.js';
import { LATEST_MIGRATION_ID, migrate, unknownMigrationIds } from './migrations.js';

/** A prepared statement. Parameters are positional values or one object of named values. */
export type Statement<R = unknown> = Database.Statement<unknown[], R>;

export interface OpenOptions {
  /** Never write: no migrations, no journal-mode change; the file must already exist. */
  readonly?: boolean;
  /** Clock for created_at / applied_at stamps (ISO-8601 UTC); injectable for tests (STYLE §9). */
  now?: () => string;
}

/** Long enough to ride out another process's migration or a CLI's short write transaction. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

const isoNow = (): string => new Date().toISOString();

export class Db {
  readonly path: string;
  /** True when the connection cannot write: asked for, or forced because the schema is newer. */
  readonly readonly: boolean;
  /** The database carries migrations this code does not know: it is read-only and never altered. */
  readonly newerThanCode: boolean;
  /** Why the database is read-only when `newerThanCode`; null otherwise. */
  readonly notice: string | null;
  readonly now: () => string;
  private readonly conn: Database.Database;
  private readonly stmts = new Map<string, Statement>();
  private busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS;

  /** Use openDb(); the constructor only wraps an already-open connection. */
  constructor(conn: Database.Database, path: string, now: () => string, newerIds: readonly number[]) {
    this.conn = conn;
    this.path = path;
    this.now = now;
    this.readonly = conn.readonly;
    this.newerThanCode = newerIds.length > 0;
    this.notice = this.newerThanCode ? newerMessage(path, newerIds) : null;
  }

  get open(): boolean {
    return this.conn.open;
  }

  get inTransaction(): boolean {
    return this.conn.inTransaction;
  }

  /**
   * Prepared once per connection and reused: the daemon inserts the same statement thousands of
   * times. A write statement on a read-only connection fails here, before anything runs.
   */
  prepare<R = unknown>(sql: string): Statement<R> {
    let stmt = this.stmts.get(sql);
    if (!stmt) {
      stmt = this.conn.prepare<unknown[], unknown>(sql);
      this.stmts.set(sql, stmt);
    }
    if (this.readonly && !stmt.readonly) throw this.writeRefused();
    return stmt as Statement<R>;
  }

  /** Runs SQL text without results (schema changes, BEGIN/COMMIT issued by tests and tools). */
  exec(sql: string): void {
    try {
      this.conn.exec(sql);
    } catch (e) {
      if (this.readonly && sqliteCode(e)?.startsWith('SQLITE_READONLY')) throw this.writeRefused();
      throw e;
    }
  }

  /**
   * Wraps fn in BEGIN IMMEDIATE … COMMIT (a savepoint when nested). IMMEDIATE takes the write lock
   * up front, so a busy database is reported at BEGIN and never half-way through, and two writers
   * cannot deadlock upgrading read locks.
   */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    const tx = this.conn.transaction(fn);
    return (...args: A): R => tx.immediate(...args);
  }

  /** Runs fn with a different lock wait, then restores the connection's own. */
  withBusyTimeout<T>(ms: number, fn: () => T): T {
    const saved = this.busyTimeoutMs;
    if (ms === saved) return fn();
    this.setBusyTimeout(ms);
    try {
      return fn();
    } finally {
      this.setBusyTimeout(saved);
    }
  }

  setBusyTimeout(ms: number): void {
    this.conn.pragma(`busy_timeout = ${Math.max(0, Math.floor(ms))}`);
    this.busyTimeoutMs = ms;
  }

  /** A single pragma's value, e.g. pragmaValue('journal_mode') → 'wal'. */
  pragmaValue(name: string): unknown {
    return this.conn.pragma(name, { simple: true });
  }

  close(): void {
    this.stmts.clear();
    if (this.conn.open) this.conn.close();
  }

  private writeRefused(): MeterError {
    if (this.newerThanCode && this.notice) {
      return new MeterError('db_newer', this.notice, UPGRADE_HINT);
    }
    return new MeterError('internal', `database ${this.path} was opened read-only; this write is not allowed`);
  }
}

const UPGRADE_HINT =
  'upgrade halton-meter (npm install -g halton-meter@latest), then run: halton-meter init. Your data is untouched.';

function newerMessage(path: string, ids: readonly number[]): string {
  return (
    `database ${path} was written by a newer halton-meter (schema migration ${ids.join(', ')}; ` +
    `this version knows up to ${LATEST_MIGRATION_ID}): opened read-only, nothing will be recorded or changed`
  );
}

/** The SQLite result code of a driver error (`SQLITE_BUSY`, `SQLITE_FULL`, ...), or null. */
export function sqliteCode(e: unknown): string | null {
  return e instanceof Database.SqliteError ? e.code : null;
}

/**
 * Opens (creating as needed) the database, sets the pragmas and brings the schema up to date.
 * A database with migrations this code does not know comes back read-only with `newerThanCode`.
 */
export function openDb(path: string, opts: OpenOptions = {}): Db {
  const now = opts.now ?? isoNow;
  if (opts.readonly) return openReadonly(path, now);

  if (path !== ':memory:') createFile(path);
  const db = new Db(connect(path, false), path, now, []);
  try {
    // Look before touching anything: even switching the journal mode would alter a newer file.
    if (unknownMigrationIds(db).length > 0) return reopenReadonly(db, path, now);
    // WAL: readers (CLI report, API) never block the daemon's writer, nor it them. NORMAL is
    // durable across application crashes in WAL mode; only a power cut can lose the last commits.
    enableWal(db);
    db.pragmaValue('synchronous = NORMAL');
    // Another, newer process may have migrated between our look and our transaction.
    if (migrate(db).kind === 'newer') return reopenReadonly(db, path, now);
    return db;
  } catch (e) {
    db.close();
    throw asOpenError(path, e);
  }
}

// Switching to WAL needs every other connection out of the way, and SQLite reports that with an
// immediate SQLITE_BUSY instead of calling the busy handler: two processes opening a new file at
// once would see it. Wait and retry here, within the same bound as any other lock wait.
function enableWal(db: Db): void {
  if (db.pragmaValue('journal_mode') === 'wal') return;
  const deadline = Date.now() + DEFAULT_BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      db.pragmaValue('journal_mode = WAL');
      return;
    } catch (e) {
      if (!sqliteCode(e)?.startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw e;
      Atomics.wait(sleeper, 0, 0, 10); // a synchronous 10 ms pause: openDb is synchronous
    }
  }
}
const sleeper = new Int32Array(new SharedArrayBuffer(4));

// Close the read-write handle first so nothing in this process can alter a newer schema.
function reopenReadonly(rw: Db, path: string, now: () => string): Db {
  rw.close();
  return openReadonly(path, now);
}

function openReadonly(path: string, now: () => string): Db {
  // Checked here because the driver reports a missing directory with a generic TypeError.
  if (path !== ':memory:' && !existsSync(path)) throw notFound(path);
  const conn = connect(path, true);
  try {
    const ids = unknownMigrationIds(new Db(conn, path, now, []));
    return new Db(conn, path, now, ids);
  } catch (e) {
    conn.close();
    throw asOpenError(path, e);
  }
}

function connect(path: string, readonly: boolean): Database.Database {
  let conn: Database.Database;
  try {
    conn = new Database(path, { readonly, fileMustExist: readonly });
  } catch (e) {
    throw asOpenError(path, e);
  }
  // Connection-level settings; none of them writes to the file.
  conn.pragma(`busy_timeout = ${DEFAULT_BUSY_TIMEOUT_MS}`);
  conn.pragma('foreign_keys = ON');
  return conn;
}

// The meter's data is private to the user: the directory is 0700 and the file 0600 (SQLite gives
// its -wal and -shm files the main file's mode). Existing modes are left as the user set them.
function createFile(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, 'a', 0o600));
  } catch (e) {
    throw new MeterError('io', `cannot create database ${path}: ${errorMessage(e)}`);
  }
}

function asOpenError(path: string, e: unknown): MeterError {
  if (e instanceof MeterError) return e;
  return new MeterError('io', `cannot open database ${path}: ${errorMessage(e)}`);
}

function notFound(path: string): MeterError {
  return new MeterError('not_found', `no database at ${path}`, 'it is created when the daemon first starts: halton-meter init');
}
