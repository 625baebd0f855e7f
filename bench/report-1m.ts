// `node dist/bench/report-1m.js [rows] [--compare] [--json=FILE]` (issue 5, must-show 5): builds a
// database of 1,000,000 requests (one recursive-CTE INSERT, spread over the last 60 days, 8
// projects, 3 providers, 6 models, 5% estimated usage, 1% without a cost) and times `report` for
// each variant below, in-process (open read-only, compute, close) and through the CLI (a fresh
// process: node startup, module loading, config, read-only open, the queries and the output).
// Target: under 1 s each; best of 3 printed with every run.
//
// --compare also measures what the covering index (migration 2) buys and costs: the same reports on
// a copy of the file without it (store/stats.ts then falls back to one grouped query), and insert
// throughput with and without it (the daemon's way: insertRequests, 200 rows per transaction, legs
// alternating between the two files). `npm run bench` runs this as its 'report' phase (bench/run.ts).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RequestRow } from '../src/core/request-row.js';
import { computeReport, resolvePeriod, type ReportGroup } from '../src/core/report.js';
import { renderReport, storeSource } from '../src/cli/commands/report.js';
import { makeStyle } from '../src/cli/output/style.js';
import { QUERIES, type QueryContext } from '../src/daemon/api/queries.js';
import { loadBundledTable } from '../src/pricing/index.js';
import { ensureProject, insertRequests, openDb } from '../src/store/index.js';

export const TARGET_MS = 1000;

export interface Timing {
  best: number;
  runs: number[];
}

export interface VariantResult {
  /** The CLI arguments after `halton-meter`. */
  args: string[];
  inProcess: Timing;
  cli: Timing;
  /** In-process on the file without the covering index (--compare only). */
  withoutIndex: Timing | null;
}

export interface ReportBenchResult {
  rows: number;
  buildMs: number;
  fileMb: number;
  /** The covering index's share of the file, when SQLite's dbstat is available. */
  indexMb: number | null;
  targetMs: number;
  variants: VariantResult[];
  /** `halton-meter report --help`: node startup and the command table; no query. */
  startup: Timing;
  /** `halton-meter report` with no database: startup and every module `report` loads; no query. */
  startupNoDb: Timing;
  /** The local API's queries on the same file, as its query thread runs them. */
  api: Array<{ route: string; timing: Timing }>;
  /** Rows per second, best leg (--compare only). */
  inserts: { withIndex: Timing; withoutIndex: Timing; rowsPerLeg: number } | null;
}

const VARIANTS: ReadonlyArray<{ args: string[]; by: ReportGroup; vs: boolean }> = [
  { args: ['report'], by: 'project', vs: false },
  { args: ['report', '--by', 'model'], by: 'model', vs: false },
  { args: ['report', '--by', 'provider'], by: 'provider', vs: false },
  { args: ['report', '--by', 'day'], by: 'day', vs: false },
  { args: ['report', '--vs-previous'], by: 'project', vs: true },
  { args: ['report', '--by', 'day', '--vs-previous'], by: 'day', vs: true },
];

function parseArgs(argv: readonly string[]): { rows: number; compare: boolean; json: string | null } {
  const positional = argv.find((a) => /^\d+$/.test(a));
  return {
    rows: Number(positional ?? 1_000_000),
    compare: argv.includes('--compare'),
    json: argv.find((a) => a.startsWith('--json='))?.slice('--json='.length) ?? null,
  };
}

function build(dbPath: string, rows: number, now: Date): void {
  const db = openDb(dbPath);
  const projects = Array.from({ length: 8 }, (_, i) => ensureProject(db, `project-${i + 1}`));
  const spanMs = 60 * 86_400_000;
  // Deterministic pseudo-random spread from the row number (no RANDOM(): the same file every run).
  db.exec(`
    INSERT INTO requests (id, project_id, provider, mode, host, path, model, stream, input_tokens, cache_read_tokens,
      cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, thinking_tokens, web_search_requests, cost_usd_minor_units,
      latency_ms, ttfb_ms, tokens_complete, usage_source, outcome, attribution_rule, requested_at, completed_at)
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
    SELECT printf('bench-%08d', i),
      ${projects[0]} + (i * 7919) % ${projects.length},
      CASE i % 3 WHEN 0 THEN 'anthropic' WHEN 1 THEN 'openai' ELSE 'gemini' END,
      'api', 'api.example.com', '/v1/messages',
      CASE i % 6 WHEN 0 THEN 'claude-sonnet-4-5' WHEN 1 THEN 'gpt-5' WHEN 2 THEN 'gemini-2.5-pro'
                 WHEN 3 THEN 'claude-haiku-4-5' WHEN 4 THEN 'gpt-5-mini' ELSE 'gemini-2.5-flash' END,
      i % 2, 500 + (i * 31) % 5000, (i * 17) % 2000, (i * 13) % 300, 0, 50 + (i * 11) % 1500, 0, 0,
      CASE WHEN i % 100 = 0 THEN NULL ELSE 100 + (i * 37) % 20000 END,
      80 + (i * 101) % 4000, 40, 1,
      CASE WHEN i % 20 = 0 THEN 'estimated' ELSE 'reported' END,
      'completed', 'git_root',
      strftime('%Y-%m-%dT%H:%M:%fZ', (${now.getTime()} - ((i * 104729) % ${spanMs})) / 1000.0, 'unixepoch'),
      strftime('%Y-%m-%dT%H:%M:%fZ', (${now.getTime()} - ((i * 104729) % ${spanMs})) / 1000.0, 'unixepoch')
    FROM n`);
  db.pragmaValue('wal_checkpoint(TRUNCATE)');
  db.close();
}

