// The peer comparison (issue 6): the same workloads, with the same undici client, over four paths to
// the same fake provider:
//   direct        TLS straight to the fake (SNI api.anthropic.com)
//   relay         socat relaying TCP bytes in front of the fake's TLS port; the client's TLS goes
//                 through untouched: the cost of one userspace byte hop, a floor for any proxy
//   halton-meter  HTTPS_PROXY-style through the edge, chained to the daemon, which decrypts,
//                 forwards, taps and writes a row (as in run.ts's other phases)
//   mitmproxy     HTTPS_PROXY-style through mitmdump, which decrypts and forwards (no addons);
//                 two instances, so each workload gets the body mode that suits mitmproxy best:
//                 buffered for small calls, streamed for SSE (peer-procs.ts, MitmBodies)
// Workloads: sequential small calls on one keep-alive connection (added latency), small calls on
// many keep-alive connections (requests/s, proxy CPU per call), 200 concurrent long SSE streams
// (TTFB, cadence) and a 100 MB download from a host neither proxy decrypts (passthrough bytes/s).
// Proxy CPU and memory are read from /proc for each proxy's process tree.
import { Client, Pool, ProxyAgent } from 'undici';
import { HOST, PASSTHROUGH_HOST, closeSide, jsonCall, makeSide, meteredCalls, streamCall, throughput, type Endpoints, type Side, type StreamTiming } from './load.js';
import { COLUMN_IDS, COLUMN_LABEL, renderPeerMarkdown, renderPeerTable, type ColumnId, type PeerFigure } from './peer-report.js';
import { findExecutable, sampleTrees, startMitm, startRelay, treeCpuSeconds, versionOf, type MitmBodies, type MitmProc, type PeerProc, type TreeMemory } from './peer-procs.js';
import { cpuSeconds, machineSeconds } from './procs.js';
import type { Verdict } from './report.js';
import { mb, ms, ratio, summarize, type Summary } from './stats.js';

export interface PeerContext {
  quick: boolean;
  ep: Endpoints;
  /** The fake provider's CA as a file (mitmproxy verifies its upstream against it). */
  upstreamCaPath: string;
  edgePid: number;
  daemonPid: number;
  /** Waits for the meter's writer and returns the rows written so far (whole run). */
  settledRows(expected: number): Promise<number>;
  log(msg: string): void;
}

export interface PeerResult {
  figures: PeerFigure[];
  table: string;
  markdown: string;
  /** One line per peer: version and the exact command line it ran with (or why it was skipped). */
  peers: string[];
  /** CPU of every process outside the bench and the proxies, over the phase (1.0 = one core). */
  othersCpu: number;
  detail: Record<string, unknown>;
}

const TARGET = { rpsVsMitm: 3, passthroughVsRelay: 0.8 } as const;

function sizes(quick: boolean) {
  return quick
    ? { latencyN: 200, batch: 25, conns: 48, warmMs: 500, legMs: 750, rounds: 1, streams: 200, events: 100, eventDelayMs: 20, downloadBytes: 100 * 1048576, downloadReps: 2 }
    : { latencyN: 1000, batch: 50, conns: 48, warmMs: 750, legMs: 1250, rounds: 3, streams: 200, events: 500, eventDelayMs: 20, downloadBytes: 100 * 1048576, downloadReps: 3 };
}
type Sizes = ReturnType<typeof sizes>;

// ---------------------------------------------------------------------------------------------------
// The four paths as client-side dispatchers.

type Workload = 'calls' | 'streams' | 'download';

interface Column {
  id: ColumnId;
  /**
   * Pids whose process trees are this path's proxy in each workload; none for direct. The same
   * processes for every workload except mitmproxy's, whose instance depends on the body mode.
   */
  roots: Record<Workload, number[]>;
  /** Small Messages calls, `connections` keep-alive connections. */
  api(connections: number): Side;
  /** Long SSE streams, `connections` keep-alive connections. */
  sse(connections: number): Side;
  /** One connection to the download host, which no proxy decrypts. */
  download(): Side;
}

const same = (pids: number[]): Record<Workload, number[]> => ({ calls: pids, streams: pids, download: pids });

