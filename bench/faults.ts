// `npm run bench:faults` (node dist/bench/faults.js): the fault suite's non-deterministic half
// (issue 6). Each fault is injected while clients keep calling through the edge, and every call is
// accounted for: what the client saw, which path served it (the meter's certificate or the
// provider's own: a daemon that is down or stopping is bypassed), and whether its row is in SQLite.
// test/e2e/faults.test.ts checks the deterministic outcomes; this measures the same faults under load.
//
// For each fault it prints: requests sent; client errors, split into those the fault explains
// (the provider broke the exchange; a SIGKILLed daemon broke the connection the request was on; a
// stream cut at the 20 s drain deadline) and UNEXPLAINED ones; rows written; rows the daemon counted
// as lost, by reason (rows_lost_by_reason in /v1/daemon/status and in its daemon.exit line); rows
// that died in a SIGKILLed process's memory; and UNEXPLAINED lost rows. Expected: zero unexplained.
//
// A benchmark, not a test: it exits 0 whatever the figures say (non-zero only when the bench itself
// broke), prints a table, and writes dist/bench/faults-last.json. Needs root for the disk-full
// phase (a 16 MiB tmpfs is mounted on the data directory); without it that phase is skipped.
//
// Options: --only=sigkill,sigterm,restart-loop,db-locked,disk-full,upstream,slow-readers,slowloris,churn
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { Client } from 'undici';
import { repoRoot } from '../test/helpers/fake-provider.js';
import { startMeter, waitUntil, type MeterProcs } from '../test/helpers/meter.js';
import { makeTestPki, type TestPki } from '../test/helpers/pki.js';
import { startFaultUpstream, type FaultUpstream } from '../test/helpers/fault-upstream.js';
import {
  collectStderr,
  DROP_MIX,
  fdCount,
  fillFilesystem,
  HOST,
  logEvents,
  openAndDropAll,
  rawRequest,
  requestBody,
  requestHeaders,
  rssMb,
  startSlowloris,
  stopMeterHard,
  tunnel,
  type RawRequestOptions,
} from '../test/helpers/fault-clients.js';
import { machineInfo } from './report.js';

const PHASES = ['sigkill', 'sigterm', 'restart-loop', 'db-locked', 'disk-full', 'upstream', 'slow-readers', 'slowloris', 'churn'] as const;
type Phase = (typeof PHASES)[number];

/** A row completed this long before a SIGKILL may still have been in the killed daemon's memory: metering waits up to 2 s for attribution, then the writer batches every 50 ms. */
const KILL_WINDOW_MS = 2500;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------
// Load: clients calling through the edge, each call recorded

type Path = 'daemon' | 'passthrough' | 'none';

interface Rec {
  marker: string;
  kind: 'json' | 'sse' | 'long' | 'overlong' | 'firehose';
  fault: string;
  path: Path;
  /** When the connection the call went over was set up (performance.now()). */
  connOpenedAt: number;
  start: number;
  end: number;
  status: number;
  error: string | null;
}

interface Call {
  kind: Rec['kind'];
  opts: Omit<RawRequestOptions, 'marker'>;
  /** Client-side give-up (a stalled provider): the client aborts after this long. */
  abortAfterMs?: number;
}

/** Faults the provider causes, and whether the client is expected to see an error for them. */
const PROVIDER_FAULTS: Record<string, boolean> = {
  'reset-before-headers': true, // the meter answers 502 (the client would see a reset without it)
  'reset-mid-stream': true,
  'short-body': true,
  'stall-mid-stream': true, // the client gives up
  'stall-before-headers': true,
  'malformed-sse': false,
  'malformed-json': false,
};

interface LoadEnv {
  edgePort: number;
  ca: string;
  phase: string;
  records: Rec[];
  seq: { n: number };
}

/** One client with its own connection: keep-alive (SDK-like) or a new connection per call (CLI-like). */
class LoadClient {
  private readonly conn = { path: 'none' as Path, openedAt: 0 };
  private readonly client: Client;