function indexMb(dbPath: string): number | null {
  const db = openDb(dbPath, { readonly: true });
  try {
    const r = db.prepare<{ bytes: number | null }>("SELECT SUM(pgsize) AS bytes FROM dbstat WHERE name = 'requests_report_cells'").get();
    return r?.bytes ? r.bytes / 1048576 : null;
  } catch {
    return null; // SQLite built without dbstat
  } finally {
    db.close();
  }
}

function time(fn: () => void, runs = 3): Timing {
  const times: number[] = [];
  for (let k = 0; k < runs; k++) {
    const s = performance.now();
    fn();
    times.push(performance.now() - s);
  }
  return { best: Math.min(...times), runs: times };
}

function inProcess(dbPath: string, now: Date, by: ReportGroup, vs: boolean): Timing {
  return time(() => {
    const db = openDb(dbPath, { readonly: true });
    try {
      const r = computeReport(storeSource(db), { period: resolvePeriod({}, now), by, vsPrevious: vs });
      renderReport(r, makeStyle(false, {}), undefined);
    } finally {
      db.close();
    }
  });
}

/** What the dashboard's pages ask, timed on one read-only connection (the query thread keeps one open). */
function apiTimings(dbPath: string, now: Date): Array<{ route: string; timing: Timing }> {
  const db = openDb(dbPath, { readonly: true });
  try {
    const ctx: QueryContext = { db, table: loadBundledTable(), overrides: [], now: () => now };
    const since30 = new Date(now.getTime() - 30 * 86_400_000).toISOString().slice(0, 10);
    const page = (cursor: string | null) => QUERIES.requests(ctx, { project: 'project-3', provider: null, limit: '50', cursor });
    let deep: string | null = null;
    for (let k = 0; k < 200; k++) deep = page(deep).next_cursor;
    const first = page(null).items[0]?.id ?? 'none';
    const routes: Array<[string, () => unknown]> = [
      [`/v1/stats?since=${since30}`, () => QUERIES.stats(ctx, { since: since30, until: null, project: null })],
      ['/v1/stats (all time)', () => QUERIES.stats(ctx, { since: null, until: null, project: null })],
      ['/v1/projects', () => QUERIES.projects(ctx)],
      ['/v1/projects/{slug}/requests (page 1)', () => page(null)],
      ['/v1/projects/{slug}/requests (page 201)', () => page(deep)],
      ['/v1/requests/{id}', () => QUERIES.request(ctx, { id: first })],
    ];
    return routes.map(([route, fn]) => ({ route, timing: time(() => void fn()) }));
  } finally {
    db.close();
  }
}

