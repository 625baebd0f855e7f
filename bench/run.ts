// `npm run bench`: the meter's overhead measured in one run against a local fake provider (issue 2).
// A benchmark, not a test: it prints figures and targets, writes dist/bench/last.json, and exits 0
// whatever the figures say; non-zero only when the bench itself broke.
//
// Phases, each measuring the same undici client direct to the fake and through edge + daemon:
//   latency  sequential non-streamed calls on one keep-alive connection; direct, metered and an
//            edge-only raw tunnel in batches whose order rotates every round, so noise hits all three
//   ttfb     sequential SSE streams, strictly alternating; time to the first body byte
//   connect  one call per brand-new connection (what a one-shot client pays), alternating
//   rps      N keep-alive connections, warmed until steady, then short ABBA legs; then rows == calls
//   streams  200 concurrent long SSE streams; VmRSS of edge and daemon sampled every 100 ms
//   peer     the same kinds of workload direct, through a socat relay, through the meter and through
//            mitmproxy (bench/peer.ts); its own table, printed after the main one
//   report   `report` over a 1,000,000-row database, in-process and through the CLI (issue 5;
//            bench/report-phase.ts runs bench/report-1m.ts in its own process, after the meter stops)
//
// Options: --quick (smaller counts, for trying the bench out), --only=latency,ttfb,connect,rps,streams,peer,
// --fake-inline (fake provider on the main thread), --daemon-node-flags="..." / --edge-node-flags="..."
// (restart that process with extra node flags, e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance as perf } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { repoRoot } from '../test/helpers/fake-provider.js';
import { startMeter, waitUntil, type MeterProcs } from '../test/helpers/meter.js';
import { makeTestPki, type TestPki } from '../test/helpers/pki.js';
import { startBenchFake } from './fake.js';
import type { FakeWorkerOut } from './fake-worker.js';
import { peerPhase, type PeerResult } from './peer.js';
import { reportPhase } from './report-phase.js';
import { installExitCleanup, removeAtExit } from './peer-procs.js';
import { closeSide, jsonCall, makeSide, meteredCalls, streamCall, throughput, type Endpoints, type Side, type StreamTiming, type ThroughputResult } from './load.js';
import { cpuSeconds, cpuWindow, hwmBytes, rssBytes, sampleRss } from './procs.js';
import { machineInfo, renderMarkdown, renderTable, type Figure } from './report.js';
import { mb, ms, ratio, summarize, type Summary } from './stats.js';

const PHASES = ['latency', 'ttfb', 'connect', 'rps', 'streams', 'peer', 'report'] as const;
type Phase = (typeof PHASES)[number];

interface Options {
  quick: boolean;
  only: ReadonlySet<Phase>;
  fakeInline: boolean;
  daemonFlags: string[];
  edgeFlags: string[];
}

function parseArgs(argv: readonly string[]): Options {
  const value = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const flags = (name: string): string[] => (value(name) ?? '').split(' ').filter(Boolean);
  const only = value('only');
  const phases = only ? only.split(',').filter((p): p is Phase => (PHASES as readonly string[]).includes(p)) : [...PHASES];
  return { quick: argv.includes('--quick'), only: new Set(phases), fakeInline: argv.includes('--fake-inline'), daemonFlags: flags('daemon-node-flags'), edgeFlags: flags('edge-node-flags') };
}

const TARGET = { p50AddedMs: 1, p99AddedMs: 5, ttfbAddedMs: 2, rps: 1000, edgeRssMb: 60, daemonRssMb: 200 } as const;

function sizes(quick: boolean) {
  return quick
    ? { warmup: 200, latencyN: 500, batch: 50, ttfbN: 60, ttfbDelayMs: 1, connectN: 30, rpsConns: 48, rpsWarmMs: 500, rpsLegMs: 1000, rpsRounds: 2, streams: 200, streamEvents: 100, streamDelayMs: 20 }
    : { warmup: 500, latencyN: 2000, batch: 100, ttfbN: 300, ttfbDelayMs: 1, connectN: 100, rpsConns: 48, rpsWarmMs: 750, rpsLegMs: 1250, rpsRounds: 4, streams: 200, streamEvents: 300, streamDelayMs: 20 };
}

// ---------------------------------------------------------------------------------------------------

interface FakeHandle {
  port: number;
  /** Event-loop utilisation of the fake's thread since `since` (null when it shares the main thread). */
  elu(since?: ReturnType<typeof perf.eventLoopUtilization>): ReturnType<typeof perf.eventLoopUtilization> | null;
  close(): Promise<void>;
}

async function startFake(pki: TestPki, inline: boolean): Promise<FakeHandle> {
  if (inline) {
    const fake = await startBenchFake(pki);
    return { port: fake.port, elu: () => null, close: () => fake.close() };
  }
  const worker = new Worker(new URL('./fake-worker.js', import.meta.url), { workerData: { pki } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (m: FakeWorkerOut) => {
      if (m.type === 'ready') resolve(m.port);
    });
  });
  return {
    port,
    elu: (since) => (since ? worker.performance.eventLoopUtilization(since) : worker.performance.eventLoopUtilization()),
    close: async () => {
      const closed = new Promise<void>((r) => worker.on('message', (m: FakeWorkerOut) => m.type === 'closed' && r()));
      worker.postMessage({ type: 'close' });
      await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))]);
      await worker.terminate();
    },
  };
}

