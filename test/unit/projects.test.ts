// projects list|rename|archive on a real SQLite database: rows follow a rename, an archived project
// leaves the report unless named, and the errors are user errors (no stack, right exit code).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import type { RequestRow } from '../../src/core/request-row.js';
import type { ReportJson } from '../../src/core/report.js';
import { projectsArchiveCommand, projectsListCommand, projectsRenameCommand, type ProjectsDeps } from '../../src/cli/commands/projects.js';
import { reportCommand } from '../../src/cli/commands/report.js';
import { makeStyle } from '../../src/cli/output/style.js';
import { MeterError } from '../../src/core/errors.js';
import { insertRequests, openDb } from '../../src/store/index.js';

const dir = mkdtempSync(join(tmpdir(), 'hm-projects-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const NOW = new Date('2026-11-27T12:00:00.000Z');

function row(id: string, projectSlug: string, cost: number): RequestRow {
  return {
    id, projectSlug, provider: 'anthropic', mode: 'api', requestKind: 'messages', host: 'api.anthropic.com', path: '/v1/messages',
    model: 'claude-sonnet-4-5', modelRequested: null, statusCode: 200, errorClass: null, stream: false, inputTokens: 10,
    cacheReadTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, outputTokens: 1, thinkingTokens: 0, webSearchRequests: 0,
    costUsdMinorUnits: cost, costReason: null, ratesSource: 'bundled', serviceTier: null, latencyMs: 100, ttfbMs: 10,
    tokensComplete: true, usageSource: 'reported', outcome: 'completed', attributionRule: 'git_root', clientPid: null,
    clientName: null, providerRequestId: null, usageJson: null, requestedAt: '2026-11-20T10:00:00.000Z', completedAt: '2026-11-20T10:00:01.000Z',
  };
}

const dbPath = join(dir, 'db.sqlite');
{
  const db = openDb(dbPath, { now: () => '2026-11-01T00:00:00.000Z' });
  insertRequests(db, [row('a1', 'alpha', 1000), row('a2', 'alpha', 2000), row('b1', 'beta', 500)]);
  db.close();
}

function deps(out: string[], path = dbPath): ProjectsDeps {
  return { dbPath: path, out: (t) => out.push(t), style: makeStyle(false, {}), width: 100 };
}
async function reportJson(project?: string): Promise<ReportJson> {
  const out: string[] = [];
  await reportCommand({ dbPath, out: (t) => out.push(t), err: () => undefined, style: makeStyle(false, {}), width: undefined, now: NOW }, { json: true, project });
  return JSON.parse(out.join('')) as ReportJson;
}

test('projects list: text and JSON', async () => {
  const out: string[] = [];
  await projectsListCommand(deps(out), {});
  assert.equal(
    out.join('\n'),
    [
      'project  requests  cost (all time)  last request      state',
      '───────  ────────  ───────────────  ────────────────  ──────',
      'alpha           2          $0.0300  2026-11-20 10:00  active',
      'beta            1          $0.0050  2026-11-20 10:00  active',
    ].join('\n'),
  );
  const js: string[] = [];
  await projectsListCommand(deps(js), { json: true });
  const list = JSON.parse(js.join('')) as Array<Record<string, unknown>>;
  assert.deepEqual(Object.keys(list[0]), ['slug', 'name', 'created_at', 'archived_at', 'requests', 'cost_usd_minor_units', 'last_request_at']);
  assert.deepEqual(list.map((p) => [p.slug, p.requests, p.cost_usd_minor_units, p.archived_at]), [
    ['alpha', 2, 3000, null],
    ['beta', 1, 500, null],
  ]);
});

test('projects rename: rows follow; conflicts and unknown names refused', async () => {
  const out: string[] = [];
  await projectsRenameCommand(deps(out), 'alpha', 'alpha-app');
  assert.equal(out[0], 'Renamed project alpha → alpha-app.');
  const r = await reportJson();
  assert.deepEqual(r.groups.map((g) => [g.key, g.requests]), [['alpha-app', 2], ['beta', 1]]);
  await assert.rejects(projectsRenameCommand(deps([]), 'beta', 'alpha-app'), (e: unknown) => e instanceof MeterError && e.code === 'bad_argument');
  await assert.rejects(projectsRenameCommand(deps([]), 'nope', 'x'), (e: unknown) => e instanceof MeterError && e.code === 'not_found');
});

test('projects archive: hidden from report unless named', async () => {
  const out: string[] = [];
  await projectsArchiveCommand(deps(out), 'beta');
  await projectsArchiveCommand(deps(out), 'beta');
  assert.deepEqual(out, ['Archived project beta: hidden from reports unless named with --project.', 'Project beta was already archived.']);
  assert.deepEqual((await reportJson()).groups.map((g) => g.key), ['alpha-app']);
  assert.equal((await reportJson('beta')).summary.cost_usd_minor_units, 500);
  const js: string[] = [];
  await projectsListCommand(deps(js), { json: true });
  assert.ok((JSON.parse(js.join('')) as Array<{ slug: string; archived_at: string | null }>).find((p) => p.slug === 'beta')?.archived_at);
});

test('projects CLI: missing database and bad arguments', () => {
  const bin = resolve(import.meta.dirname, '../../../bin/halton-meter.js');
  const home = mkdtempSync(join(dir, 'home-'));
  const cli = (args: string[]) => spawnSync(process.execPath, [bin, 'projects', ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: home, HALTON_METER_HOME: home } });
  const list = cli(['list']);
  assert.equal(list.status, 0);
  assert.match(list.stdout, /No database yet/);
  const archive = cli(['archive', 'x']);
  assert.equal(archive.status, 1);
  assert.match(archive.stderr, /^halton-meter: no database at /);
  assert.equal(cli(['rename', 'only-one']).status, 2);
});