  constructor(
    private readonly env: LoadEnv,
    private readonly oneShot: boolean,
  ) {
    const conn = this.conn;
    this.client = new Client(`https://${HOST}`, {
      pipelining: 1,
      // Through the edge by hand, so each connection knows who answered its TLS handshake.
      connect: (_opts, cb) => {
        conn.path = 'none';
        tunnel(env.edgePort, env.ca).then(
          (t) => {
            conn.path = t.path;
            conn.openedAt = performance.now();
            cb(null, t.socket);
          },
          (e: Error) => cb(e, null),
        );
      },
    });
  }

  async call(c: Call): Promise<Rec> {
    const marker = `bench-${this.env.phase}-${++this.env.seq.n}`;
    const o: RawRequestOptions = { ...c.opts, marker };
    const rec: Rec = { marker, kind: c.kind, fault: o.fault ?? 'ok', path: 'none', connOpenedAt: 0, start: performance.now(), end: 0, status: 0, error: null };
    this.env.records.push(rec);
    const signal = c.abortAfterMs ? AbortSignal.timeout(c.abortAfterMs) : undefined;
    try {
      const res = await this.client.request({ origin: `https://${HOST}`, path: '/v1/messages', method: 'POST', headers: { host: HOST, ...requestHeaders(o) }, body: requestBody(o), reset: this.oneShot, signal });
      rec.status = res.statusCode;
      const text = await res.body.text();
      if (rec.status !== 200) rec.error = `status ${rec.status}`;
      else if (rec.fault === 'ok' && !(o.stream ? text.includes('event: message_stop') : text.endsWith('}'))) rec.error = 'incomplete body';
    } catch (e) {
      rec.error = describeError(e);
    }
    rec.path = this.conn.path;
    rec.connOpenedAt = this.conn.openedAt;
    rec.end = performance.now();
    return rec;
  }

  close(): Promise<void> {
    return this.client.destroy().catch(() => undefined);
  }
}

function describeError(e: unknown): string {
  const err = e as { name?: string; message?: string; code?: string };
  return [err.name, err.code, err.message].filter(Boolean).join(': ');
}

interface Load {
  stop(): Promise<void>;
  /** Calls made besides the steady mix (long streams and the like), on their own connections. */
  extra(c: Call, oneShot?: boolean): Promise<Rec>;
}

interface LoadOptions {
  keepAlive?: number;
  oneShot?: number;
  /** The fault of each steady call ('ok' for none). */
  fault?: () => string;
}