const API_HEADERS = {
  'content-type': 'application/json',
  'x-api-key': 'sk-ant-bench-not-a-secret',
  'anthropic-version': '2023-06-01',
};

// Only a side named 'metered' counts toward the meter's rows (load.ts): every other path here is
// unmetered, so they are named 'direct' (straight TLS) or 'passthrough' (through a proxy).
function tlsSide(name: 'direct' | 'passthrough', port: number, servername: string, ca: string, connections: number): Side {
  const origin = `https://127.0.0.1:${port}`;
  const connect = { ca, servername };
  const dispatcher = connections === 1 ? new Client(origin, { connect, pipelining: 1 }) : new Pool(origin, { connections, connect, pipelining: 1 });
  return { name, dispatcher, origin, headers: { host: servername, ...API_HEADERS } };
}

function proxySide(proxyPort: number, origin: string, servername: string, ca: string, connections: number): Side {
  const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${proxyPort}`, connections, pipelining: 1, requestTls: { ca, servername } });
  return { name: 'passthrough', dispatcher, origin, headers: { host: servername, ...API_HEADERS } };
}

function columns(ctx: PeerContext, relay: PeerProc | null, mitm: Record<MitmBodies, MitmProc> | null): Column[] {
  const { ep } = ctx;
  const direct = (n: number): Side => tlsSide('direct', ep.fakePort, HOST, ep.upstreamCa, n);
  const cols: Column[] = [
    { id: 'direct', roots: same([]), api: direct, sse: direct, download: () => tlsSide('direct', ep.fakePort, PASSTHROUGH_HOST, ep.upstreamCa, 1) },
  ];
  if (relay) {
    const api = (n: number): Side => tlsSide('passthrough', relay.port, HOST, ep.upstreamCa, n);
    cols.push({ id: 'relay', roots: same([relay.pid]), api, sse: api, download: () => tlsSide('passthrough', relay.port, PASSTHROUGH_HOST, ep.upstreamCa, 1) });
  }
  const metered = (n: number): Side => makeSide('metered', ep, n);
  cols.push({
    id: 'halton',
    roots: same([ctx.edgePid, ctx.daemonPid]),
    api: metered,
    sse: metered,
    // Trusting only the fake's CA proves the edge tunnels this host: a decrypted one would fail.
    download: () => proxySide(ep.edgePort, `https://${PASSTHROUGH_HOST}`, PASSTHROUGH_HOST, ep.upstreamCa, 1),
  });
  if (mitm) {
    // mitmproxy resolves names itself and cannot be pointed at the fake by name, so the client asks
    // for the fake's address (CONNECT 127.0.0.1:<port>) with the provider's SNI and Host: mitmproxy
    // then connects there with that SNI, as the daemon does through its resolve table. The download
    // goes to the same address with the download host's SNI, which ignore_hosts matches.
    const origin = `https://127.0.0.1:${ep.fakePort}`;
    const { buffered, streamed } = mitm;
    cols.push({
      id: 'mitm',
      roots: { calls: [buffered.pid], streams: [streamed.pid], download: [streamed.pid] },
      api: (n) => proxySide(buffered.port, origin, HOST, buffered.caCert, n),
      sse: (n) => proxySide(streamed.port, origin, HOST, streamed.caCert, n),
      // As for the edge: trusting only the fake's CA, the download fails unless ignore_hosts tunnels it,
      // and the calls above fail unless mitmproxy decrypts them (they trust only its CA).
      download: () => proxySide(streamed.port, origin, PASSTHROUGH_HOST, ep.upstreamCa, 1),
    });
  }
  return cols;
}

// ---------------------------------------------------------------------------------------------------
// Workloads.

type PerColumn<T> = Partial<Record<ColumnId, T>>;

const rotate = <T>(xs: readonly T[], k: number): T[] => xs.map((_, i) => xs[(i + k) % xs.length]);

interface LatencyResult {
  summary: Summary;
  failures: number;
}

