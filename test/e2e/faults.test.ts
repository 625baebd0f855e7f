// The fault suite's deterministic half (issue 6). Each fault is injected for real: a provider that
// resets, stalls or sends broken bodies; a database held by another process's exclusive lock; a disk
// that fills up (a small tmpfs on the data directory); SIGTERM while many streams run; a client that
// stops reading a huge stream; slowloris heads against the edge and inside the tunnel; 10,000
// connections opened and dropped. What must hold every time: no client error the provider did not cause, no daemon crash,
// every completed exchange exactly one row or counted as lost with a reason, memory and file
// descriptors bounded. resilience.test.ts covers the single-stream and daemon-down cases; this file
// does not repeat them. The non-deterministic faults under load are bench/faults.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { Agent, fetch as undiciFetch, ProxyAgent } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startMeter, waitUntil, type MeterProcs } from '../helpers/meter.js';
import { startFaultUpstream, type FaultUpstream } from '../helpers/fault-upstream.js';
import {
  collectStderr,
  DROP_MIX,
  fdCount,
  fillFilesystem,
  logEvents,
  openAndDropAll,
  rawRequest,
  requestBody,
  requestHeaders,
  rssMb,
  startSlowloris,
  stopMeterHard,
  tunnel as openTunnel,
  type Slowloris,
} from '../helpers/fault-clients.js';

let pki: TestPki;
let up: FaultUpstream;
let meter: MeterProcs;
let slowloris: Slowloris;
let slowInside: SlowHeadsInside;

before(async () => {
  pki = makeTestPki();
  up = await startFaultUpstream(pki);
  meter = await startMeter({ pki, upstreamPort: up.port });
  // Slow heads run in the background during the whole file: every other test also checks that the
  // edge keeps serving while they are pending, and the last tests check they were dropped.
  slowloris = startSlowloris(meter.edgePort, 150, 30);
  slowInside = await startSlowHeadsInside(20);
});

after(async () => {
  slowloris?.stop();
  slowInside?.stop();
  await stopMeterHard(meter);
  await up?.close();
});

// ---------------------------------------------------------------------------------------------------
// Clients

interface CallResult {
  status: number;
  headers: Headers;
  body: string;
  /** Set when the client saw a transport error (reset, closed, aborted) instead of a whole body. */
  error: string | null;
}