function startLoad(env: LoadEnv, opts: LoadOptions = {}): Load {
  let running = true;
  const clients: LoadClient[] = [];
  const loops: Array<Promise<void>> = [];
  const workers = [...Array.from({ length: opts.keepAlive ?? 6 }, () => false), ...Array.from({ length: opts.oneShot ?? 2 }, () => true)];
  workers.forEach((oneShot, w) => {
    const client = new LoadClient(env, oneShot);
    clients.push(client);
    loops.push(
      (async () => {
        for (let i = 0; running; i++) {
          const fault = opts.fault?.() ?? 'ok';
          const stream = (i + w) % 2 === 1;
          const stall = fault.startsWith('stall');
          await client.call({
            kind: stream ? 'sse' : 'json',
            opts: { fault, stream, headers: stream ? { 'x-events': '5', 'x-delay-ms': '2' } : {} },
            ...(stall ? { abortAfterMs: 300 } : {}),
          });
        }
      })(),
    );
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      await Promise.all(clients.map((c) => c.close()));
    },
    async extra(c, oneShot = true) {
      const client = new LoadClient(env, oneShot);
      try {
        return await client.call(c);
      } finally {
        await client.close();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The meter under test, and what it says about itself

interface Harness {
  meter: MeterProcs;
  env: LoadEnv;
  /** Log text of every daemon process this phase started (stderr: it survives a full disk). */
  daemonLogs: Array<() => string>;
  /** Each SIGKILL: when it was sent and when the process was gone (performance.now()). */
  kills: Array<{ sent: number; exited: number }>;
  rss: { edge: number; daemon: number; edgeBase: number; daemonBase: number };
  notes: string[];
  startDaemon(): Promise<void>;
  stopDaemon(signal: NodeJS.Signals): Promise<number | null>;
  close(): Promise<void>;
}

/** Harnesses not closed yet: a phase that breaks leaves its meter here, and main() stops it. */
const open = new Set<Harness>();

async function harness(pki: TestPki, up: FaultUpstream, phase: Phase, prepareDataDir?: (dir: string) => void): Promise<Harness> {
  const meter = await startMeter({ pki, upstreamPort: up.port, ...(prepareDataDir ? { prepareDataDir } : {}) });
  const daemonLogs = [collectStderr(meter.daemon)];
  const env: LoadEnv = { edgePort: meter.edgePort, ca: readFileSync(meter.clientBundlePath, 'utf8'), phase, records: [], seq: { n: 0 } };
  const rss = { edge: 0, daemon: 0, edgeBase: rssMb(meter.edge.pid ?? 0), daemonBase: rssMb(meter.daemon?.pid ?? 0) };
  const sampler = setInterval(() => {
    rss.edge = Math.max(rss.edge, rssMb(meter.edge.pid ?? 0) || 0);
    if (meter.daemon?.pid) rss.daemon = Math.max(rss.daemon, rssMb(meter.daemon.pid) || 0);
  }, 100);
  const h: Harness = {
    meter,
    env,
    daemonLogs,
    kills: [],
    rss,
    notes: [],
    async startDaemon() {
      const started = meter.startDaemon();
      // procs.daemon is set before startDaemon waits for /health: its first lines are caught too.
      const log = collectStderr(meter.daemon);
      daemonLogs.push(log);
      try {
        await started;
      } catch (e) {
        throw new Error(`${e instanceof Error ? e.message : String(e)}; daemon said:\n${log().slice(-2000)}`);
      }
    },
    async stopDaemon(signal) {
      const sent = performance.now();
      const code = await meter.stopDaemon(signal);
      if (signal === 'SIGKILL') h.kills.push({ sent, exited: performance.now() });
      return code;
    },
    async close() {
      clearInterval(sampler);
      open.delete(h);
      await stopMeterHard(meter);
    },
  };
  open.add(h);
  return h;
}

async function daemonStatus(m: MeterProcs): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${m.apiPort}/v1/daemon/status`, { signal: AbortSignal.timeout(2000) });
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Waits until the running daemon has written or given up every row it holds. */
async function settle(h: Harness): Promise<void> {
  if (!h.meter.daemon) await h.startDaemon();
  await waitUntil(async () => {
    const s = await daemonStatus(h.meter);
    return s !== null && s.rows_queued === 0 && s.in_flight === 0;
  }, 60_000, 'the daemon to settle');
}

// ---------------------------------------------------------------------------------------------------
// Accounting

interface Result {
  phase: Phase;
  fault: string;
  sent: number;
  viaDaemon: number;
  viaPassthrough: number;
  errors: { provider: number; killed: number; deadline: number; unexplained: number };
  rowsWritten: number;
  lostCounted: Record<string, number>;
  lostAtKill: number;
  lostUnexplained: number;
  duplicateRows: number;
  passthroughRows: number;
  unexplainedSamples: string[];
  notes: string[];
}

function addReasons(into: Record<string, number>, from: unknown): void {
  let v = from;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return;
    }
  }
  if (typeof v !== 'object' || v === null) return;
  for (const [k, n] of Object.entries(v as Record<string, unknown>)) if (typeof n === 'number') into[k] = (into[k] ?? 0) + n;
}

async function account(h: Harness, phase: Phase, fault: string): Promise<Result> {
  await settle(h);
  const recs = h.env.records;
  const db = new Database(h.meter.dbPath, { readonly: true, fileMustExist: true });
  const counts = new Map<string, number>();
  try {
    const rows = db.prepare('SELECT model_requested AS m, COUNT(*) AS n FROM requests WHERE model_requested LIKE ? GROUP BY model_requested').all(`bench-${phase}-%`) as Array<{ m: string; n: number }>;
    for (const r of rows) counts.set(r.m, r.n);
  } finally {
    db.close();
  }
  const lostCounted: Record<string, number> = {};
  for (const log of h.daemonLogs) for (const e of logEvents(log(), 'daemon.exit')) addReasons(lostCounted, e.rows_lost_by_reason);
  addReasons(lostCounted, (await daemonStatus(h.meter))?.rows_lost_by_reason);

  // The kill broke the call: it was on a connection to the daemon opened before the process was
  // gone, or its connection was still being set up (CONNECT chained, TLS with the daemon) then.
  const brokenByKill = (r: Rec): boolean =>
    h.kills.some((k) => k.sent <= r.end && (r.path === 'daemon' ? r.connOpenedAt <= k.exited : r.path === 'none' && r.start <= k.exited));
  const errors = { provider: 0, killed: 0, deadline: 0, unexplained: 0 };
  const samples: string[] = [];
  const expectsRow: Rec[] = [];
  let passthroughRows = 0;
  let duplicateRows = 0;
  for (const r of recs) {
    const n = counts.get(r.marker) ?? 0;
    if (n > 1) duplicateRows += n - 1;
    if (r.path !== 'daemon' && n > 0) passthroughRows++;
    const killed = brokenByKill(r);
    if (r.error) {
      if (PROVIDER_FAULTS[r.fault]) errors.provider++;
      else if (killed) errors.killed++;
      else if (r.kind === 'overlong') errors.deadline++;
      else {
        errors.unexplained++;
        if (samples.length < 5) samples.push(`${r.kind}/${r.fault} via ${r.path}: ${r.error}`);
      }
    }
    // A call the daemon served whole (or failed on its own) is one row; a connection a SIGKILL broke
    // took its exchange down with the process.
    if (r.path === 'daemon' && !(killed && r.error)) expectsRow.push(r);
  }
  const missing = expectsRow.filter((r) => !counts.has(r.marker));
  const lostAtKill = missing.filter((r) => h.kills.some((k) => r.end <= k.exited && k.sent - r.end <= KILL_WINDOW_MS)).length;
  const counted = Object.values(lostCounted).reduce((a, b) => a + b, 0);
  h.notes.push(
    `peak RSS: edge ${h.rss.edge.toFixed(0)} MiB (at start ${h.rss.edgeBase.toFixed(0)}), daemon ${h.rss.daemon.toFixed(0)} MiB (at start ${h.rss.daemonBase.toFixed(0)})`,
  );
  return {
    phase,
    fault,
    sent: recs.length,
    viaDaemon: recs.filter((r) => r.path === 'daemon').length,
    viaPassthrough: recs.filter((r) => r.path === 'passthrough').length,
    errors,
    rowsWritten: expectsRow.length - missing.length,
    lostCounted,
    lostAtKill,
    lostUnexplained: Math.max(0, missing.length - lostAtKill - counted),
    duplicateRows,
    passthroughRows,
    unexplainedSamples: samples,
    notes: h.notes,
  };
}

// ---------------------------------------------------------------------------------------------------
// The faults

async function holdDbLock(dbPath: string): Promise<{ release(): Promise<void> }> {
  const py = spawn('python3', ['-c', [
    'import sqlite3, sys',
    `c = sqlite3.connect(${JSON.stringify(dbPath)}, isolation_level=None, timeout=10)`,
    "c.execute('BEGIN EXCLUSIVE')",
    "print('locked', flush=True)",
    'sys.stdin.readline()',
    "c.execute('COMMIT')",
  ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  py.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await waitUntil(() => out.includes('locked'), 10_000, 'python3 to lock the database');
  return {
    release: async () => {
      const exited = new Promise<void>((r) => py.once('exit', () => r()));
      py.stdin.end('\n');
      await exited;
    },
  };
}

type PhaseRun = (pki: TestPki, up: FaultUpstream) => Promise<Result>;

const RUNS: Record<Phase, { fault: string; run: PhaseRun }> = {
  sigkill: {
    fault: 'daemon SIGKILL under steady load (x2, restarted each time)',
    run: async (pki, up) => {
      const h = await harness(pki, up, 'sigkill');
      const load = startLoad(h.env);
      await sleep(2000);
      for (let k = 0; k < 2; k++) {
        const before = await daemonStatus(h.meter);
        await h.stopDaemon('SIGKILL');
        h.notes.push(`kill ${k + 1}: status just before said queued=${String(before?.rows_queued)} in_flight=${String(before?.in_flight)}`);
        await sleep(1500);
        await h.startDaemon();
        await sleep(2000);
      }
      await load.stop();
      const r = await account(h, 'sigkill', RUNS.sigkill.fault);
      await h.close();
      return r;
    },
  },

  sigterm: {
    fault: 'SIGTERM during 12 long streams (3 s) + 1 longer than the 20 s drain deadline',
    run: async (pki, up) => {
      const h = await harness(pki, up, 'sigterm');
      const load = startLoad(h.env);
      await sleep(500);
      const long = Array.from({ length: 12 }, () => load.extra({ kind: 'long', opts: { stream: true, headers: { 'x-events': '60', 'x-delay-ms': '50' } } }));
      const overlong = load.extra({ kind: 'overlong', opts: { stream: true, headers: { 'x-events': '260', 'x-delay-ms': '100' } } });
      await sleep(1000);
      const t0 = performance.now();
      const stderr = h.daemonLogs[h.daemonLogs.length - 1];
      const code = await h.stopDaemon('SIGTERM');
      const exit = logEvents(stderr(), 'daemon.exit')[0];
      h.notes.push(`exit code ${String(code)} after ${((performance.now() - t0) / 1000).toFixed(1)} s; unfinished at the deadline: ${String(exit?.unfinished)}`);
      await h.startDaemon();
      await Promise.all([...long, overlong]);
      await sleep(500);
      await load.stop();
      const r = await account(h, 'sigterm', RUNS.sigterm.fault);
      await h.close();
      return r;
    },
  },

  'restart-loop': {
    fault: 'daemon restart loop: SIGTERM + start, 8 times',
    run: async (pki, up) => {
      const h = await harness(pki, up, 'restart-loop');
      const load = startLoad(h.env);
      await sleep(1000);
      const codes: Array<number | null> = [];
      for (let i = 0; i < 8; i++) {
        codes.push(await h.stopDaemon('SIGTERM'));
        await h.startDaemon();
        await sleep(300);
      }
      h.notes.push(`exit codes ${codes.join(',')}`);
      await sleep(1000);
      await load.stop();
      const r = await account(h, 'restart-loop', RUNS['restart-loop'].fault);
      await h.close();
      return r;
    },
  },

  'db-locked': {
    fault: 'database locked by python3 BEGIN EXCLUSIVE, 2 s at a time, 3 times',
    run: async (pki, up) => {
      const h = await harness(pki, up, 'db-locked');
      const load = startLoad(h.env);
      await sleep(1000);
      let maxQueued = 0;
      for (let i = 0; i < 3; i++) {
        const lock = await holdDbLock(h.meter.dbPath);
        const until = performance.now() + 2000;
        while (performance.now() < until) {
          maxQueued = Math.max(maxQueued, Number((await daemonStatus(h.meter))?.rows_queued ?? 0));
          await sleep(100);
        }
        await lock.release();
        await sleep(1000);
      }
      h.notes.push(`rows held in memory at most: ${maxQueued}`);
      await load.stop();
      const r = await account(h, 'db-locked', RUNS['db-locked'].fault);
      await h.close();
      return r;
    },
  },

  'disk-full': {
    fault: 'disk full (16 MiB tmpfs on the data dir, filled): 3 s full, freed; full again, then SIGTERM',
    run: async (pki, up) => {
      let mount = '';
      const h = await harness(pki, up, 'disk-full', (dir) => {
        // Room for the WAL to reach its 4 MiB auto-checkpoint: the disk is full because of the filler,
        // not because this load's rows alone outgrow it.
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', dir]);
        mount = dir;
      });
      const filler = join(mount, 'filler');
      try {
        const load = startLoad(h.env);
        await sleep(1000);
        fillFilesystem(filler);
        let maxQueued = 0;
        const until = performance.now() + 3000;
        while (performance.now() < until) {
          maxQueued = Math.max(maxQueued, Number((await daemonStatus(h.meter))?.rows_queued ?? 0));
          await sleep(100);
        }
        rmSync(filler);
        await sleep(2000);
        fillFilesystem(filler);
        // WAL space SQLite already has is reused, so writes may go on a while after the fill.
        await waitUntil(async () => (await daemonStatus(h.meter))?.write_failing === true, 30_000, 'writes to fail again');
        await sleep(1000);
        const code = await h.stopDaemon('SIGTERM');
        rmSync(filler);
        await h.startDaemon();
        await sleep(1500);
        await load.stop();
        h.notes.push(`rows held in memory at most: ${maxQueued}; SIGTERM while full: exit code ${String(code)}`);
        const r = await account(h, 'disk-full', RUNS['disk-full'].fault);
        await h.close();
        return r;
      } finally {
        if (mount) execFileSync('umount', ['-l', mount]);
      }
    },
  },

  upstream: {
    fault: 'provider resets, stalls, short and malformed bodies (1 call in 3)',
    run: async (pki, up) => {
      const h = await harness(pki, up, 'upstream');
      const faults = Object.keys(PROVIDER_FAULTS);
      let i = 0;
      const load = startLoad(h.env, { fault: () => (++i % 3 === 0 ? faults[(i / 3) % faults.length] : 'ok') });
      await sleep(5000);
      await load.stop();
      const r = await account(h, 'upstream', RUNS.upstream.fault);
      await h.close();
      return r;
    },
  },

  'slow-readers': {
    fault: '10 clients stop reading an endless stream (back-pressure)',
    run: async (pki, up) => {
      const h = await harness(pki, up, 'slow-readers');
      const load = startLoad(h.env);
      const readers = await Promise.all(
        Array.from({ length: 10 }, async (_, n) => {
          const t = await tunnel(h.meter.edgePort, h.env.ca);
          const marker = `bench-slow-readers-firehose-${n}`;
          const rec: Rec = { marker, kind: 'firehose', fault: 'firehose', path: t.path, connOpenedAt: performance.now(), start: performance.now(), end: 0, status: 200, error: null };
          h.env.records.push(rec);
          t.socket.once('data', () => t.socket.pause());
          t.socket.on('error', () => undefined);
          t.socket.write(rawRequest({ marker, fault: 'firehose', stream: true }));
          return { t, rec };
        }),
      );
      await waitUntil(() => up.firehoseBlockedMs() > 1000, 60_000, 'the provider to be held back');
      await sleep(4000);
      const sent = up.firehoseBytes();
      for (const { t, rec } of readers) {
        t.socket.destroy();
        rec.end = performance.now();
      }
      await load.stop();
      h.notes.push(`provider sent ${Math.round(sent / 1048576)} MiB into 10 streams nobody read, then was held back`);
      const r = await account(h, 'slow-readers', RUNS['slow-readers'].fault);
      await h.close();
      return r;
    },
  },

  slowloris: {
    fault: 'slowloris: 1,000 heads sent a byte a second + 200 silent connections',
    run: async (pki, up) => {
      const h = await harness(pki, up, 'slowloris');
      const edgePid = h.meter.edge.pid ?? 0;
      const fdsBefore = fdCount(edgePid);
      const slow = startSlowloris(h.meter.edgePort, 1000, 200, 1000);
      const t0 = performance.now();
      const load = startLoad(h.env);
      await sleep(5000);
      const fdsDuring = fdCount(edgePid);
      await load.stop();
      await waitUntil(() => slow.closedByEdge() === slow.total, 90_000, 'the edge to drop the slow heads');
      const dropped = (performance.now() - t0) / 1000;
      slow.stop();
      await waitUntil(() => fdCount(edgePid) <= fdsBefore, 30_000, 'edge descriptors to come back');
      h.notes.push(`edge fds ${fdsBefore} -> ${fdsDuring} (during) -> ${fdCount(edgePid)}; all ${slow.total} dropped by the edge within ${dropped.toFixed(0)} s`);
      const r = await account(h, 'slowloris', RUNS.slowloris.fault);
      await h.close();
      return r;
    },
  },

  churn: {
    fault: '10,000 connections opened and dropped at every stage, under load',
    run: async (pki, up) => {
      const h = await harness(pki, up, 'churn');
      const edgePid = h.meter.edge.pid ?? 0;
      const daemonPid = h.meter.daemon?.pid ?? 0;
      const load = startLoad(h.env, { keepAlive: 4, oneShot: 1 });
      await sleep(500);
      const before = { edge: fdCount(edgePid), daemon: fdCount(daemonPid) };
      const failures = await openAndDropAll(h.meter.edgePort, h.env.ca, 'bench-churn-drop');
      await load.stop();
      // Keep-alive sockets to the provider close on its idle timeout (5 s).
      await waitUntil(() => fdCount(edgePid) <= before.edge && fdCount(daemonPid) <= before.daemon, 30_000, 'descriptors to come back').catch(() => undefined);
      const whole = DROP_MIX.find((k) => k.kind === 'request-drop')?.n ?? 0;
      h.notes.push(
        `fds edge ${before.edge} -> ${fdCount(edgePid)}, daemon ${before.daemon} -> ${fdCount(daemonPid)}; ${failures.length} could not be set up; ` +
          `${h.meter.rows("r.model_requested = 'bench-churn-drop-request-drop'").length} rows for the ${whole} requests sent whole then dropped`,
      );
      const r = await account(h, 'churn', RUNS.churn.fault);
      await h.close();
      return r;
    },
  },
};

// ---------------------------------------------------------------------------------------------------

function reasons(r: Record<string, number>): string {
  const parts = Object.entries(r).filter(([, n]) => n > 0);
  return parts.length ? parts.map(([k, n]) => `${n} ${k}`).join(', ') : '0';
}

function render(results: readonly Result[]): string {
  const header = ['fault', 'sent', 'daemon/passthrough', 'client errors: explained', 'UNEXPLAINED', 'rows written', 'rows lost (counted, reason)', 'lost at SIGKILL', 'UNEXPLAINED lost'];
  const rows = results.map((r) => [
    r.phase,
    String(r.sent),
    `${r.viaDaemon}/${r.viaPassthrough}`,
    [r.errors.provider ? `${r.errors.provider} provider` : '', r.errors.killed ? `${r.errors.killed} killed conn` : '', r.errors.deadline ? `${r.errors.deadline} drain deadline` : '']
      .filter(Boolean)
      .join(', ') || '0',
    String(r.errors.unexplained),
    String(r.rowsWritten),
    reasons(r.lostCounted),
    String(r.lostAtKill),
    String(r.lostUnexplained + r.duplicateRows + r.passthroughRows),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join(' | ').trimEnd();
  const notes = results.flatMap((r) => [
    `${r.phase}: ${r.fault}`,
    ...r.notes.map((n) => `  ${n}`),
    ...(r.duplicateRows || r.passthroughRows ? [`  duplicate rows ${r.duplicateRows}, rows for passthrough calls ${r.passthroughRows}`] : []),
    ...r.unexplainedSamples.map((s) => `  unexplained: ${s}`),
  ]);
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line), '', ...notes].join('\n');
}

async function main(): Promise<void> {
  const onlyArg = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const only = onlyArg ? onlyArg.split(',').filter((p): p is Phase => (PHASES as readonly string[]).includes(p)) : [...PHASES];
  const root = repoRoot();
  const machine = machineInfo(`node dist/bench/faults.js${onlyArg ? ` --only=${onlyArg}` : ''}`, root);
  process.stdout.write(`halton-meter fault bench: ${machine.nproc} cpu (${machine.cpuModel}), node ${machine.node}, tree ${machine.tree}, load ${machine.loadavgBefore}\n\n`);
  const pki = makeTestPki();
  const up = await startFaultUpstream(pki);
  const results: Result[] = [];
  try {
    for (const phase of only) {
      if (phase === 'disk-full' && process.getuid?.() !== 0) {
        process.stdout.write('disk-full: skipped (mounting a tmpfs needs root)\n');
        continue;
      }
      const t0 = performance.now();
      process.stdout.write(`${phase} ... `);
      const r = await RUNS[phase].run(pki, up);
      results.push(r);
      process.stdout.write(`${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
    }
  } finally {
    for (const h of [...open]) await h.close();
    await up.close();
  }
  process.stdout.write(`\n${render(results)}\n`);
  writeFileSync(join(root, 'dist', 'bench', 'faults-last.json'), JSON.stringify({ machine, results }, null, 2));
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:faults broke: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