function cli(home: string, args: readonly string[]): Timing {
  const bin = resolve(import.meta.dirname, '../../bin/halton-meter.js');
  const env = { PATH: process.env.PATH, HOME: home, HALTON_METER_HOME: home };
  return time(() => {
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env });
    if (r.status !== 0) throw new Error(`halton-meter ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  });
}

let seq = 0;
function writeRow(now: number): RequestRow {
  seq++;
  const model = ['claude-sonnet-4-5', 'gpt-5', 'gemini-2.5-pro', 'claude-haiku-4-5', 'gpt-5-mini', 'gemini-2.5-flash'][seq % 6];
  const at = new Date(now + seq).toISOString();
  return {
    id: `write-${String(seq).padStart(8, '0')}`,
    projectSlug: `project-${1 + ((seq * 7919) % 8)}`,
    provider: (['anthropic', 'openai', 'gemini'] as const)[seq % 3],
    mode: 'api',
    requestKind: 'messages',
    host: 'api.example.com',
    path: '/v1/messages',
    model,
    modelRequested: model,
    statusCode: 200,
    errorClass: null,
    stream: seq % 2 === 0,
    inputTokens: 500 + (seq % 5000),
    cacheReadTokens: seq % 2000,
    cacheWrite5mTokens: seq % 300,
    cacheWrite1hTokens: 0,
    outputTokens: 50 + (seq % 1500),
    thinkingTokens: 0,
    webSearchRequests: 0,
    costUsdMinorUnits: 100 + (seq % 20000),
    costReason: null,
    ratesSource: 'bundled-2026-11-01',
    serviceTier: 'standard',
    latencyMs: 80 + (seq % 4000),
    ttfbMs: 40,
    tokensComplete: true,
    usageSource: 'reported',
    outcome: 'completed',
    attributionRule: 'git_root',
    clientPid: 4242,
    clientName: 'node',
    providerRequestId: `req_${seq}`,
    usageJson: `{"input_tokens":${500 + (seq % 5000)},"output_tokens":${50 + (seq % 1500)},"cache_read_input_tokens":${seq % 2000}}`,
    requestedAt: at,
    completedAt: at,
  };
}

/** Rows per second of one leg: `n` rows in the daemon's batches of 200, one transaction each. */
function insertLeg(dbPath: string, n: number, now: number): number {
  const db = openDb(dbPath);
  try {
    const batches = Array.from({ length: Math.ceil(n / 200) }, () => Array.from({ length: 200 }, () => writeRow(now)));
    const s = performance.now();
    for (const b of batches) insertRequests(db, b);
    return n / ((performance.now() - s) / 1000);
  } finally {
    db.close();
  }
}

const fmt = (t: Timing): string => `${t.best.toFixed(0).padStart(5)} ms ${t.best < TARGET_MS ? 'PASS' : 'MISS'}  (${t.runs.map((x) => x.toFixed(0)).join(', ')})`;

export function runReportBench(rows: number, compare: boolean, log: (line: string) => void): ReportBenchResult {
  const home = mkdtempSync(join(tmpdir(), 'hm-report-1m-'));
  try {
    const dbPath = join(home, 'db.sqlite');
    const now = new Date();
    const t0 = performance.now();
    build(dbPath, rows, now);
    const buildMs = performance.now() - t0;
    const fileMb = statSync(dbPath).size / 1048576;
    const idxMb = indexMb(dbPath);
    log(`built ${rows.toLocaleString('en-US')} rows in ${(buildMs / 1000).toFixed(1)} s: ${fileMb.toFixed(0)} MB, of which the covering index ${idxMb === null ? 'n/a' : `${idxMb.toFixed(0)} MB`}`);

    const bare = join(home, 'without-index.sqlite');
    if (compare) {
      copyFileSync(dbPath, bare);
      const db = openDb(bare);
      db.exec('DROP INDEX requests_report_cells');
      db.close();
    }

    log(`${'variant (30 days)'.padEnd(40)} ${'in-process best (runs)'.padEnd(34)} CLI best (runs)${compare ? ' | in-process without the index' : ''}`);
    const variants: VariantResult[] = [];
    for (const v of VARIANTS) {
      const r: VariantResult = {
        args: v.args,
        inProcess: inProcess(dbPath, now, v.by, v.vs),
        cli: cli(home, v.args),
        withoutIndex: compare ? inProcess(bare, now, v.by, v.vs) : null,
      };
      variants.push(r);
      log(`${v.args.join(' ').padEnd(40)} ${fmt(r.inProcess).padEnd(34)} ${fmt(r.cli)}${r.withoutIndex ? ` | ${fmt(r.withoutIndex)}` : ''}`);
    }
    const startup = cli(home, ['report', '--help']);
    log(`${'report --help (startup, no query)'.padEnd(40)} ${''.padEnd(34)} ${fmt(startup)}`);
    const empty = join(home, 'empty');
    mkdirSync(empty);
    const startupNoDb = cli(empty, ['report']);
    log(`${'report, no database (startup, no query)'.padEnd(40)} ${''.padEnd(34)} ${fmt(startupNoDb)}`);

    const api = apiTimings(dbPath, now);
    for (const a of api) log(`${`API ${a.route}`.padEnd(40)} ${fmt(a.timing)}`);

    let inserts: ReportBenchResult['inserts'] = null;
    if (compare) {
      const n = 20_000;
      const w: number[] = [];
      const wo: number[] = [];
      // Alternating legs, so machine noise hits both files alike.
      for (let k = 0; k < 3; k++) {
        w.push(insertLeg(dbPath, n, now.getTime()));
        wo.push(insertLeg(bare, n, now.getTime()));
      }
      const best = (xs: number[]): Timing => ({ best: Math.max(...xs), runs: xs });
      inserts = { withIndex: best(w), withoutIndex: best(wo), rowsPerLeg: n };
      const rps = (t: Timing): string => `${t.best.toFixed(0)} rows/s (${t.runs.map((x) => x.toFixed(0)).join(', ')})`;
      log(`inserts, batches of 200: with the index ${rps(inserts.withIndex)}; without ${rps(inserts.withoutIndex)}`);
    }
    return { rows, buildMs, fileMb, indexMb: idxMb, targetMs: TARGET_MS, variants, startup, startupNoDb, api, inserts };
  } finally {
    // BENCH_KEEP=1 keeps the database for poking at with other queries.
    if (process.env.BENCH_KEEP) log(`kept ${home}`);
    else rmSync(home, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const opts = parseArgs(process.argv.slice(2));
  const result = runReportBench(opts.rows, opts.compare, (line) => console.log(line));
  if (opts.json !== null) writeFileSync(opts.json, JSON.stringify(result, null, 2) + '\n');
}
