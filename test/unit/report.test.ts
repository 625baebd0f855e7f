// report (issue 5, must-show 1): golden outputs on a seeded real SQLite database, for every flag,
// JSON and CSV shapes, narrow and wide terminals, --vs-previous arithmetic checked against numbers
// computed by hand below, estimated cost shown apart, the empty and the missing database.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import type { RequestRow } from '../../src/core/request-row.js';
import type { ReportJson } from '../../src/core/report.js';
import { deltaPct, previousPeriod, resolvePeriod } from '../../src/core/report.js';
import { reportCommand, type ReportOptions } from '../../src/cli/commands/report.js';
import { makeStyle } from '../../src/cli/output/style.js';
import { archiveProject, insertRequests, openDb } from '../../src/store/index.js';

const NOW = new Date('2026-11-27T12:00:00.000Z');
const dir = mkdtempSync(join(tmpdir(), 'hm-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let seq = 0;
function row(o: Partial<RequestRow>): RequestRow {
  seq++;
  return {
    id: `req-${String(seq).padStart(4, '0')}`,
    projectSlug: 'alpha',
    provider: 'anthropic',
    mode: 'api',
    requestKind: 'messages',
    host: 'api.anthropic.com',
    path: '/v1/messages',
    model: 'claude-sonnet-4-5',
    modelRequested: null,
    statusCode: 200,
    errorClass: null,
    stream: false,
    inputTokens: 100,
    cacheReadTokens: 0,
    cacheWrite5mTokens: 0,
    cacheWrite1hTokens: 0,
    outputTokens: 10,
    thinkingTokens: 0,
    webSearchRequests: 0,
    costUsdMinorUnits: 1000,
    costReason: null,
    ratesSource: 'bundled',
    serviceTier: null,
    latencyMs: 100,
    ttfbMs: 50,
    tokensComplete: true,
    usageSource: 'reported',
    outcome: 'completed',
    attributionRule: 'git_root',
    clientPid: null,
    clientName: null,
    providerRequestId: null,
    usageJson: null,
    requestedAt: '2026-11-20T10:00:00.000Z',
    completedAt: '2026-11-20T10:00:01.000Z',
    ...o,
  };
}

// The period by default is 2026-10-28T12:00 → 2026-11-27T12:00; the previous one
// 2026-09-28T12:00 → 2026-10-28T12:00.
const ROWS: RequestRow[] = [
  // alpha, current: 3 rows, $0.01 + $0.02 + $0.03, latency 100/200/300, cache 40 read, 5m+1h writes 7+3.
  row({ costUsdMinorUnits: 1000, latencyMs: 100, cacheReadTokens: 40, cacheWrite5mTokens: 7, cacheWrite1hTokens: 3, requestedAt: '2026-11-20T10:00:00.000Z' }),
  row({ costUsdMinorUnits: 2000, latencyMs: 200, requestedAt: '2026-11-21T10:00:00.000Z' }),
  row({ costUsdMinorUnits: 3000, latencyMs: 300, requestedAt: '2026-11-21T11:00:00.000Z' }),
  // alpha, previous: $0.04.
  row({ costUsdMinorUnits: 4000, latencyMs: 400, requestedAt: '2026-10-10T10:00:00.000Z' }),
  // alpha, before both periods: never counted.
  row({ costUsdMinorUnits: 77777, requestedAt: '2026-09-01T10:00:00.000Z' }),
  // beta, current: 2 rows estimated by tokenizer, $0.005 + $0.007.
  ...[500, 700].map((c, i) =>
    row({ projectSlug: 'beta', provider: 'openai', host: 'api.openai.com', path: '/v1/chat/completions', model: 'gpt-5', usageSource: 'estimated', costUsdMinorUnits: c, latencyMs: 1000 * (i + 1), inputTokens: 1000, outputTokens: 300, requestedAt: '2026-11-25T09:00:00.000Z' }),
  ),
  // beta, previous: $0.006.
  row({ projectSlug: 'beta', provider: 'openai', model: 'gpt-5', costUsdMinorUnits: 600, requestedAt: '2026-10-20T09:00:00.000Z' }),
  // gamma, current: a model the table does not know: no cost.
  row({ projectSlug: 'gamma', provider: 'xai', model: 'grok-9', costUsdMinorUnits: null, costReason: 'unknown model', latencyMs: 50, inputTokens: 20, outputTokens: 5, requestedAt: '2026-11-26T08:00:00.000Z' }),
  // self-test and an archived project: left out unless asked.
  row({ projectSlug: 'halton-meter:selftest', provider: 'selftest', model: 'selftest', costUsdMinorUnits: 0, latencyMs: 5, inputTokens: 1, outputTokens: 1, requestedAt: '2026-11-26T09:00:00.000Z' }),
  row({ projectSlug: 'old', costUsdMinorUnits: 9999, latencyMs: 10, requestedAt: '2026-11-22T09:00:00.000Z' }),
];

const dbPath = join(dir, 'db.sqlite');
{
  const db = openDb(dbPath);
  insertRequests(db, ROWS);
  archiveProject(db, 'old');
  db.close();
}
const emptyPath = join(dir, 'empty.sqlite');
openDb(emptyPath).close();

async function run(opts: ReportOptions, width?: number, path = dbPath): Promise<string> {
  const out: string[] = [];
  const code = await reportCommand({ dbPath: path, out: (t) => out.push(t), err: () => undefined, style: makeStyle(false, {}), width, now: NOW }, opts);
  assert.equal(code, 0);
  return out.join('\n');
}
const json = async (opts: ReportOptions): Promise<ReportJson> => JSON.parse(await run({ ...opts, json: true })) as ReportJson;

describe('report arithmetic (pure)', () => {
  test('periods and deltas', () => {
    assert.deepEqual(resolvePeriod({}, NOW), { from: '2026-10-28T12:00:00.000Z', to: '2026-11-27T12:00:00.000Z' });
    assert.deepEqual(resolvePeriod({ since: '24h' }, NOW), { from: '2026-11-26T12:00:00.000Z', to: NOW.toISOString() });
    assert.deepEqual(resolvePeriod({ since: '30m' }, NOW).from, '2026-11-27T11:30:00.000Z');
    assert.deepEqual(resolvePeriod({ from: '2026-11-01', to: '2026-11-15' }, NOW), { from: '2026-11-01T00:00:00.000Z', to: '2026-11-16T00:00:00.000Z' });
    assert.deepEqual(previousPeriod({ from: '2026-11-01T00:00:00.000Z', to: '2026-11-16T00:00:00.000Z' }), { from: '2026-10-17T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z' });
    assert.equal(deltaPct(7200, 4600), 56.5);
    assert.equal(deltaPct(1, 3), -66.7);
    assert.equal(deltaPct(5, 0), null);
  });
});

describe('report on a seeded database', () => {
  test('summary: selftest and archived left out, estimated cost apart, unknown cost counted', async () => {
    const r = await json({});
    // 3 alpha + 2 beta + 1 gamma; cost 1000+2000+3000+500+700 = 7200, of which 500+700 estimated.
    assert.deepEqual(r.summary, {
      requests: 6,
      input_tokens: 300 + 2000 + 20,
      output_tokens: 30 + 600 + 5,
      thinking_tokens: 0,
      cache_read_tokens: 40,
      cache_write_tokens: 10,
      cost_usd_minor_units: 7200,
      estimated_cost_usd_minor_units: 1200,
      unknown_cost_requests: 1,
      projects: 3,
      models: 3,
      last_request_at: '2026-11-26T08:00:00.000Z',
    });
    assert.deepEqual(
      r.groups.map((g) => [g.key, g.requests, g.cost_usd_minor_units, g.estimated_cost_usd_minor_units, g.unknown_cost_requests, g.avg_latency_ms, g.p95_latency_ms]),
      [
        ['alpha', 3, 6000, 0, 0, 200, 300],
        ['beta', 2, 1200, 1200, 0, 1500, 2000],
        ['gamma', 1, 0, 0, 1, 50, 50],
      ],
    );
    assert.equal(r.previous_summary, null);
    assert.equal(r.groups[0].previous, null);
  });

  test('--include-selftest and --project', async () => {
    const withSelftest = await json({ includeSelftest: true });
    assert.equal(withSelftest.summary.requests, 7);
    assert.ok(withSelftest.groups.some((g) => g.key === 'halton-meter:selftest'));
    const selftest = await json({ project: 'halton-meter:selftest' });
    assert.deepEqual([selftest.summary.requests, selftest.include_selftest], [1, true]);
    const archived = await json({ project: 'old' });
    assert.deepEqual([archived.summary.requests, archived.summary.cost_usd_minor_units], [1, 9999]);
    const alpha = await json({ project: 'alpha', by: 'day' });
    assert.deepEqual(alpha.groups.map((g) => [g.key, g.requests, g.cost_usd_minor_units]), [
      ['2026-11-20', 1, 1000],
      ['2026-11-21', 2, 5000],
    ]);
  });

  test('--vs-previous: totals and per-group deltas by hand', async () => {
    const r = await json({ vsPrevious: true });
    assert.deepEqual(r.previous_period, { from: '2026-09-28T12:00:00.000Z', to: '2026-10-28T12:00:00.000Z' });
    // previous: alpha 4000 + beta 600 = 4600 over 2 requests.
    assert.equal(r.previous_summary?.cost_usd_minor_units, 4600);
    assert.equal(r.previous_summary?.requests, 2);
    // (7200 - 4600) / 4600 = 56.52% ; (6 - 2) / 2 = 200%.
    assert.deepEqual(r.delta, { requests_pct: 200, cost_pct: 56.5 });
    assert.deepEqual(
      r.groups.map((g) => [g.key, g.previous, g.cost_delta_pct]),
      [
        ['alpha', { requests: 1, cost_usd_minor_units: 4000 }, 50], // (6000-4000)/4000
        ['beta', { requests: 1, cost_usd_minor_units: 600 }, 100], // (1200-600)/600
        ['gamma', { requests: 0, cost_usd_minor_units: 0 }, null], // new
      ],
    );
  });

  test('--by model, provider, day; --since; --from/--to', async () => {
    const m = await json({ by: 'model' });
    assert.deepEqual(m.groups.map((g) => [g.provider, g.key, g.requests]), [
      ['anthropic', 'claude-sonnet-4-5', 3],
      ['openai', 'gpt-5', 2],
      ['xai', 'grok-9', 1],
    ]);
    const p = await json({ by: 'provider' });
    assert.deepEqual(p.groups.map((g) => [g.key, g.cost_usd_minor_units]), [
      ['anthropic', 6000],
      ['openai', 1200],
      ['xai', 0],
    ]);
    const d = await json({ by: 'day' });
    assert.deepEqual(d.groups.map((g) => g.key), ['2026-11-20', '2026-11-21', '2026-11-25', '2026-11-26']);
    const since = await json({ since: '2d' }); // from 2026-11-25T12:00: only gamma
    assert.deepEqual(since.groups.map((g) => g.key), ['gamma']);
    const range = await json({ from: '2026-11-21', to: '2026-11-25' });
    assert.deepEqual(range.groups.map((g) => [g.key, g.requests]), [
      ['alpha', 2],
      ['beta', 2],
    ]);
  });

  test('wide terminal (160 columns), golden', async () => {
    assert.equal(await run({ vsPrevious: true }, 160), GOLDEN_WIDE);
  });

  test('narrow terminal (60 columns), golden', async () => {
    assert.equal(await run({ vsPrevious: true, by: 'model' }, 60), GOLDEN_NARROW);
  });

  test('CSV, golden', async () => {
    assert.equal(await run({ csv: true, vsPrevious: true }), GOLDEN_CSV);
  });

  test('JSON shape: keys of every level', async () => {
    const r = await json({ vsPrevious: true });
    assert.deepEqual(Object.keys(r), ['period', 'previous_period', 'by', 'project', 'include_selftest', 'summary', 'previous_summary', 'delta', 'groups']);
    assert.deepEqual(Object.keys(r.groups[0]), [
      'key',
      'provider',
      'requests',
      'input_tokens',
      'output_tokens',
      'thinking_tokens',
      'cache_read_tokens',
      'cache_write_tokens',
      'cost_usd_minor_units',
      'estimated_cost_usd_minor_units',
      'unknown_cost_requests',
      'avg_latency_ms',
      'p95_latency_ms',
      'previous',
      'cost_delta_pct',
    ]);
  });

  test('no rows in the period, empty database, missing database: one clear line', async () => {
    assert.equal(await run({ since: '30m' }), 'Report 2026-11-27 11:30 → 2026-11-27 12:00 UTC · by project\nNo requests in this period.');
    assert.equal(await run({}, undefined, emptyPath), 'Report 2026-10-28 12:00 → 2026-11-27 12:00 UTC · by project\nNo requests in this period.');
    const missing = await run({}, undefined, join(dir, 'nope.sqlite'));
    assert.match(missing, /No database yet at .*nope\.sqlite: nothing has been metered/);
    const empty = JSON.parse(await run({ json: true }, undefined, emptyPath)) as ReportJson;
    assert.deepEqual([empty.summary.requests, empty.groups], [0, []]);
    assert.equal(await run({ csv: true }, undefined, emptyPath), GOLDEN_CSV.split('\n')[0]);
  });
});

describe('report CLI', () => {
  const bin = resolve(import.meta.dirname, '../../../bin/halton-meter.js');
  const cli = (args: string[], home: string): { status: number | null; stdout: string; stderr: string } =>
    spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: home, HALTON_METER_HOME: home, COLUMNS: '100' } });

  test('bad flags: exit 2, a message, no stack', () => {
    const home = mkdtempSync(join(dir, 'home-'));
    for (const args of [['--by', 'week'], ['--since', '7x'], ['--since', '7d', '--from', '2026-11-01'], ['--from', '2026-02-30'], ['--json', '--csv'], ['--nope']]) {
      const r = cli(['report', ...args], home);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^halton-meter: /);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });

  test('reads the database read-only and prints the report', () => {
    const home = mkdtempSync(join(dir, 'home-'));
    const db = openDb(join(home, 'db.sqlite'));
    insertRequests(db, [row({ requestedAt: new Date(Date.now() - 3_600_000).toISOString() })]);
    db.close();
    const r = cli(['report', '--since', '24h'], home);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^requests  1 · projects 1 · models 1$/m);
    assert.match(r.stdout, /^alpha +1 +100 +10 +\$0\.0100 +100 +100$/m);
    const empty = cli(['report'], mkdtempSync(join(dir, 'home-')));
    assert.equal(empty.status, 0);
    assert.match(empty.stdout, /No database yet/);
  });
});

