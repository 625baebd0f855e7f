// Lost rows are counted with their reason (issue 6): the daemon's status and its exit log show
// rows_lost_by_reason, so "N failed" always comes with why. And the writer tells a database that
// refuses every row (the daemon goes unhealthy) from one that is only failing for a while (a lock, a
// full disk: rows wait in memory and the daemon keeps metering).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { RequestRow } from '../../src/core/request-row.js';
import { openDb, RowWriter, type Db } from '../../src/store/index.js';
import { LOSS_REASONS } from '../../src/store/writer.js';

const root = mkdtempSync(join(tmpdir(), 'halton-writer-loss-'));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const freshPath = (): string => join(root, `case-${++seq}`, 'db.sqlite');

function row(id = `00000000-0000-4000-9000-${String(++seq).padStart(12, '0')}`): RequestRow {
  return {
    id,
    projectSlug: 'alpha',
    provider: 'anthropic',
    mode: 'api',
    requestKind: 'messages',
    host: 'api.anthropic.com',
    path: '/v1/messages',
    model: 'claude-sonnet-4-5',
    modelRequested: 'claude-sonnet-4-5',
    statusCode: 200,
    errorClass: null,
    stream: false,
    inputTokens: 10,
    cacheReadTokens: 0,
    cacheWrite5mTokens: 0,
    cacheWrite1hTokens: 0,
    outputTokens: 5,
    thinkingTokens: 0,
    webSearchRequests: 0,
    costUsdMinorUnits: 1,
    costReason: null,
    ratesSource: 'bundled-2025-06-01',
    serviceTier: 'standard',
    latencyMs: 10,
    ttfbMs: 5,
    tokensComplete: true,
    usageSource: 'reported',
    outcome: 'completed',
    attributionRule: 'default',
    clientPid: null,
    clientName: null,
    providerRequestId: null,
    usageJson: null,
    requestedAt: new Date(0).toISOString(),
    completedAt: new Date(0).toISOString(),
  };
}

async function waitFor(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function withLockedDb(fn: (db: Db, unlock: () => void) => Promise<void>): Promise<void> {
  const path = freshPath();
  const db = openDb(path);
  const other = openDb(path);
  other.exec('BEGIN EXCLUSIVE');
  let locked = true;
  const unlock = (): void => {
    if (locked) other.exec('COMMIT');
    locked = false;
  };
  try {
    await fn(db, unlock);
  } finally {
    unlock();
    other.close();
    db.close();
  }
}

describe('rows_lost_by_reason', () => {
  test('the reasons are a closed list', () => {
    assert.deepEqual([...LOSS_REASONS], ['disk_full', 'db_locked', 'db_readonly', 'db_error', 'bad_row', 'queue_full', 'shutdown']);
  });

  test('a queue that overflows while writes work: queue_full', () => {
    const db = openDb(freshPath());
    const writer = new RowWriter(db, { maxQueue: 10, flushMs: 60_000 });
    try {
      for (let i = 0; i < 13; i++) writer.enqueue(row());
      assert.equal(writer.rowsFailed, 3);
      assert.deepEqual(writer.rowsLostByReason, { queue_full: 3 });
      assert.equal(writer.failing, false);
    } finally {
      writer.close();
      db.close();
    }
  });

  test('a queue that overflows because another process holds the lock: db_locked, and failing is not refusing', async () => {
    await withLockedDb(async (db, unlock) => {
      const writer = new RowWriter(db, { maxQueue: 20, flushMs: 5, maxBackoffMs: 20 });
      try {
        for (let i = 0; i < 20; i++) writer.enqueue(row());
        await waitFor('the lock to be hit', () => writer.failing);
        for (let i = 0; i < 4; i++) writer.enqueue(row());
        assert.deepEqual(writer.rowsLostByReason, { db_locked: 4 });
        assert.equal(writer.refusing, false, 'a lock is ridden out, not a reason to stop metering');
        unlock();
        await waitFor('the queued rows', () => writer.rowsWritten === 20);
        assert.equal(writer.failing, false);
        assert.deepEqual(writer.rowsLostByReason, { db_locked: 4 });
      } finally {
        writer.close();
      }
    });
  });

  test('rows still queued when the writer closes are lost to the error that kept them out', async () => {
    await withLockedDb(async (db) => {
      const writer = new RowWriter(db, { flushMs: 5, flushBusyTimeoutMs: 20 });
      for (let i = 0; i < 7; i++) writer.enqueue(row());
      await waitFor('the lock to be hit', () => writer.failing);
      writer.close();
      assert.equal(writer.rowsFailed, 7);
      assert.deepEqual(writer.rowsLostByReason, { db_locked: 7 });
    });
  });

  test('a row handed over after close: shutdown', () => {
    const db = openDb(freshPath());
    const writer = new RowWriter(db);
    writer.close();
    writer.enqueue(row());
    writer.enqueue(row());
    assert.deepEqual(writer.rowsLostByReason, { shutdown: 2 });
    assert.equal(writer.refusing, true);
    db.close();
  });

  test('a row SQLite rejects: bad_row, and it does not make later drops look like a database problem', () => {
    const db = openDb(freshPath());
    const writer = new RowWriter(db, { flushMs: 60_000 });
    try {
      const dup = row();
      writer.enqueue(dup);
      writer.flush();
      writer.enqueue(row(dup.id));
      writer.enqueue(row());
      writer.flush();
      assert.equal(writer.rowsWritten, 2);
      assert.deepEqual(writer.rowsLostByReason, { bad_row: 1 });
      assert.equal(writer.refusing, false);
    } finally {
      writer.close();
      db.close();
    }
  });

  test('a read-only database refuses every row: db_readonly', () => {
    const path = freshPath();
    openDb(path).close();
    const db = openDb(path, { readonly: true });
    const writer = new RowWriter(db, { flushMs: 60_000 });
    try {
      assert.equal(writer.refusing, true);
      writer.enqueue(row());
      writer.flush();
      assert.deepEqual(writer.rowsLostByReason, { db_readonly: 1 });
      assert.deepEqual(writer.stats().rowsLostByReason, { db_readonly: 1 });
    } finally {
      writer.close();
      db.close();
    }
  });
});
