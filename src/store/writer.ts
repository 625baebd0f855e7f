// The daemon's single writer. The proxy hands rows over and moves on: enqueue is a push, and
// SQLite runs later on a timer, in batched transactions, so it never sits between a chunk arriving
// and that chunk going out (STYLE §1). Metering may fail; traffic never does (STYLE §7): nothing
// here throws into the caller, lost rows are counted and reported through onEvent.
import { performance } from 'node:perf_hooks';
import { MeterError, errorMessage } from '../core/errors.js';
import type { RequestRow } from '../core/request-row.js';
import { type Db, DEFAULT_BUSY_TIMEOUT_MS, sqliteCode } from './db.js';
import { insertRequests } from './requests.js';

export type StoreEventHandler = (event: string, fields: Record<string, unknown>) => void;

export interface RowWriterOptions {
  /** Longest a row waits before its batch is written (ms). */
  flushMs?: number;
  /** Rows per transaction; reaching it triggers a write on the next turn of the event loop. */
  maxBatch?: number;
  /** Rows held while writes fail; beyond it new rows are dropped and counted in rowsFailed. */
  maxQueue?: number;
  /**
   * How long a background write may wait for another process's lock. Short, because the wait
   * blocks the daemon's event loop; a busy database is retried with back-off instead.
   */
  busyTimeoutMs?: number;
  /** Lock wait for flush() at shutdown, when blocking is acceptable. */
  flushBusyTimeoutMs?: number;
  /** Cap of the retry back-off, which doubles from flushMs. */
  maxBackoffMs?: number;
  /** Work per timer turn before yielding to the event loop (ms), when a backlog is drained. */
  tickBudgetMs?: number;
  /** Events `store.flush` and `store.write_failed`; the writer prints nothing itself. */
  onEvent?: StoreEventHandler;
}

export interface RowWriterStats {
  queued: number;
  rowsWritten: number;
  rowsFailed: number;
  rowsLostByReason: Partial<Record<LossReason, number>>;
  lastError: string | null;
  failing: boolean;
}

/**
 * Why a row was lost (never written), as counted in rowsLostByReason. A row dropped because the queue
 * overflowed while writes were failing is counted under the failure that kept the queue from
 * draining (disk_full, db_locked, ...); queue_full is left for a queue that overflowed while writes
 * worked (the writer could not keep up). Rows still queued when the writer closes are counted under
 * the error that kept them out; shutdown is a row handed over after close().
 */
export const LOSS_REASONS = ['disk_full', 'db_locked', 'db_readonly', 'db_error', 'bad_row', 'queue_full', 'shutdown'] as const;
export type LossReason = (typeof LOSS_REASONS)[number];

type Failure = 'retry' | 'row' | 'fatal';
type BatchResult = 'ok' | 'retry';

// Errors tied to a row's values: retrying the same row can never succeed.
const ROW_ERROR_CODES = ['SQLITE_CONSTRAINT', 'SQLITE_MISMATCH', 'SQLITE_TOOBIG', 'SQLITE_RANGE'];

export class RowWriter {
  private readonly db: Db;
  private readonly flushMs: number;
  private readonly maxBatch: number;
  private readonly maxQueue: number;
  private readonly busyTimeoutMs: number;
  private readonly flushBusyTimeoutMs: number;
  private readonly maxBackoffMs: number;
  private readonly tickBudgetMs: number;
  private readonly onEvent: StoreEventHandler;

  // queue[head..] is pending; the consumed prefix is cut off in bulk so enqueue and dequeue stay O(1).
  private queue: RequestRow[] = [];
  private head = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private soon: ReturnType<typeof setImmediate> | null = null;
  private backoffMs = 0;
  private retryAt = 0;
  private droppedUnreported = 0;
  private closed = false;
  private written = 0;
  private failed = 0;
  private lastErr: string | null = null;
  private lastAttemptFailed = false;
  /** The loss reason of the last write error, kept until a write succeeds. */
  private lastCause: LossReason | null = null;
  private readonly lost = new Map<LossReason, number>();