async function httpOk(port: number, path: string): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

async function getJson(port: number, path: string): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Replaces the harness's edge or daemon with one started with extra node flags (profiling). */
async function respawn(meter: MeterProcs, what: 'edge' | 'daemon', flags: string[]): Promise<void> {
  const old = what === 'edge' ? meter.edge : meter.daemon;
  if (old && old.exitCode === null) {
    const exited = new Promise<void>((r) => old.once('exit', () => r()));
    old.kill('SIGTERM');
    await exited;
  }
  const child: ChildProcess = spawn(process.execPath, [...flags, join(repoRoot(), 'bin', 'halton-meter.js'), what], { env: meter.env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.resume();
  if (what === 'edge') meter.edge = child;
  else meter.daemon = child;
  const port = what === 'edge' ? meter.edgePort : meter.apiPort;
  await waitUntil(() => httpOk(port, '/health'), 20_000, `${what} health after restart`);
  // The edge caches an unhealthy daemon for 200 ms: let that verdict expire before measuring.
  await new Promise((r) => setTimeout(r, 400));
}

function rowCount(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM requests WHERE provider != 'selftest'").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Waits (bounded) for the writer to catch up, then returns the row count. */
async function settledRows(dbPath: string, expected: number, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let n = 0;
  let last = -1;
  let stableSince = Date.now();
  while (Date.now() < deadline) {
    n = rowCount(dbPath);
    if (n >= expected) {
      // Anything beyond `expected` would be a duplicate: give it a moment to show up.
      await new Promise((r) => setTimeout(r, 300));
      return rowCount(dbPath);
    }
    if (n !== last) {
      last = n;
      stableSince = Date.now();
    } else if (Date.now() - stableSince > 3000) {
      break; // Not moving any more: rows were lost.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return n;
}

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------------

interface LatencyResult {
  direct: Summary;
  metered: Summary;
  /** The edge's raw tunnel to the same fake (no decryption, no row): the cost of the extra hop alone. */
  passthrough: Summary;
  failures: { direct: number; metered: number; passthrough: number };
  /** CPU time per metered call (microseconds), from /proc over the metered batches only. */
  cpuPerCallUs: { edge: number; daemon: number };
}

async function latencyPhase(d: Side, m: Side, p: Side, pids: { edge: number; daemon: number }, n: number, batch: number): Promise<LatencyResult> {
  const samples: Record<Side['name'], number[]> = { direct: [], metered: [], passthrough: [] };
  const failures = { direct: 0, metered: 0, passthrough: 0 };
  const cpu = { edge: 0, daemon: 0 };
  const rounds = Math.ceil(n / batch);
  for (let r = 0; r < rounds; r++) {
    // Rotate the order every round so no side always runs right after another.
    const order = [[d, m, p], [m, p, d], [p, d, m]][r % 3];
    for (const side of order) {
      const before = side === m ? { edge: cpuSeconds(pids.edge), daemon: cpuSeconds(pids.daemon) } : null;
      for (let i = 0; i < batch; i++) {
        const t = await jsonCall(side);
        if (Number.isNaN(t)) failures[side.name]++;
        else samples[side.name].push(t);
      }
      if (before) {
        // The row is written after the answer: let the writer's 50 ms batch land in this window.
        await new Promise((res) => setTimeout(res, 60));
        cpu.edge += cpuSeconds(pids.edge) - before.edge;
        cpu.daemon += cpuSeconds(pids.daemon) - before.daemon;
      }
    }
  }
  const calls = samples.metered.length || 1;
  return {
    direct: summarize(samples.direct),
    metered: summarize(samples.metered),
    passthrough: summarize(samples.passthrough),
    failures,
    cpuPerCallUs: { edge: (cpu.edge / calls) * 1e6, daemon: (cpu.daemon / calls) * 1e6 },
  };
}

interface TtfbResult {
  ttfb: { direct: Summary; metered: Summary };
  total: { direct: Summary; metered: Summary };
  failures: { direct: number; metered: number };
}

async function ttfbPhase(d: Side<'direct'>, m: Side<'metered'>, n: number, delayMs: number): Promise<TtfbResult> {
  const got: Record<'direct' | 'metered', StreamTiming[]> = { direct: [], metered: [] };
  const failures = { direct: 0, metered: 0 };
  for (let i = 0; i < n; i++) {
    for (const side of i % 2 === 0 ? [d, m] : ([m, d] as Array<Side<'direct' | 'metered'>>)) {
      const t = await streamCall(side, delayMs);
      if (t) got[side.name].push(t);
      else failures[side.name]++;
    }
  }
  const pick = (k: 'direct' | 'metered', f: keyof StreamTiming): Summary => summarize(got[k].map((t) => t[f]));
  return {
    ttfb: { direct: pick('direct', 'ttfb'), metered: pick('metered', 'ttfb') },
    total: { direct: pick('direct', 'total'), metered: pick('metered', 'total') },
    failures,
  };
}

interface ConnectResult {
  direct: Summary;
  metered: Summary;
  failures: { direct: number; metered: number };
}

/**
 * One call on a brand-new connection each time (what curl or a one-shot script does): TCP, CONNECT
 * through the edge and the daemon, both TLS handshakes, the call, then close. Sequential, alternating.
 */
async function connectPhase(ep: Endpoints, n: number): Promise<ConnectResult> {
  const samples: Record<'direct' | 'metered', number[]> = { direct: [], metered: [] };
  const failures = { direct: 0, metered: 0 };
  for (let i = 0; i < n; i++) {
    for (const name of i % 2 === 0 ? (['direct', 'metered'] as const) : (['metered', 'direct'] as const)) {
      const side = makeSide(name, ep, 1);
      const t = await jsonCall(side);
      await side.dispatcher.destroy().catch(() => undefined);
      if (Number.isNaN(t)) failures[name]++;
      else samples[name].push(t);
    }
  }
  return { direct: summarize(samples.direct), metered: summarize(samples.metered), failures };
}

function connectFigures(r: ConnectResult): Figure[] {
  return [
    {
      figure: `call on a new connection p50 / p99 (n=${r.metered.n})`,
      direct: `${ms(r.direct.p50)} / ${ms(r.direct.p99)}`,
      metered: `${ms(r.metered.p50)} / ${ms(r.metered.p99)}`,
      added: `${plus(r.metered.p50 - r.direct.p50)} / ${plus(r.metered.p99 - r.direct.p99)}`,
      target: '-',
      verdict: 'info',
      values: {
        direct_p50_ms: r.direct.p50,
        metered_p50_ms: r.metered.p50,
        direct_p99_ms: r.direct.p99,
        metered_p99_ms: r.metered.p99,
        failures_direct: r.failures.direct,
        failures_metered: r.failures.metered,
      },
    },
  ];
}

interface RpsResult {
  direct: ThroughputResult;
  metered: ThroughputResult;
  cpu: { direct: Record<string, number>; metered: Record<string, number> };
  elu: { direct: { client: number; fake: number | null }; metered: { client: number; fake: number | null } };
  legRates: Record<'direct' | 'metered', number[]>;
  warmRates: Record<'direct' | 'metered', number[]>;
  rowsExpected: number;
  rowsWritten: number;
  meteredFailed: number;
  daemonStatus: Record<string, unknown> | null;
}

/**
 * Runs `legMs` legs until two in a row agree within 15% (at most 6): the first legs include opening
 * every connection (CONNECT, two TLS handshakes through the meter) and JIT warm-up, which is not the
 * steady state this figure is about. Returns each leg's rate.
 */
async function warmUntilSteady(side: Side, conns: number, legMs: number): Promise<number[]> {
  const rates: number[] = [];
  for (let i = 0; i < 6; i++) {
    rates.push(Math.round((await throughput(side, conns, legMs)).perSecond));
    const [a, b] = rates.slice(-2);
    if (rates.length >= 2 && Math.abs(a - b) <= 0.15 * Math.max(a, b)) break;
  }
  return rates;
}

function addTp(a: ThroughputResult | null, b: ThroughputResult): ThroughputResult {
  if (!a) return b;
  const ok = a.ok + b.ok;
  const seconds = a.seconds + b.seconds;
  return { ok, errors: a.errors + b.errors, seconds, perSecond: ok / seconds };
}

async function rpsPhase(ep: Endpoints, meter: MeterProcs, fake: FakeHandle, conns: number, warmMs: number, legMs: number, rounds: number): Promise<RpsResult> {
  const d = makeSide('direct', ep, conns);
  const m = makeSide('metered', ep, conns);
  try {
    const warm = { direct: await warmUntilSteady(d, conns, warmMs), metered: await warmUntilSteady(m, conns, warmMs) };
    log(`rps warm-up legs: direct ${warm.direct.join(' ')}; metered ${warm.metered.join(' ')}`);
    const totals: Record<'direct' | 'metered', ThroughputResult | null> = { direct: null, metered: null };
    const cpuAcc: Record<'direct' | 'metered', Record<string, number>> = { direct: {}, metered: {} };
    const legRates: Record<'direct' | 'metered', number[]> = { direct: [], metered: [] };
    const eluAcc = { direct: { client: 0, fake: 0 as number | null }, metered: { client: 0, fake: 0 as number | null } };
    const pids = { bench: process.pid, edge: meter.edge.pid ?? 0, daemon: meter.daemon?.pid ?? 0 };
    // ABBA rounds: a trend in machine load (another tenant starting or stopping) hits both sides
    // alike. Legs are short so neither side's idle keep-alive connections expire while the other
    // runs (undici drops them after ~3 s idle, the fake after 5 s): this measures steady state;
    // the cost of opening connections shows in the 200-stream burst.
    const legs = Array.from({ length: rounds }, () => [d, m, m, d]).flat();
    const share = 1 / (legs.length / 2);
    for (const side of legs) {
      const cpu = cpuWindow(pids);
      const elu0 = perf.eventLoopUtilization();
      const felu0 = fake.elu();
      const r = await throughput(side, conns, legMs);
      const used = cpu.stop();
      const elu = perf.eventLoopUtilization(elu0).utilization;
      const felu = felu0 ? (fake.elu(felu0)?.utilization ?? null) : null;
      totals[side.name] = addTp(totals[side.name], r);
      for (const [k, v] of Object.entries(used)) cpuAcc[side.name][k] = (cpuAcc[side.name][k] ?? 0) + v * share;
      eluAcc[side.name].client += elu * share;
      eluAcc[side.name].fake = felu === null ? null : (eluAcc[side.name].fake ?? 0) + felu * share;
      legRates[side.name].push(Math.round(r.perSecond));
    }
    log(`rps per leg: direct ${legRates.direct.join(' ')}; metered ${legRates.metered.join(' ')}`);
    const expected = meteredCalls.ok;
    const rowsWritten = await settledRows(meter.dbPath, expected);
    const daemonStatus = await getJson(meter.apiPort, '/v1/daemon/status');
    return {
      direct: totals.direct as ThroughputResult,
      metered: totals.metered as ThroughputResult,
      cpu: cpuAcc,
      elu: eluAcc,
      legRates,
      warmRates: warm,
      rowsExpected: expected,
      rowsWritten,
      meteredFailed: meteredCalls.failed,
      daemonStatus,
    };
  } finally {
    await closeSide(d);
    await closeSide(m);
  }
}

interface StreamsResult {
  n: number;
  events: number;
  delayMs: number;
  completed: { direct: number; metered: number };
  total: { direct: Summary; metered: Summary };
  ttfb: { direct: Summary; metered: Summary };
  idle: { edge: number; daemon: number };
  peak: { edge: number; daemon: number };
  /** File-backed part of the peak (node binary and libraries, shared with other node processes). */
  fileAtPeak: { edge: number; daemon: number };
  /** Peak during the direct run: the meter idle while the bench and fake are busy. */
  peakDuringDirect: { edge: number; daemon: number };
  hwm: { edge: number; daemon: number };
  samples: number;
  cpu: Record<string, number>;
}

async function concurrentStreams(side: Side, n: number, events: number, delayMs: number): Promise<StreamTiming[]> {
  const all = await Promise.all(Array.from({ length: n }, () => streamCall(side, delayMs, events)));
  return all.filter((t): t is StreamTiming => t !== null);
}

async function streamsPhase(ep: Endpoints, meter: MeterProcs, n: number, events: number, delayMs: number): Promise<StreamsResult> {
  const pids = { edge: meter.edge.pid ?? 0, daemon: meter.daemon?.pid ?? 0 };
  const idle = { edge: rssBytes(pids.edge), daemon: rssBytes(pids.daemon) };
  const d = makeSide('direct', ep, n);
  const m = makeSide('metered', ep, n);
  try {
    const sd = sampleRss(pids);
    const direct = await concurrentStreams(d, n, events, delayMs);
    const peakDirect = sd.stop().peak;
    log(`streams direct: ${direct.length}/${n} completed`);
    const sampler = sampleRss(pids);
    const cpu = cpuWindow({ bench: process.pid, ...pids });
    const metered = await concurrentStreams(m, n, events, delayMs);
    const used = cpu.stop();
    const { peak, fileAtPeak, samples } = sampler.stop();
    log(`streams metered: ${metered.length}/${n} completed, peak RSS edge ${mb(peak.edge)} daemon ${mb(peak.daemon)}`);
    return {
      n,
      events,
      delayMs,
      completed: { direct: direct.length, metered: metered.length },
      total: { direct: summarize(direct.map((t) => t.total)), metered: summarize(metered.map((t) => t.total)) },
      ttfb: { direct: summarize(direct.map((t) => t.ttfb)), metered: summarize(metered.map((t) => t.ttfb)) },
      idle,
      peak: { edge: peak.edge, daemon: peak.daemon },
      fileAtPeak: { edge: fileAtPeak.edge, daemon: fileAtPeak.daemon },
      peakDuringDirect: { edge: peakDirect.edge, daemon: peakDirect.daemon },
      hwm: { edge: hwmBytes(pids.edge), daemon: hwmBytes(pids.daemon) },
      samples,
      cpu: used,
    };
  } finally {
    await closeSide(d);
    await closeSide(m);
  }
}

// ---------------------------------------------------------------------------------------------------

const verdict = (ok: boolean): 'PASS' | 'MISS' => (ok ? 'PASS' : 'MISS');

/** Every successful call has its row; a call the client saw fail may have one too (an aborted row). */
const rowsMatch = (rows: number, ok: number, failed: number): boolean => rows >= ok && rows <= ok + failed;
const plus = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${ms(v)}` : 'n/a');
const pct = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : `${Math.round(v * 100)}%`);

function latencyFigures(r: LatencyResult): Figure[] {
  const a50 = r.metered.p50 - r.direct.p50;
  const a99 = r.metered.p99 - r.direct.p99;
  return [
    {
      figure: `non-stream latency p50 (n=${r.metered.n})`,
      direct: ms(r.direct.p50),
      metered: ms(r.metered.p50),
      added: `${plus(a50)} (${ratio(r.metered.p50, r.direct.p50)})`,
      target: `added <= ${TARGET.p50AddedMs} ms`,
      verdict: verdict(a50 <= TARGET.p50AddedMs),
      values: { direct_ms: r.direct.p50, metered_ms: r.metered.p50, added_ms: a50, failures_direct: r.failures.direct, failures_metered: r.failures.metered },
    },
    {
      figure: `non-stream latency p99 (n=${r.metered.n})`,
      direct: ms(r.direct.p99),
      metered: ms(r.metered.p99),
      added: `${plus(a99)} (${ratio(r.metered.p99, r.direct.p99)})`,
      target: `added <= ${TARGET.p99AddedMs} ms`,
      verdict: verdict(a99 <= TARGET.p99AddedMs),
      values: { direct_ms: r.direct.p99, metered_ms: r.metered.p99, added_ms: a99 },
    },
    {
      figure: 'non-stream latency p90 / max',
      direct: `${ms(r.direct.p90)} / ${ms(r.direct.max)}`,
      metered: `${ms(r.metered.p90)} / ${ms(r.metered.max)}`,
      added: plus(r.metered.p90 - r.direct.p90),
      target: '-',
      verdict: 'info',
      values: { direct_p90_ms: r.direct.p90, metered_p90_ms: r.metered.p90, direct_max_ms: r.direct.max, metered_max_ms: r.metered.max },
    },
    {
      figure: 'edge raw tunnel only (unmetered host) p50 / p99',
      direct: `${ms(r.direct.p50)} / ${ms(r.direct.p99)}`,
      metered: `${ms(r.passthrough.p50)} / ${ms(r.passthrough.p99)}`,
      added: `${plus(r.passthrough.p50 - r.direct.p50)} / ${plus(r.passthrough.p99 - r.direct.p99)}`,
      target: '-',
      verdict: 'info',
      values: { direct_p50_ms: r.direct.p50, passthrough_p50_ms: r.passthrough.p50, direct_p99_ms: r.direct.p99, passthrough_p99_ms: r.passthrough.p99, failures: r.failures.passthrough },
    },
    {
      figure: 'CPU per metered call (edge / daemon)',
      direct: '-',
      metered: `${r.cpuPerCallUs.edge.toFixed(0)} us / ${r.cpuPerCallUs.daemon.toFixed(0)} us`,
      added: '-',
      target: '-',
      verdict: 'info',
      values: { edge_us: r.cpuPerCallUs.edge, daemon_us: r.cpuPerCallUs.daemon },
    },
  ];
}

function ttfbFigures(r: TtfbResult): Figure[] {
  const a = r.ttfb.metered.p50 - r.ttfb.direct.p50;
  return [
    {
      figure: `stream TTFB p50 (n=${r.ttfb.metered.n})`,
      direct: ms(r.ttfb.direct.p50),
      metered: ms(r.ttfb.metered.p50),
      added: `${plus(a)} (${ratio(r.ttfb.metered.p50, r.ttfb.direct.p50)})`,
      target: `added <= ${TARGET.ttfbAddedMs} ms`,
      verdict: verdict(a <= TARGET.ttfbAddedMs),
      values: { direct_ms: r.ttfb.direct.p50, metered_ms: r.ttfb.metered.p50, added_ms: a, failures_direct: r.failures.direct, failures_metered: r.failures.metered },
    },
    {
      figure: 'stream TTFB p99',
      direct: ms(r.ttfb.direct.p99),
      metered: ms(r.ttfb.metered.p99),
      added: `${plus(r.ttfb.metered.p99 - r.ttfb.direct.p99)} (${ratio(r.ttfb.metered.p99, r.ttfb.direct.p99)})`,
      target: '-',
      verdict: 'info',
      values: { direct_ms: r.ttfb.direct.p99, metered_ms: r.ttfb.metered.p99 },
    },
    {
      figure: 'stream duration p50 (11 events, 1 ms gaps)',
      direct: ms(r.total.direct.p50),
      metered: ms(r.total.metered.p50),
      added: `${plus(r.total.metered.p50 - r.total.direct.p50)} (${ratio(r.total.metered.p50, r.total.direct.p50)})`,
      target: '-',
      verdict: 'info',
      values: { direct_ms: r.total.direct.p50, metered_ms: r.total.metered.p50 },
    },
  ];
}

/** The process using the most CPU (the bench counts both of its threads: client and fake). */
function busiest(cpu: Record<string, number>): string {
  const top = Object.entries(cpu)
    .filter(([k]) => k === 'bench' || k === 'edge' || k === 'daemon')
    .sort((a, b) => b[1] - a[1])[0];
  return top ? top[0] : 'n/a';
}

function rpsFigures(r: RpsResult, conns: number): Figure[] {
  const cpuText = (c: Record<string, number>): string =>
    `bench ${pct(c.bench)} edge ${pct(c.edge)} daemon ${pct(c.daemon)} softirq ${pct(c.softirq)} others ${pct(c.others)}`;
  return [
    {
      figure: `throughput, ${conns} keep-alive conns (req/s)`,
      direct: r.direct.perSecond.toFixed(0),
      metered: r.metered.perSecond.toFixed(0),
      added: ratio(r.metered.perSecond, r.direct.perSecond),
      target: `metered >= ${TARGET.rps}`,
      verdict: verdict(r.metered.perSecond >= TARGET.rps),
      values: {
        direct_rps: r.direct.perSecond,
        metered_rps: r.metered.perSecond,
        direct_ok: r.direct.ok,
        metered_ok: r.metered.ok,
        direct_errors: r.direct.errors,
        metered_errors: r.metered.errors,
        seconds_each: r.metered.seconds,
      },
    },
    {
      figure: 'rows written vs metered requests',
      direct: `${r.rowsExpected} requests${r.meteredFailed ? ` (+${r.meteredFailed} failed)` : ''}`,
      metered: `${r.rowsWritten} rows`,
      added: `${r.rowsWritten - r.rowsExpected >= 0 ? '+' : ''}${r.rowsWritten - r.rowsExpected} rows`,
      target: 'rows = requests',
      verdict: verdict(rowsMatch(r.rowsWritten, r.rowsExpected, r.meteredFailed)),
      values: {
        requests_ok: r.rowsExpected,
        requests_failed: r.meteredFailed,
        rows: r.rowsWritten,
        daemon_rows_written: (r.daemonStatus?.rows_written as number | undefined) ?? null,
        daemon_rows_failed: (r.daemonStatus?.rows_failed as number | undefined) ?? null,
        daemon_rows_queued: (r.daemonStatus?.rows_queued as number | undefined) ?? null,
      },
    },
    {
      figure: 'CPU during throughput (1 core = 100%)',
      direct: cpuText(r.cpu.direct),
      metered: cpuText(r.cpu.metered),
      added: `busiest: ${busiest(r.cpu.direct)} / ${busiest(r.cpu.metered)}`,
      target: '-',
      verdict: 'info',
      values: Object.fromEntries([...Object.entries(r.cpu.direct).map(([k, v]) => [`direct_${k}`, v]), ...Object.entries(r.cpu.metered).map(([k, v]) => [`metered_${k}`, v])]),
    },
    {
      figure: 'event-loop busy: client thread / fake thread',
      direct: `${pct(r.elu.direct.client)} / ${pct(r.elu.direct.fake)}`,
      metered: `${pct(r.elu.metered.client)} / ${pct(r.elu.metered.fake)}`,
      added: '-',
      target: '-',
      verdict: 'info',
      values: { direct_client: r.elu.direct.client, direct_fake: r.elu.direct.fake, metered_client: r.elu.metered.client, metered_fake: r.elu.metered.fake },
    },
  ];
}

function streamFigures(r: StreamsResult): Figure[] {
  const edgeMb = r.peak.edge / 1048576;
  const daemonMb = r.peak.daemon / 1048576;
  return [
    {
      figure: `edge RSS peak, ${r.n} streams (direct col = idle)`,
      direct: mb(r.idle.edge),
      metered: mb(r.peak.edge),
      added: `${ratio(r.peak.edge, r.idle.edge)} of idle; ${mb(r.fileAtPeak.edge)} file-backed`,
      target: `<= ${TARGET.edgeRssMb} MB`,
      verdict: verdict(edgeMb <= TARGET.edgeRssMb),
      values: { idle_bytes: r.idle.edge, peak_bytes: r.peak.edge, file_backed_at_peak_bytes: r.fileAtPeak.edge, vmhwm_bytes: r.hwm.edge, samples: r.samples },
    },
    {
      figure: `daemon RSS peak, ${r.n} streams (direct col = idle)`,
      direct: mb(r.idle.daemon),
      metered: mb(r.peak.daemon),
      added: `${ratio(r.peak.daemon, r.idle.daemon)} of idle; ${mb(r.fileAtPeak.daemon)} file-backed`,
      target: `<= ${TARGET.daemonRssMb} MB`,
      verdict: verdict(daemonMb <= TARGET.daemonRssMb),
      values: { idle_bytes: r.idle.daemon, peak_bytes: r.peak.daemon, file_backed_at_peak_bytes: r.fileAtPeak.daemon, vmhwm_bytes: r.hwm.daemon, samples: r.samples },
    },
    {
      figure: `${r.n} streams x ${r.events} events / ${r.delayMs} ms: completed`,
      direct: String(r.completed.direct),
      metered: String(r.completed.metered),
      added: '-',
      target: `${r.n} each`,
      verdict: verdict(r.completed.direct === r.n && r.completed.metered === r.n),
      values: { direct: r.completed.direct, metered: r.completed.metered },
    },
    {
      figure: `${r.n} streams: duration p50 / p99 (cadence)`,
      direct: `${ms(r.total.direct.p50)} / ${ms(r.total.direct.p99)}`,
      metered: `${ms(r.total.metered.p50)} / ${ms(r.total.metered.p99)}`,
      added: `${ratio(r.total.metered.p50, r.total.direct.p50)} / ${ratio(r.total.metered.p99, r.total.direct.p99)}`,
      target: '-',
      verdict: 'info',
      values: { direct_p50_ms: r.total.direct.p50, metered_p50_ms: r.total.metered.p50, direct_p99_ms: r.total.direct.p99, metered_p99_ms: r.total.metered.p99 },
    },
    {
      figure: `${r.n} streams: TTFB p50 / p99 (all opened at once)`,
      direct: `${ms(r.ttfb.direct.p50)} / ${ms(r.ttfb.direct.p99)}`,
      metered: `${ms(r.ttfb.metered.p50)} / ${ms(r.ttfb.metered.p99)}`,
      added: `${plus(r.ttfb.metered.p50 - r.ttfb.direct.p50)} / ${plus(r.ttfb.metered.p99 - r.ttfb.direct.p99)}`,
      target: '-',
      verdict: 'info',
      values: { direct_p50_ms: r.ttfb.direct.p50, metered_p50_ms: r.ttfb.metered.p50, direct_p99_ms: r.ttfb.direct.p99, metered_p99_ms: r.ttfb.metered.p99 },
    },
    {
      figure: `${r.n} streams: CPU (1 core = 100%)`,
      direct: '-',
      metered: `bench ${pct(r.cpu.bench)} edge ${pct(r.cpu.edge)} daemon ${pct(r.cpu.daemon)} softirq ${pct(r.cpu.softirq)} others ${pct(r.cpu.others)}`,
      added: '-',
      target: '-',
      verdict: 'info',
      values: r.cpu,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const n = sizes(opts.quick);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const machine = machineInfo(command, repoRoot());
  const t0 = Date.now();
  log(`${machine.nproc} cpus (${machine.cpuModel}), node ${machine.node}, load ${machine.loadavgBefore}`);

  // Processes and temp dirs must not outlive the bench, whichever way it ends.
  installExitCleanup();
  const pki = makeTestPki();
  removeAtExit(pki.dir);
  const fake = await startFake(pki, opts.fakeInline);
  const meter = await startMeter({ pki, upstreamPort: fake.port });
  removeAtExit(meter.home);
  let peer: PeerResult | null = null;
  const figures: Figure[] = [];
  const detail: Record<string, unknown> = {};
  // CPU that other tenants of the machine used during each phase: the noise these figures carry.
  const noise: Record<string, number> = {};
  const noiseOf = async <T>(phase: string, run: () => Promise<T>): Promise<T> => {
    const w = cpuWindow({ bench: process.pid, edge: meter.edge.pid ?? 0, daemon: meter.daemon?.pid ?? 0 });
    try {
      return await run();
    } finally {
      const used = w.stop();
      noise[phase] = used.others;
      noise[`${phase}_steal`] = used.steal;
    }
  };
  let broke: unknown = null;
  try {
    if (opts.edgeFlags.length) await respawn(meter, 'edge', opts.edgeFlags);
    if (opts.daemonFlags.length) await respawn(meter, 'daemon', opts.daemonFlags);
    const ep: Endpoints = {
      fakePort: fake.port,
      upstreamCa: pki.caCert,
      edgePort: meter.edgePort,
      clientBundle: readFileSync(meter.clientBundlePath, 'utf8'),
    };
    log(`meter up: edge pid ${meter.edge.pid} :${meter.edgePort}, daemon pid ${meter.daemon?.pid} :${meter.internalPort}, fake :${fake.port}${opts.fakeInline ? ' (inline)' : ' (worker thread)'}`);

    const d1 = makeSide('direct', ep, 1);
    const m1 = makeSide('metered', ep, 1);
    const p1 = makeSide('passthrough', ep, 1);
    try {
      for (let i = 0; i < n.warmup; i++) {
        await jsonCall(d1);
        await jsonCall(m1);
        await jsonCall(p1);
      }
      for (let i = 0; i < 20; i++) {
        await streamCall(d1, 0);
        await streamCall(m1, 0);
      }
      const warmRows = await settledRows(meter.dbPath, meteredCalls.ok, 10_000);
      if (warmRows === 0) throw new Error('warm-up wrote no rows: the metered side is not going through the daemon');
      log(`warm-up done (${meteredCalls.ok} metered calls, ${warmRows} rows)`);

      if (opts.only.has('latency')) {
        const r = await noiseOf('latency', () => latencyPhase(d1, m1, p1, { edge: meter.edge.pid ?? 0, daemon: meter.daemon?.pid ?? 0 }, n.latencyN, n.batch));
        detail.latency = r;
        figures.push(...latencyFigures(r));
        log(`latency p50 direct ${ms(r.direct.p50)} metered ${ms(r.metered.p50)}; p99 ${ms(r.direct.p99)} / ${ms(r.metered.p99)}`);
      }
      if (opts.only.has('ttfb')) {
        const r = await noiseOf('ttfb', () => ttfbPhase(d1, m1, n.ttfbN, n.ttfbDelayMs));
        detail.ttfb = r;
        figures.push(...ttfbFigures(r));
        log(`ttfb p50 direct ${ms(r.ttfb.direct.p50)} metered ${ms(r.ttfb.metered.p50)}`);
      }
    } finally {
      await closeSide(d1);
      await closeSide(m1);
      await closeSide(p1);
    }

    if (opts.only.has('connect')) {
      const r = await noiseOf('connect', () => connectPhase(ep, n.connectN));
      detail.connect = r;
      figures.push(...connectFigures(r));
      log(`new-connection call p50 direct ${ms(r.direct.p50)} metered ${ms(r.metered.p50)}`);
    }
    if (opts.only.has('rps')) {
      const r = await noiseOf('rps', () => rpsPhase(ep, meter, fake, n.rpsConns, n.rpsWarmMs, n.rpsLegMs, n.rpsRounds));
      detail.rps = r;
      figures.push(...rpsFigures(r, n.rpsConns));
    }
    if (opts.only.has('streams')) {
      const r = await noiseOf('streams', () => streamsPhase(ep, meter, n.streams, n.streamEvents, n.streamDelayMs));
      detail.streams = r;
      figures.push(...streamFigures(r));
      const expected = meteredCalls.ok;
      const rows = await settledRows(meter.dbPath, expected);
      figures.push({
        figure: 'rows written vs metered requests (whole run)',
        direct: `${expected} requests${meteredCalls.failed ? ` (+${meteredCalls.failed} failed)` : ''}`,
        metered: `${rows} rows`,
        added: `${rows - expected >= 0 ? '+' : ''}${rows - expected} rows`,
        target: 'rows = requests',
        verdict: verdict(rowsMatch(rows, expected, meteredCalls.failed)),
        values: { requests_ok: expected, requests_failed: meteredCalls.failed, rows },
      });
    }
    if (opts.only.has('peer')) {
      // Not under noiseOf: its window counts only the bench and the meter as ours, and would book
      // socat's and mitmproxy's CPU as other tenants'. The peer phase measures its own.
      peer = await peerPhase({
        quick: opts.quick,
        ep,
        upstreamCaPath: pki.caCertPath,
        edgePid: meter.edge.pid ?? 0,
        daemonPid: meter.daemon?.pid ?? 0,
        settledRows: (expected) => settledRows(meter.dbPath, expected),
        log,
      });
      detail.peer = peer.detail;
      noise.peer = peer.othersCpu;
    }
    figures.push({
      figure: 'CPU of other processes (other tenants), per phase',
      direct: '-',
      metered: Object.keys(noise)
        .filter((k) => !k.endsWith('_steal'))
        .map((k) => `${k} ${pct(noise[k])}${noise[`${k}_steal`] > 0.005 ? ` (+steal ${pct(noise[`${k}_steal`])})` : ''}`)
        .join(', '),
      added: '-',
      target: '-',
      verdict: 'info',
      values: noise,
    });
    detail.edgeHealth = await getJson(meter.edgePort, '/health');
    detail.daemonStatus = await getJson(meter.apiPort, '/v1/daemon/status');
    // A CONNECT the daemon does not answer within the edge's deadline goes raw (fail-open): the
    // call works but is not metered. This is where rows go missing under load.
    const edgeStats = (detail.edgeHealth as { stats?: Record<string, number> } | null)?.stats ?? {};
    const daemonStats = (detail.daemonStatus ?? {}) as Record<string, number>;
    figures.push({
      figure: 'edge fallbacks to raw tunnel (daemon too slow)',
      direct: '-',
      metered: `${edgeStats.fallbacks ?? 'n/a'} of ${(edgeStats.chained ?? 0) + (edgeStats.fallbacks ?? 0)} metered connections`,
      added: `daemon tls_failures ${daemonStats.tls_failures ?? 'n/a'}`,
      target: '0',
      verdict: verdict(edgeStats.fallbacks === 0),
      values: { fallbacks: edgeStats.fallbacks ?? null, chained: edgeStats.chained ?? null, daemon_tls_failures: daemonStats.tls_failures ?? null },
    });
  } catch (err) {
    broke = err;
  } finally {
    await meter.stop().catch(() => undefined);
    await fake.close().catch(() => undefined);
  }
  if (!broke && opts.only.has('report')) {
    try {
      const r = await reportPhase(opts.quick, log);
      figures.push(...r.figures);
      detail.report = r.detail;
    } catch (err) {
      broke = err;
    }
  }

  const seconds = Math.round((Date.now() - t0) / 1000);
  const table = renderTable(figures);
  process.stdout.write(
    `\nhalton-meter bench — ${machine.date}\n` +
      `machine: ${machine.nproc} cpus, ${machine.cpuModel}, node ${machine.node}, load avg before ${machine.loadavgBefore}\n` +
      `tree: ${machine.tree}\n` +
      `command: ${machine.command}   (${seconds} s${opts.quick ? ', --quick' : ''})\n\n${table}\n`,
  );
  if (peer) process.stdout.write(`\npeer comparison (same client, same fake; hm = halton-meter)\n${peer.peers.join('\n')}\n\n${peer.table}\n`);
  const out = { machine, seconds, options: { ...opts, only: [...opts.only] }, sizes: n, figures, detail, markdown: renderMarkdown(figures), peer: peer ? { peers: peer.peers, figures: peer.figures, markdown: peer.markdown } : null, error: broke ? String(broke) : null };
  writeFileSync(new URL('./last.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
  process.stdout.write(`\nJSON: ${new URL('./last.json', import.meta.url).pathname}\n`);
  if (broke) {
    process.stderr.write(`bench broke: ${broke instanceof Error ? (broke.stack ?? broke.message) : String(broke)}\n`);
    process.exit(1);
  }
  // Open handles (undici timers, the worker) must not hold the process: the run is over.
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench broke: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