/** Sequential calls on one keep-alive connection per path, in batches whose order rotates. */
async function latencyWorkload(cols: readonly Column[], s: Sizes): Promise<PerColumn<LatencyResult>> {
  const sides = cols.map((c) => ({ id: c.id, side: c.api(1) }));
  const samples: PerColumn<number[]> = {};
  const failures: PerColumn<number> = {};
  try {
    // Opens each connection (the handshake is not this figure) and warms the JIT on every path.
    for (const { side } of sides) for (let i = 0; i < 50; i++) await jsonCall(side);
    for (let r = 0; r < Math.ceil(s.latencyN / s.batch); r++) {
      for (const { id, side } of rotate(sides, r % sides.length)) {
        for (let i = 0; i < s.batch; i++) {
          const t = await jsonCall(side);
          if (Number.isNaN(t)) failures[id] = (failures[id] ?? 0) + 1;
          else (samples[id] ??= []).push(t);
        }
      }
    }
  } finally {
    await Promise.all(sides.map(({ side }) => closeSide(side)));
  }
  return Object.fromEntries(cols.map((c) => [c.id, { summary: summarize(samples[c.id] ?? []), failures: failures[c.id] ?? 0 }]));
}

interface RpsResult {
  rps: number;
  ok: number;
  errors: number;
  seconds: number;
  /** Proxy process-tree CPU seconds over the measured legs. */
  cpuSeconds: number;
  legs: number[];
  warm: number[];
}

/**
 * `conns` keep-alive connections per path. Each path is first warmed until two legs agree within
 * 15% (connections open, JIT warm); then rounds of one leg per path, order reversed every round.
 * Each measured leg follows a short unmeasured one on the same path: connections that idled out
 * while the other paths ran are reopened there, not in the measurement.
 */
async function rpsWorkload(cols: readonly Column[], s: Sizes, log: (m: string) => void): Promise<PerColumn<RpsResult>> {
  const sides = cols.map((c) => ({ col: c, side: c.api(s.conns) }));
  const out: PerColumn<RpsResult> = {};
  try {
    for (const { col, side } of sides) {
      const warm: number[] = [];
      for (let i = 0; i < 6; i++) {
        warm.push(Math.round((await throughput(side, s.conns, s.warmMs)).perSecond));
        const [a, b] = warm.slice(-2);
        if (warm.length >= 2 && Math.abs(a - b) <= 0.15 * Math.max(a, b)) break;
      }
      out[col.id] = { rps: 0, ok: 0, errors: 0, seconds: 0, cpuSeconds: 0, legs: [], warm };
    }
    for (let r = 0; r < s.rounds; r++) {
      for (const { col, side } of r % 2 === 0 ? sides : [...sides].reverse()) {
        await throughput(side, s.conns, s.warmMs / 2);
        const c0 = treeCpuSeconds(col.roots.calls);
        const t = await throughput(side, s.conns, s.legMs);
        const acc = out[col.id] as RpsResult;
        acc.cpuSeconds += treeCpuSeconds(col.roots.calls) - c0;
        acc.ok += t.ok;
        acc.errors += t.errors;
        acc.seconds += t.seconds;
        acc.legs.push(Math.round(t.perSecond));
      }
    }
  } finally {
    await Promise.all(sides.map(({ side }) => closeSide(side)));
  }
  for (const r of Object.values(out)) r.rps = r.ok / (r.seconds || 1);
  log(`peer rps legs: ${cols.map((c) => `${c.id} ${out[c.id]?.warm.join(' ')} | ${out[c.id]?.legs.join(' ')}`).join('; ')}`);
  return out;
}

interface StreamsResult {
  completed: number;
  ttfb: Summary;
  total: Summary;
  cpuSeconds: number;
}

/**
 * `streams` concurrent SSE streams per path, one path at a time. The connections are opened first
 * (one small call each, all at once) and left to settle for a second (the meter looks up the client
 * process of each new connection in a worker, which competes for the same two cores), so TTFB is
 * the proxies' streaming under load and not a handshake storm; the new-connection cost is run.ts's
 * `connect` phase. A second is well inside every keep-alive timeout on the path (4-5 s).
 */