  constructor(db: Db, opts: RowWriterOptions = {}) {
    this.db = db;
    this.flushMs = positive('flushMs', opts.flushMs ?? 50);
    this.maxBatch = positive('maxBatch', opts.maxBatch ?? 200);
    this.maxQueue = positive('maxQueue', opts.maxQueue ?? 10_000);
    this.busyTimeoutMs = nonNegative('busyTimeoutMs', opts.busyTimeoutMs ?? 10);
    this.flushBusyTimeoutMs = nonNegative('flushBusyTimeoutMs', opts.flushBusyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
    this.maxBackoffMs = positive('maxBackoffMs', opts.maxBackoffMs ?? 5_000);
    this.tickBudgetMs = positive('tickBudgetMs', opts.tickBudgetMs ?? 20);
    this.onEvent = opts.onEvent ?? ((): void => undefined);
  }

  get queued(): number {
    return this.queue.length - this.head;
  }
  get rowsWritten(): number {
    return this.written;
  }
  get rowsFailed(): number {
    return this.failed;
  }
  /** rowsFailed split by reason; only reasons that lost rows appear. */
  get rowsLostByReason(): Partial<Record<LossReason, number>> {
    const out: Partial<Record<LossReason, number>> = {};
    for (const r of LOSS_REASONS) {
      const n = this.lost.get(r);
      if (n) out[r] = n;
    }
    return out;
  }
  /** Why the last row failed or was dropped; kept after recovery so status can show it. */
  get lastError(): string | null {
    return this.lastErr;
  }

  /** The last write attempt failed (rows are being retried or refused): what /health reports. */
  get failing(): boolean {
    return this.lastAttemptFailed;
  }

  /**
   * The database refuses every row (closed, read-only, newer schema): retrying cannot help. Unlike
   * `failing`, which includes a lock or a full disk that the retries ride out with rows held.
   */
  get refusing(): boolean {
    return this.closed || !this.db.open || this.db.readonly;
  }

  stats(): RowWriterStats {
    return {
      queued: this.queued,
      rowsWritten: this.written,
      rowsFailed: this.failed,
      rowsLostByReason: this.rowsLostByReason,
      lastError: this.lastErr,
      failing: this.lastAttemptFailed,
    };
  }

  /** O(1), never blocks, never throws. */
  enqueue(row: RequestRow): void {
    if (this.closed) {
      this.fail(1, 'writer closed', 'shutdown');
      return;
    }
    if (this.queued >= this.maxQueue) {
      // Drop the newest: the queued rows are older and already waited their turn. The reason stays
      // the write error that let the queue fill, when there is one.
      this.failed += 1;
      this.count(this.lastAttemptFailed && this.lastCause ? this.lastCause : 'queue_full', 1);
      this.droppedUnreported += 1;
      if (this.lastErr === null || !this.backingOff()) this.lastErr = `queue full (${this.maxQueue} rows)`;
      this.schedule();
      return;
    }
    this.queue.push(row);
    this.schedule();
  }

  /** Writes everything queued now, synchronously (shutdown). Rows it cannot write stay queued. */
  flush(): void {
    this.clearTimers();
    this.guarded(() => this.drain(this.flushBusyTimeoutMs, Number.POSITIVE_INFINITY));
    this.schedule();
  }

  /** flush(), then stop; rows still unwritten are counted as failed. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.clearTimers();
    const left = this.queued;
    if (left > 0) {
      const reason = `writer closed with rows unwritten${this.lastErr ? ` (${this.lastErr})` : ''}`;
      this.queue = [];
      this.head = 0;
      const cause = this.lastCause ?? 'shutdown';
      this.fail(left, reason, cause);
      this.emit('store.write_failed', { reason, rows_dropped: left, lost_as: cause, queued: 0 });
    }
  }

  private schedule(): void {
    if (this.closed || this.queued === 0) return;
    const wait = this.retryAt - Date.now();
    if (wait > 0) return this.armTimer(wait);
    if (this.queued >= this.maxBatch) return this.armSoon();
    this.armTimer(this.flushMs);
  }

  private armTimer(ms: number): void {
    if (this.timer || this.soon) return;
    // unref: a pending flush must not keep a finished process alive; shutdown calls flush().
    this.timer = setTimeout(() => this.tick(), ms);
    this.timer.unref();
  }

  private armSoon(): void {
    if (this.soon) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.soon = setImmediate(() => this.tick());
    this.soon.unref();
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.soon) clearImmediate(this.soon);
    this.timer = null;
    this.soon = null;
  }

  private tick(): void {
    this.clearTimers();
    if (this.closed) return;
    if (this.backingOff()) return this.schedule();
    const more = this.guarded(() => this.drain(this.busyTimeoutMs, this.tickBudgetMs));
    // A backlog left by the time budget continues on the next turn, after pending I/O.
    if (more && !this.backingOff()) this.armSoon();
    else this.schedule();
  }

  // A timer callback that threw would crash the daemon: whatever goes wrong is recorded instead.
  private guarded(fn: () => boolean): boolean {
    try {
      return fn();
    } catch (e) {
      this.lastErr = describe(e);
      this.lastCause = this.causeOf(e);
      this.emit('store.write_failed', { reason: this.lastErr, code: codeOf(e), queued: this.queued });
      return false;
    }
  }

  /** Writes batches until the queue is empty, a write must be retried, or the budget is spent. */
  private drain(busyMs: number, budgetMs: number): boolean {
    const started = performance.now();
    let rows = 0;
    let batches = 0;
    let more = false;
    while (this.queued > 0) {
      if (performance.now() - started >= budgetMs) {
        more = true;
        break;
      }
      const batch = this.queue.slice(this.head, this.head + this.maxBatch);
      const before = this.written;
      const result = this.writeBatch(batch, busyMs);
      rows += this.written - before;
      batches += 1;
      if (result === 'retry') break;
    }
    this.reportDrops();
    if (rows > 0) {
      this.emit('store.flush', {
        rows,
        batches,
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
        queued: this.queued,
      });
    }
    return more;
  }

  private writeBatch(batch: RequestRow[], busyMs: number): BatchResult {
    try {
      this.db.withBusyTimeout(busyMs, () => insertRequests(this.db, batch));
      this.consume(batch.length);
      this.written += batch.length;
      this.backoffMs = 0;
      this.lastAttemptFailed = false;
      this.lastCause = null;
      return 'ok';
    } catch (e) {
      const kind = this.classify(e);
      if (kind === 'retry') return this.backOff(e, batch.length);
      if (kind === 'fatal') {
        this.drop(batch.length, e);
        this.lastAttemptFailed = true;
        return 'ok';
      }
      // One bad row must not hold back the others: isolate it.
      return this.writeOneByOne(batch, busyMs);
    }
  }

  private writeOneByOne(batch: RequestRow[], busyMs: number): BatchResult {
    for (const row of batch) {
      try {
        this.db.withBusyTimeout(busyMs, () => insertRequests(this.db, [row]));
        this.consume(1);
        this.written += 1;
        this.lastAttemptFailed = false;
        this.lastCause = null;
      } catch (e) {
        if (this.classify(e) === 'retry') return this.backOff(e, this.queued);
        this.drop(1, e, row.id);
      }
    }
    this.backoffMs = 0;
    return 'ok';
  }

  private classify(e: unknown): Failure {
    // A closed or read-only (newer-schema) database will refuse every row: retrying only delays.
    if (!this.db.open || this.db.readonly) return 'fatal';
    if (e instanceof MeterError) return e.code === 'db_newer' ? 'fatal' : 'row';
    const code = sqliteCode(e);
    if (code !== null) return ROW_ERROR_CODES.some((p) => code.startsWith(p)) ? 'row' : 'retry';
    // The driver throws these for a value it cannot bind.
    if (e instanceof TypeError || e instanceof RangeError) return 'row';
    // Busy, locked, disk full, I/O errors and anything unforeseen: keep the rows and try again.
    return 'retry';
  }

  private backOff(e: unknown, rows: number): 'retry' {
    this.backoffMs = this.backoffMs === 0 ? this.flushMs : Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.retryAt = Date.now() + this.backoffMs;
    this.lastErr = describe(e);
    this.lastCause = this.causeOf(e);
    this.lastAttemptFailed = true;
    this.emit('store.write_failed', {
      reason: this.lastErr,
      code: codeOf(e),
      rows,
      queued: this.queued,
      retry_in_ms: this.backoffMs,
    });
    return 'retry';
  }

  private drop(rows: number, e: unknown, rowId?: string): void {
    this.consume(rows);
    const cause = this.causeOf(e);
    // A bad row says nothing about the database: it must not colour later queue drops.
    if (cause !== 'bad_row') this.lastCause = cause;
    this.fail(rows, describe(e), cause);
    this.emit('store.write_failed', {
      reason: this.lastErr,
      code: codeOf(e),
      rows_dropped: rows,
      lost_as: cause,
      queued: this.queued,
      ...(rowId === undefined ? {} : { row_id: rowId }),
    });
  }

  private fail(rows: number, reason: string, cause: LossReason): void {
    this.failed += rows;
    this.count(cause, rows);
    this.lastErr = reason;
  }

  private count(cause: LossReason, rows: number): void {
    this.lost.set(cause, (this.lost.get(cause) ?? 0) + rows);
  }

  private causeOf(e: unknown): LossReason {
    if (!this.db.open) return 'shutdown';
    if (this.db.readonly) return 'db_readonly';
    if (e instanceof MeterError) return e.code === 'db_newer' ? 'db_readonly' : 'bad_row';
    const code = sqliteCode(e);
    if (code === null) return e instanceof TypeError || e instanceof RangeError ? 'bad_row' : 'db_error';
    // SQLite reports ENOSPC from any write (WAL, journal, database file) as SQLITE_FULL.
    if (code.startsWith('SQLITE_FULL')) return 'disk_full';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'db_locked';
    if (code.startsWith('SQLITE_READONLY')) return 'db_readonly';
    if (ROW_ERROR_CODES.some((p) => code.startsWith(p))) return 'bad_row';
    return 'db_error';
  }

  private reportDrops(): void {
    if (this.droppedUnreported === 0) return;
    this.emit('store.write_failed', {
      reason: `queue full (${this.maxQueue} rows)`,
      code: 'queue_full',
      rows_dropped: this.droppedUnreported,
      queued: this.queued,
    });
    this.droppedUnreported = 0;
  }

  private consume(n: number): void {
    this.head += n;
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private backingOff(): boolean {
    return Date.now() < this.retryAt;
  }

  // A logger that throws must not take the writer down with it.
  private emit(event: string, fields: Record<string, unknown>): void {
    try {
      this.onEvent(event, fields);
    } catch {
      // ignored on purpose: see above
    }
  }
}

function describe(e: unknown): string {
  const code = codeOf(e);
  return code ? `${code}: ${errorMessage(e)}` : errorMessage(e);
}

function codeOf(e: unknown): string | null {
  if (e instanceof MeterError) return e.code;
  return sqliteCode(e);
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new MeterError('bad_argument', `RowWriter ${name} must be > 0, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new MeterError('bad_argument', `RowWriter ${name} must be >= 0, got ${v}`);
  return v;
}