interface CallOptions {
  marker: string;
  fault?: string;
  stream?: boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

function requestInit(o: CallOptions): { method: string; headers: Record<string, string>; body: string; signal?: AbortSignal } {
  return { method: 'POST', headers: requestHeaders(o), body: requestBody(o), ...(o.signal ? { signal: o.signal } : {}) };
}

/** One call through the edge on a brand-new connection (a fresh proxy agent), like a one-shot CLI. */
async function call(o: CallOptions, edgePort = meter.edgePort, bundle = meter.clientBundlePath): Promise<CallResult> {
  const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${edgePort}`, requestTls: { ca: readFileSync(bundle, 'utf8') } });
  return fetchWith(dispatcher, 'https://api.anthropic.com/v1/messages', o);
}

/** The same call straight to the fault upstream: what the client would see without the meter. */
async function direct(o: CallOptions): Promise<CallResult> {
  const dispatcher = new Agent({ connect: { ca: pki.caCert, servername: 'api.anthropic.com' } });
  return fetchWith(dispatcher, `https://127.0.0.1:${up.port}/v1/messages`, { ...o, headers: { host: 'api.anthropic.com', ...(o.headers ?? {}) } });
}

async function fetchWith(dispatcher: Agent | ProxyAgent, url: string, o: CallOptions): Promise<CallResult> {
  try {
    const res = await undiciFetch(url, { ...requestInit(o), dispatcher });
    let body = '';
    let error: string | null = null;
    try {
      body = await res.text();
    } catch (e) {
      error = describeError(e);
    }
    return { status: res.status, headers: res.headers as unknown as Headers, body, error };
  } catch (e) {
    return { status: 0, headers: new Headers(), body: '', error: describeError(e) };
  } finally {
    void dispatcher.close().catch(() => undefined);
  }
}

function describeError(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  return [err.name, err.message, err.cause?.code, err.cause?.message].filter(Boolean).join(': ');
}

/** A CONNECT tunnel through the edge and TLS to the provider host inside it, trusting the meter's CA. */
async function tunnel(): Promise<TLSSocket> {
  return (await openTunnel(meter.edgePort, readFileSync(meter.clientBundlePath, 'utf8'))).socket;
}

// ---------------------------------------------------------------------------------------------------
// Process facts

async function status(m: MeterProcs = meter): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${m.apiPort}/v1/daemon/status`);
  return (await res.json()) as Record<string, unknown>;
}

async function health(m: MeterProcs = meter): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${m.apiPort}/health`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function pidOf(child: ChildProcess | null): number {
  assert.ok(child?.pid, 'process is running');
  return child.pid;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface SlowHeadsInside {
  total: number;
  closedByDaemon(): number;
  answers(): string[];
  stop(): void;
}

/**
 * Slowloris one level down: the edge chains the CONNECT to the daemon, TLS completes, and the
 * decrypted request head then comes a byte at a time. Only the daemon's HTTP server can drop it.
 */
async function startSlowHeadsInside(n: number): Promise<SlowHeadsInside> {
  const head = Buffer.from(rawRequest({ marker: 'f-slow-inside' }).split('\r\n\r\n')[0]);
  const socks = await Promise.all(Array.from({ length: n }, () => tunnel()));
  const state = socks.map((t) => ({ t, sent: 0, closed: false, answer: '' }));
  let stopping = false;
  for (const e of state) {
    e.t.on('data', (d: Buffer) => (e.answer += d.toString('latin1')));
    e.t.on('error', () => undefined);
    e.t.on('close', () => {
      if (!stopping) e.closed = true;
    });
  }
  const timer = setInterval(() => {
    for (const e of state) {
      // Never the blank line that ends a head.
      if (e.closed || e.sent >= head.length) continue;
      e.t.write(head.subarray(e.sent, e.sent + 1));
      e.sent++;
    }
  }, 250);
  return {
    total: n,
    closedByDaemon: () => state.filter((e) => e.closed).length,
    answers: () => state.map((e) => e.answer).filter(Boolean),
    stop: () => {
      stopping = true;
      clearInterval(timer);
      for (const e of state) e.t.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------------

describe('the provider misbehaves', { timeout: 120_000 }, () => {
  test('reset before the answer: the client gets a 502 naming the cause, the row says failed', async () => {
    const plain = await direct({ marker: 'f-reset-direct', fault: 'reset-before-headers' });
    assert.equal(plain.status, 0, 'without the meter the client sees a reset');
    const r = await call({ marker: 'f-reset-head', fault: 'reset-before-headers' });
    assert.equal(r.status, 502);
    assert.equal(r.headers.get('x-halton-meter-error'), 'upstream_unreachable');
    assert.match(r.body, /ECONNRESET/);
    const rows = await meter.waitForRows(1, "r.model_requested = 'f-reset-head'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].outcome, 'failed');
    assert.equal(rows[0].input_tokens, null);
  });

  test('reset in the middle of a stream: the client sees the break (as it would direct), one aborted row', async () => {
    const plain = await direct({ marker: 'f-reset-direct', fault: 'reset-mid-stream', stream: true });
    assert.equal(plain.status, 200);
    assert.notEqual(plain.error, null, 'without the meter the body breaks');
    const r = await call({ marker: 'f-reset-mid', fault: 'reset-mid-stream', stream: true });
    assert.equal(r.status, 200);
    assert.notEqual(r.error, null, 'the break reaches the client: the meter does not pretend the stream ended well');
    const rows = await meter.waitForRows(1, "r.model_requested = 'f-reset-mid'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].outcome, 'aborted');
    assert.equal(rows[0].error_class, 'upstream_aborted');
    assert.equal(rows[0].tokens_complete, 0);
    assert.equal(rows[0].input_tokens, 1200, 'what was seen before the reset is kept');
  });

  test('a body shorter than its Content-Length: the client sees the break, one aborted row', async () => {
    const r = await call({ marker: 'f-short', fault: 'short-body' });
    assert.equal(r.status, 200);
    assert.notEqual(r.error, null);
    const rows = await meter.waitForRows(1, "r.model_requested = 'f-short'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].outcome, 'aborted');
    assert.equal(rows[0].error_class, 'upstream_aborted');
  });

  test('broken SSE and broken JSON reach the client byte for byte; the row has no cost and says why', async () => {
    for (const [fault, stream] of [['malformed-sse', true], ['malformed-json', false]] as const) {
      const marker = `f-${fault}`;
      const plain = await direct({ marker, fault, stream });
      const r = await call({ marker, fault, stream });
      assert.equal(r.status, 200);
      assert.equal(r.error, null);
      // Byte for byte, but for the message id the provider numbers per request.
      const ids = (t: string): string => t.replace(/_fault_\d+/g, '_fault_N');
      assert.equal(ids(r.body), ids(plain.body), `${fault}: the client's bytes are the provider's`);
      const rows = await meter.waitForRows(1, `r.model_requested = '${marker}'`);
      assert.equal(rows.length, 1, fault);
      assert.equal(rows[0].cost_usd_minor_units, null, `${fault}: no invented cost`);
      assert.ok(rows[0].cost_reason, `${fault}: a reason instead of a cost`);
      assert.equal(rows[0].tokens_complete, 0, fault);
    }
  });

  test('a stall mid-stream holds only that client; when it gives up, one row and the upstream socket is released', async () => {
    const sockets = up.openSockets();
    const t = await tunnel();
    let got = '';
    t.on('data', (d: Buffer) => (got += d.toString('utf8')));
    t.write(rawRequest({ marker: 'f-stall-mid', fault: 'stall-mid-stream', stream: true }));
    await waitUntil(() => got.includes('content_block_delta'), 10_000, 'the events sent before the stall');
    // Others are served while this stream hangs.
    const other = await call({ marker: 'f-during-stall' });
    assert.equal(other.status, 200);
    t.destroy();
    const rows = await meter.waitForRows(1, "r.model_requested = 'f-stall-mid'");
    assert.equal(rows[0].outcome, 'aborted');
    assert.equal(rows[0].error_class, 'client_aborted');
    assert.equal(rows[0].input_tokens, 1200);
    await waitUntil(() => up.openSockets() <= sockets, 10_000, 'the stalled upstream connection to be closed by the daemon');
  });

  test('a stall before the answer: the client that gives up gets a client_aborted row, not a made-up upstream failure', async () => {
    const sockets = up.openSockets();
    const ac = new AbortController();
    const pending = call({ marker: 'f-stall-head', fault: 'stall-before-headers', signal: ac.signal });
    await waitUntil(() => (up.seen.get('stall-before-headers') ?? 0) >= 1, 10_000, 'the request to reach the provider');
    ac.abort();
    const r = await pending;
    assert.equal(r.status, 0);
    const rows = await meter.waitForRows(1, "r.model_requested = 'f-stall-head'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].outcome, 'aborted');
    assert.equal(rows[0].error_class, 'client_aborted');
    await waitUntil(() => up.openSockets() <= sockets, 10_000, 'the stalled upstream connection to be closed by the daemon');
  });

  test('after all of that: same daemon, nothing in flight, nothing lost', async () => {
    const r = await call({ marker: 'f-after-upstream' });
    assert.equal(r.status, 200);
    await meter.waitForRows(1, "r.model_requested = 'f-after-upstream'");
    const s = await status();
    assert.equal(s.in_flight, 0);
    assert.equal(s.rows_failed, 0);
    assert.equal(s.rows_queued, 0);
  });
});

describe('the database is locked by another process', { timeout: 120_000 }, () => {
  test('calls keep working and stay metered; the rows arrive when the lock is released', async () => {
    const holder = spawn('python3', ['-c', [
      'import sqlite3, sys',
      `c = sqlite3.connect(${JSON.stringify(meter.dbPath)}, isolation_level=None, timeout=10)`,
      "c.execute('BEGIN EXCLUSIVE')",
      "print('locked', flush=True)",
      'sys.stdin.readline()',
      "c.execute('COMMIT')",
      "print('released', flush=True)",
    ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    holder.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // A failed assertion must not leave the lock held: every later test would wait on it.
    try {
      await waitUntil(() => out.includes('locked'), 10_000, 'python3 to hold the lock');
      const before = (await status()).rows_written as number;

      const n = 12;
      for (let i = 0; i < n; i++) {
        const r = await call({ marker: 'f-locked', stream: i % 2 === 0 });
        assert.equal(r.status, 200);
        assert.equal(r.error, null);
      }
      await waitUntil(async () => {
        const s = await status();
        return s.write_failing === true && s.in_flight === 0;
      }, 10_000, 'the writer to notice the lock, and every exchange to be metered');
      const during = await status();
      assert.equal(during.rows_written, before, 'nothing can be written while the lock is held');
      assert.equal(during.rows_queued, n, 'every row is held in memory, none dropped');
      assert.match(String(during.last_write_error), /SQLITE_BUSY/);
      assert.equal((await health()).status, 200, 'a lock another process holds for a while is no reason to stop metering');

      holder.stdin.write('\n');
      await waitUntil(() => out.includes('released'), 10_000, 'python3 to release the lock');
    } finally {
      if (holder.exitCode === null) holder.kill('SIGKILL');
    }
    const n = 12;
    const rows = await meter.waitForRows(n, "r.model_requested = 'f-locked'", 20_000);
    assert.equal(rows.length, n);
    const after = await status();
    assert.equal(after.rows_failed, 0);
    assert.equal(after.write_failing, false);
  });
});

describe('the disk fills up under the database', { timeout: 120_000, skip: process.getuid?.() === 0 ? false : 'mounting a tmpfs needs root' }, () => {
  let full: MeterProcs;
  let fullUp: FaultUpstream;
  let mountPoint = '';
  let fillerPath = '';

  before(async () => {
    fullUp = await startFaultUpstream(pki);
    full = await startMeter({
      pki,
      upstreamPort: fullUp.port,
      prepareDataDir: (dir) => {
        // A 3 MiB tmpfs holds the database, its WAL and the logs: filling it is a real ENOSPC for
        // every writer in the daemon, not a simulated error.
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m,mode=0700', 'tmpfs', dir]);
        mountPoint = dir;
      },
    });
    fillerPath = `${mountPoint}/filler`;
  });

  after(async () => {
    await stopMeterHard(full);
    await fullUp?.close();
    if (mountPoint) execFileSync('umount', ['-l', mountPoint]);
  });

  function fillDisk(): void {
    assert.ok(fillFilesystem(fillerPath) > 0);
  }

  /**
   * Fills the disk, then makes calls until the writer hits ENOSPC. SQLite reuses WAL space it already
   * has (after a checkpoint the WAL restarts from its beginning), so the first rows after the fill
   * may still fit: how many is not fixed, what happens to each call is. Returns the calls made.
   */
  async function fillAndCallUntilFailing(marker: string): Promise<number> {
    fillDisk();
    let calls = 0;
    while (!((await status(full)).write_failing === true)) {
      assert.ok(calls < 400, 'the writer never hit the full disk');
      const r = await call({ marker, stream: calls % 2 === 1 }, full.edgePort, full.clientBundlePath);
      assert.equal(r.status, 200, 'a full disk never reaches the client');
      assert.equal(r.error, null);
      calls++;
      await sleep(20);
    }
    for (let i = 0; i < 5; i++, calls++) {
      const r = await call({ marker, stream: i % 2 === 1 }, full.edgePort, full.clientBundlePath);
      assert.equal(r.status, 200, 'a full disk never reaches the client');
      assert.equal(r.error, null);
    }
    return calls;
  }

  /** Rows queued once every exchange has been metered (nothing in flight). */
  async function settledQueue(): Promise<number> {
    let s: Record<string, unknown> = {};
    await waitUntil(async () => {
      s = await status(full);
      return s.in_flight === 0;
    }, 10_000, 'the exchanges to be metered');
    return s.rows_queued as number;
  }

  test('while full: traffic is untouched, rows wait in memory; space freed: they are written', async () => {
    const warm = await call({ marker: 'f-disk-warm' }, full.edgePort, full.clientBundlePath);
    assert.equal(warm.status, 200);
    await full.waitForRows(1, "r.model_requested = 'f-disk-warm'");

    const calls = await fillAndCallUntilFailing('f-disk-full');
    const during = await status(full);
    assert.match(String(during.last_write_error), /SQLITE_FULL/);
    assert.ok((await settledQueue()) >= 5, 'the rows wait in memory');
    assert.equal(during.rows_failed, 0, 'none is dropped');
    assert.equal((await health(full)).status, 200, 'still healthy: new connections stay metered');

    rmSync(fillerPath);
    const logSize = statSync(`${mountPoint}/daemon.log`).size;
    const rows = await full.waitForRows(calls, "r.model_requested = 'f-disk-full'", 20_000);
    assert.equal(rows.length, calls, 'every call made while the disk was full has its row');
    const after = await status(full);
    assert.equal(after.write_failing, false);
    assert.equal(after.rows_failed, 0);
    // The log file has room again too: new lines reach it (the logger retries a failed file every
    // few seconds; each call logs intercept.complete).
    await waitUntil(
      async () => {
        const r = await call({ marker: 'f-disk-logs' }, full.edgePort, full.clientBundlePath);
        assert.equal(r.status, 200);
        return statSync(`${mountPoint}/daemon.log`).size > logSize;
      },
      20_000,
      'daemon.log to be written again',
    );
  });

  test('stopped while the disk is still full: the rows it could not write are counted as lost, with the reason', async () => {
    await waitUntil(async () => (await status(full)).rows_queued === 0, 10_000, 'the queue to be empty');
    const calls = await fillAndCallUntilFailing('f-disk-stop');
    const queued = await settledQueue();
    assert.ok(queued >= 5);
    const stderr = collectStderr(full.daemon);
    const code = await full.stopDaemon('SIGTERM');
    assert.equal(code, 0, 'a full disk does not crash the daemon, even at shutdown');
    const exit = logEvents(stderr(), 'daemon.exit');
    assert.equal(exit.length, 1);
    assert.equal(exit[0].rows_failed, queued);
    assert.deepEqual(JSON.parse(String(exit[0].rows_lost_by_reason)), { disk_full: queued });

    rmSync(fillerPath);
    await full.startDaemon();
    const r = await call({ marker: 'f-disk-restarted' }, full.edgePort, full.clientBundlePath);
    assert.equal(r.status, 200);
    await full.waitForRows(1, "r.model_requested = 'f-disk-restarted'");
    // Each call is a row or one of the rows counted lost: nothing in between.
    assert.equal(full.rows("r.model_requested = 'f-disk-stop'").length, calls - queued);
  });
});

describe('a client that stops reading a huge stream', { timeout: 120_000 }, () => {
  test('back-pressure reaches the provider; daemon and edge memory stay bounded; one row when the client leaves', async (ctx) => {
    const daemonPid = pidOf(meter.daemon);
    const edgePid = pidOf(meter.edge);
    const daemonBefore = rssMb(daemonPid);
    const edgeBefore = rssMb(edgePid);
    const sentBefore = up.firehoseBytes();
    const t = await tunnel();
    let received = 0;
    t.on('data', (d: Buffer) => {
      received += d.length;
      // Read the head, then stop: the socket is paused and nothing more is taken from the kernel.
      if (received > 0) t.pause();
    });
    t.write(rawRequest({ marker: 'f-backpressure', fault: 'firehose', stream: true }));
    // The provider writes as fast as it is allowed to: once it has been blocked for a second,
    // every buffer on the way is full.
    await waitUntil(() => up.firehoseBlockedMs() > 1000, 60_000, 'the provider to be blocked by back-pressure');
    const sent = up.firehoseBytes() - sentBefore;
    const daemonGrowth = rssMb(daemonPid) - daemonBefore;
    const edgeGrowth = rssMb(edgePid) - edgeBefore;
    // Socket buffers on three loopback hops can hold tens of MiB (tcp_rmem max is 32 MiB here); the
    // provider would send 4 GiB if nothing pushed back.
    ctx.diagnostic(`provider held back after ${Math.round(sent / 1048576)} MiB; RSS growth daemon ${daemonGrowth.toFixed(1)} MiB, edge ${edgeGrowth.toFixed(1)} MiB`);
    assert.ok(sent < 512 * 1024 * 1024, `the provider was held back (sent ${Math.round(sent / 1048576)} MiB)`);
    assert.ok(daemonGrowth < 96, `daemon memory grew ${daemonGrowth.toFixed(1)} MiB while the client did not read`);
    assert.ok(edgeGrowth < 48, `edge memory grew ${edgeGrowth.toFixed(1)} MiB while the client did not read`);
    t.destroy();
    const rows = await meter.waitForRows(1, "r.model_requested = 'f-backpressure'");
    assert.equal(rows[0].outcome, 'aborted');
    assert.equal(rows[0].error_class, 'client_aborted');
    assert.equal(rows[0].input_tokens, 1200);
  });
});

describe('10,000 connections opened and dropped', { timeout: 120_000 }, () => {
  test('edge and daemon keep serving and hold no more file descriptors than before', async (t) => {
    // Warm both processes up, so lazily opened descriptors (log file, upstream pool) are in the baseline.
    assert.equal((await call({ marker: 'f-conn-warm' })).status, 200);
    await meter.waitForRows(1, "r.model_requested = 'f-conn-warm'");
    const edgePid = pidOf(meter.edge);
    const daemonPid = pidOf(meter.daemon);
    // The slow heads above are still open on the edge: the baseline counts them and the check
    // below waits for them to be gone, so they are not counted twice.
    await waitUntil(() => slowloris.closedByEdge() === slowloris.total, 90_000, 'the edge to drop every slow head');
    const edgeBase = fdCount(edgePid);
    const daemonBase = fdCount(daemonPid);

    assert.equal(DROP_MIX.reduce((a, k) => a + k.n, 0), 10_000);
    const started = Date.now();
    const failures = await openAndDropAll(meter.edgePort, readFileSync(meter.clientBundlePath, 'utf8'), 'f-conn');
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} connections could not even be set up`);
    const peak = { edge: fdCount(edgePid), daemon: fdCount(daemonPid) };
    t.diagnostic(`10,000 connections in ${((Date.now() - started) / 1000).toFixed(1)} s; fds edge ${edgeBase} -> ${peak.edge} right after, daemon ${daemonBase} -> ${peak.daemon}`);

    // Still serving.
    const after = await call({ marker: 'f-conn-after' });
    assert.equal(after.status, 200);
    await meter.waitForRows(1, "r.model_requested = 'f-conn-after'");
    assert.equal(meter.edge.pid, edgePid);
    assert.equal(meter.daemon?.pid, daemonPid);
    // Every request that was sent whole is one row (completed or client_aborted), whatever the timing.
    const dropped = await meter.waitForRows(200, "r.model_requested = 'f-conn-request-drop'", 30_000);
    assert.equal(dropped.length, 200);
    assert.equal(meter.rows("r.model_requested = 'f-conn-half-request'").length, 0);

    // Descriptors come back: keep-alive sockets to the provider close on its idle timeout (5 s).
    await waitUntil(() => fdCount(edgePid) <= edgeBase, 30_000, `edge descriptors back to ${edgeBase} (now ${fdCount(edgePid)})`);
    await waitUntil(() => fdCount(daemonPid) <= daemonBase, 30_000, `daemon descriptors back to ${daemonBase} (now ${fdCount(daemonPid)})`);
  });
});

describe('slowloris against the edge (running since the start of this file)', { timeout: 120_000 }, () => {
  test('every slow or silent head was dropped by the edge, and it served everyone else meanwhile', async () => {
    await waitUntil(() => slowloris.closedByEdge() === slowloris.total, 90_000, 'the edge to drop every slow head');
    for (const a of slowloris.answers()) assert.match(a, /^HTTP\/1\.1 (408|400)/);
    const r = await call({ marker: 'f-after-slowloris' });
    assert.equal(r.status, 200);
  });

  test('a decrypted head sent a byte at a time inside the tunnel is dropped by the daemon (headersTimeout, 60 s)', async () => {
    await waitUntil(() => slowInside.closedByDaemon() === slowInside.total, 100_000, 'the daemon to drop every slow decrypted head');
    for (const a of slowInside.answers()) assert.match(a, /^HTTP\/1\.1 408/);
    assert.equal(meter.rows("r.model_requested = 'f-slow-inside'").length, 0, 'no request, no row');
  });
});

describe('SIGTERM while many streams run', { timeout: 120_000 }, () => {
  test('every stream finishes, new connections go straight through, a keep-alive request is answered with Connection: close', async () => {
    const streams = 8;
    const firstEvents: Array<Promise<void>> = [];
    const done: Array<Promise<{ body: string; error: string | null }>> = [];
    for (let i = 0; i < streams; i++) {
      const t = await tunnel();
      let got = '';
      let resolveFirst!: () => void;
      firstEvents.push(new Promise<void>((r) => (resolveFirst = r)));
      done.push(
        new Promise((resolve) => {
          t.on('data', (d: Buffer) => {
            got += d.toString('utf8');
            if (got.includes('message_start')) resolveFirst();
            if (got.includes('event: message_stop')) {
              t.destroy();
              resolve({ body: got, error: null });
            }
          });
          t.on('error', (e) => resolve({ body: got, error: e.message }));
          t.on('close', () => resolve({ body: got, error: got.includes('message_stop') ? null : 'closed early' }));
        }),
      );
      t.write(rawRequest({ marker: 'f-term-stream', stream: true, headers: { 'x-events': '30', 'x-delay-ms': '50' } }));
    }
    await Promise.all(firstEvents);

    // A keep-alive connection that has already carried one exchange.
    const ka = await tunnel();
    let kaText = '';
    ka.on('data', (d: Buffer) => (kaText += d.toString('latin1')));
    ka.write(rawRequest({ marker: 'f-term-ka' }));
    await waitUntil(() => kaText.includes('"usage"'), 10_000, 'the first keep-alive answer');

    const stderr = collectStderr(meter.daemon);
    const exited = meter.stopDaemon('SIGTERM');
    await waitUntil(async () => (await health().catch(() => ({ status: 0, body: {} }))).status !== 200, 10_000, 'the daemon to start draining');

    // New connections meanwhile: passthrough, no error.
    for (let i = 0; i < 3; i++) {
      const r = await call({ marker: 'f-term-new' });
      assert.equal(r.status, 200);
      assert.equal(r.error, null);
    }
    // The open keep-alive connection is still served, and told to close.
    kaText = '';
    ka.write(rawRequest({ marker: 'f-term-ka' }));
    await waitUntil(() => kaText.includes('"usage"'), 10_000, 'the second keep-alive answer');
    assert.match(kaText, /^HTTP\/1\.1 200/);
    assert.match(kaText, /\r\nConnection: close\r\n/i, JSON.stringify(kaText));
    ka.destroy();

    const results = await Promise.all(done);
    for (const r of results) {
      assert.equal(r.error, null);
      assert.match(r.body, /message_stop/);
    }
    assert.equal(await exited, 0);
    const exit = logEvents(stderr(), 'daemon.exit');
    assert.equal(exit[0]?.unfinished, 0);
    assert.equal(exit[0]?.rows_failed, 0);

    const rows = meter.rows("r.model_requested = 'f-term-stream'");
    assert.equal(rows.length, streams);
    for (const row of rows) assert.equal(row.tokens_complete, 1);
    assert.equal(meter.rows("r.model_requested = 'f-term-ka'").length, 2);
    assert.equal(meter.rows("r.model_requested = 'f-term-new'").length, 0, 'passthrough while the daemon stops: no row, and no error');
    await meter.startDaemon();
  });
});

describe('the terminal or parent that started edge and daemon goes away (stderr: EPIPE)', { timeout: 120_000 }, () => {
  test('both keep serving and logging to their files, without an uncaught error per line', async () => {
    // Close our end of their stderr pipes: their next writes fail with EPIPE.
    meter.edge.stderr?.destroy();
    meter.daemon?.stderr?.destroy();
    const edgeLog = `${meter.home}/.halton-meter/edge.log`;
    const daemonLines = meter.daemonLog().length;
    for (let i = 0; i < 3; i++) {
      // Bounded: a process stuck in an error loop answers nothing at all.
      const r = await call({ marker: 'f-epipe', signal: AbortSignal.timeout(10_000) });
      assert.equal(r.status, 200, `metered call: ${r.error ?? ''}`);
      // A host the edge tunnels itself: it logs edge.passthrough.
      const plain = await undiciFetch('https://plain.example.test/v1/messages', {
        ...requestInit({ marker: 'f-epipe-plain', signal: AbortSignal.timeout(10_000) }),
        dispatcher: new ProxyAgent({ uri: `http://127.0.0.1:${meter.edgePort}`, requestTls: { ca: readFileSync(meter.clientBundlePath, 'utf8') } }),
      });
      assert.equal(plain.status, 200);
      await plain.text();
    }
    await meter.waitForRows(3, "r.model_requested = 'f-epipe'");
    // The lines keep going to the files, and none of them is an uncaught error.
    await waitUntil(() => /intercept\.complete/.test(meter.daemonLog().slice(daemonLines)), 10_000, 'daemon.log to go on');
    assert.doesNotMatch(meter.daemonLog(), /daemon\.uncaught/);
    assert.match(readFileSync(edgeLog, 'utf8'), /edge\.passthrough/);
    assert.doesNotMatch(readFileSync(edgeLog, 'utf8'), /edge\.uncaught/);
    assert.equal((await health()).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${meter.edgePort}/health`, { signal: AbortSignal.timeout(5000) })).status, 200);
  });
});