async function streamsWorkload(cols: readonly Column[], s: Sizes, log: (m: string) => void): Promise<PerColumn<StreamsResult>> {
  const out: PerColumn<StreamsResult> = {};
  for (const col of cols) {
    const side = col.sse(s.streams);
    try {
      await Promise.all(Array.from({ length: s.streams }, () => jsonCall(side)));
      await new Promise((r) => setTimeout(r, 1000));
      const c0 = treeCpuSeconds(col.roots.streams);
      const got = await Promise.all(Array.from({ length: s.streams }, () => streamCall(side, s.eventDelayMs, s.events)));
      const cpu = treeCpuSeconds(col.roots.streams) - c0;
      const ok = got.filter((t): t is StreamTiming => t !== null);
      out[col.id] = { completed: ok.length, ttfb: summarize(ok.map((t) => t.ttfb)), total: summarize(ok.map((t) => t.total)), cpuSeconds: cpu };
      log(`peer streams ${col.id}: ${ok.length}/${s.streams}, ttfb p50 ${ms(out[col.id]?.ttfb.p50 ?? Number.NaN)}, duration p50 ${ms(out[col.id]?.total.p50 ?? Number.NaN)}`);
    } finally {
      await closeSide(side);
    }
  }
  return out;
}

async function downloadOnce(side: Side, bytes: number): Promise<number> {
  const t0 = performance.now();
  try {
    const res = await side.dispatcher.request({
      origin: side.origin,
      path: '/bench/download',
      method: 'GET',
      headers: { host: side.headers.host, 'x-bench-download-bytes': String(bytes) },
    });
    let got = 0;
    for await (const chunk of res.body) got += (chunk as Buffer).length;
    return res.statusCode === 200 && got === bytes ? (performance.now() - t0) / 1000 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

interface DownloadResult {
  /** Median over the repetitions. */
  bytesPerSecond: number;
  runs: number[];
  failures: number;
  cpuSeconds: number;
  bytes: number;
}

/** `downloadReps` downloads per path on one connection, the order of the paths rotating per rep. */
async function downloadWorkload(cols: readonly Column[], s: Sizes): Promise<PerColumn<DownloadResult>> {
  const sides = cols.map((c) => ({ col: c, side: c.download() }));
  const out: PerColumn<DownloadResult> = {};
  try {
    for (const { col, side } of sides) {
      // Opens the connection and lets TCP windows and the JIT settle.
      await downloadOnce(side, 32 * 1048576);
      out[col.id] = { bytesPerSecond: 0, runs: [], failures: 0, cpuSeconds: 0, bytes: 0 };
    }
    for (let r = 0; r < s.downloadReps; r++) {
      for (const { col, side } of rotate(sides, r % sides.length)) {
        const acc = out[col.id] as DownloadResult;
        const c0 = treeCpuSeconds(col.roots.download);
        const sec = await downloadOnce(side, s.downloadBytes);
        acc.cpuSeconds += treeCpuSeconds(col.roots.download) - c0;
        if (Number.isNaN(sec)) acc.failures++;
        else {
          acc.runs.push(s.downloadBytes / sec);
          acc.bytes += s.downloadBytes;
        }
      }
    }
  } finally {
    await Promise.all(sides.map(({ side }) => closeSide(side)));
  }
  for (const r of Object.values(out)) r.bytesPerSecond = summarize(r.runs).p50;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Figures.

const verdict = (ok: boolean): Verdict => (ok ? 'PASS' : 'MISS');
const plus = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${ms(v)}` : 'n/a');
const num = (v: number | undefined, digits = 0): string => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits));
const mbps = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? 'n/a' : `${(v / 1048576).toFixed(0)} MB/s`);
const pct = (v: number): string => (Number.isFinite(v) ? `${Math.round(v * 100)}%` : 'n/a');

/** One figure's cells: `text` per path that ran, 'skipped' for the ones that did not. */
function cellsFor(ran: ReadonlySet<ColumnId>, text: (id: ColumnId) => string): Record<ColumnId, string> {
  return Object.fromEntries(COLUMN_IDS.map((id) => [id, ran.has(id) ? text(id) : 'skipped'])) as Record<ColumnId, string>;
}

/** Cells of a figure that belongs to one column only: that one filled, '-' elsewhere. */
function oneCell(id: ColumnId, text: string): Record<ColumnId, string> {
  return Object.fromEntries(COLUMN_IDS.map((c) => [c, c === id ? text : '-'])) as Record<ColumnId, string>;
}

function valuesFor<T>(per: PerColumn<T>, pick: (r: T) => number): Record<string, number | null> {
  return Object.fromEntries(COLUMN_IDS.map((id) => [id, per[id] === undefined ? null : pick(per[id] as T)]));
}

interface Measured {
  latency: PerColumn<LatencyResult>;
  rps: PerColumn<RpsResult>;
  streams: PerColumn<StreamsResult>;
  download: PerColumn<DownloadResult>;
  memory: PerColumn<TreeMemory>;
  idleMemory: PerColumn<TreeMemory>;
  rows: { expected: number; failed: number; written: number };
  othersCpu: number;
}

function figuresOf(m: Measured, ran: ReadonlySet<ColumnId>, s: Sizes): PeerFigure[] {
  const hasMitm = ran.has('mitm');
  const hasRelay = ran.has('relay');
  const figures: PeerFigure[] = [];

  const lat = (q: 'p50' | 'p99'): PeerFigure => {
    const v = (id: ColumnId): number => m.latency[id]?.summary[q] ?? Number.NaN;
    const added = (id: ColumnId): number => v(id) - v('direct');
    const ok = added('halton') < added('mitm');
    return {
      figure: `latency ${q}, sequential small calls, 1 keep-alive conn (n=${m.latency.halton?.summary.n ?? 0} each)`,
      cells: cellsFor(ran, (id) => (id === 'direct' ? ms(v(id)) : `${ms(v(id))} (${plus(added(id))})`)),
      hmMitm: hasMitm ? `${ratio(added('halton'), added('mitm'))} added` : 'n/a',
      hmDirect: ratio(v('halton'), v('direct')),
      target: 'hm added < mitmproxy added',
      verdict: hasMitm ? verdict(ok) : 'info',
      values: { ...valuesFor(m.latency, (r) => r.summary[q]), ...Object.fromEntries(COLUMN_IDS.map((id) => [`failures_${id}`, m.latency[id]?.failures ?? null])) },
    };
  };
  figures.push(lat('p50'), lat('p99'));

  const rps = (id: ColumnId): number => m.rps[id]?.rps ?? Number.NaN;
  const rpsRatio = rps('halton') / rps('mitm');
  figures.push({
    figure: `throughput, small calls, ${s.conns} keep-alive conns (req/s)`,
    cells: cellsFor(ran, (id) => `${num(rps(id))}${m.rps[id]?.errors ? ` (${m.rps[id]?.errors} errors)` : ''}`),
    hmMitm: ratio(rps('halton'), rps('mitm')),
    hmDirect: ratio(rps('halton'), rps('direct')),
    target: `hm >= ${TARGET.rpsVsMitm}x mitmproxy`,
    verdict: hasMitm ? verdict(rpsRatio >= TARGET.rpsVsMitm) : 'info',
    values: { ...valuesFor(m.rps, (r) => r.rps), ...Object.fromEntries(COLUMN_IDS.map((id) => [`errors_${id}`, m.rps[id]?.errors ?? null])) },
  });

  const cpuPerK = (id: ColumnId): number => ((m.rps[id]?.cpuSeconds ?? Number.NaN) / (m.rps[id]?.ok || Number.NaN)) * 1000;
  figures.push({
    figure: 'proxy CPU-seconds per 1,000 calls (at full load, all its processes)',
    cells: cellsFor(ran, (id) => (id === 'direct' ? '-' : num(cpuPerK(id), 3))),
    hmMitm: ratio(cpuPerK('halton'), cpuPerK('mitm')),
    hmDirect: '-',
    target: '-',
    verdict: 'info',
    values: valuesFor(m.rps, (r) => (r.cpuSeconds / (r.ok || Number.NaN)) * 1000),
  });

  const st = (id: ColumnId): StreamsResult | undefined => m.streams[id];
  figures.push({
    figure: `${s.streams} concurrent SSE streams x ${s.events} events / ${s.eventDelayMs} ms: completed`,
    cells: cellsFor(ran, (id) => String(st(id)?.completed ?? 0)),
    hmMitm: '-',
    hmDirect: '-',
    target: `${s.streams} each`,
    verdict: verdict([...ran].every((id) => st(id)?.completed === s.streams)),
    values: valuesFor(m.streams, (r) => r.completed),
  });
  const ttfb = (id: ColumnId, q: 'p50' | 'p99'): number => st(id)?.ttfb[q] ?? Number.NaN;
  figures.push({
    figure: `${s.streams} streams: TTFB p50 / p99 (conns already open)`,
    cells: cellsFor(ran, (id) => `${ms(ttfb(id, 'p50'))} / ${ms(ttfb(id, 'p99'))}`),
    hmMitm: `${ratio(ttfb('halton', 'p50'), ttfb('mitm', 'p50'))} (p50)`,
    hmDirect: `${ratio(ttfb('halton', 'p50'), ttfb('direct', 'p50'))} (p50)`,
    target: '-',
    verdict: 'info',
    values: { ...valuesFor(m.streams, (r) => r.ttfb.p50), ...Object.fromEntries(COLUMN_IDS.map((id) => [`p99_${id}`, st(id)?.ttfb.p99 ?? null])) },
  });
  const dur = (id: ColumnId, q: 'p50' | 'p99'): number => st(id)?.total[q] ?? Number.NaN;
  figures.push({
    figure: `${s.streams} streams: duration p50 / p99 (cadence)`,
    cells: cellsFor(ran, (id) => `${ms(dur(id, 'p50'))} / ${ms(dur(id, 'p99'))}`),
    hmMitm: `${ratio(dur('halton', 'p50'), dur('mitm', 'p50'))} (p50)`,
    hmDirect: `${ratio(dur('halton', 'p50'), dur('direct', 'p50'))} (p50)`,
    target: '-',
    verdict: 'info',
    values: { ...valuesFor(m.streams, (r) => r.total.p50), ...Object.fromEntries(COLUMN_IDS.map((id) => [`p99_${id}`, st(id)?.total.p99 ?? null])) },
  });
  const streamCpuPerK = (id: ColumnId): number => ((st(id)?.cpuSeconds ?? Number.NaN) / (st(id)?.completed || Number.NaN)) * 1000;
  figures.push({
    figure: `proxy CPU-seconds per 1,000 streams (${s.events} events each)`,
    cells: cellsFor(ran, (id) => (id === 'direct' ? '-' : num(streamCpuPerK(id), 1))),
    hmMitm: ratio(streamCpuPerK('halton'), streamCpuPerK('mitm')),
    hmDirect: '-',
    target: '-',
    verdict: 'info',
    values: valuesFor(m.streams, (r) => (r.cpuSeconds / (r.completed || Number.NaN)) * 1000),
  });

  const bps = (id: ColumnId): number => m.download[id]?.bytesPerSecond ?? Number.NaN;
  const vsRelay = bps('halton') / bps('relay');
  figures.push({
    figure: `passthrough download, ${s.downloadBytes / 1048576} MB x ${s.downloadReps}, not decrypted (median)`,
    cells: cellsFor(ran, (id) => `${mbps(bps(id))}${m.download[id]?.failures ? ` (${m.download[id]?.failures} failed)` : ''}`),
    hmMitm: ratio(bps('halton'), bps('mitm')),
    hmDirect: ratio(bps('halton'), bps('direct')),
    target: `hm >= ${pct(TARGET.passthroughVsRelay)} of relay${hasRelay ? ` (${pct(vsRelay)})` : ''}`,
    verdict: hasRelay ? verdict(vsRelay >= TARGET.passthroughVsRelay) : 'info',
    values: { ...valuesFor(m.download, (r) => r.bytesPerSecond), ...Object.fromEntries(COLUMN_IDS.map((id) => [`failures_${id}`, m.download[id]?.failures ?? null])) },
  });
  const cpuPerGb = (id: ColumnId): number => ((m.download[id]?.cpuSeconds ?? Number.NaN) / (m.download[id]?.bytes || Number.NaN)) * 1024 ** 3;
  figures.push({
    figure: 'proxy CPU-seconds per GB passed through',
    cells: cellsFor(ran, (id) => (id === 'direct' ? '-' : num(cpuPerGb(id), 2))),
    hmMitm: ratio(cpuPerGb('halton'), cpuPerGb('mitm')),
    hmDirect: '-',
    target: '-',
    verdict: 'info',
    values: valuesFor(m.download, (r) => (r.cpuSeconds / (r.bytes || Number.NaN)) * 1024 ** 3),
  });

  const mem = (id: ColumnId): TreeMemory | undefined => m.memory[id];
  figures.push({
    figure: 'proxy peak RSS over the phase (PSS; processes at peak)',
    cells: cellsFor(ran, (id) => {
      const t = mem(id);
      return id === 'direct' || !t ? '-' : `${mb(t.rss)} (${mb(t.pss)}; ${t.processes})`;
    }),
    hmMitm: ratio(mem('halton')?.rss ?? Number.NaN, mem('mitm')?.rss ?? Number.NaN),
    hmDirect: '-',
    target: '-',
    verdict: 'info',
    values: {
      ...valuesFor(m.memory, (t) => t.rss),
      ...Object.fromEntries(COLUMN_IDS.map((id) => [`pss_${id}`, mem(id)?.pss ?? null])),
      ...Object.fromEntries(COLUMN_IDS.map((id) => [`idle_rss_${id}`, m.idleMemory[id]?.rss ?? null])),
    },
  });
  figures.push({
    figure: 'halton-meter rows vs metered calls (whole run)',
    cells: oneCell('halton', `${m.rows.written} rows / ${m.rows.expected} calls`),
    hmMitm: '-',
    hmDirect: '-',
    target: 'rows = calls',
    verdict: verdict(m.rows.written >= m.rows.expected && m.rows.written <= m.rows.expected + m.rows.failed),
    values: { rows: m.rows.written, calls_ok: m.rows.expected, calls_failed: m.rows.failed },
  });
  figures.push({
    figure: 'CPU of other processes during the phase (noise)',
    cells: oneCell('direct', pct(m.othersCpu)),
    hmMitm: '-',
    hmDirect: '-',
    target: '-',
    verdict: 'info',
    values: { others: m.othersCpu },
  });
  return figures;
}

/** The distinct proxy instances of a path (two for mitmproxy, one otherwise, none for direct). */
function instancesOf(col: Column): number[][] {
  const byKey = new Map<string, number[]>();
  for (const roots of Object.values(col.roots)) if (roots.length) byKey.set(roots.join(','), roots);
  return [...byKey.values()];
}

/** Each path's peak is its largest instance's: one would run one mitmproxy, not both. */
function peakPerColumn(cols: readonly Column[], peaks: Record<string, TreeMemory>): PerColumn<TreeMemory> {
  const out: PerColumn<TreeMemory> = {};
  for (const c of cols) {
    for (let i = 0; i < instancesOf(c).length; i++) {
      const m = peaks[`${c.id}#${i}`];
      if (m && m.rss > (out[c.id]?.rss ?? -1)) out[c.id] = m;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------

export async function peerPhase(ctx: PeerContext): Promise<PeerResult> {
  const s = sizes(ctx.quick);
  const peers: string[] = [];
  let relay: PeerProc | null = null;
  const mitmProcs: MitmProc[] = [];
  let mitm: Record<MitmBodies, MitmProc> | null = null;
  try {
    const socatBin = findExecutable('socat');
    if (!socatBin) {
      peers.push('relay: socat not found on PATH — install it (Debian/Ubuntu: apt-get install socat) for the relay baseline; column skipped');
    } else {
      try {
        relay = await startRelay(socatBin, ctx.ep.fakePort);
        peers.push(`relay: socat ${versionOf(socatBin, '-V', /socat version (\S+)/)}: ${relay.argv.join(' ')}`);
      } catch (err) {
        peers.push(`relay: socat failed to start (${err instanceof Error ? err.message : String(err)}); column skipped`);
      }
    }
    const mitmBin = findExecutable('mitmdump');
    if (!mitmBin) {
      peers.push('mitmproxy: mitmdump not found on PATH — install mitmproxy (Debian/Ubuntu: apt-get install mitmproxy, or pipx install mitmproxy); column skipped');
    } else {
      try {
        const ignore = `^${PASSTHROUGH_HOST.replace(/\./g, '\\.')}$`;
        const version = versionOf(mitmBin, '--version', /Mitmproxy:\s*(\S+)/);
        for (const bodies of ['buffered', 'streamed'] as const) mitmProcs.push(await startMitm(mitmBin, bodies, ctx.upstreamCaPath, ignore));
        const [buffered, streamed] = mitmProcs;
        mitm = { buffered, streamed };
        peers.push(`mitmproxy (small calls): mitmdump ${version}: ${buffered.argv.join(' ')}`);
        peers.push(`mitmproxy (streams, download): mitmdump ${version}: ${streamed.argv.join(' ')}`);
      } catch (err) {
        peers.push(`mitmproxy: mitmdump failed to start (${err instanceof Error ? err.message : String(err)}); column skipped`);
      }
    }
    for (const p of peers) ctx.log(p);

    const cols = columns(ctx, relay, mitm);
    const ran = new Set(cols.map((c) => c.id));
    const allRoots = [...new Set(cols.flatMap((c) => instancesOf(c).flat()))];
    const trees = Object.fromEntries(cols.flatMap((c) => instancesOf(c).map((roots, i) => [`${c.id}#${i}`, roots])));
    const idleMemory = peakPerColumn(cols, sampleTrees(trees).stop());

    const machine0 = machineSeconds();
    // Tick clocks on both sides of the subtraction: /proc/stat counts in ticks.
    const ours0 = cpuSeconds(process.pid) + treeCpuSeconds(allRoots, 'ticks');
    const wall0 = performance.now();
    const sampler = sampleTrees(trees);
    let memory: PerColumn<TreeMemory> = {};
    let latency: PerColumn<LatencyResult>;
    let rps: PerColumn<RpsResult>;
    let streams: PerColumn<StreamsResult>;
    let download: PerColumn<DownloadResult>;
    try {
      latency = await latencyWorkload(cols, s);
      ctx.log(`peer latency p50: ${cols.map((c) => `${c.id} ${ms(latency[c.id]?.summary.p50 ?? Number.NaN)}`).join(', ')}`);
      rps = await rpsWorkload(cols, s, ctx.log);
      ctx.log(`peer req/s: ${cols.map((c) => `${c.id} ${num(rps[c.id]?.rps)}`).join(', ')}`);
      streams = await streamsWorkload(cols, s, ctx.log);
      download = await downloadWorkload(cols, s);
      ctx.log(`peer download: ${cols.map((c) => `${c.id} ${mbps(download[c.id]?.bytesPerSecond)}`).join(', ')}`);
    } finally {
      memory = peakPerColumn(cols, sampler.stop());
    }
    const wall = (performance.now() - wall0) / 1000;
    const ours = cpuSeconds(process.pid) + treeCpuSeconds(allRoots, 'ticks') - ours0;
    const othersCpu = Math.max(0, (machineSeconds().tasks - machine0.tasks - ours) / wall);
    const written = await ctx.settledRows(meteredCalls.ok);

    const measured: Measured = {
      latency,
      rps,
      streams,
      download,
      memory,
      idleMemory,
      rows: { expected: meteredCalls.ok, failed: meteredCalls.failed, written },
      othersCpu,
    };
    const figures = figuresOf(measured, ran, s);
    return {
      figures,
      table: renderPeerTable(figures),
      markdown: renderPeerMarkdown(figures),
      peers,
      othersCpu,
      detail: { sizes: s, columns: [...ran].map((id) => COLUMN_LABEL[id]), peers, measured },
    };
  } finally {
    await relay?.stop().catch(() => undefined);
    for (const p of mitmProcs) await p.stop().catch(() => undefined);
  }
}
