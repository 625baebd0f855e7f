// `node dist/bench/report-1m.js [rows]` (issue 5, must-show 5): builds a database of 1,000,000
// requests (one recursive-CTE INSERT, spread over the last 60 days, 8 projects, 3 providers, 6
// models, 5% estimated usage, 1% without a cost) and times `report` in-process and through the CLI
// (a fresh process: startup, config, read-only open and the queries). Target: under 1 s.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { computeReport, resolvePeriod, type ReportGroup } from '../src/core/report.js';
import { storeSource } from '../src/cli/commands/report.js';
import { ensureProject, openDb } from '../src/store/index.js';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const TARGET_MS = 1000;
const home = mkdtempSync(join(tmpdir(), 'hm-report-1m-'));
const dbPath = join(home, 'db.sqlite');
const now = new Date();

const t0 = performance.now();
const db = openDb(dbPath);
const projects = Array.from({ length: 8 }, (_, i) => ensureProject(db, `project-${i + 1}`));
const spanMs = 60 * 86_400_000;
// Deterministic pseudo-random spread from the row number (no RANDOM(): the same file every run).
db.exec(`
  INSERT INTO requests (id, project_id, provider, mode, host, path, model, stream, input_tokens, cache_read_tokens,
    cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, thinking_tokens, web_search_requests, cost_usd_minor_units,
    latency_ms, ttfb_ms, tokens_complete, usage_source, outcome, attribution_rule, requested_at, completed_at)
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
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
const buildMs = performance.now() - t0;
console.log(`built ${ROWS.toLocaleString('en-US')} rows in ${(buildMs / 1000).toFixed(1)} s (${(statSync(dbPath).size / 1048576).toFixed(0)} MB)`);

function best(label: string, fn: () => void, runs = 3): number {
  const times: number[] = [];
  for (let k = 0; k < runs; k++) {
    const s = performance.now();
    fn();
    times.push(performance.now() - s);
  }
  const min = Math.min(...times);
  console.log(`${label.padEnd(48)} best ${min.toFixed(0).padStart(5)} ms  (runs: ${times.map((t) => t.toFixed(0)).join(', ')})  ${min < TARGET_MS ? 'PASS' : 'MISS'} < ${TARGET_MS} ms`);
  return min;
}

const ro = openDb(dbPath, { readonly: true });
const src = storeSource(ro);
for (const [by, vs, since] of [
  ['project', false, undefined],
  ['project', true, undefined],
  ['model', false, undefined],
  ['day', false, undefined],
  ['project', false, '7d'],
] as Array<[ReportGroup, boolean, string | undefined]>) {
  best(`in-process report --by ${by}${vs ? ' --vs-previous' : ''}${since ? ` --since ${since}` : ''}`, () => {
    computeReport(src, { period: resolvePeriod({ since }, now), by, vsPrevious: vs });
  });
}
ro.close();

const bin = resolve(import.meta.dirname, '../../bin/halton-meter.js');
const env = { PATH: process.env.PATH, HOME: home, HALTON_METER_HOME: home };
best('CLI: halton-meter report (new process)', () => {
  const r = spawnSync(process.execPath, [bin, 'report'], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`report exited ${r.status}: ${r.stderr}`);
});
best('CLI: halton-meter report --vs-previous --json', () => {
  const r = spawnSync(process.execPath, [bin, 'report', '--vs-previous', '--json'], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`report exited ${r.status}: ${r.stderr}`);
});
const startup = best('CLI: halton-meter --version (startup only)', () => {
  spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8', env });
});
console.log(`(CLI figures include ~${startup.toFixed(0)} ms of node startup and module loading)`);
// BENCH_KEEP=1 keeps the database for poking at with other queries.
if (process.env.BENCH_KEEP) console.log(`kept ${dbPath}`);
else rmSync(home, { recursive: true, force: true });