const GOLDEN_WIDE = `Report 2026-10-28 12:00 → 2026-11-27 12:00 UTC · by project
requests  6 · projects 3 · models 3
tokens    in 2,320 · out 635
cache     read 40 · write 10
cost      $0.0720 (incl. $0.0120 estimated)
          estimated: usage counted by tokenizer, not reported
no cost   1 request (model or usage unknown; not in the cost)
previous  2026-09-28 12:00 → 2026-10-28 12:00 UTC
          2 requests, $0.0460 · Δ requests +200.0% · Δ cost +56.5%

project  requests  tokens in  tokens out     cost  estimated  avg ms  p95 ms   Δ cost
───────  ────────  ─────────  ──────────  ───────  ─────────  ──────  ──────  ───────
alpha           3        300          30  $0.0600          -     200     300   +50.0%
beta            2      2,000         600  $0.0120    $0.0120   1,500   2,000  +100.0%
gamma           1         20           5  unknown          -      50      50      new`;
const GOLDEN_NARROW = `Report 2026-10-28 12:00 → 2026-11-27 12:00 UTC · by model
requests  6 · projects 3 · models 3
tokens    in 2,320 · out 635
cache     read 40 · write 10
cost      $0.0720 (incl. $0.0120 estimated)
          estimated: usage counted by tokenizer, not reported
no cost   1 request (model or usage unknown; not in the cost)
previous  2026-09-28 12:00 → 2026-10-28 12:00 UTC
          2 requests, $0.0460 · Δ requests +200.0% · Δ cost +56.5%

model              provider   requests     cost   Δ cost
─────────────────  ─────────  ────────  ───────  ───────
claude-sonnet-4-5  anthropic         3  $0.0600   +50.0%
gpt-5              openai            2  $0.0120  +100.0%
grok-9             xai               1  unknown      new
(hidden: avg ms, p95 ms, estimated, tokens in, tokens out)`;
const GOLDEN_CSV = `group,key,provider,requests,input_tokens,output_tokens,thinking_tokens,cache_read_tokens,cache_write_tokens,cost_usd_minor_units,estimated_cost_usd_minor_units,unknown_cost_requests,avg_latency_ms,p95_latency_ms,previous_requests,previous_cost_usd_minor_units,cost_delta_pct
project,alpha,,3,300,30,0,40,10,6000,0,0,200,300,1,4000,50
project,beta,,2,2000,600,0,0,0,1200,1200,0,1500,2000,1,600,100
project,gamma,,1,20,5,0,0,0,0,0,1,50,50,0,0,`;
